/*
 * weak.c — weak handles: canonical per address, cleared by the collector.
 *
 * Heap addresses. A handle hangs off its object as a WEAK special record at
 * the address's offset in the span (special.c), so a second make for the
 * same address finds it under the span's special lock. The handle itself is
 * a small collectable object of the atomic kind (never scanned, so it does
 * not keep its target alive) holding the target address. The collector
 * (fin.c, with the world stopped) clears the target of every handle whose
 * object was not marked and removes the record; it also removes the record
 * of a handle the program dropped. free() clears and removes them too.
 *
 * Addresses outside the heap. They never die, so their handles never clear
 * and nothing ever removes them: a binary trie indexed by the bits of a
 * bijective 64-bit hash of the address, whose nodes are the handles. A
 * lookup walks from the root, one hash bit per level; an insertion links a
 * new node into an empty child slot with compare-and-swap, so readers and
 * writers never lock. Distinct addresses have distinct hashes, so two of
 * them part ways within 64 levels. Nodes come from a bump allocator over
 * mmap'd chunks and are never freed.
 */
#include "base.h"
#include "weak.h"
#include "alloc.h"
#include "central.h"
#include "heap.h"
#include "pagemap.h"
#include "special.h"
#include "sys.h"
#include "tcache.h"

#include <errno.h>

struct weak_node {
	struct gcm_weak h;          /* first: a node is a handle */
	struct weak_node *child[2]; /* Atomic: set once with CAS */
};

struct weak_chunk {
	struct weak_chunk *prev;
	size_t used;                /* Atomic: bytes handed out */
	size_t cap;
	char data[];
};

#define WEAK_CHUNK_BYTES ((size_t)64 << 10)

static struct weak_node *weak_root;    /* Atomic */
static struct weak_chunk *weak_chunk;  /* Atomic: the current chunk */

static uint64_t weak_hash(uintptr_t x)
{
	uint64_t h = x;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static struct weak_node *weak_node_alloc(void)
{
	for (;;) {
		struct weak_chunk *c = __atomic_load_n(&weak_chunk, __ATOMIC_ACQUIRE);
		if (c != NULL) {
			size_t off = __atomic_fetch_add(&c->used, sizeof(struct weak_node),
							__ATOMIC_RELAXED);
			if (off + sizeof(struct weak_node) <= c->cap)
				return (struct weak_node *)(c->data + off);
		}
		struct weak_chunk *n = sys_alloc(WEAK_CHUNK_BYTES);
		if (n == NULL)
			return NULL;
		n->prev = c;
		n->used = 0;
		n->cap = (WEAK_CHUNK_BYTES - sizeof(*n)) / sizeof(struct weak_node) *
			 sizeof(struct weak_node);
		if (!__atomic_compare_exchange_n(&weak_chunk, &c, n, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			sys_free(n, WEAK_CHUNK_BYTES);
	}
}

static struct gcm_weak *weak_make_immortal(uintptr_t addr)
{
	uint64_t h = weak_hash(addr);
	struct weak_node **slot = &weak_root;
	struct weak_node *mine = NULL;
	for (unsigned depth = 0;; depth++) {
		struct weak_node *n = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
		if (n == NULL) {
			if (mine == NULL) {
				mine = weak_node_alloc();
				if (mine == NULL) {
					errno = ENOMEM;
					return NULL;
				}
				mine->h.target = addr;
			}
			if (__atomic_compare_exchange_n(slot, &n, mine, false,
							__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				return &mine->h;
			/* Someone linked a node here first: look at it. */
		}
		if (n->h.target == addr)
			return &n->h; /* an unused `mine` stays in its chunk */
		slot = &n->child[(h >> (depth % 64)) & 1];
	}
}

struct gcm_weak *weak_make(const void *p)
{
	uintptr_t addr = (uintptr_t)p;
	span_t *s = pagemap_lookup(p);
	if (s == NULL) {
		/* Free pages of the heap (a freed large block) are not memory
		 * outside the heap. */
		tcache_busy_enter();
		bool in_heap = heap_contains(addr);
		tcache_busy_leave();
		if (in_heap) {
			errno = EINVAL;
			return NULL;
		}
		return weak_make_immortal(addr);
	}
	uintptr_t obj;
	if (s->cls != 0) {
		uint32_t idx = span_object_index(s, addr);
		if (idx >= s->nelems) {
			errno = EINVAL;
			return NULL;
		}
		obj = span_object_base(s, idx);
	} else {
		obj = s->base;
	}
	if (alloc_object_is_free(s, obj)) {
		errno = EINVAL;
		return NULL;
	}
	uintptr_t offset = addr - s->base;
	{
		tcache_busy_enter();
		lock_acquire(&s->special_lock);
		special_t *sp = special_find_locked(s, offset, SPECIAL_WEAK);
		struct gcm_weak *h = sp ? sp->u.handle : NULL;
		lock_release(&s->special_lock);
		tcache_busy_leave();
		if (h != NULL)
			return h;
		/* Allocate outside every lock and outside the busy section: the
		 * allocation may run a collection. */
		struct gcm_weak *nh = alloc_gc_malloc(sizeof(*nh), SPAN_KIND_GC_ATOMIC);
		special_t *rec = special_alloc();
		if (nh == NULL || rec == NULL) {
			if (rec != NULL)
				special_free(rec);
			errno = ENOMEM;
			return NULL;
		}
		nh->target = addr;
		tcache_busy_enter();
		lock_acquire(&s->special_lock);
		sp = special_find_locked(s, offset, SPECIAL_WEAK);
		if (sp == NULL) {
			rec->kind = SPECIAL_WEAK;
			rec->offset = offset;
			rec->u.handle = nh;
			special_insert_locked(s, rec);
			rec = NULL;
			h = nh;
		} else {
			h = sp->u.handle; /* another thread won; nh is garbage */
		}
		lock_release(&s->special_lock);
		tcache_busy_leave();
		if (rec != NULL)
			special_free(rec);
		/* Keep nh visible to a collection until here. */
		__asm__ volatile("" : : "r"(nh) : "memory");
		return h;
	}
}

void *weak_get(const struct gcm_weak *w)
{
	if (w == NULL)
		return NULL;
	return (void *)__atomic_load_n(&w->target, __ATOMIC_ACQUIRE);
}

/*
 * heap.c — arenas, the heap lock, span descriptors.
 *
 * The heap owns the global page allocator and the one lock that protects it.
 * Address space comes from the kernel in arenas of at least 64 MiB. The
 * first growth reserves HEAP_RESERVE_BYTES of address space (PROT_NONE, no
 * memory behind it) and arenas are committed from its bottom up, so the heap
 * is one contiguous range that grows upward. That matters: the page
 * allocator hands out the lowest free pages first and the scavenger releases
 * from the top, so older, resident pages are reused before fresh ones are
 * touched. (Arenas placed by the kernel go downward in the address space,
 * and a new arena below the old one would be filled first, leaving the old
 * resident pages idle.) Only when the reservation is exhausted or refused
 * are arenas mapped elsewhere, next to the previous one if possible. A new
 * arena is given to the page allocator whole, as free and scavenged pages.
 *
 * Span descriptors come from 64 KiB metadata slabs mapped separately from
 * the heap, so the heap itself holds nothing but objects. Each thread keeps
 * a few spare descriptors and a page cache (pcache.c), so the common span
 * allocation of a few pages takes the heap lock only once per 64 pages.
 *
 * Calls: palloc.c, pcache.c, pagemap.c, sys.c.
 */
#include "base.h"
#include "heap.h"
#include "debug.h"
#include "options.h"
#include "pagemap.h"
#include "scav.h"
#include "sys.h"

#include <string.h>

heap_t heap_global = {
	.lock = LOCK_INITIALIZER(HEAP),
};

#define HEAP_DESC_SLAB_BYTES ((size_t)64 << 10)
#define HEAP_LOCAL_SPARE 8

bool heap_init(void)
{
	return palloc_init(&heap_global.pa, &heap_global.lock, false);
}

/*
 * Maps a new arena big enough for npages pages and grows the page allocator
 * over it. Locks: heap lock.
 */
static bool heap_grow_locked(size_t npages, size_t *mapped)
{
	lock_assert_held(&heap_global.lock);
	size_t need = align_up(npages << PALLOC_PAGE_SHIFT, HEAP_ARENA_BYTES);
	if (need < (npages << PALLOC_PAGE_SHIFT))
		return false;
	if (heap_global.reserve_base == 0 && !heap_global.reserve_failed) {
		void *r = sys_reserve_aligned(HEAP_RESERVE_BYTES, HEAP_ARENA_BYTES);
		if (r == NULL) {
			heap_global.reserve_failed = true;
		} else {
			heap_global.reserve_base = (uintptr_t)r;
			heap_global.reserve_next = (uintptr_t)r;
			heap_global.reserve_limit = (uintptr_t)r + HEAP_RESERVE_BYTES;
		}
	}
	void *p = NULL;
	bool reserved = false;
	if (heap_global.reserve_limit - heap_global.reserve_next >= need &&
	    sys_commit((void *)heap_global.reserve_next, need)) {
		p = (void *)heap_global.reserve_next;
		reserved = true;
	}
	if (p == NULL && heap_global.arena_hint != 0)
		p = sys_alloc_at_hint((void *)heap_global.arena_hint, need);
	if (p == NULL)
		p = sys_alloc_arena(need, PALLOC_CHUNK_BYTES);
	if (p == NULL)
		return false;
	uintptr_t base = (uintptr_t)p;
	if (base + need > PALLOC_MAX_ADDR || !pagemap_ensure(base, need) ||
	    !palloc_grow_locked(&heap_global.pa, base, need)) {
		if (reserved)
			sys_unused(p, need); /* stays in the reservation */
		else
			sys_free(p, need);
		return false;
	}
	if (reserved)
		heap_global.reserve_next += need;
	heap_global.arena_hint = base + need;
	heap_global.mapped_bytes += need;
	*mapped += need;
	return true;
}

/* A span descriptor from the free list, mapping a slab when it is empty.
 * Locks: heap lock. */
static span_t *heap_desc_alloc_locked(void)
{
	lock_assert_held(&heap_global.lock);
	if (heap_global.free_spans == NULL) {
		span_t *slab = sys_alloc(HEAP_DESC_SLAB_BYTES);
		if (slab == NULL)
			return NULL;
		heap_global.meta_bytes += HEAP_DESC_SLAB_BYTES;
		size_t n = HEAP_DESC_SLAB_BYTES / sizeof(span_t);
		for (size_t i = 0; i < n; i++) {
			slab[i].next = heap_global.free_spans;
			heap_global.free_spans = &slab[i];
		}
	}
	span_t *s = heap_global.free_spans;
	heap_global.free_spans = s->next;
	return s;
}

/* Locks: heap lock. */
static void heap_desc_free_locked(span_t *s)
{
	lock_assert_held(&heap_global.lock);
	s->state = SPAN_DEAD;
	s->next = heap_global.free_spans;
	heap_global.free_spans = s;
}

/* After an allocation that took the heap lock: eager scavenging when the
 * allocation made released pages resident again (grown: the heap's RSS
 * grew by that much) or the memory limit is set. Locks: none of the heap's. */
static void heap_after_alloc(size_t grown)
{
	if (grown != 0 || opt.memlimit_bytes != SIZE_MAX)
		scav_eager(grown);
}

/* Pages from the thread's cache; refills it under the heap lock when it
 * cannot fit the request. Returns 0 if the heap cannot provide them. */
static uintptr_t heap_alloc_cached(size_t npages, heap_local_t *local,
				   size_t *scav, size_t *grown)
{
	uintptr_t addr = pcache_alloc(&local->pcache, npages, scav);
	if (addr != 0)
		return addr;
	lock_acquire(&heap_global.lock);
	pcache_flush_locked(&heap_global.pa, &local->pcache);
	local->pcache = pcache_refill_locked(&heap_global.pa);
	if (pcache_is_empty(&local->pcache)) {
		size_t mapped = 0;
		if (heap_grow_locked(1, &mapped))
			local->pcache = pcache_refill_locked(&heap_global.pa);
	}
	/* The block's released pages become resident as they are used. */
	*grown += (size_t)__builtin_popcountll(local->pcache.scav) << PALLOC_PAGE_SHIFT;
	while (local->nspare < HEAP_LOCAL_SPARE) {
		span_t *s = heap_desc_alloc_locked();
		if (s == NULL)
			break;
		s->next = local->spare;
		local->spare = s;
		local->nspare++;
	}
	lock_release(&heap_global.lock);
	heap_after_alloc(*grown);
	return pcache_alloc(&local->pcache, npages, scav);
}

static void heap_span_init(span_t *s, uintptr_t addr, size_t npages, size_t scav)
{
	memset(s, 0, sizeof(*s));
	lock_init(&s->special_lock, "SPECIAL", LOCK_RANK_SPECIAL);
	s->base = addr;
	s->npages = npages;
	s->fresh = scav == (npages << PALLOC_PAGE_SHIFT);
	pagemap_set(addr, npages, s);
	__atomic_fetch_add(&heap_global.span_bytes, npages << PALLOC_PAGE_SHIFT,
			   __ATOMIC_RELAXED);
}

span_t *heap_alloc_span(size_t npages, heap_local_t *local)
{
	lock_assert_not_held(&heap_global.lock);
	size_t scav = 0, grown = 0;
	if (local != NULL && npages < PCACHE_MAX_NPAGES) {
		uintptr_t addr = heap_alloc_cached(npages, local, &scav, &grown);
		if (addr != 0 && local->spare != NULL) {
			span_t *s = local->spare;
			local->spare = s->next;
			local->nspare--;
			heap_span_init(s, addr, npages, scav);
			return s;
		}
		if (addr != 0) {
			/* No descriptor: give the pages back below. */
			lock_acquire(&heap_global.lock);
			palloc_free_locked(&heap_global.pa, addr, npages);
			lock_release(&heap_global.lock);
		}
	}
	lock_acquire(&heap_global.lock);
	size_t mapped = 0;
	uintptr_t addr = palloc_alloc_locked(&heap_global.pa, npages, &scav);
	if (addr == 0 && heap_grow_locked(npages, &mapped))
		addr = palloc_alloc_locked(&heap_global.pa, npages, &scav);
	span_t *s = NULL;
	if (addr != 0) {
		grown = scav;
		s = heap_desc_alloc_locked();
		if (s == NULL)
			palloc_free_locked(&heap_global.pa, addr, npages);
	}
	lock_release(&heap_global.lock);
	if (s != NULL)
		heap_span_init(s, addr, npages, scav);
	heap_after_alloc(grown);
	return s;
}

span_t *heap_alloc_span_aligned(size_t npages, size_t align)
{
	lock_assert_not_held(&heap_global.lock);
	size_t align_pages = align >> PALLOC_PAGE_SHIFT;
	size_t total = npages + align_pages - 1;
	if (total < npages)
		return NULL;
	size_t scav, grown = 0, mapped = 0;
	lock_acquire(&heap_global.lock);
	uintptr_t addr = palloc_alloc_locked(&heap_global.pa, total, &scav);
	if (addr == 0 && heap_grow_locked(total, &mapped))
		addr = palloc_alloc_locked(&heap_global.pa, total, &scav);
	if (addr != 0)
		grown = npages << PALLOC_PAGE_SHIFT;
	span_t *s = NULL;
	uintptr_t base = 0;
	if (addr != 0) {
		base = align_up(addr, align);
		size_t head = (base - addr) >> PALLOC_PAGE_SHIFT;
		size_t tail = total - head - npages;
		if (head > 0)
			palloc_free_locked(&heap_global.pa, addr, head);
		if (tail > 0)
			palloc_free_locked(&heap_global.pa,
					   base + (npages << PALLOC_PAGE_SHIFT), tail);
		s = heap_desc_alloc_locked();
		if (s == NULL)
			palloc_free_locked(&heap_global.pa, base, npages);
	}
	lock_release(&heap_global.lock);
	if (s != NULL)
		heap_span_init(s, base, npages, 0);
	heap_after_alloc(grown);
	return s;
}

bool heap_grow_span_in_place(span_t *s, size_t npages)
{
	lock_assert_not_held(&heap_global.lock);
	uintptr_t tail = s->base + (s->npages << PALLOC_PAGE_SHIFT);
	size_t scav;
	lock_acquire(&heap_global.lock);
	bool ok = palloc_alloc_at_locked(&heap_global.pa, tail, npages, &scav);
	lock_release(&heap_global.lock);
	if (!ok)
		return false;
	pagemap_set(tail, npages, s);
	s->npages += npages;
	s->fresh = false;
	__atomic_fetch_add(&heap_global.span_bytes, npages << PALLOC_PAGE_SHIFT,
			   __ATOMIC_RELAXED);
	heap_after_alloc(scav);
	return true;
}

void heap_shrink_span(span_t *s, size_t npages)
{
	lock_assert_not_held(&heap_global.lock);
	GCM_ASSERT(npages < s->npages);
	s->npages -= npages;
	uintptr_t tail = s->base + (s->npages << PALLOC_PAGE_SHIFT);
	pagemap_set(tail, npages, NULL);
	__atomic_fetch_sub(&heap_global.span_bytes, npages << PALLOC_PAGE_SHIFT,
			   __ATOMIC_RELAXED);
	lock_acquire(&heap_global.lock);
	palloc_free_locked(&heap_global.pa, tail, npages);
	lock_release(&heap_global.lock);
	scav_kick(npages << PALLOC_PAGE_SHIFT);
}

void heap_free_span(span_t *s)
{
	lock_assert_not_held(&heap_global.lock);
	pagemap_set(s->base, s->npages, NULL);
	__atomic_fetch_sub(&heap_global.span_bytes, s->npages << PALLOC_PAGE_SHIFT,
			   __ATOMIC_RELAXED);
	lock_acquire(&heap_global.lock);
	palloc_free_locked(&heap_global.pa, s->base, s->npages);
	size_t nbytes = s->npages << PALLOC_PAGE_SHIFT;
	heap_desc_free_locked(s);
	lock_release(&heap_global.lock);
	scav_kick(nbytes);
}

void heap_local_flush(heap_local_t *local)
{
	lock_acquire(&heap_global.lock);
	pcache_flush_locked(&heap_global.pa, &local->pcache);
	while (local->spare != NULL) {
		span_t *s = local->spare;
		local->spare = s->next;
		heap_desc_free_locked(s);
	}
	local->nspare = 0;
	lock_release(&heap_global.lock);
}

bool heap_contains(uintptr_t addr)
{
	lock_acquire(&heap_global.lock);
	bool in = addrrange_contains(&heap_global.pa.in_use, addr);
	lock_release(&heap_global.lock);
	return in;
}

void heap_for_each_span(void (*fn)(span_t *s, void *arg), void *arg)
{
	const addrrange_set_t *ar = &heap_global.pa.in_use;
	for (size_t r = 0; r < ar->n; r++) {
		uintptr_t a = ar->ranges[r].base;
		uintptr_t limit = ar->ranges[r].limit;
		while (a < limit) {
			span_t *s = pagemap_lookup((const void *)a);
			if (s == NULL || s->base != a) {
				a += PALLOC_PAGE_SIZE;
				continue;
			}
			a += span_bytes(s); /* before fn, which may free s */
			fn(s, arg);
		}
	}
}

void heap_prefork(void)
{
	lock_acquire_prefork(&heap_global.lock);
}

void heap_postfork_parent(void)
{
	lock_release_postfork_parent(&heap_global.lock);
}

void heap_postfork_child(void)
{
	lock_reinit_postfork_child(&heap_global.lock);
}

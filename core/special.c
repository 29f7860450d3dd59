/*
 * special.c — the pool of special records and the per-span sorted lists.
 *
 * Records come from 64 KiB slabs mapped with sys_alloc and are recycled
 * through a free list under the meta lock; they are never returned to the
 * kernel, so a record's address and its pool index stay valid for the life
 * of the process (a cleanup id names a record by index and sequence).
 */
#include "base.h"
#include "special.h"
#include "debug.h"
#include "heap.h"
#include "pagemap.h"
#include "lock.h"
#include "sys.h"
#include "tcache.h"

#include "weak.h"

#include <string.h>

#define SPECIAL_SLAB_BYTES ((size_t)64 << 10)
#define SPECIAL_PER_SLAB (SPECIAL_SLAB_BYTES / sizeof(special_t))
#define SPECIAL_MAX_SLABS 65536

static lock_t special_pool_lock = LOCK_INITIALIZER(META);
/* Protected by: special_pool_lock. */
static special_t *special_free_list;
static special_t *special_slabs[SPECIAL_MAX_SLABS];
static uint32_t special_nslabs;

special_t *special_alloc(void)
{
	/* The pool lock is an allocator lock: hold it only in a busy section,
	 * so no collection stops this thread while it holds it. */
	tcache_busy_enter();
	lock_acquire(&special_pool_lock);
	if (special_free_list == NULL && special_nslabs < SPECIAL_MAX_SLABS) {
		special_t *slab = sys_alloc(SPECIAL_SLAB_BYTES);
		if (slab != NULL) {
			uint32_t base = special_nslabs * (uint32_t)SPECIAL_PER_SLAB;
			special_slabs[special_nslabs++] = slab;
			for (size_t i = SPECIAL_PER_SLAB; i-- > 0;) {
				slab[i].index = base + (uint32_t)i;
				slab[i].next = special_free_list;
				special_free_list = &slab[i];
			}
		}
	}
	special_t *sp = special_free_list;
	if (sp != NULL)
		special_free_list = sp->next;
	lock_release(&special_pool_lock);
	tcache_busy_leave();
	if (sp != NULL) {
		uint32_t seq = sp->seq, index = sp->index;
		memset(sp, 0, sizeof(*sp));
		sp->seq = seq;
		sp->index = index;
	}
	return sp;
}

void special_free(special_t *sp)
{
	tcache_busy_enter();
	lock_acquire(&special_pool_lock);
	sp->seq++;
	sp->kind = 0;
	sp->span = NULL;
	sp->next = special_free_list;
	special_free_list = sp;
	lock_release(&special_pool_lock);
	tcache_busy_leave();
}

bool special_free_if(special_t *sp, uint32_t seq, unsigned kind)
{
	tcache_busy_enter();
	lock_acquire(&special_pool_lock);
	bool match = sp->seq == seq && sp->kind == kind && sp->span == NULL;
	if (match) {
		sp->seq++;
		sp->kind = 0;
		sp->next = special_free_list;
		special_free_list = sp;
	}
	lock_release(&special_pool_lock);
	tcache_busy_leave();
	return match;
}

special_t *special_by_index(uint32_t index)
{
	uint32_t slab = index / (uint32_t)SPECIAL_PER_SLAB;
	if (slab >= __atomic_load_n(&special_nslabs, __ATOMIC_ACQUIRE))
		return NULL;
	return &special_slabs[slab][index % SPECIAL_PER_SLAB];
}

/* Whether a sorts after b: by offset, then kind. */
static bool special_after(const special_t *a, const special_t *b)
{
	return a->offset > b->offset || (a->offset == b->offset && a->kind >= b->kind);
}

void special_insert_locked(span_t *s, special_t *sp)
{
	lock_assert_held(&s->special_lock);
	sp->span = s;
	/* Records are most often added in address order: append in O(1). */
	special_t *last = s->specials_last;
	if (last != NULL && special_after(sp, last)) {
		sp->next = NULL;
		__atomic_store_n(&last->next, sp, __ATOMIC_RELEASE);
		s->specials_last = sp;
		return;
	}
	special_t **pp = &s->specials;
	while (*pp != NULL && special_after(sp, *pp))
		pp = &(*pp)->next;
	sp->next = *pp;
	if (sp->next == NULL)
		s->specials_last = sp;
	__atomic_store_n(pp, sp, __ATOMIC_RELEASE);
}

/* Unlinks the record *pp points to, keeping specials_last right. */
void special_unlink_locked(span_t *s, special_t **pp, special_t *prev)
{
	lock_assert_held(&s->special_lock);
	special_t *sp = *pp;
	if (s->specials_last == sp)
		s->specials_last = prev;
	if (s->specials_hint == sp)
		s->specials_hint = prev;
	__atomic_store_n(pp, sp->next, __ATOMIC_RELEASE);
}

void special_remove_locked(span_t *s, special_t *sp)
{
	lock_assert_held(&s->special_lock);
	special_t *prev = NULL;
	for (special_t **pp = &s->specials; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
		if (*pp == sp) {
			special_unlink_locked(s, pp, prev);
			return;
		}
	}
	gcm_throw("special record %p is not on span %p", (void *)sp, (void *)s);
}

special_t *special_find_locked(span_t *s, uintptr_t offset, unsigned kind)
{
	lock_assert_held(&s->special_lock);
	/* Past the last record: not there (the common case of a new object
	 * above every object that has records). */
	if (s->specials_last == NULL || s->specials_last->offset < offset)
		return NULL;
	/* Lookups also tend to come in address order: start from the last
	 * record found when it is not past the offset. */
	special_t *sp = s->specials_hint;
	if (sp == NULL || sp->offset > offset)
		sp = s->specials;
	for (; sp != NULL && sp->offset <= offset; sp = sp->next) {
		if (sp->offset == offset && sp->kind == kind) {
			s->specials_hint = sp;
			return sp;
		}
	}
	return NULL;
}

void special_free_object(span_t *s, uintptr_t obj, size_t size)
{
	uintptr_t lo = obj - s->base, hi = lo + size;
	special_t *dead = NULL;
	tcache_busy_enter();
	lock_acquire(&s->special_lock);
	special_t **pp = &s->specials;
	special_t *prev = NULL;
	while (*pp != NULL && (*pp)->offset < hi) {
		special_t *sp = *pp;
		if (sp->offset < lo) {
			prev = sp;
			pp = &sp->next;
			continue;
		}
		special_unlink_locked(s, pp, prev);
		if (sp->kind == SPECIAL_WEAK)
			__atomic_store_n(&sp->u.handle->target, 0, __ATOMIC_RELEASE);
		sp->next = dead;
		dead = sp;
	}
	lock_release(&s->special_lock);
	tcache_busy_leave();
	while (dead != NULL) {
		special_t *sp = dead;
		dead = sp->next;
		special_free(sp);
	}
}

void special_prefork(void)
{
	lock_acquire_prefork(&special_pool_lock);
}

void special_postfork_parent(void)
{
	lock_release_postfork_parent(&special_pool_lock);
}

static void special_reinit_span_lock(span_t *s, void *arg)
{
	(void)arg;
	if (s->specials != NULL)
		lock_reinit_postfork_child(&s->special_lock);
}

void special_postfork_child(void)
{
	lock_reinit_postfork_child(&special_pool_lock);
	heap_for_each_span(special_reinit_span_lock, NULL);
}

/*
 * central.c — per-class span lists (see central.h).
 *
 * A span's freebits hold exactly the objects in central custody. Objects in
 * thread caches and in the program's hands have their bits clear. A refill
 * walks the fullest partial span's bitmap with find-first-set; a flush sets
 * the bits back, which is also where a double free is caught: the bit is
 * already set. Every change of a span's free count re-files it on the list
 * of its fullness (central_place_locked); empty spans beyond the one spare
 * are handed back to the heap after the lock is dropped.
 */
#include "base.h"
#include "central.h"
#include "debug.h"
#include "log.h"
#include "pagemap.h"

#include <stdlib.h>

central_t central_table[SPANCLASS_COUNT];

void central_init(void)
{
	for (unsigned c = 0; c < SPANCLASS_COUNT; c++)
		lock_init(&central_table[c].lock, "CENTRAL", LOCK_RANK_CENTRAL);
}

/* Locks: central lock of c. */
static void central_unlink_locked(central_t *c, span_t *s)
{
	lock_assert_held(&c->lock);
	if (s->list < 0)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		c->partial[s->list] = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	s->list = -1;
}

/*
 * Puts s on the list its fullness calls for (none when it is full). An empty
 * span becomes the class's spare if there is none; otherwise it is unlinked
 * and returned so the caller gives it back to the heap after unlocking.
 * Locks: central lock of c.
 */
static span_t *central_place_locked(central_t *c, span_t *s)
{
	lock_assert_held(&c->lock);
	uint32_t used = s->nelems - s->nfree;
	int list = s->nfree == 0 ? -1 : (int)GCM_MIN(used * CENTRAL_NLISTS / s->nelems,
						      CENTRAL_NLISTS - 1u);
	if (used == 0) {
		central_unlink_locked(c, s);
		if (c->spare == NULL) {
			c->spare = s;
			return NULL;
		}
		c->nspans--;
		s->state = SPAN_DEAD;
		return s;
	}
	if (list == s->list)
		return NULL;
	central_unlink_locked(c, s);
	if (list >= 0) {
		s->prev = NULL;
		s->next = c->partial[list];
		if (s->next)
			s->next->prev = s;
		c->partial[list] = s;
		s->list = (int8_t)list;
	}
	return NULL;
}

/* A new span of class cls with every object free. Locks: central lock of
 * cls (the heap lock is taken inside, which the rank order allows). */
static span_t *central_new_span_locked(unsigned sc, heap_local_t *local)
{
	central_t *c = &central_table[sc];
	lock_assert_held(&c->lock);
	unsigned cls = spanclass_cls(sc);
	const sizeclass_info_t *ci = &sizeclass_table[cls];
	span_t *s = heap_alloc_span(ci->npages, local);
	if (s == NULL)
		return NULL;
	s->cls = (uint8_t)cls;
	s->kind = (uint8_t)spanclass_kind(sc);
	s->sc = (uint16_t)sc;
	s->elem_size = ci->size;
	s->nelems = ci->nelems;
	s->recip = ci->recip;
	s->nfree = ci->nelems;
	s->list = -1;
	for (unsigned i = 0; i < ci->nelems / 64; i++)
		s->freebits[i] = ~(uint64_t)0;
	if (ci->nelems % 64)
		s->freebits[ci->nelems / 64] = ((uint64_t)1 << (ci->nelems % 64)) - 1;
	__atomic_store_n(&s->state, SPAN_SMALL, __ATOMIC_RELEASE);
	c->nspans++;
	return s;
}

/* The span the next objects come from: the fullest partial span, then the
 * spare, then a new one. Locks: central lock of cls. */
static span_t *central_pick_locked(unsigned sc, heap_local_t *local)
{
	central_t *c = &central_table[sc];
	lock_assert_held(&c->lock);
	for (int l = CENTRAL_NLISTS - 1; l >= 0; l--)
		if (c->partial[l] != NULL)
			return c->partial[l];
	if (c->spare != NULL) {
		span_t *s = c->spare;
		c->spare = NULL;
		return s;
	}
	return central_new_span_locked(sc, local);
}

unsigned central_refill(unsigned sc, void **out, unsigned want,
			heap_local_t *local)
{
	central_t *c = &central_table[sc];
	unsigned got = 0;
	lock_acquire(&c->lock);
	while (got < want) {
		span_t *s = central_pick_locked(sc, local);
		if (s == NULL)
			break;
		unsigned taken = 0;
		for (unsigned w = 0; w < SPAN_BITMAP_WORDS && got < want; w++) {
			uint64_t bits = s->freebits[w];
			while (bits != 0 && got < want) {
				unsigned b = (unsigned)__builtin_ctzll(bits);
				bits &= bits - 1;
				out[got++] = (void *)span_object_base(s, w * 64 + b);
				taken++;
			}
			s->freebits[w] = bits;
		}
		s->nfree -= taken;
		central_place_locked(c, s); /* fuller now: never empty */
	}
	lock_release(&c->lock);
	return got;
}

GCM_NORETURN GCM_COLD static void central_double_free(const char *call,
						       const void *p)
{
	log_line("%s(): double free of %p", call, p);
	abort();
}

void central_flush(unsigned sc, void *const *objs, unsigned n,
		   const char *call)
{
	central_t *c = &central_table[sc];
	span_t *release = NULL;

	lock_acquire(&c->lock);
	for (unsigned k = 0; k < n; k++) {
		span_t *s = pagemap_lookup(objs[k]);
		GCM_ASSERT(s != NULL && s->sc == sc);
		uint32_t idx = span_object_index(s, (uintptr_t)objs[k]);
		uint64_t bit = (uint64_t)1 << (idx % 64);
		if (s->freebits[idx / 64] & bit) {
			lock_release(&c->lock);
			central_double_free(call, objs[k]);
		}
		s->freebits[idx / 64] |= bit;
		s->nfree++;
		span_t *dead = central_place_locked(c, s);
		if (dead != NULL) {
			dead->next = release;
			release = dead;
		}
	}
	lock_release(&c->lock);
	while (release != NULL) {
		span_t *s = release;
		release = s->next;
		heap_free_span(s);
	}
}

bool central_is_free(unsigned sc, const void *p)
{
	central_t *c = &central_table[sc];
	lock_acquire(&c->lock);
	span_t *s = pagemap_lookup(p);
	bool is_free = false;
	if (s != NULL && s->sc == sc) {
		uint32_t idx = span_object_index(s, (uintptr_t)p);
		is_free = (s->freebits[idx / 64] >> (idx % 64)) & 1;
	}
	lock_release(&c->lock);
	return is_free;
}

size_t central_sweep_span(span_t *s)
{
	central_t *c = &central_table[s->sc];
	size_t freed = 0;
	lock_acquire(&c->lock);
	for (unsigned w = 0; w * 64 < s->nelems; w++) {
		uint64_t valid = s->nelems - w * 64 >= 64 ? ~(uint64_t)0
			       : ((uint64_t)1 << (s->nelems - w * 64)) - 1;
		uint64_t garbage = ~s->markbits[w] & ~s->freebits[w] & valid;
		if (garbage == 0)
			continue;
		s->freebits[w] |= garbage;
		unsigned k = (unsigned)__builtin_popcountll(garbage);
		s->nfree += k;
		freed += (size_t)k * s->elem_size;
	}
	span_t *dead = freed ? central_place_locked(c, s) : NULL;
	lock_release(&c->lock);
	if (dead != NULL)
		heap_free_span(dead);
	return freed;
}

void central_release_empty(void)
{
	for (unsigned sc = 0; sc < SPANCLASS_COUNT; sc++) {
		if (spanclass_cls(sc) == 0)
			continue;
		central_t *c = &central_table[sc];
		lock_acquire(&c->lock);
		span_t *s = c->spare;
		c->spare = NULL;
		if (s != NULL) {
			c->nspans--;
			s->state = SPAN_DEAD;
		}
		lock_release(&c->lock);
		if (s != NULL)
			heap_free_span(s);
	}
}

void central_prefork(void)
{
	for (unsigned c = 0; c < SPANCLASS_COUNT; c++)
		lock_acquire_prefork(&central_table[c].lock);
}

void central_postfork_parent(void)
{
	for (unsigned c = 0; c < SPANCLASS_COUNT; c++)
		lock_release_postfork_parent(&central_table[c].lock);
}

void central_postfork_child(void)
{
	for (unsigned c = 0; c < SPANCLASS_COUNT; c++)
		lock_reinit_postfork_child(&central_table[c].lock);
}

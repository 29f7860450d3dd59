/*
 * mark.c — conservative marking.
 *
 * Every aligned word of a root range or of a scanned object is a candidate
 * pointer. The page map says in O(1) whether it points into the heap and
 * which span; the span's reciprocal gives the object index, so interior
 * pointers keep their object alive. Only collectable objects are marked:
 * malloc objects are roots in their own right (every live one is scanned by
 * the collector), and free objects were pre-marked before marking began,
 * so a stale pointer to a free slot finds its bit already set and is
 * ignored — free memory is never scanned.
 *
 * A marked object does not go on the stack at once: it is prefetched and
 * waits in a 16-entry FIFO first, so that by the time it is scanned its
 * memory has arrived. Without it, depth-first marking scans each object
 * right after marking it and stalls on every cache miss.
 *
 * The mark stack holds ranges still to scan. It lives in mmap'd memory and
 * doubles when full; marking is depth-first from the top of the stack, so
 * a long linked list needs one entry at a time, not one per node. A range
 * longer than MARK_CHUNK_BYTES is scanned a chunk at a time, the rest
 * going back on the stack below what the chunk reaches, and roots are
 * scanned the same way: an array of a million pointers then needs a few
 * hundred entries, not a million, and the stack stays small enough that
 * its pages are not faulted in afresh by every large cycle. If the
 * stack cannot grow, the object is marked but not queued and `overflow` is
 * set; mark_drain then rescans every marked scannable object, queueing what
 * their contents reach, until a pass completes without overflow.
 */
#include "base.h"
#include "mark.h"
#include "heap.h"
#include "pagemap.h"
#include "sys.h"

#include <string.h>

/* Longest range scanned before marking goes deeper: 512 words. */
#define MARK_CHUNK_BYTES ((uintptr_t)4096)

static bool mark_push(mark_state_t *m, uintptr_t lo, uintptr_t hi)
{
	if (m->n + 2 > m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : (size_t)64 << 10;
		uintptr_t *ns = sys_alloc(ncap * sizeof(uintptr_t));
		if (ns == NULL) {
			m->overflow = true;
			return false;
		}
		if (m->stack != NULL) {
			memcpy(ns, m->stack, m->n * sizeof(uintptr_t));
			sys_free(m->stack, m->cap * sizeof(uintptr_t));
		}
		m->stack = ns;
		m->cap = ncap;
	}
	m->stack[m->n++] = lo;
	m->stack[m->n++] = hi;
	return true;
}

bool mark_word(mark_state_t *m, uintptr_t w)
{
	if (w - m->heap_lo >= m->heap_hi - m->heap_lo)
		return false;
	span_t *s = pagemap_lookup((const void *)w);
	if (s == NULL || s->kind == SPAN_KIND_MALLOC)
		return false;
	uintptr_t lo, size;
	if (s->cls != 0) {
		uint32_t idx = span_object_index(s, w);
		if (idx >= s->nelems)
			return false; /* the tail no object covers */
		uint64_t bit = (uint64_t)1 << (idx % 64);
		if (s->markbits[idx / 64] & bit)
			return false;
		s->markbits[idx / 64] |= bit;
		lo = span_object_base(s, idx);
		size = s->elem_size;
	} else {
		if (s->state != SPAN_LARGE || (s->markbits[0] & 1))
			return false;
		s->markbits[0] |= 1;
		lo = s->base;
		size = span_bytes(s);
	}
	m->marked_bytes += size;
	m->marked_objects++;
	if (s->kind == SPAN_KIND_GC) {
		__builtin_prefetch((const void *)lo);
		const unsigned n = GCM_ARRAY_LEN(m->ring) / 2;
		if (m->ring_len == n) {
			unsigned h = m->ring_head;
			mark_push(m, m->ring[2 * h], m->ring[2 * h + 1]);
			m->ring[2 * h] = lo;
			m->ring[2 * h + 1] = lo + size;
			m->ring_head = (h + 1) % n;
		} else {
			unsigned t = (m->ring_head + m->ring_len) % n;
			m->ring[2 * t] = lo;
			m->ring[2 * t + 1] = lo + size;
			m->ring_len++;
		}
	}
	return true;
}

void mark_range(mark_state_t *m, uintptr_t lo, uintptr_t hi)
{
	for (uintptr_t p = align_up(lo, sizeof(uintptr_t)); p + sizeof(uintptr_t) <= hi;
	     p += sizeof(uintptr_t))
		mark_word(m, *(const uintptr_t *)p);
}

static void mark_drain_stack(mark_state_t *m)
{
	const unsigned n = GCM_ARRAY_LEN(m->ring) / 2;
	for (;;) {
		uintptr_t lo, hi;
		if (m->n > 0) {
			hi = m->stack[--m->n];
			lo = m->stack[--m->n];
		} else if (m->ring_len > 0) {
			unsigned h = m->ring_head;
			lo = m->ring[2 * h];
			hi = m->ring[2 * h + 1];
			m->ring_head = (h + 1) % n;
			m->ring_len--;
		} else {
			return;
		}
		if (hi - lo > MARK_CHUNK_BYTES) {
			/* If the rest cannot be queued, overflow is set and
			 * the rescan covers the object (it is marked). */
			mark_push(m, lo + MARK_CHUNK_BYTES, hi);
			hi = lo + MARK_CHUNK_BYTES;
		}
		mark_range(m, lo, hi);
	}
}

void mark_root(mark_state_t *m, uintptr_t lo, uintptr_t hi)
{
	lo = align_up(lo, sizeof(uintptr_t)); /* no word straddles two chunks */
	while (hi > lo && hi - lo > MARK_CHUNK_BYTES) {
		mark_range(m, lo, lo + MARK_CHUNK_BYTES);
		mark_drain_stack(m);
		lo += MARK_CHUNK_BYTES;
	}
	mark_range(m, lo, hi);
}

/* Rescans the contents of every marked collectable, scanned object of s. */
static void mark_rescan_span(span_t *s, void *arg)
{
	mark_state_t *m = arg;
	if (s->kind != SPAN_KIND_GC)
		return;
	if (s->cls == 0) {
		if (s->markbits[0] & 1)
			mark_range(m, s->base, s->base + span_bytes(s));
	} else {
		for (uint32_t i = 0; i < s->nelems; i++)
			if (mark_is_marked(s, i) && !((s->freebits[i / 64] >> (i % 64)) & 1))
				mark_range(m, span_object_base(s, i),
					   span_object_base(s, i) + s->elem_size);
	}
	mark_drain_stack(m);
}

void mark_drain(mark_state_t *m)
{
	mark_drain_stack(m);
	while (m->overflow) {
		m->overflow = false;
		heap_for_each_span(mark_rescan_span, m);
	}
}

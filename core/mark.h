/*
 * mark.h — conservative marking with an explicit mark stack.
 */
#ifndef GCM_MARK_H
#define GCM_MARK_H

#include "base.h"
#include "span.h"

typedef struct mark_state {
	/* Ranges still to scan, [lo, hi) pairs; grows in mmap'd memory. */
	uintptr_t *stack;
	size_t n;        /* used entries (two per range) */
	size_t cap;      /* entries */
	bool overflow;   /* a push failed for lack of memory: rescan needed */
	/* Objects just marked, waiting (prefetched) before they go on the
	 * stack: a small FIFO that gives the prefetch time to land. */
	uintptr_t ring[2 * 16];
	unsigned ring_head, ring_len;
	/* Every span lies in [heap_lo, heap_hi): other words are rejected
	 * without a look at the page map (whose untouched root pages a
	 * random-looking word would otherwise fault in). */
	uintptr_t heap_lo, heap_hi;
	size_t marked_bytes;
	size_t marked_objects;
	size_t root_bytes;
} mark_state_t;

/* Marks the collectable object containing address w (if any) and queues
 * its contents for scanning unless it is atomic. Returns true if w pointed
 * into an object that was not marked yet. */
bool mark_word(mark_state_t *m, uintptr_t w);

/* Scans [lo, hi) word by word (lo rounded up to a word). */
void mark_range(mark_state_t *m, uintptr_t lo, uintptr_t hi);

/* Scans the root range [lo, hi) a chunk at a time, draining what each
 * chunk reaches before the next (the caller drains after the last). */
void mark_root(mark_state_t *m, uintptr_t lo, uintptr_t hi);

/* Scans everything queued, and recovers from a mark-stack overflow by
 * rescanning marked objects until nothing new is marked. */
void mark_drain(mark_state_t *m);

/* Whether object idx of s is marked. */
GCM_INLINE bool mark_is_marked(const span_t *s, uint32_t idx)
{
	return (s->markbits[idx / 64] >> (idx % 64)) & 1;
}

#endif /* GCM_MARK_H */

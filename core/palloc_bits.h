/*
 * palloc_bits.h — the per-chunk bitmaps of the page allocator.
 *
 * A chunk is PALLOC_CHUNK_PAGES (512) pages. Each chunk owns two bitmaps of
 * 512 bits, eight uint64_t words, bit i of word w describing page w*64 + i:
 *
 *   alloc  1 = the page is in use (handed out, or held by a page cache or by
 *          the scavenger while it releases the page), 0 = free;
 *   scav   1 = the page has been returned to the kernel (its contents are
 *          gone and it costs no RSS), 0 = it may be resident.
 *
 * Invariant: a page is never both in use and scavenged. Allocating a range
 * clears its scavenged bits and reports how many there were, so the caller
 * knows those pages are fresh zero pages; freeing leaves the scavenged bits
 * alone (a freed page is "free, not scavenged": a scavenger candidate).
 *
 * This file has no locking of its own; the heap lock protects every chunk.
 */
#ifndef GCM_PALLOC_BITS_H
#define GCM_PALLOC_BITS_H

#include "base.h"
#include "palloc_sum.h"

#define PALLOC_CHUNK_PAGES_SHIFT 9
#define PALLOC_CHUNK_PAGES (1u << PALLOC_CHUNK_PAGES_SHIFT)
#define PALLOC_CHUNK_WORDS (PALLOC_CHUNK_PAGES / 64)

/* Returned by the find functions when there is no fit. */
#define PALLOC_BITS_NONE (~0u)

typedef struct palloc_bits {
	uint64_t w[PALLOC_CHUNK_WORDS];
} palloc_bits_t;

typedef struct palloc_chunk {
	palloc_bits_t alloc;
	palloc_bits_t scav;
	/* The scavenger's density record (scav.c): the most pages in use at
	 * once during generation `gen`, and during the generation before. */
	uint32_t gen;
	uint16_t peak_in_use;
	uint16_t prev_peak_in_use;
} palloc_chunk_t;

/* Sets / clears bits [i, i+n). Requires n >= 1 and i + n <= 512. */
void palloc_bits_set_range(palloc_bits_t *b, unsigned i, unsigned n);
void palloc_bits_clear_range(palloc_bits_t *b, unsigned i, unsigned n);
/* Number of set bits in [i, i+n). n may be 0. */
unsigned palloc_bits_count_range(const palloc_bits_t *b, unsigned i,
				 unsigned n);
/* The 64-bit word holding bit i. */
GCM_INLINE uint64_t palloc_bits_block64(const palloc_bits_t *b, unsigned i)
{
	return b->w[i / 64];
}

/* Summary (start, max, end) of the clear (free) bits of b. */
palloc_sum_t palloc_bits_summarize(const palloc_bits_t *b);

/*
 * First index of n consecutive set bits in c, or a value >= 64 if there is
 * none. n in [1, 64].
 */
unsigned palloc_bits_find_range64(uint64_t c, unsigned n);

/*
 * Finds the first run of npages clear bits at or after search_idx
 * (address-ordered first fit). Pages below search_idx are known to be in use,
 * so the search may start at the word holding search_idx. Returns the index
 * of the run or PALLOC_BITS_NONE. *first_free receives the index of the
 * first clear bit seen at or after the start of the search (the next search
 * hint), or PALLOC_BITS_NONE if every bit from there on is set.
 * npages in [1, 512].
 */
unsigned palloc_bits_find(const palloc_bits_t *b, unsigned npages,
			  unsigned search_idx, unsigned *first_free);

/*
 * Marks [i, i+n) in use in c->alloc and clears the same bits in c->scav.
 * Returns how many of those pages were scavenged before. The range must be
 * free (asserted in assertion builds).
 */
unsigned palloc_chunk_alloc_range(palloc_chunk_t *c, unsigned i, unsigned n);
/* Marks [i, i+n) free; the scavenged bits are not touched. The range must be
 * in use (asserted in assertion builds). */
void palloc_chunk_free_range(palloc_chunk_t *c, unsigned i, unsigned n);

#endif /* GCM_PALLOC_BITS_H */

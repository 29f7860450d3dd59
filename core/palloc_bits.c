/*
 * palloc_bits.c — the bitmap primitives behind the page allocator.
 *
 * Every chunk of 512 pages is described by two 512-bit maps (see
 * palloc_bits.h): which pages are in use, and which have been handed back to
 * the kernel. This file owns all the bit-level work on one such map and
 * nothing else: setting, clearing and counting ranges, condensing a map into
 * a (start, max, end) summary for the radix tree, and finding the first run
 * of free pages that is long enough. It takes no locks and keeps no state;
 * the heap lock held by the caller covers every chunk.
 *
 * The map is only eight words long, so everything here works a word at a
 * time and leans on count-trailing/leading-zeros and popcount rather than on
 * per-bit loops. The cases that matter are:
 *
 * Range updates split the range into a partial head word, a stretch of whole
 * words and a partial tail word, each handled with a single mask. A range of
 * one page (the common case: small spans) skips all of that.
 *
 * Summaries are built in two passes. The first pass treats every word as
 * "trailing zeros, something in the middle, leading zeros": the trailing
 * zeros close the free run that has been growing from the words below (the
 * first run closed this way is the chunk's start), the leading zeros open
 * the next one, and a word with no bit set just adds 64 to the open run. The
 * run still open at the end is the chunk's end. This finds every run that
 * touches a word boundary. Runs strictly inside one word are left to the
 * second pass, which is skipped when the longest run so far is 62 or more,
 * since no run strictly inside a word can be longer than 62. Otherwise each
 * word is tested for an interior zero run longer than the current maximum:
 * we repeatedly OR the word with a copy of itself shifted right, which grows
 * every run of ones downward and so eats every zero run from its top end.
 * After the total shift reaches max, a zero run survives only if it was
 * longer than max. Because each OR at least doubles the shortest run of ones
 * that sits above a zero run, the shift amounts can double too, so removing
 * max zeros costs O(log max) operations rather than max. A survivor is
 * measured, max grows by its remaining length, and the shrinking carries on
 * from there for the rest of the word.
 *
 * Finding a run of n set bits in a word is the same trick on the other
 * polarity: AND the word with itself shifted right, with doubling shifts,
 * until n-1 ones have been removed from the top of every run of ones. A run
 * of n or more leaves its lowest bit standing (bits are removed from the top,
 * so the survivor keeps its original position) and the answer is the lowest
 * surviving bit.
 *
 * The chunk search is address-ordered first fit and comes in three shapes
 * chosen by the request size. One page: skip full words and take the lowest
 * clear bit. Up to 64 pages: a fit either straddles a word boundary (the
 * leading zeros of the previous word plus the trailing zeros of this one) or
 * lies inside one word (found with the run search above on the inverted
 * word). More than 64 pages: a fit must cover at least one whole free word,
 * so it is enough to follow one candidate run across words, extending it
 * through all-free words and restarting it at the leading zeros of any word
 * that breaks it. All three also report the first free page they saw, which
 * the caller uses as its next search hint.
 */
#include "base.h"
#include "debug.h"
#include "palloc_bits.h"

#define PALLOC_BITS_ALL_ONES (~(uint64_t)0)

/* Count helpers that are defined for a zero argument (64). */
GCM_INLINE unsigned palloc_bits_ctz(uint64_t x)
{
	return x ? (unsigned)__builtin_ctzll(x) : 64;
}

GCM_INLINE unsigned palloc_bits_clz(uint64_t x)
{
	return x ? (unsigned)__builtin_clzll(x) : 64;
}

GCM_INLINE unsigned palloc_bits_popcount(uint64_t x)
{
	return (unsigned)__builtin_popcountll(x);
}

/* Bits [lo, lo + n) of one word. Requires n in [1, 64] and lo + n <= 64. */
GCM_INLINE uint64_t palloc_bits_mask(unsigned lo, unsigned n)
{
	return (PALLOC_BITS_ALL_ONES >> (64 - n)) << lo;
}

void palloc_bits_set_range(palloc_bits_t *b, unsigned i, unsigned n)
{
	unsigned first, last;

	GCM_ASSERT(n >= 1 && n <= PALLOC_CHUNK_PAGES &&
		   i <= PALLOC_CHUNK_PAGES - n);

	if (n == 1) {
		b->w[i / 64] |= (uint64_t)1 << (i % 64);
		return;
	}

	first = i / 64;
	last = (i + n - 1) / 64;
	if (first == last) {
		b->w[first] |= palloc_bits_mask(i % 64, n);
		return;
	}
	b->w[first] |= PALLOC_BITS_ALL_ONES << (i % 64);
	for (unsigned w = first + 1; w < last; w++)
		b->w[w] = PALLOC_BITS_ALL_ONES;
	b->w[last] |= PALLOC_BITS_ALL_ONES >> (63 - (i + n - 1) % 64);
}

void palloc_bits_clear_range(palloc_bits_t *b, unsigned i, unsigned n)
{
	unsigned first, last;

	GCM_ASSERT(n >= 1 && n <= PALLOC_CHUNK_PAGES &&
		   i <= PALLOC_CHUNK_PAGES - n);

	if (n == 1) {
		b->w[i / 64] &= ~((uint64_t)1 << (i % 64));
		return;
	}

	first = i / 64;
	last = (i + n - 1) / 64;
	if (first == last) {
		b->w[first] &= ~palloc_bits_mask(i % 64, n);
		return;
	}
	b->w[first] &= ~(PALLOC_BITS_ALL_ONES << (i % 64));
	for (unsigned w = first + 1; w < last; w++)
		b->w[w] = 0;
	b->w[last] &= ~(PALLOC_BITS_ALL_ONES >> (63 - (i + n - 1) % 64));
}

unsigned palloc_bits_count_range(const palloc_bits_t *b, unsigned i,
				 unsigned n)
{
	unsigned first, last, count;

	if (n == 0)
		return 0;
	GCM_ASSERT(n <= PALLOC_CHUNK_PAGES && i <= PALLOC_CHUNK_PAGES - n);

	if (n == 1)
		return (unsigned)(b->w[i / 64] >> (i % 64)) & 1;

	first = i / 64;
	last = (i + n - 1) / 64;
	if (first == last)
		return palloc_bits_popcount(b->w[first] &
					    palloc_bits_mask(i % 64, n));

	count = palloc_bits_popcount(b->w[first] >> (i % 64));
	for (unsigned w = first + 1; w < last; w++)
		count += palloc_bits_popcount(b->w[w]);
	count += palloc_bits_popcount(b->w[last] <<
				      (63 - (i + n - 1) % 64));
	return count;
}

/* True if x, read from bit 0 up, has a zero below its highest one. */
GCM_INLINE bool palloc_bits_has_inner_zero(uint64_t x)
{
	return (x & (x + 1)) != 0;
}

/*
 * The longest zero run lying strictly between two ones of x, if it is longer
 * than max; max otherwise. Bit 0 of x must be set (the caller strips the
 * trailing zeros, which pass 1 of the summary already accounted for).
 *
 * Invariant of the loop: every run of ones that has a zero run below it is
 * at least `ones` long, so OR-ing in x >> s for any s <= ones shrinks every
 * zero run by s from its top without leaving gaps.
 */
static unsigned palloc_bits_inner_max(uint64_t x, unsigned max)
{
	unsigned todo = max;	/* zeros still to remove from every run */
	unsigned ones = 1;

	while (palloc_bits_has_inner_zero(x)) {
		unsigned run;

		while (todo > 0) {
			unsigned s = GCM_MIN(todo, ones);

			x |= x >> s;
			if (!palloc_bits_has_inner_zero(x))
				return max;
			todo -= s;
			ones += s;
		}

		/*
		 * Every zero run left over was longer than max. Step past the
		 * ones at the bottom and measure the lowest survivor: what is
		 * left of it is by how much it beats max.
		 */
		x >>= palloc_bits_ctz(~x);
		run = palloc_bits_ctz(x);
		x >>= run;
		max += run;
		todo = run;
	}
	return max;
}

palloc_sum_t palloc_bits_summarize(const palloc_bits_t *b)
{
	unsigned start = 0, max = 0, cur = 0;
	bool have_start = false;

	/* Pass 1: the runs that touch a word boundary. */
	for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++) {
		uint64_t x = b->w[w];

		if (x == 0) {
			cur += 64;
			continue;
		}
		cur += palloc_bits_ctz(x);
		if (!have_start) {
			start = cur;
			have_start = true;
		}
		max = GCM_MAX(max, cur);
		cur = palloc_bits_clz(x);
	}
	if (!have_start)
		return palloc_sum_pack(PALLOC_CHUNK_PAGES, PALLOC_CHUNK_PAGES,
				       PALLOC_CHUNK_PAGES);
	max = GCM_MAX(max, cur);

	/* Pass 2: runs strictly inside a word, at most 62 long. */
	if (max < 62) {
		for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++) {
			uint64_t x = b->w[w];

			/* max < 62 means no word was all zero. */
			x >>= palloc_bits_ctz(x);
			if (palloc_bits_has_inner_zero(x))
				max = palloc_bits_inner_max(x, max);
		}
	}
	return palloc_sum_pack(start, max, cur);
}

unsigned palloc_bits_find_range64(uint64_t c, unsigned n)
{
	unsigned todo = n - 1;	/* ones still to remove from every run */
	unsigned zeros = 1;	/* every zero run above a one run is this long */

	GCM_ASSERT(n >= 1 && n <= 64);

	while (todo > 0 && c != 0) {
		unsigned s = GCM_MIN(todo, zeros);

		c &= c >> s;
		todo -= s;
		zeros += s;
	}
	return palloc_bits_ctz(c);
}

static unsigned palloc_bits_find1(const palloc_bits_t *b, unsigned word,
				  unsigned *first_free)
{
	for (unsigned w = word; w < PALLOC_CHUNK_WORDS; w++) {
		uint64_t x = b->w[w];

		if (x != PALLOC_BITS_ALL_ONES) {
			unsigned idx = w * 64 + palloc_bits_ctz(~x);

			*first_free = idx;
			return idx;
		}
	}
	*first_free = PALLOC_BITS_NONE;
	return PALLOC_BITS_NONE;
}

/* 2 <= npages <= 64. */
static unsigned palloc_bits_find_small(const palloc_bits_t *b,
				       unsigned npages, unsigned word,
				       unsigned *first_free)
{
	unsigned carry = 0;	/* free pages at the top of the previous word */

	*first_free = PALLOC_BITS_NONE;
	for (unsigned w = word; w < PALLOC_CHUNK_WORDS; w++) {
		uint64_t x = b->w[w];
		unsigned j;

		if (x == PALLOC_BITS_ALL_ONES) {
			carry = 0;
			continue;
		}
		if (*first_free == PALLOC_BITS_NONE)
			*first_free = w * 64 + palloc_bits_ctz(~x);

		/* A run straddling the boundary with the previous word. */
		if (carry + palloc_bits_ctz(x) >= npages)
			return w * 64 - carry;
		/* A run inside this word. */
		j = palloc_bits_find_range64(~x, npages);
		if (j < 64)
			return w * 64 + j;
		carry = palloc_bits_clz(x);
	}
	return PALLOC_BITS_NONE;
}

/* npages > 64: the run covers at least one whole free word. */
static unsigned palloc_bits_find_large(const palloc_bits_t *b,
				       unsigned npages, unsigned word,
				       unsigned *first_free)
{
	unsigned run_start = 0, run_len = 0;

	*first_free = PALLOC_BITS_NONE;
	for (unsigned w = word; w < PALLOC_CHUNK_WORDS; w++) {
		uint64_t x = b->w[w];

		if (x == PALLOC_BITS_ALL_ONES) {
			run_len = 0;
			continue;
		}
		if (*first_free == PALLOC_BITS_NONE)
			*first_free = w * 64 + palloc_bits_ctz(~x);

		if (x == 0) {
			if (run_len == 0)
				run_start = w * 64;
			run_len += 64;
			if (run_len >= npages)
				return run_start;
			continue;
		}
		/*
		 * The trailing zeros can only complete a run already under
		 * way: on their own they are shorter than 64 < npages.
		 */
		if (run_len + palloc_bits_ctz(x) >= npages)
			return run_start;
		run_len = palloc_bits_clz(x);
		run_start = w * 64 + 64 - run_len;
	}
	return PALLOC_BITS_NONE;
}

unsigned palloc_bits_find(const palloc_bits_t *b, unsigned npages,
			  unsigned search_idx, unsigned *first_free)
{
	unsigned word = search_idx / 64;

	GCM_ASSERT(npages >= 1 && npages <= PALLOC_CHUNK_PAGES);
	GCM_ASSERT(search_idx < PALLOC_CHUNK_PAGES);
	/* The caller promises the pages below search_idx are in use. */
	GCM_ASSERT((~b->w[word] & (((uint64_t)1 << (search_idx % 64)) - 1)) ==
		   0);

	if (npages == 1)
		return palloc_bits_find1(b, word, first_free);
	if (npages <= 64)
		return palloc_bits_find_small(b, npages, word, first_free);
	return palloc_bits_find_large(b, npages, word, first_free);
}

unsigned palloc_chunk_alloc_range(palloc_chunk_t *c, unsigned i, unsigned n)
{
	unsigned scav;

	GCM_ASSERT(palloc_bits_count_range(&c->alloc, i, n) == 0);

	scav = palloc_bits_count_range(&c->scav, i, n);
	palloc_bits_set_range(&c->alloc, i, n);
	if (scav != 0)
		palloc_bits_clear_range(&c->scav, i, n);
	return scav;
}

void palloc_chunk_free_range(palloc_chunk_t *c, unsigned i, unsigned n)
{
	GCM_ASSERT(palloc_bits_count_range(&c->alloc, i, n) == n);

	palloc_bits_clear_range(&c->alloc, i, n);
}

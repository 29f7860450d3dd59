/*
 * palloc_model.h — shared helpers for the page allocator and page cache
 * tests (test_palloc.c, test_pcache.c).
 *
 *   - a seeded PRNG (xorshift64*), so every randomised test is deterministic;
 *   - macros that describe a test heap as a table of testing_chunk_t
 *     (chunk index -> in-use ranges, scavenged ranges), the way Go's
 *     mpagealloc_test.go describes heaps with maps of BitRange;
 *   - heap comparison: every chunk's alloc and scav bitmaps against a second
 *     allocator built from an "after" table, reporting the differing words;
 *   - a naive model of the page allocator: one plain bitmap per grown chunk,
 *     with address-ordered first fit by linear scan. First fit is
 *     deterministic, so the real allocator must return exactly what the
 *     model returns.
 *
 * Everything here is static; each test file gets its own copy.
 */
#ifndef GCM_TEST_PALLOC_MODEL_H
#define GCM_TEST_PALLOC_MODEL_H

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "testing.h"

/* ---- short names for the tables ---------------------------------------- */

#define BASE TESTING_BASE_CHUNK
#define CP ((unsigned)PALLOC_CHUNK_PAGES) /* pages per chunk: 512 */
#define PG PALLOC_PAGE_SIZE               /* bytes per page: 4096 */
#define PB(ci, page) testing_page_base((palloc_chunk_idx_t)(ci), (unsigned)(page))
#define NELEM(a) ((unsigned)GCM_ARRAY_LEN(a))

/* A list of bit ranges, as the (pointer, count) pair testing_chunk_t wants. */
#define RANGES(...)                                                   \
	((const testing_bit_range_t[]){ __VA_ARGS__ }),               \
	(unsigned)(sizeof((const testing_bit_range_t[]){ __VA_ARGS__ }) / \
		   sizeof(testing_bit_range_t))
#define NO_RANGES NULL, 0u

/* One chunk of a table: CHUNK(ci, in-use ranges, scavenged ranges), each
 * list either RANGES({i, n}, ...) or NO_RANGES. FREE_CHUNK(ci) is all free
 * and unscavenged. */
#define CHUNK(ci, alloc, scav) { (palloc_chunk_idx_t)(ci), alloc, scav }
#define FREE_CHUNK(ci) CHUNK(ci, NO_RANGES, NO_RANGES)

/* ---- deterministic PRNG (xorshift64*) ---------------------------------- */

typedef struct pm_rng {
	uint64_t s;
} pm_rng_t;

static inline void pm_rng_seed(pm_rng_t *r, uint64_t seed)
{
	r->s = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static inline uint64_t pm_rng_next(pm_rng_t *r)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, n); n > 0. */
static inline size_t pm_rng_below(pm_rng_t *r, size_t n)
{
	return (size_t)((pm_rng_next(r) >> 11) % n);
}

/* ---- bitmap helpers ------------------------------------------------------ */

static inline bool pm_bit(const palloc_bits_t *b, unsigned i)
{
	return (b->w[i / 64] >> (i % 64)) & 1;
}

static inline void pm_put(palloc_bits_t *b, unsigned i, bool v)
{
	if (v)
		b->w[i / 64] |= (uint64_t)1 << (i % 64);
	else
		b->w[i / 64] &= ~((uint64_t)1 << (i % 64));
}

/* Turns the set bits of `mask` (page offset `first` within a chunk) into
 * ranges appended to out[*n]. */
static inline void pm_mask_to_ranges(uint64_t mask, unsigned first,
				     testing_bit_range_t *out, unsigned *n)
{
	unsigned i = 0;

	while (i < 64) {
		if (!((mask >> i) & 1)) {
			i++;
			continue;
		}
		unsigned j = i;
		while (j < 64 && ((mask >> j) & 1))
			j++;
		out[(*n)++] = (testing_bit_range_t){ first + i, j - i };
		i = j;
	}
}

/* ---- comparing heaps ----------------------------------------------------- */

/*
 * Compares chunk ci of got and want word by word, logging every differing
 * word of either bitmap. Returns true if they are equal.
 */
static inline bool pm_chunk_equal(testing_palloc_t *got, testing_palloc_t *want,
				  palloc_chunk_idx_t ci)
{
	palloc_chunk_t g = testing_palloc_chunk(got, ci);
	palloc_chunk_t w = testing_palloc_chunk(want, ci);
	bool ok = true;

	for (unsigned k = 0; k < PALLOC_CHUNK_WORDS; k++) {
		if (g.alloc.w[k] != w.alloc.w[k]) {
			cr_log_error("chunk BASE%+lld alloc word %u (pages %u..%u): got %016llx want %016llx",
				     (long long)ci - (long long)BASE, k, k * 64,
				     k * 64 + 63, (unsigned long long)g.alloc.w[k],
				     (unsigned long long)w.alloc.w[k]);
			ok = false;
		}
		if (g.scav.w[k] != w.scav.w[k]) {
			cr_log_error("chunk BASE%+lld scav word %u (pages %u..%u): got %016llx want %016llx",
				     (long long)ci - (long long)BASE, k, k * 64,
				     k * 64 + 63, (unsigned long long)g.scav.w[k],
				     (unsigned long long)w.scav.w[k]);
			ok = false;
		}
	}
	return ok;
}

/*
 * Builds an allocator from the "after" table and requires got's bitmaps to
 * equal it in every chunk of the table (which must list the same chunks the
 * test heap was built from). Both allocators must also be valid.
 */
static inline void pm_expect_heap(testing_palloc_t *got,
				  const testing_chunk_t *after, unsigned n)
{
	testing_palloc_t *want = testing_palloc_new(after, n);
	bool ok = true;

	cr_assert(testing_palloc_is_valid(want), "the expected heap is not valid");
	cr_expect(testing_palloc_is_valid(got), "the heap is not valid");
	for (unsigned k = 0; k < n; k++)
		ok &= pm_chunk_equal(got, want, after[k].ci);
	testing_palloc_delete(want);
	cr_assert(ok, "heap differs from the expected table (see the words above)");
}

/* A copy of the bitmaps of a list of chunks, to check "changed nothing". */
typedef struct pm_snapshot {
	unsigned n;
	palloc_chunk_idx_t ci[64];
	palloc_chunk_t c[64];
	uintptr_t search_addr;
} pm_snapshot_t;

static inline void pm_snap(testing_palloc_t *t, const palloc_chunk_idx_t *ci,
			   unsigned n, pm_snapshot_t *s)
{
	cr_assert(n <= 64);
	s->n = n;
	for (unsigned k = 0; k < n; k++) {
		s->ci[k] = ci[k];
		s->c[k] = testing_palloc_chunk(t, ci[k]);
	}
	s->search_addr = testing_palloc_search_addr(t);
}

static inline bool pm_snap_equal(testing_palloc_t *t, const pm_snapshot_t *s)
{
	if (testing_palloc_search_addr(t) != s->search_addr)
		return false;
	for (unsigned k = 0; k < s->n; k++) {
		palloc_chunk_t c = testing_palloc_chunk(t, s->ci[k]);
		if (memcmp(&c, &s->c[k], sizeof(c)) != 0)
			return false;
	}
	return true;
}

/* ---- the naive model ----------------------------------------------------- */

/*
 * A model heap: a sorted list of grown chunks, each with a plain alloc and
 * scav bitmap. Two chunks are contiguous (a run may cross between them)
 * exactly when their indices are consecutive.
 */
typedef struct pm_model {
	unsigned n;
	palloc_chunk_idx_t *ci;
	palloc_chunk_t *c;
} pm_model_t;

static inline int pm_cmp_ci(const void *a, const void *b)
{
	palloc_chunk_idx_t x = *(const palloc_chunk_idx_t *)a;
	palloc_chunk_idx_t y = *(const palloc_chunk_idx_t *)b;

	return x < y ? -1 : x > y;
}

/* Builds the model of a table, exactly as testing_palloc_new reads it. */
static inline void pm_model_init(pm_model_t *m, const testing_chunk_t *chunks,
				 unsigned n)
{
	m->n = n;
	m->ci = calloc(n, sizeof(*m->ci));
	m->c = calloc(n, sizeof(*m->c));
	cr_assert(m->ci && m->c);
	for (unsigned k = 0; k < n; k++)
		m->ci[k] = chunks[k].ci;
	qsort(m->ci, n, sizeof(*m->ci), pm_cmp_ci);
	for (unsigned k = 0; k < n; k++) {
		const testing_chunk_t *tc = NULL;
		for (unsigned q = 0; q < n; q++)
			if (chunks[q].ci == m->ci[k])
				tc = &chunks[q];
		for (unsigned r = 0; r < tc->nscav; r++)
			for (unsigned p = tc->scav[r].i; p < tc->scav[r].i + tc->scav[r].n; p++)
				pm_put(&m->c[k].scav, p, true);
		for (unsigned r = 0; r < tc->nalloc; r++)
			for (unsigned p = tc->alloc[r].i; p < tc->alloc[r].i + tc->alloc[r].n; p++) {
				pm_put(&m->c[k].alloc, p, true);
				pm_put(&m->c[k].scav, p, false);
			}
	}
}

static inline void pm_model_destroy(pm_model_t *m)
{
	free(m->ci);
	free(m->c);
	memset(m, 0, sizeof(*m));
}

/* The model slot of chunk ci, or -1 if it was never grown. */
static inline int pm_model_slot(const pm_model_t *m, palloc_chunk_idx_t ci)
{
	unsigned lo = 0, hi = m->n;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (m->ci[mid] < ci)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->n && m->ci[lo] == ci ? (int)lo : -1;
}

/* Address-ordered first fit over the model, by linear scan. 0 if none. */
static inline uintptr_t pm_model_first_fit(const pm_model_t *m, size_t npages)
{
	size_t run = 0;
	uintptr_t run_base = 0;

	for (unsigned k = 0; k < m->n; k++) {
		if (k == 0 || m->ci[k] != m->ci[k - 1] + 1)
			run = 0;
		const palloc_bits_t *b = &m->c[k].alloc;
		unsigned p = 0;
		while (p < CP) {
			uint64_t w = b->w[p / 64];
			if (p % 64 == 0 && w == ~(uint64_t)0) {
				run = 0;
				p += 64;
				continue;
			}
			if (p % 64 == 0 && w == 0) {
				if (run == 0)
					run_base = PB(m->ci[k], p);
				run += 64;
				if (run >= npages)
					return run_base;
				p += 64;
				continue;
			}
			if (pm_bit(b, p)) {
				run = 0;
			} else {
				if (run == 0)
					run_base = PB(m->ci[k], p);
				if (++run >= npages)
					return run_base;
			}
			p++;
		}
	}
	return 0;
}

/* The first free page of the model, or 0. */
static inline uintptr_t pm_model_first_free(const pm_model_t *m)
{
	return pm_model_first_fit(m, 1);
}

/*
 * Whether [base, base+npages) lies in grown chunks that are consecutive
 * (one grown range) and is entirely free (want_free) or entirely in use.
 */
static inline bool pm_model_range_is(const pm_model_t *m, uintptr_t base,
				     size_t npages, bool want_free)
{
	if (npages == 0)
		return false;
	for (size_t k = 0; k < npages; k++) {
		uintptr_t a = base + k * PG;
		int s = pm_model_slot(m, palloc_chunk_index(a));
		if (s < 0)
			return false;
		if (pm_bit(&m->c[s].alloc, palloc_chunk_page_index(a)) == want_free)
			return false;
	}
	return true;
}

/* Marks a free range in use; returns how many of its pages were scavenged. */
static inline size_t pm_model_alloc(pm_model_t *m, uintptr_t base, size_t npages)
{
	size_t scav = 0;

	for (size_t k = 0; k < npages; k++) {
		uintptr_t a = base + k * PG;
		int s = pm_model_slot(m, palloc_chunk_index(a));
		unsigned p = palloc_chunk_page_index(a);
		cr_assert(s >= 0 && !pm_bit(&m->c[s].alloc, p), "model: bad alloc");
		scav += pm_bit(&m->c[s].scav, p);
		pm_put(&m->c[s].alloc, p, true);
		pm_put(&m->c[s].scav, p, false);
	}
	return scav;
}

static inline void pm_model_free(pm_model_t *m, uintptr_t base, size_t npages)
{
	for (size_t k = 0; k < npages; k++) {
		uintptr_t a = base + k * PG;
		int s = pm_model_slot(m, palloc_chunk_index(a));
		unsigned p = palloc_chunk_page_index(a);
		cr_assert(s >= 0 && pm_bit(&m->c[s].alloc, p), "model: bad free");
		pm_put(&m->c[s].alloc, p, false);
	}
}

/* Compares every chunk of the allocator with the model, logging differing
 * words. Returns true if equal. */
static inline bool pm_model_matches(const pm_model_t *m, testing_palloc_t *t)
{
	bool ok = true;

	for (unsigned k = 0; k < m->n; k++) {
		palloc_chunk_t g = testing_palloc_chunk(t, m->ci[k]);
		for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++) {
			if (g.alloc.w[w] != m->c[k].alloc.w[w] ||
			    g.scav.w[w] != m->c[k].scav.w[w]) {
				cr_log_error("chunk BASE%+lld word %u: alloc got %016llx model %016llx, scav got %016llx model %016llx",
					     (long long)m->ci[k] - (long long)BASE, w,
					     (unsigned long long)g.alloc.w[w],
					     (unsigned long long)m->c[k].alloc.w[w],
					     (unsigned long long)g.scav.w[w],
					     (unsigned long long)m->c[k].scav.w[w]);
				ok = false;
			}
		}
	}
	return ok;
}

#endif /* GCM_TEST_PALLOC_MODEL_H */

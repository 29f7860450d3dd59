/*
 * test_scav.c — the scavenger's search over the page allocator
 * (core/scav.c: scav_scavenge, scav_excess, the density rule).
 *
 * Test heaps are page allocators in test mode (testing_palloc_new): nothing
 * is mapped or released to the kernel, only the two bitmaps change, so a
 * case can state exactly which pages must end up scavenged.
 *
 * Table cases, after Go's TestPageAllocScavenge: a heap is a table of
 * chunks (chunk index -> in-use ranges, scavenged ranges); a case runs a
 * list of requests (bytes asked, bytes that must be released, forced or
 * not, generations to start first) through one cursor, then compares every
 * chunk with a second allocator built from an "after" table. After every
 * step the harness also checks, whatever the case:
 *   - the allocator is valid (testing_palloc_is_valid recomputes every
 *     summary) and no page is both in use and scavenged;
 *   - no page in use changed, and every page that became scavenged was
 *     free and not yet scavenged (nothing released twice, nothing in use
 *     released);
 *   - the bytes returned are exactly the pages that became scavenged.
 *
 * Further tests: requests walk down the address space, the cursor rests
 * where the pass stopped and is reset when the heap is exhausted, the
 * density rule (a chunk with >= SCAV_DENSE_PAGES in use during this or the
 * previous generation is left alone unless forced), scav_excess, and a
 * randomised test that drives the allocator and a model of the scavenger's
 * contract with the same seeded operations and requires identical bitmaps
 * and cursors after every one. Death tests (assertion builds): scavenger
 * functions called with the wrong lock state abort.
 *
 * Page 4 KiB, chunk 512 pages; BASE = TESTING_BASE_CHUNK.
 */
#include "gcm_config.h"
#include "palloc_model.h"
#include "scav.h"

#include <criterion/redirect.h>
#include <signal.h>

#define ALL SIZE_MAX /* "release everything you can" */
#define DENSE SCAV_DENSE_PAGES

/* ---- checks shared by every test ---------------------------------------- */

/* Requires every listed chunk to have no page both in use and scavenged. */
static void sc_expect_exact(testing_palloc_t *t, const palloc_chunk_idx_t *ci,
			    unsigned n, const char *when)
{
	for (unsigned k = 0; k < n; k++) {
		palloc_chunk_t c = testing_palloc_chunk(t, ci[k]);
		for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++)
			cr_assert_eq(c.alloc.w[w] & c.scav.w[w], 0,
				     "%s: chunk BASE%+lld word %u has pages in use and scavenged: %016llx",
				     when, (long long)ci[k] - (long long)BASE, w,
				     (unsigned long long)(c.alloc.w[w] & c.scav.w[w]));
	}
	cr_assert(testing_palloc_is_valid(t), "%s: the allocator is not valid", when);
}

/* Pages in the listed chunks that are scavenged. */
static size_t sc_count_scav(testing_palloc_t *t, const palloc_chunk_idx_t *ci,
			    unsigned n)
{
	size_t total = 0;

	for (unsigned k = 0; k < n; k++) {
		palloc_chunk_t c = testing_palloc_chunk(t, ci[k]);
		for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++)
			total += (size_t)__builtin_popcountll(c.scav.w[w]);
	}
	return total;
}

/*
 * Compares the chunks after a scavenge call with the copy taken before:
 * the in-use bitmaps did not change, scavenged pages stayed scavenged, the
 * newly scavenged ones were free and unscavenged. Returns the number of
 * newly scavenged pages and, through lo/hi, the lowest and highest address
 * among them (lo = UINTPTR_MAX when there are none).
 */
static size_t sc_diff(testing_palloc_t *t, const pm_snapshot_t *before,
		      uintptr_t *lo, uintptr_t *hi, const char *when)
{
	size_t n = 0;

	*lo = UINTPTR_MAX;
	*hi = 0;
	for (unsigned k = 0; k < before->n; k++) {
		palloc_chunk_t c = testing_palloc_chunk(t, before->ci[k]);
		const palloc_chunk_t *b = &before->c[k];
		for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++) {
			cr_assert_eq(c.alloc.w[w], b->alloc.w[w],
				     "%s: scavenging changed in-use pages of chunk BASE%+lld word %u: %016llx -> %016llx",
				     when, (long long)before->ci[k] - (long long)BASE, w,
				     (unsigned long long)b->alloc.w[w],
				     (unsigned long long)c.alloc.w[w]);
			cr_assert_eq(c.scav.w[w] & b->scav.w[w], b->scav.w[w],
				     "%s: scavenged pages of chunk BASE%+lld word %u became unscavenged",
				     when, (long long)before->ci[k] - (long long)BASE, w);
			uint64_t fresh = c.scav.w[w] & ~b->scav.w[w];
			cr_assert_eq(fresh & b->alloc.w[w], 0,
				     "%s: pages in use were released (chunk BASE%+lld word %u: %016llx)",
				     when, (long long)before->ci[k] - (long long)BASE, w,
				     (unsigned long long)(fresh & b->alloc.w[w]));
			if (fresh == 0)
				continue;
			n += (size_t)__builtin_popcountll(fresh);
			unsigned first = w * 64 + (unsigned)__builtin_ctzll(fresh);
			unsigned last = w * 64 + 63 - (unsigned)__builtin_clzll(fresh);
			*lo = GCM_MIN(*lo, PB(before->ci[k], first));
			*hi = GCM_MAX(*hi, PB(before->ci[k], last));
		}
	}
	return n;
}

/* ---- table cases -------------------------------------------------------- */

struct step {
	size_t nbytes;  /* asked */
	size_t want;    /* must be released, in bytes */
	bool force;
	unsigned gens;  /* generations to start before the request */
};

static void collect_cis(const testing_chunk_t *tab, unsigned n,
			palloc_chunk_idx_t *out)
{
	cr_assert(n <= 64);
	for (unsigned k = 0; k < n; k++)
		out[k] = tab[k].ci;
}

static void run_scav_case(const testing_chunk_t *before, unsigned nb,
			  const struct step *steps, unsigned ns,
			  const testing_chunk_t *after, unsigned na)
{
	palloc_chunk_idx_t cis[64];
	collect_cis(before, nb, cis);
	cr_assert_eq(nb, na, "before and after tables list different chunks");

	testing_palloc_t *t = testing_palloc_new(before, nb);
	sc_expect_exact(t, cis, nb, "initial heap");
	uintptr_t cursor = 0;
	for (unsigned k = 0; k < ns; k++) {
		char when[32];
		snprintf(when, sizeof(when), "step %u", k + 1);
		for (unsigned g = 0; g < steps[k].gens; g++)
			testing_palloc_next_gen(t);
		pm_snapshot_t snap;
		pm_snap(t, cis, nb, &snap);
		size_t got = testing_scav_scavenge(t, &cursor, steps[k].nbytes,
						   steps[k].force);
		uintptr_t lo, hi;
		size_t pages = sc_diff(t, &snap, &lo, &hi, when);
		cr_assert_eq(got, steps[k].want,
			     "%s: scavenge(%zu, force=%d) released %zu bytes, want %zu",
			     when, steps[k].nbytes, steps[k].force, got, steps[k].want);
		cr_assert_eq(got, pages * PG,
			     "%s: returned %zu bytes but %zu pages became scavenged",
			     when, got, pages);
		sc_expect_exact(t, cis, nb, when);
	}
	pm_expect_heap(t, after, na);
	testing_palloc_delete(t);
}

#define RUN_SCAV(before, steps, after) \
	run_scav_case(before, NELEM(before), steps, NELEM(steps), after, NELEM(after))

/* Every page free and resident: one request releases the whole heap. */
Test(scav, AllFreeUnscavExhaust)
{
	const testing_chunk_t before[] = {
		FREE_CHUNK(BASE), FREE_CHUNK(BASE + 1), FREE_CHUNK(BASE + 2),
	};
	const struct step steps[] = { { ALL, 3 * CP * PG, false, 0 } };
	const testing_chunk_t after[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 0, CP })),
		CHUNK(BASE + 1, NO_RANGES, RANGES({ 0, CP })),
		CHUNK(BASE + 2, NO_RANGES, RANGES({ 0, CP })),
	};
	RUN_SCAV(before, steps, after);
}

/* Nothing free and resident: nothing released, forced or not. */
Test(scav, NoneFreeUnscavExhaust)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 1, NO_RANGES, RANGES({ 0, CP })),
		CHUNK(BASE + 2, RANGES({ 0, CP }), NO_RANGES),
	};
	const struct step steps[] = {
		{ ALL, 0, false, 0 },
		{ ALL, 0, true, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 1, NO_RANGES, RANGES({ 0, CP })),
		CHUNK(BASE + 2, RANGES({ 0, CP }), NO_RANGES),
	};
	RUN_SCAV(before, steps, after);
}

/* Pages 0 and 511 are candidates: asking for 1 byte releases page 511. */
Test(scav, ScavHighestPageFirst)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 1, CP - 2 })),
	};
	const struct step steps[] = { { 1, PG, false, 0 } };
	const testing_chunk_t after[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 1, CP - 1 })),
	};
	RUN_SCAV(before, steps, after);
}

/* Two one-page requests: page 511, then page 0. */
Test(scav, ScavMultiple)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 1, CP - 2 })),
	};
	const struct step steps[] = {
		{ PG, PG, false, 0 },
		{ PG, PG, false, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 0, CP })),
	};
	RUN_SCAV(before, steps, after);
}

/* The top chunk's two free pages first, then the lower chunk's, top down. */
Test(scav, ScavMultiple2)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 1, CP - 2 })),
		CHUNK(BASE + 1, NO_RANGES, RANGES({ 0, CP - 2 })),
	};
	const struct step steps[] = {
		{ 2 * PG, 2 * PG, false, 0 },
		{ PG, PG, false, 0 },
		{ PG, PG, false, 0 },
		{ PG, 0, false, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 0, CP })),
		CHUNK(BASE + 1, NO_RANGES, RANGES({ 0, CP })),
	};
	RUN_SCAV(before, steps, after);
}

/* Chunks far apart with a gap of ungrown address space between them. */
Test(scav, ScavDiscontiguous)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 1, CP - 2 })),
		CHUNK(BASE + 0xe, NO_RANGES, RANGES({ 2, CP - 2 })),
	};
	const struct step steps[] = {
		{ 2 * PG, 2 * PG, false, 0 },
		{ ALL, 2 * PG, false, 0 },
		{ ALL, 0, false, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 0, CP })),
		CHUNK(BASE + 0xe, NO_RANGES, RANGES({ 0, CP })),
	};
	RUN_SCAV(before, steps, after);
}

/* 8 GiB of address space between the two chunks. */
Test(scav, ScavAllVeryDiscontiguous)
{
	const testing_chunk_t before[] = {
		FREE_CHUNK(BASE), FREE_CHUNK(BASE + 0x1000),
	};
	const struct step steps[] = {
		{ ALL, 2 * CP * PG, false, 0 },
		{ ALL, 0, false, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 0, CP })),
		CHUNK(BASE + 0x1000, NO_RANGES, RANGES({ 0, CP })),
	};
	RUN_SCAV(before, steps, after);
}

/* Only the holes between pages in use are released, forced or not. */
Test(scav, InUseNeverReleased)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, 10 }, { 100, 1 }, { 200, 50 }, { 500, 12 }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ 1, 1 }, { 63, 2 }, { 127, 3 }, { 511, 1 }), NO_RANGES),
	};
	const struct step steps[] = {
		{ 10 * PG, 10 * PG, false, 0 },
		{ ALL, (CP - 7 - 10 + CP - 73) * PG, true, 0 },
		{ ALL, 0, true, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, 10 }, { 100, 1 }, { 200, 50 }, { 500, 12 }),
		      RANGES({ 10, 90 }, { 101, 99 }, { 250, 250 })),
		CHUNK(BASE + 1, RANGES({ 1, 1 }, { 63, 2 }, { 127, 3 }, { 511, 1 }),
		      RANGES({ 0, 1 }, { 2, 61 }, { 65, 62 }, { 130, 381 })),
	};
	RUN_SCAV(before, steps, after);
}

/* Pages released earlier are skipped, never counted again. */
Test(scav, AlreadyScavengedSkipped)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, 64 }), RANGES({ 64, 128 }, { 300, 12 }, { 511, 1 })),
	};
	const struct step steps[] = {
		{ PG, PG, false, 0 },      /* page 510: 511 is already released */
		{ ALL, (CP - 64 - 128 - 12 - 1 - 1) * PG, false, 0 },
		{ ALL, 0, false, 0 },
		{ ALL, 0, true, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, 64 }), RANGES({ 64, CP - 64 })),
	};
	RUN_SCAV(before, steps, after);
}

/* A request smaller than the top run takes the run's top pages. */
Test(scav, PartialRunFromTop)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, 100 }), NO_RANGES),
	};
	const struct step steps[] = {
		{ 3 * PG, 3 * PG, false, 0 },
		{ 5 * PG - 1, 5 * PG, false, 0 }, /* rounded up to whole pages */
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, 100 }), RANGES({ CP - 8, 8 })),
	};
	RUN_SCAV(before, steps, after);
}

/* A free run that crosses several bitmap words is found whole. */
Test(scav, RunAcrossWords)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, 60 }, { 200, 312 }), NO_RANGES),
	};
	const struct step steps[] = {
		{ 100 * PG, 100 * PG, false, 0 },
		{ ALL, 40 * PG, false, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, 60 }, { 200, 312 }), RANGES({ 60, 140 })),
	};
	RUN_SCAV(before, steps, after);
}

/* A chunk with DENSE pages in use is left alone unless forced. */
Test(scav, DenseChunkSkippedUnlessForced)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, DENSE }), NO_RANGES),
	};
	const struct step steps[] = {
		{ ALL, 0, false, 0 },
		{ PG, PG, true, 0 },
		{ ALL, 0, false, 0 },
		{ ALL, (CP - DENSE - 1) * PG, true, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, DENSE }), RANGES({ DENSE, CP - DENSE })),
	};
	RUN_SCAV(before, steps, after);
}

/* One page fewer in use than the threshold: not dense. */
Test(scav, JustBelowDense)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, DENSE - 1 }), NO_RANGES),
	};
	const struct step steps[] = {
		{ ALL, (CP - DENSE + 1) * PG, false, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, DENSE - 1 }), RANGES({ DENSE - 1, CP - DENSE + 1 })),
	};
	RUN_SCAV(before, steps, after);
}

/* A dense chunk on top is passed over; the chunk below it is released. */
Test(scav, DenseChunkAboveSparseOne)
{
	const testing_chunk_t before[] = {
		FREE_CHUNK(BASE),
		CHUNK(BASE + 1, RANGES({ 0, 500 }), NO_RANGES),
		CHUNK(BASE + 2, RANGES({ 0, 10 }), NO_RANGES),
	};
	const struct step steps[] = {
		{ ALL, (CP + CP - 10) * PG, false, 0 },
		{ ALL, 12 * PG, true, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 0, CP })),
		CHUNK(BASE + 1, RANGES({ 0, 500 }), RANGES({ 500, 12 })),
		CHUNK(BASE + 2, RANGES({ 0, 10 }), RANGES({ 10, CP - 10 })),
	};
	RUN_SCAV(before, steps, after);
}

/* ---- walking down, the cursor, exhaustion ------------------------------- */

/* Successive requests release ever lower pages until the heap is exhausted;
 * the sum of what they released is every candidate page. */
Test(scav, requests_walk_down)
{
	const testing_chunk_t init[] = {
		CHUNK(BASE, RANGES({ 3, 7 }, { 70, 70 }), RANGES({ 300, 20 })),
		CHUNK(BASE + 1, RANGES({ 0, 1 }, { 255, 2 }), NO_RANGES),
		CHUNK(BASE + 2, RANGES({ 128, 128 }), RANGES({ 0, 64 })),
		CHUNK(BASE + 9, RANGES({ 400, 100 }), NO_RANGES),
	};
	palloc_chunk_idx_t cis[NELEM(init)];
	collect_cis(init, NELEM(init), cis);
	testing_palloc_t *t = testing_palloc_new(init, NELEM(init));
	size_t candidates = 4 * CP - (7 + 70 + 20) - 3 - (128 + 64) - 100;
	pm_rng_t rng;
	pm_rng_seed(&rng, 42);

	uintptr_t cursor = 0, prev_lo = UINTPTR_MAX;
	size_t total = 0;
	unsigned calls = 0;
	for (;;) {
		size_t ask = 1 + pm_rng_below(&rng, 97);
		pm_snapshot_t snap;
		pm_snap(t, cis, NELEM(cis), &snap);
		size_t got = testing_scav_scavenge(t, &cursor, ask * PG, false);
		uintptr_t lo, hi;
		size_t pages = sc_diff(t, &snap, &lo, &hi, "walk");
		cr_assert_eq(got, pages * PG);
		sc_expect_exact(t, cis, NELEM(cis), "walk");
		calls++;
		total += pages;
		if (pages > 0) {
			cr_assert_lt(hi, prev_lo,
				     "call %u released %#lx..%#lx, not below the previous call's lowest page %#lx",
				     calls, (unsigned long)lo, (unsigned long)hi,
				     (unsigned long)prev_lo);
			prev_lo = lo;
		}
		if (pages < ask) {
			cr_assert_eq(cursor, PALLOC_MAX_ADDR,
				     "a short pass must leave the cursor at the top");
			break;
		}
		cr_assert(calls < 10000);
	}
	cr_assert_eq(total, candidates, "released %zu pages, the heap had %zu candidates",
		     total, candidates);
	cr_assert_eq(sc_count_scav(t, cis, NELEM(cis)), 4 * CP - 7 - 70 - 3 - 128 - 100);
	testing_palloc_delete(t);
}

/* A pass that stops part-way leaves the cursor at the chunk it stopped in;
 * exhaustion returns less than asked and puts the cursor back at the top,
 * so pages freed high up are found by the next pass. */
Test(scav, exhaustion_resets_cursor)
{
	const testing_chunk_t init[] = { FREE_CHUNK(BASE), FREE_CHUNK(BASE + 1) };
	palloc_chunk_idx_t cis[] = { BASE, BASE + 1 };
	testing_palloc_t *t = testing_palloc_new(init, 2);
	uintptr_t cursor = 0;

	cr_assert_eq(testing_scav_scavenge(t, &cursor, (CP + 10) * PG, false), (CP + 10) * PG);
	cr_assert(cursor > PB(BASE, 0) && cursor <= PB(BASE + 1, 0),
		  "cursor %#lx is not at the lower chunk", (unsigned long)cursor);
	palloc_chunk_t c = testing_palloc_chunk(t, BASE);
	cr_assert_eq(c.scav.w[7], ~(uint64_t)0 << 54, "the top 10 pages of BASE, got %016llx",
		     (unsigned long long)c.scav.w[7]);

	/* Ask for more than is left. */
	size_t got = testing_scav_scavenge(t, &cursor, 1000 * PG, false);
	cr_assert_eq(got, (CP - 10) * PG);
	cr_assert_lt(got, 1000 * PG);
	cr_assert_eq(cursor, PALLOC_MAX_ADDR);
	cr_assert_eq(sc_count_scav(t, cis, 2), 2 * CP);
	cr_assert_eq(testing_scav_scavenge(t, &cursor, PG, true), 0);
	cr_assert_eq(cursor, PALLOC_MAX_ADDR);

	/* Pages allocated and freed again are resident: the next pass finds
	 * the highest of them first. */
	size_t sb;
	cr_assert(testing_palloc_alloc_at(t, PB(BASE + 1, 100), 50, &sb));
	cr_assert_eq(sb, 50 * PG);
	testing_palloc_free(t, PB(BASE + 1, 100), 50);
	cr_assert(testing_palloc_alloc_at(t, PB(BASE, 0), 8, &sb));
	testing_palloc_free(t, PB(BASE, 0), 8);
	sc_expect_exact(t, cis, 2, "after refill");
	cr_assert_eq(testing_scav_scavenge(t, &cursor, PG, false), PG);
	c = testing_palloc_chunk(t, BASE + 1);
	cr_assert(pm_bit(&c.scav, 149) && !pm_bit(&c.scav, 148),
		  "page 149 of BASE+1 (the highest free resident page) must go first");
	cr_assert_eq(testing_scav_scavenge(t, &cursor, ALL, false), (49 + 8) * PG);
	cr_assert_eq(cursor, PALLOC_MAX_ADDR);
	testing_palloc_delete(t);
}

/* Pages freed above the cursor wait for the pass to wrap around. */
Test(scav, cursor_only_moves_down_within_a_pass)
{
	const testing_chunk_t init[] = {
		FREE_CHUNK(BASE), CHUNK(BASE + 1, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 2, RANGES({ 0, CP }), NO_RANGES),
	};
	palloc_chunk_idx_t cis[] = { BASE, BASE + 1, BASE + 2 };
	testing_palloc_t *t = testing_palloc_new(init, 3);
	uintptr_t cursor = 0;

	cr_assert_eq(testing_scav_scavenge(t, &cursor, PG, false), PG);
	cr_assert_leq(cursor, PB(BASE + 1, 0));
	testing_palloc_free(t, PB(BASE + 2, 0), 32); /* 32 pages, resident */
	cr_assert_eq(testing_scav_scavenge(t, &cursor, PG, false), PG);
	palloc_chunk_t c = testing_palloc_chunk(t, BASE + 2);
	cr_assert_eq(c.scav.w[0], 0, "BASE+2 is above the cursor: not visited yet");
	c = testing_palloc_chunk(t, BASE);
	cr_assert(pm_bit(&c.scav, 510) && pm_bit(&c.scav, 511));

	/* Exhaust the pass, then the next one starts at the top. */
	cr_assert_eq(testing_scav_scavenge(t, &cursor, ALL, false), (CP - 2) * PG);
	cr_assert_eq(cursor, PALLOC_MAX_ADDR);
	cr_assert_eq(testing_scav_scavenge(t, &cursor, ALL, false), 32 * PG);
	sc_expect_exact(t, cis, 3, "end");
	testing_palloc_delete(t);
}

/* ---- the density rule across generations -------------------------------- */

/* A chunk that was dense (by allocation, which records the peak) is skipped
 * for the rest of that generation and the whole next one, then released;
 * a forced pass releases it at once. */
static void dense_history_case(bool force)
{
	const testing_chunk_t init[] = { FREE_CHUNK(BASE), FREE_CHUNK(BASE + 1) };
	palloc_chunk_idx_t cis[] = { BASE, BASE + 1 };
	testing_palloc_t *t = testing_palloc_new(init, 2);
	uintptr_t cursor = 0;
	size_t sb;

	/* Generation 0: BASE+1 reaches 500 pages in use, then drops to 100. */
	cr_assert(testing_palloc_alloc_at(t, PB(BASE + 1, 0), 500, &sb));
	testing_palloc_free(t, PB(BASE + 1, 100), 400);
	sc_expect_exact(t, cis, 2, "after alloc/free");

	size_t got = testing_scav_scavenge(t, &cursor, ALL, force);
	if (force) {
		cr_assert_eq(got, (2 * CP - 100) * PG, "forced: everything free goes");
		testing_palloc_delete(t);
		return;
	}
	cr_assert_eq(got, CP * PG, "generation 0: only BASE, BASE+1 peaked at 500");
	palloc_chunk_t c = testing_palloc_chunk(t, BASE + 1);
	for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++)
		cr_assert_eq(c.scav.w[w], 0);

	/* Generation 1: the previous generation's peak still counts. */
	testing_palloc_next_gen(t);
	cr_assert_eq(testing_scav_scavenge(t, &cursor, ALL, false), 0,
		     "generation 1: dense in the previous generation");
	/* A small allocation here rolls the chunk's record into this
	 * generation; the peak of generation 0 is still the previous one. */
	cr_assert(testing_palloc_alloc_at(t, PB(BASE + 1, 200), 1, &sb));
	testing_palloc_free(t, PB(BASE + 1, 200), 1);
	cr_assert_eq(testing_scav_scavenge(t, &cursor, ALL, false), 0,
		     "generation 1 after an allocation: still dense");

	/* Generation 2: two generations of low use. */
	testing_palloc_next_gen(t);
	cr_assert_eq(testing_scav_scavenge(t, &cursor, ALL, false), (CP - 100) * PG,
		     "generation 2: the chunk is sparse, its free pages go");
	sc_expect_exact(t, cis, 2, "end");
	cr_assert_eq(sc_count_scav(t, cis, 2), 2 * CP - 100);
	testing_palloc_delete(t);
}

Test(scav, dense_by_history_background)
{
	dense_history_case(false);
}

Test(scav, dense_by_history_forced)
{
	dense_history_case(true);
}

/* A chunk that becomes dense in a later generation is skipped again, and
 * the peak that counts is the highest, not the latest. */
Test(scav, dense_again_in_a_later_generation)
{
	const testing_chunk_t init[] = { FREE_CHUNK(BASE) };
	palloc_chunk_idx_t cis[] = { BASE };
	testing_palloc_t *t = testing_palloc_new(init, 1);
	uintptr_t cursor = 0;
	size_t sb;

	testing_palloc_next_gen(t);
	testing_palloc_next_gen(t);
	cr_assert(testing_palloc_alloc_at(t, PB(BASE, 0), DENSE - 1, &sb));
	testing_palloc_free(t, PB(BASE, 0), 10);
	cr_assert_eq(testing_scav_scavenge(t, &cursor, 4 * PG, false), 4 * PG,
		     "peak DENSE-1: not dense");
	cr_assert(testing_palloc_alloc_at(t, PB(BASE, 0), 10, &sb));
	cr_assert(testing_palloc_alloc_at(t, PB(BASE, DENSE - 1), 1, &sb));
	testing_palloc_free(t, PB(BASE, 0), 300);
	cr_assert_eq(testing_scav_scavenge(t, &cursor, ALL, false), 0,
		     "peak DENSE in this generation");
	testing_palloc_next_gen(t);
	cr_assert_eq(testing_scav_scavenge(t, &cursor, ALL, false), 0);
	testing_palloc_next_gen(t);
	cr_assert_eq(testing_scav_scavenge(t, &cursor, ALL, false),
		     (CP - (DENSE - 300) - 4) * PG);
	sc_expect_exact(t, cis, 1, "end");
	testing_palloc_delete(t);
}

/* ---- scav_excess ---------------------------------------------------------- */

Test(scav, excess_from_figures)
{
	const size_t M = (size_t)1 << 20, K = (size_t)1 << 10;
	const struct {
		scav_figures_t f;
		size_t want;
	} cases[] = {
		/* in_use, retained, goal, limit_goal, meta */
		{ { 10 * M, 10 * M, 11 * M, SIZE_MAX, M }, 0 },
		{ { 10 * M, 11 * M, 11 * M, SIZE_MAX, M }, 0 },
		{ { 10 * M, 20 * M, 11 * M, SIZE_MAX, M }, 9 * M },
		/* less than one 64 KiB quantum above the goal: nothing */
		{ { 10 * M, 11 * M + 63 * K, 11 * M, SIZE_MAX, M }, 0 },
		{ { 10 * M, 11 * M + 64 * K, 11 * M, SIZE_MAX, M }, 64 * K },
		/* the memory limit counts metadata too */
		{ { 10 * M, 11 * M, 11 * M, 8 * M, M }, 4 * M },
		{ { 10 * M, 30 * M, 11 * M, 25 * M, M }, 19 * M },
		{ { 10 * M, 30 * M, 11 * M, 10 * M, 2 * M }, 22 * M },
		{ { 0, 0, 0, SIZE_MAX, 0 }, 0 },
	};
	for (unsigned k = 0; k < NELEM(cases); k++)
		cr_expect_eq(scav_excess(&cases[k].f), cases[k].want,
			     "case %u: excess %zu, want %zu", k,
			     scav_excess(&cases[k].f), cases[k].want);
}

/* ---- randomised test against a model ------------------------------------- */

/*
 * The model states the scavenger's contract on plain bitmaps:
 *   - a pass visits the grown chunks below the cursor from the top down;
 *     in each chunk it releases the free, unscavenged pages highest first
 *     until the request (rounded up to whole pages) is met;
 *   - a chunk that yields nothing (no candidate, or dense and not forced)
 *     moves the cursor down to its base; running out of chunks puts the
 *     cursor back at the top and ends the pass short;
 *   - dense: the most pages in use at once, over the chunk's record for
 *     this and the previous generation and its current use, >= DENSE. The
 *     record rolls at the first allocation in a chunk in a new generation.
 */
struct mchunk {
	uint32_t gen;
	unsigned peak, prev_peak;
};

struct mt {
	pm_model_t m;
	struct mchunk *rec;
	uint32_t gen;
	uintptr_t cursor;      /* the model's */
	uintptr_t real_cursor; /* the one given to testing_scav_scavenge */
	testing_palloc_t *t;
	pm_rng_t rng;
};

static unsigned mt_in_use(const palloc_chunk_t *c)
{
	unsigned n = 0;

	for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++)
		n += (unsigned)__builtin_popcountll(c->alloc.w[w]);
	return n;
}

static bool mt_dense(const struct mt *x, unsigned s)
{
	const struct mchunk *r = &x->rec[s];
	unsigned peak = mt_in_use(&x->m.c[s]);

	if (r->gen == x->gen)
		peak = GCM_MAX(peak, GCM_MAX(r->peak, r->prev_peak));
	else if (r->gen + 1 == x->gen)
		peak = GCM_MAX(peak, r->peak);
	return peak >= DENSE;
}

static void mt_note_alloc(struct mt *x, unsigned s)
{
	struct mchunk *r = &x->rec[s];

	if (r->gen != x->gen) {
		r->prev_peak = r->gen + 1 == x->gen ? r->peak : 0;
		r->peak = 0;
		r->gen = x->gen;
	}
	r->peak = GCM_MAX(r->peak, mt_in_use(&x->m.c[s]));
}

static size_t mt_model_scavenge(struct mt *x, size_t nbytes, bool force)
{
	size_t want = nbytes > SIZE_MAX - PG ? SIZE_MAX / PG : (nbytes + PG - 1) / PG;
	size_t released = 0;

	if (x->cursor == 0)
		x->cursor = PALLOC_MAX_ADDR;
	while (released < want) {
		int s = -1;
		for (int k = (int)x->m.n - 1; k >= 0; k--)
			if (palloc_chunk_base(x->m.ci[k]) < x->cursor) {
				s = k;
				break;
			}
		if (s < 0) {
			x->cursor = PALLOC_MAX_ADDR;
			break;
		}
		size_t got = 0;
		if (force || !mt_dense(x, (unsigned)s)) {
			palloc_chunk_t *c = &x->m.c[s];
			for (int p = (int)CP - 1; p >= 0 && released + got < want; p--)
				if (!pm_bit(&c->alloc, (unsigned)p) && !pm_bit(&c->scav, (unsigned)p)) {
					pm_put(&c->scav, (unsigned)p, true);
					got++;
				}
		}
		if (got == 0)
			x->cursor = palloc_chunk_base(x->m.ci[s]);
		released += got;
	}
	return released * PG;
}

static void mt_check(struct mt *x, unsigned op, const char *what)
{
	if (!pm_model_matches(&x->m, x->t))
		cr_assert_fail("op %u (%s): the allocator differs from the model", op, what);
	char when[48];
	snprintf(when, sizeof(when), "op %u (%s)", op, what);
	sc_expect_exact(x->t, x->m.ci, x->m.n, when);
}

static void mt_run(uint64_t seed, unsigned nops)
{
	/* Three groups: contiguous, alone, and far away. */
	const testing_bit_range_t a0[] = { { 0, 40 }, { 300, 100 } };
	const testing_bit_range_t s0[] = { { 100, 50 } };
	const testing_bit_range_t a3[] = { { 0, DENSE } };
	const testing_bit_range_t s4[] = { { 0, CP } };
	const testing_chunk_t init[] = {
		{ BASE, a0, 2, s0, 1 },
		FREE_CHUNK(BASE + 1),
		FREE_CHUNK(BASE + 2),
		{ BASE + 7, a3, 1, NULL, 0 },
		{ BASE + 0x400, NULL, 0, s4, 1 },
		FREE_CHUNK(BASE + 0x401),
	};
	struct mt x;
	memset(&x, 0, sizeof(x));
	pm_rng_seed(&x.rng, seed);
	pm_model_init(&x.m, init, NELEM(init));
	x.rec = calloc(x.m.n, sizeof(*x.rec));
	cr_assert(x.rec != NULL);
	x.t = testing_palloc_new(init, NELEM(init));
	mt_check(&x, 0, "init");

	for (unsigned op = 1; op <= nops; op++) {
		unsigned kind = (unsigned)pm_rng_below(&x.rng, 100);
		unsigned s = (unsigned)pm_rng_below(&x.rng, x.m.n);
		unsigned p = (unsigned)pm_rng_below(&x.rng, CP);
		uintptr_t base = PB(x.m.ci[s], p);
		if (kind < 33) {
			/* Allocate a run at a chosen place (it may cross into the
			 * next chunk); mostly short runs, some long ones. */
			size_t n = pm_rng_below(&x.rng, 4) == 0 ? 1 + pm_rng_below(&x.rng, 700)
								  : 1 + pm_rng_below(&x.rng, 40);
			bool ok_model = pm_model_range_is(&x.m, base, n, true);
			size_t sb = 0;
			bool ok = testing_palloc_alloc_at(x.t, base, n, &sb);
			cr_assert_eq(ok, ok_model, "op %u: alloc_at(%#lx, %zu) = %d, model %d",
				     op, (unsigned long)base, n, ok, ok_model);
			if (ok) {
				size_t msb = pm_model_alloc(&x.m, base, n) * PG;
				cr_assert_eq(sb, msb, "op %u: scavenged bytes %zu, model %zu", op, sb, msb);
				/* Record the peak of every chunk touched, after the
				 * whole run is in use (as allocation does). */
				for (palloc_chunk_idx_t c = palloc_chunk_index(base);
				     c <= palloc_chunk_index(base + n * PG - 1); c++)
					mt_note_alloc(&x, (unsigned)pm_model_slot(&x.m, c));
			}
			mt_check(&x, op, "alloc");
		} else if (kind < 62) {
			/* Free the in-use run starting at a random in-use page,
			 * at most 600 pages, within one grown range. */
			if (!pm_model_range_is(&x.m, base, 1, false))
				continue;
			size_t n = 1, lim = 1 + pm_rng_below(&x.rng, 600);
			while (n < lim && pm_model_range_is(&x.m, base + n * PG, 1, false))
				n++;
			testing_palloc_free(x.t, base, n);
			pm_model_free(&x.m, base, n);
			mt_check(&x, op, "free");
		} else if (kind < 92) {
			size_t nbytes;
			switch (pm_rng_below(&x.rng, 4)) {
			case 0: nbytes = SIZE_MAX; break;
			case 1: nbytes = 1 + pm_rng_below(&x.rng, 3 * CP * PG); break;
			default: nbytes = 1 + pm_rng_below(&x.rng, 64 * PG); break;
			}
			bool force = pm_rng_below(&x.rng, 4) == 0;
			size_t want = mt_model_scavenge(&x, nbytes, force);
			size_t got = testing_scav_scavenge(x.t, &x.real_cursor, nbytes, force);
			cr_assert_eq(got, want, "op %u: scavenge(%zu, force=%d) = %zu, model %zu",
				     op, nbytes, force, got, want);
			cr_assert_eq(x.real_cursor, x.cursor, "op %u: cursor %#lx, model %#lx",
				     op, (unsigned long)x.real_cursor, (unsigned long)x.cursor);
			mt_check(&x, op, force ? "scavenge forced" : "scavenge");
		} else if (kind < 99) {
			testing_palloc_next_gen(x.t);
			x.gen++;
		} else {
			/* Fill chunk s (every free run in it), so that it is dense
			 * in this generation whatever is freed afterwards. */
			for (unsigned q = 0; q < CP;) {
				uintptr_t a = PB(x.m.ci[s], q);
				if (!pm_model_range_is(&x.m, a, 1, true)) {
					q++;
					continue;
				}
				unsigned n = 1;
				while (q + n < CP && pm_model_range_is(&x.m, a + n * PG, 1, true))
					n++;
				size_t sb = 0;
				cr_assert(testing_palloc_alloc_at(x.t, a, n, &sb), "op %u: fill", op);
				cr_assert_eq(sb, pm_model_alloc(&x.m, a, n) * PG);
				mt_note_alloc(&x, s);
				q += n;
			}
			mt_check(&x, op, "fill");
		}
	}
	testing_palloc_delete(x.t);
	pm_model_destroy(&x.m);
	free(x.rec);
}

Test(scav, random_against_model)
{
	for (uint64_t seed = 1; seed <= 6; seed++)
		mt_run(seed * 0x9e3779b97f4a7c15ull, 1500);
}

/* ---- death tests ---------------------------------------------------------- */

#if GCM_ASSERTIONS
static void redirect_stderr(void)
{
	cr_redirect_stderr();
}

/* scav_figures_locked requires the heap lock: called without it, it aborts. */
Test(scav, figures_without_heap_lock_aborts, .signal = SIGABRT, .init = redirect_stderr)
{
	const testing_chunk_t init[] = { FREE_CHUNK(BASE) };
	testing_palloc_t *t = testing_palloc_new(init, 1);
	scav_figures_t f;
	scav_figures_locked(&t->pa, 0, &f);
}

/* scav_scavenge takes the lock itself (and drops it around the release):
 * called with the lock held, it aborts instead of deadlocking. */
Test(scav, scavenge_with_heap_lock_held_aborts, .signal = SIGABRT, .init = redirect_stderr)
{
	const testing_chunk_t init[] = { FREE_CHUNK(BASE) };
	testing_palloc_t *t = testing_palloc_new(init, 1);
	uintptr_t cursor = 0;
	lock_acquire(&t->lock);
	testing_scav_scavenge(t, &cursor, PG, false);
}
#endif

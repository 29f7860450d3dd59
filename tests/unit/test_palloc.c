/*
 * test_palloc.c — the page allocator (core/palloc.c).
 *
 * Table tests in the spirit of Go's mpagealloc_test.go: a heap is a table of
 * chunks (chunk index -> in-use ranges, scavenged ranges); a case runs a list
 * of steps (npages -> expected base, 0 meaning the call must fail, and the
 * expected scavenged bytes) and then compares every chunk's alloc and scav
 * bitmaps with a second allocator built from an "after" table. Every case
 * also runs the expensive validator (testing_palloc_is_valid), which
 * recomputes every summary level.
 *
 * A randomised test drives the allocator and a naive model (palloc_model.h)
 * with the same seeded sequence of allocations and frees: address-ordered
 * first fit is deterministic, so every result must be exactly the model's.
 *
 * Page size 4 KiB, chunk 512 pages (2 MiB); BASE = TESTING_BASE_CHUNK.
 */
#include "gcm_config.h"
#include "palloc_model.h"

#include <criterion/redirect.h>
#include <signal.h>

/* Chunk-index jump large enough that two chunks are TiB apart (2 TiB here),
 * so nothing between them, summaries included, is ever committed. */
#define BIG_JUMP ((palloc_chunk_idx_t)0x100000)

/* ---- alloc tables -------------------------------------------------------- */

struct hit {
	size_t npages;
	uintptr_t base;   /* 0: the allocation must fail */
	size_t scav;      /* expected scavenged bytes */
};

static void expect_same_chunks(const testing_chunk_t *a, unsigned na,
			       const testing_chunk_t *b, unsigned nb)
{
	cr_assert_eq(na, nb, "before and after tables list different chunks");
	for (unsigned i = 0; i < na; i++) {
		bool found = false;
		for (unsigned j = 0; j < nb; j++)
			found |= a[i].ci == b[j].ci;
		cr_assert(found, "chunk BASE%+lld missing from the after table",
			  (long long)a[i].ci - (long long)BASE);
	}
}

static void run_hits(testing_palloc_t *t, const struct hit *hits, unsigned nh)
{
	for (unsigned k = 0; k < nh; k++) {
		size_t scav = 12345;
		uintptr_t a = testing_palloc_alloc(t, hits[k].npages, &scav);
		cr_assert_eq(a, hits[k].base,
			     "step %u: alloc(%zu) = %#lx, want %#lx", k + 1,
			     hits[k].npages, (unsigned long)a,
			     (unsigned long)hits[k].base);
		cr_assert_eq(scav, hits[k].scav,
			     "step %u: alloc(%zu) scavenged bytes = %zu, want %zu",
			     k + 1, hits[k].npages, scav, hits[k].scav);
		cr_assert(testing_palloc_is_valid(t), "step %u: heap invalid", k + 1);
	}
}

static void run_alloc_case(const testing_chunk_t *before, unsigned nb,
			   const struct hit *hits, unsigned nh,
			   const testing_chunk_t *after, unsigned na)
{
	expect_same_chunks(before, nb, after, na);
	testing_palloc_t *t = testing_palloc_new(before, nb);
	cr_assert(testing_palloc_is_valid(t), "initial heap invalid");
	run_hits(t, hits, nh);
	pm_expect_heap(t, after, na);
	testing_palloc_delete(t);
}

#define RUN_ALLOC(before, hits, after) \
	run_alloc_case(before, NELEM(before), hits, NELEM(hits), after, NELEM(after))

Test(palloc, alloc_AllFree1)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 0, 1 }, { 2, 2 })),
	};
	const struct hit hits[] = {
		{ 1, PB(BASE, 0), PG },
		{ 1, PB(BASE, 1), 0 },
		{ 1, PB(BASE, 2), PG },
		{ 1, PB(BASE, 3), PG },
		{ 1, PB(BASE, 4), 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, 5 }), RANGES({ 0, 1 }, { 2, 2 })),
	};
	RUN_ALLOC(before, hits, after);
}

Test(palloc, alloc_AllFree2)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 0, 3 }, { 7, 1 })),
	};
	const struct hit hits[] = {
		{ 2, PB(BASE, 0), 2 * PG },
		{ 2, PB(BASE, 2), PG },
		{ 2, PB(BASE, 4), 0 },
		{ 2, PB(BASE, 6), PG },
		{ 2, PB(BASE, 8), 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, 10 }), RANGES({ 0, 3 }, { 7, 1 })),
	};
	RUN_ALLOC(before, hits, after);
}

Test(palloc, alloc_AllFree5)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 0, 8 }, { 9, 1 }, { 17, 5 })),
	};
	const struct hit hits[] = {
		{ 5, PB(BASE, 0), 5 * PG },
		{ 5, PB(BASE, 5), 4 * PG },
		{ 5, PB(BASE, 10), 0 },
		{ 5, PB(BASE, 15), 3 * PG },
		{ 5, PB(BASE, 20), 2 * PG },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, 25 }), RANGES({ 0, 8 }, { 9, 1 }, { 17, 5 })),
	};
	RUN_ALLOC(before, hits, after);
}

Test(palloc, alloc_AllFree64)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 21, 1 }, { 115, 2 })),
	};
	const struct hit hits[] = {
		{ 64, PB(BASE, 0), PG },
		{ 64, PB(BASE, 64), 2 * PG },
		{ 64, PB(BASE, 128), 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, 192 }), RANGES({ 21, 1 }, { 115, 2 })),
	};
	RUN_ALLOC(before, hits, after);
}

Test(palloc, alloc_AllFree65)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 129, 1 })),
	};
	const struct hit hits[] = {
		{ 65, PB(BASE, 0), 0 },
		{ 65, PB(BASE, 65), PG },
		{ 65, PB(BASE, 130), 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, 195 }), RANGES({ 129, 1 })),
	};
	RUN_ALLOC(before, hits, after);
}

Test(palloc, alloc_ManyArena1)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 2, RANGES({ 0, CP - 1 }), RANGES({ CP - 1, 1 })),
	};
	const struct hit hits[] = {
		{ 1, PB(BASE + 2, CP - 1), PG },
		{ 1, 0, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 2, RANGES({ 0, CP }), NO_RANGES),
	};
	RUN_ALLOC(before, hits, after);
}

Test(palloc, alloc_NotContiguous1)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 0xff, NO_RANGES, RANGES({ 0, CP })),
	};
	const struct hit hits[] = {
		{ 1, PB(BASE + 0xff, 0), PG },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 0xff, RANGES({ 0, 1 }), RANGES({ 0, CP })),
	};
	RUN_ALLOC(before, hits, after);
}

Test(palloc, alloc_Straddle2)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, CP - 1 }), RANGES({ CP - 1, 1 })),
		CHUNK(BASE + 1, RANGES({ 1, CP - 1 }), NO_RANGES),
	};
	const struct hit hits[] = {
		{ 2, PB(BASE, CP - 1), PG },
		{ 1, 0, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ 0, CP }), NO_RANGES),
	};
	RUN_ALLOC(before, hits, after);
}

Test(palloc, alloc_ExhaustChunkPages_minus3)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 10, 1 })),
	};
	const struct hit hits[] = {
		{ CP - 3, PB(BASE, 0), PG },
		{ CP - 3, 0, 0 },
		{ 1, PB(BASE, CP - 3), 0 },
		{ 2, PB(BASE, CP - 2), 0 },
		{ 1, 0, 0 },
		{ CP - 3, 0, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, CP }), RANGES({ 10, 1 })),
	};
	RUN_ALLOC(before, hits, after);
}

Test(palloc, alloc_AllFreeChunkPages)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 0, 1 }, { CP - 1, 1 })),
	};
	const struct hit hits[] = {
		{ CP, PB(BASE, 0), 2 * PG },
		{ CP, 0, 0 },
		{ 1, 0, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
	};
	RUN_ALLOC(before, hits, after);
}

Test(palloc, alloc_StraddleChunkPages_plus1)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, CP / 2 }), RANGES({ CP / 2 + 10, 5 })),
		CHUNK(BASE + 1, RANGES({ CP / 2 + 1, CP / 2 - 1 }),
		      RANGES({ 0, CP / 2 + 1 })),
	};
	const struct hit hits[] = {
		{ CP + 1, PB(BASE, CP / 2), (5 + CP / 2 + 1) * PG },
		{ 1, 0, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ 0, CP }), NO_RANGES),
	};
	RUN_ALLOC(before, hits, after);
}

Test(palloc, alloc_AllFreeChunkPages_times2)
{
	const testing_chunk_t before[] = {
		FREE_CHUNK(BASE),
		CHUNK(BASE + 1, NO_RANGES, RANGES({ 0, CP })),
	};
	const struct hit hits[] = {
		{ 2 * CP, PB(BASE, 0), CP * PG },
		{ 1, 0, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ 0, CP }), NO_RANGES),
	};
	RUN_ALLOC(before, hits, after);
}

Test(palloc, alloc_NotContiguousChunkPages_times2)
{
	const testing_chunk_t before[] = {
		FREE_CHUNK(BASE),
		CHUNK(BASE + 0x40, NO_RANGES, RANGES({ 0, 8 })),
		CHUNK(BASE + 0x41, NO_RANGES, RANGES({ CP - 8, 8 })),
	};
	const struct hit hits[] = {
		{ 2 * CP, PB(BASE + 0x40, 0), 16 * PG },
		{ 21, PB(BASE, 0), 0 },
		{ 1, PB(BASE, 21), 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, 22 }), NO_RANGES),
		CHUNK(BASE + 0x40, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 0x41, RANGES({ 0, CP }), NO_RANGES),
	};
	RUN_ALLOC(before, hits, after);
}

Test(palloc, alloc_StraddleChunkPages_times5_div4)
{
	/* Free: BASE+1 [256, 512) alone; BASE+2 [256, 512) joined with
	 * BASE+3 [0, 384): exactly 640 = 5/4 chunk. */
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ 0, CP / 2 }), RANGES({ CP / 2, 1 })),
		CHUNK(BASE + 2, RANGES({ 0, CP / 2 }), RANGES({ CP / 2, 10 })),
		CHUNK(BASE + 3, RANGES({ CP * 3 / 4, CP / 4 }), RANGES({ 0, CP })),
	};
	const struct hit hits[] = {
		{ CP * 5 / 4, PB(BASE + 2, CP / 2), (10 + CP * 3 / 4) * PG },
		{ CP * 5 / 4, 0, 0 },
		{ 1, PB(BASE + 1, CP / 2), PG },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ 0, CP / 2 + 1 }), RANGES({ CP / 2, 1 })),
		CHUNK(BASE + 2, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 3, RANGES({ 0, CP }), NO_RANGES),
	};
	RUN_ALLOC(before, hits, after);
}

/*
 * X's leaf summary is the last 8-byte entry of a 4 KiB page of the level-4
 * array (BASE is a multiple of 512 chunks) and Y is 2 TiB away, so the
 * summary page after X's is never committed. Exhausting X and moving on to Y
 * must never read that page (it would fault).
 */
Test(palloc, alloc_DiscontiguousMappedSumBoundary)
{
	const palloc_chunk_idx_t x = BASE + 511, y = BASE + BIG_JUMP;
	const testing_chunk_t before[] = {
		CHUNK(x, NO_RANGES, RANGES({ CP - 1, 1 })),
		FREE_CHUNK(y),
	};
	const struct hit hits[] = {
		{ CP - 1, PB(x, 0), 0 },
		{ 1, PB(x, CP - 1), PG },
		{ 1, PB(y, 0), 0 },
		{ CP - 1, PB(y, 1), 0 },
		{ 1, 0, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(x, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(y, RANGES({ 0, CP }), NO_RANGES),
	};
	RUN_ALLOC(before, hits, after);
}

/* The same summary-page boundary inside one contiguous grown range: a run
 * straddling BASE+511 / BASE+512 (whose leaf summaries sit on different
 * pages of the level-4 array). */
Test(palloc, alloc_ContiguousMappedSumBoundary)
{
	const palloc_chunk_idx_t x = BASE + 511, y = BASE + 512;
	const testing_chunk_t before[] = {
		CHUNK(x, RANGES({ 0, CP - 2 }), NO_RANGES),
		CHUNK(y, RANGES({ 3, CP - 3 }), RANGES({ 0, 2 })),
	};
	const struct hit hits[] = {
		{ 4, PB(x, CP - 2), 2 * PG },
		{ 2, 0, 0 },
		{ 1, PB(y, 2), 0 },
		{ 1, 0, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(x, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(y, RANGES({ 0, CP }), NO_RANGES),
	};
	RUN_ALLOC(before, hits, after);
}

/*
 * Regression in the spirit of Go issue #40191. A has one free page; B,
 * BIG_JUMP + 0x503 chunks up (so its root entry starts 0x503 chunks below
 * it, in a hole), has 9 free pages not at its end; C, 2*BIG_JUMP up, is all
 * free. After A is exhausted, a 100-page allocation that only C can satisfy
 * sees B's root entry first; the search address it derives from that must
 * be moved to B's base, not left in the hole below B, or the next
 * allocation's fast path reads an uncommitted summary.
 */
Test(palloc, alloc_DiscontiguousBadSearchAddr)
{
	const palloc_chunk_idx_t a = BASE, b = BASE + BIG_JUMP + 0x503,
				 c = BASE + 2 * BIG_JUMP;
	const testing_chunk_t before[] = {
		CHUNK(a, RANGES({ 0, CP - 1 }), NO_RANGES),
		CHUNK(b, RANGES({ 0, CP - 10 }, { CP - 1, 1 }), NO_RANGES),
		FREE_CHUNK(c),
	};
	const struct hit hit1[] = { { 1, PB(a, CP - 1), 0 } };
	const struct hit hit2[] = { { 100, PB(c, 0), 0 } };
	const struct hit hit3[] = { { 9, PB(b, CP - 10), 0 } };
	const testing_chunk_t after[] = {
		CHUNK(a, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(b, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(c, RANGES({ 0, 100 }), NO_RANGES),
	};
	testing_palloc_t *t = testing_palloc_new(before, NELEM(before));
	run_hits(t, hit1, 1);
	run_hits(t, hit2, 1);
	uintptr_t s = testing_palloc_search_addr(t);
	cr_expect_eq(s, PB(b, 0),
		     "search address after exhausting A: %#lx, want B's base %#lx",
		     (unsigned long)s, (unsigned long)PB(b, 0));
	run_hits(t, hit3, 1);
	pm_expect_heap(t, after, NELEM(after));
	testing_palloc_delete(t);
}

/*
 * Two whole root entries (8 GiB each, 4096 chunks; BASE is a multiple of
 * 4096): a fully free root entry packs as the ALL_FREE flag, and runs must
 * cross root entries through it.
 */
Test(palloc, alloc_WholeRootEntries, .timeout = 120)
{
	const size_t root_pages = (size_t)1 << PALLOC_SUM_LOG_MAX;
	const palloc_chunk_idx_t root_chunks = root_pages / CP;
	testing_palloc_t *t = testing_palloc_new(NULL, 0);
	size_t scav;

	cr_assert_eq(BASE % root_chunks, 0);
	cr_assert(testing_palloc_grow(t, PB(BASE, 0), 2 * root_pages * PG));
	cr_assert_eq(testing_palloc_summary(t, 0, BASE / root_chunks), PALLOC_SUM_ALL_FREE);
	cr_assert_eq(testing_palloc_summary(t, 0, BASE / root_chunks + 1), PALLOC_SUM_ALL_FREE);
	cr_assert(testing_palloc_is_valid(t));

	cr_assert_eq(testing_palloc_alloc(t, 2 * root_pages + 1, &scav), 0);
	cr_assert_eq(testing_palloc_alloc(t, 2 * root_pages, &scav), PB(BASE, 0));
	cr_assert_eq(scav, 2 * root_pages * PG);
	cr_assert_eq(testing_palloc_summary(t, 0, BASE / root_chunks), 0);
	testing_palloc_free(t, PB(BASE, 0), 2 * root_pages);
	cr_assert_eq(testing_palloc_summary(t, 0, BASE / root_chunks), PALLOC_SUM_ALL_FREE);

	cr_assert_eq(testing_palloc_alloc(t, 1, &scav), PB(BASE, 0));
	/* Root 0 now ends with 2^21 - 1 free pages, root 1 is all free. */
	cr_assert_eq(testing_palloc_alloc(t, root_pages + 5, &scav), PB(BASE, 1));
	cr_assert_eq(testing_palloc_alloc(t, root_pages - 6, &scav), PB(BASE + root_chunks, 6));
	cr_assert_eq(testing_palloc_alloc(t, 1, &scav), 0);
	/* A run ending 5 pages into root 1, crossing at the root level. */
	testing_palloc_free(t, PB(BASE, 1), root_pages + 5);
	cr_assert_eq(testing_palloc_alloc(t, root_pages + 6, &scav), 0);
	cr_assert_eq(testing_palloc_alloc(t, root_pages + 5, &scav), PB(BASE, 1));
	cr_assert_eq(testing_palloc_alloc(t, 1, &scav), 0);
	/* Root 1 free except its first 6 pages. */
	testing_palloc_free(t, PB(BASE + root_chunks, 6), root_pages - 6);
	cr_assert_eq(testing_palloc_alloc(t, root_pages - 5, &scav), 0);
	cr_assert_eq(testing_palloc_alloc(t, root_pages - 6, &scav), PB(BASE + root_chunks, 6));
	cr_assert_eq(testing_palloc_alloc(t, 1, &scav), 0);
	cr_assert(testing_palloc_is_valid(t));
	testing_palloc_delete(t);
}

/* ---- exhaust ------------------------------------------------------------- */

/* Four contiguous, fully scavenged chunks; allocate npages at a time until
 * floor(4*512/npages) allocations have succeeded, each at the next address
 * and all scavenged; the next one must fail. */
static void run_exhaust(size_t npages)
{
	testing_chunk_t before[4], after[4];
	testing_bit_range_t full_scav = { 0, CP };
	testing_bit_range_t used[4];
	for (unsigned i = 0; i < 4; i++)
		before[i] = (testing_chunk_t){ BASE + i, NULL, 0, &full_scav, 1 };

	testing_palloc_t *t = testing_palloc_new(before, 4);
	size_t nalloc = 4 * CP / npages;
	for (size_t i = 0; i < nalloc; i++) {
		size_t scav;
		uintptr_t a = testing_palloc_alloc(t, npages, &scav);
		cr_assert_eq(a, PB(BASE, i * npages), "npages %zu: alloc #%zu = %#lx",
			     npages, i + 1, (unsigned long)a);
		cr_assert_eq(scav, npages * PG, "npages %zu: alloc #%zu scav %zu",
			     npages, i + 1, scav);
	}
	size_t scav;
	cr_assert_eq(testing_palloc_alloc(t, npages, &scav), 0,
		     "npages %zu: allocation past exhaustion succeeded", npages);
	cr_assert_eq(scav, 0);

	size_t left = nalloc * npages;
	for (unsigned i = 0; i < 4; i++) {
		unsigned n = (unsigned)GCM_MIN(left, (size_t)CP);
		used[i] = (testing_bit_range_t){ 0, n };
		after[i] = (testing_chunk_t){ BASE + i, &used[i], n ? 1 : 0,
					      &full_scav, 1 };
		left -= n;
	}
	pm_expect_heap(t, after, 4);
	testing_palloc_delete(t);
}

#define EXHAUST(n) \
	Test(palloc, exhaust_##n) { run_exhaust(n); }
EXHAUST(1)
EXHAUST(2)
EXHAUST(3)
EXHAUST(4)
EXHAUST(5)
EXHAUST(8)
EXHAUST(16)
EXHAUST(64)
EXHAUST(1024)
EXHAUST(1025)
EXHAUST(2048)
EXHAUST(2049)

/* ---- free tables --------------------------------------------------------- */

static void run_free_case(const testing_chunk_t *before, unsigned nb,
			  size_t npages, const uintptr_t *frees, unsigned nf,
			  const testing_chunk_t *after, unsigned na)
{
	expect_same_chunks(before, nb, after, na);
	testing_palloc_t *t = testing_palloc_new(before, nb);
	cr_assert(testing_palloc_is_valid(t));
	for (unsigned k = 0; k < nf; k++) {
		testing_palloc_free(t, frees[k], npages);
		cr_assert(testing_palloc_is_valid(t), "free #%u: heap invalid", k + 1);
		uintptr_t s = testing_palloc_search_addr(t);
		cr_assert_leq(s, frees[k],
			      "free #%u: search address %#lx above the freed base %#lx",
			      k + 1, (unsigned long)s, (unsigned long)frees[k]);
	}
	pm_expect_heap(t, after, na);
	testing_palloc_delete(t);
}

#define RUN_FREE(before, npages, frees, after) \
	run_free_case(before, NELEM(before), npages, frees, NELEM(frees), after, NELEM(after))

Test(palloc, free_Free1)
{
	const testing_chunk_t before[] = { CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES) };
	const uintptr_t frees[] = { PB(BASE, 0), PB(BASE, 1), PB(BASE, 2),
				    PB(BASE, 3), PB(BASE, 4) };
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 5, CP - 5 }), NO_RANGES),
	};
	RUN_FREE(before, 1, frees, after);
}

Test(palloc, free_ManyArena1)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 2, RANGES({ 0, CP }), NO_RANGES),
	};
	const uintptr_t frees[] = { PB(BASE, CP / 2), PB(BASE + 1, 0),
				    PB(BASE + 2, CP - 1) };
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, CP / 2 }, { CP / 2 + 1, CP / 2 - 1 }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ 1, CP - 1 }), NO_RANGES),
		CHUNK(BASE + 2, RANGES({ 0, CP - 1 }), NO_RANGES),
	};
	RUN_FREE(before, 1, frees, after);
}

Test(palloc, free_Free2)
{
	const testing_chunk_t before[] = { CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES) };
	const uintptr_t frees[] = { PB(BASE, 0), PB(BASE, 2), PB(BASE, 4),
				    PB(BASE, 6), PB(BASE, 8) };
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 10, CP - 10 }), NO_RANGES),
	};
	RUN_FREE(before, 2, frees, after);
}

/* Free never touches the scavenged bits: the free pages' scav survive. */
Test(palloc, free_Straddle2)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ CP - 1, 1 }), RANGES({ 0, 3 })),
		CHUNK(BASE + 1, RANGES({ 0, 1 }), RANGES({ 5, 1 })),
	};
	const uintptr_t frees[] = { PB(BASE, CP - 1) };
	const testing_chunk_t after[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 0, 3 })),
		CHUNK(BASE + 1, NO_RANGES, RANGES({ 5, 1 })),
	};
	RUN_FREE(before, 2, frees, after);
}

Test(palloc, free_Free5)
{
	const testing_chunk_t before[] = { CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES) };
	const uintptr_t frees[] = { PB(BASE, 0), PB(BASE, 5), PB(BASE, 10),
				    PB(BASE, 15), PB(BASE, 20) };
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 25, CP - 25 }), NO_RANGES),
	};
	RUN_FREE(before, 5, frees, after);
}

Test(palloc, free_Free64)
{
	const testing_chunk_t before[] = { CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES) };
	const uintptr_t frees[] = { PB(BASE, 0), PB(BASE, 64), PB(BASE, 128) };
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 192, CP - 192 }), NO_RANGES),
	};
	RUN_FREE(before, 64, frees, after);
}

Test(palloc, free_Free65)
{
	const testing_chunk_t before[] = { CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES) };
	const uintptr_t frees[] = { PB(BASE, 0), PB(BASE, 65), PB(BASE, 130) };
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 195, CP - 195 }), NO_RANGES),
	};
	RUN_FREE(before, 65, frees, after);
}

Test(palloc, free_FreeChunkPages)
{
	const testing_chunk_t before[] = { CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES) };
	const uintptr_t frees[] = { PB(BASE, 0) };
	const testing_chunk_t after[] = { FREE_CHUNK(BASE) };
	RUN_FREE(before, CP, frees, after);
}

Test(palloc, free_StraddleChunkPages)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ CP / 2, CP / 2 }), RANGES({ 0, 10 })),
		CHUNK(BASE + 1, RANGES({ 0, CP / 2 }), RANGES({ CP - 1, 1 })),
	};
	const uintptr_t frees[] = { PB(BASE, CP / 2) };
	const testing_chunk_t after[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 0, 10 })),
		CHUNK(BASE + 1, NO_RANGES, RANGES({ CP - 1, 1 })),
	};
	RUN_FREE(before, CP, frees, after);
}

Test(palloc, free_StraddleChunkPages_plus1)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ 0, CP }), NO_RANGES),
	};
	const uintptr_t frees[] = { PB(BASE, CP / 2) };
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, CP / 2 }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ CP / 2 + 1, CP / 2 - 1 }), NO_RANGES),
	};
	RUN_FREE(before, CP + 1, frees, after);
}

Test(palloc, free_FreeChunkPages_times2)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ 0, CP }), NO_RANGES),
	};
	const uintptr_t frees[] = { PB(BASE, 0) };
	const testing_chunk_t after[] = { FREE_CHUNK(BASE), FREE_CHUNK(BASE + 1) };
	RUN_FREE(before, 2 * CP, frees, after);
}

Test(palloc, free_StraddleChunkPages_times2)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 2, RANGES({ 0, CP }), NO_RANGES),
	};
	const uintptr_t frees[] = { PB(BASE, CP / 2) };
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, CP / 2 }), NO_RANGES),
		FREE_CHUNK(BASE + 1),
		CHUNK(BASE + 2, RANGES({ CP / 2, CP / 2 }), NO_RANGES),
	};
	RUN_FREE(before, 2 * CP, frees, after);
}

Test(palloc, free_AllFreeChunkPages_times7_plus5)
{
	testing_chunk_t before[8], after[8];
	const testing_bit_range_t full = { 0, CP }, tail = { 5, CP - 5 };
	for (unsigned i = 0; i < 8; i++) {
		before[i] = (testing_chunk_t){ BASE + i, &full, 1, NULL, 0 };
		after[i] = (testing_chunk_t){ BASE + i, NULL, 0, NULL, 0 };
	}
	after[7].alloc = &tail;
	after[7].nalloc = 1;
	const uintptr_t frees[] = { PB(BASE, 0) };
	RUN_FREE(before, 7 * CP + 5, frees, after);
}

/* ---- alloc and free ------------------------------------------------------ */

struct af_step {
	bool alloc;
	size_t npages;
	uintptr_t base;
};

static void run_alloc_free(const testing_chunk_t *init, unsigned n,
			   const struct af_step *steps, unsigned ns)
{
	testing_palloc_t *t = testing_palloc_new(init, n);
	for (unsigned k = 0; k < ns; k++) {
		if (steps[k].alloc) {
			size_t scav;
			uintptr_t a = testing_palloc_alloc(t, steps[k].npages, &scav);
			cr_assert_eq(a, steps[k].base, "step %u: alloc(%zu) = %#lx, want %#lx",
				     k + 1, steps[k].npages, (unsigned long)a,
				     (unsigned long)steps[k].base);
		} else {
			testing_palloc_free(t, steps[k].base, steps[k].npages);
		}
		cr_assert(testing_palloc_is_valid(t), "step %u: heap invalid", k + 1);
	}
	testing_palloc_delete(t);
}

Test(palloc, alloc_and_free_Chunks8)
{
	testing_chunk_t init[8];
	for (unsigned i = 0; i < 8; i++)
		init[i] = (testing_chunk_t)FREE_CHUNK(BASE + i);
	const struct af_step steps[] = {
		{ true, 8 * CP, PB(BASE, 0) },
		{ false, 8 * CP, PB(BASE, 0) },
		{ true, 8 * CP, PB(BASE, 0) },
		{ false, 8 * CP, PB(BASE, 0) },
		{ true, 8 * CP, PB(BASE, 0) },
		{ false, 8 * CP, PB(BASE, 0) },
		{ true, 1, PB(BASE, 0) },
		{ false, 1, PB(BASE, 0) },
		{ true, 8 * CP, PB(BASE, 0) },
		{ true, 1, 0 },
		{ false, 8 * CP, PB(BASE, 0) },
	};
	run_alloc_free(init, 8, steps, NELEM(steps));
}

Test(palloc, alloc_and_free_single_pages)
{
	const testing_chunk_t init[] = {
		CHUNK(BASE, RANGES({ 0, 7 }), NO_RANGES),
		FREE_CHUNK(BASE + 1),
	};
	const struct af_step steps[] = {
		{ true, 1, PB(BASE, 7) },
		{ false, 1, PB(BASE, 7) },
		{ true, 1, PB(BASE, 7) },
		{ false, 1, PB(BASE, 7) },
		{ true, 1, PB(BASE, 7) },
		{ true, 1, PB(BASE, 8) },
		{ true, 1, PB(BASE, 9) },
		{ false, 1, PB(BASE, 8) },
		{ true, 1, PB(BASE, 8) },
		{ false, 1, PB(BASE, 3) },
		{ true, 1, PB(BASE, 3) },
		{ false, 1, PB(BASE, 3) },
		{ true, 2, PB(BASE, 10) },
		{ true, 1, PB(BASE, 3) },
		{ true, CP, PB(BASE, 12) },  /* straddles into BASE+1 */
		{ false, CP, PB(BASE, 12) },
		{ true, CP, PB(BASE, 12) },
	};
	run_alloc_free(init, NELEM(init), steps, NELEM(steps));
}

/* ---- search address ------------------------------------------------------ */

Test(palloc, search_addr_moves_up_on_alloc_and_down_on_free)
{
	const testing_chunk_t init[] = { FREE_CHUNK(BASE), FREE_CHUNK(BASE + 1) };
	testing_palloc_t *t = testing_palloc_new(init, NELEM(init));
	size_t scav;

	cr_expect_eq(testing_palloc_search_addr(t), PB(BASE, 0));
	uintptr_t prev = testing_palloc_search_addr(t);
	for (unsigned i = 0; i < 20; i++) {
		cr_assert_eq(testing_palloc_alloc(t, 1, &scav), PB(BASE, i));
		uintptr_t s = testing_palloc_search_addr(t);
		/* Never lowered by an allocation, never above the first free
		 * page, and at least as far as the page just handed out (the
		 * first free page this allocation saw). */
		cr_assert_geq(s, prev, "alloc #%u lowered the search address", i + 1);
		cr_assert_leq(s, PB(BASE, i + 1), "alloc #%u: search address past a free page", i + 1);
		cr_assert_geq(s, PB(BASE, i), "alloc #%u: search address did not advance", i + 1);
		prev = s;
	}
	/* A big allocation straddling into BASE+1. */
	cr_assert_eq(testing_palloc_alloc(t, CP, &scav), PB(BASE, 20));
	cr_assert_geq(testing_palloc_search_addr(t), PB(BASE, 19));
	cr_assert_eq(testing_palloc_alloc(t, 1, &scav), PB(BASE + 1, 20));
	cr_assert_geq(testing_palloc_search_addr(t), PB(BASE + 1, 20));

	/* Frees lower it to the freed base. */
	testing_palloc_free(t, PB(BASE, 5), 1);
	cr_assert_leq(testing_palloc_search_addr(t), PB(BASE, 5));
	testing_palloc_free(t, PB(BASE, 9), 1);
	cr_assert_leq(testing_palloc_search_addr(t), PB(BASE, 5), "a higher free raised the search address");
	testing_palloc_free(t, PB(BASE, 2), 1);
	cr_assert_leq(testing_palloc_search_addr(t), PB(BASE, 2));
	cr_assert(testing_palloc_is_valid(t));

	/* First fit takes the holes back in address order. */
	cr_assert_eq(testing_palloc_alloc(t, 1, &scav), PB(BASE, 2));
	cr_assert_eq(testing_palloc_alloc(t, 1, &scav), PB(BASE, 5));
	cr_assert_eq(testing_palloc_alloc(t, 1, &scav), PB(BASE, 9));
	cr_assert_eq(testing_palloc_alloc(t, 1, &scav), PB(BASE + 1, 21));

	/* Exhausting the heap with single pages sends the hint to the end. */
	while (testing_palloc_alloc(t, 1, &scav) != 0)
		;
	cr_assert_eq(testing_palloc_search_addr(t), PALLOC_MAX_ADDR);
	cr_assert(testing_palloc_is_valid(t));
	testing_palloc_free(t, PB(BASE + 1, 100), 3);
	cr_assert_eq(testing_palloc_search_addr(t), PB(BASE + 1, 100));
	cr_assert_eq(testing_palloc_alloc(t, 3, &scav), PB(BASE + 1, 100));
	cr_assert(testing_palloc_is_valid(t));
	testing_palloc_delete(t);
}

Test(palloc, find_returns_first_fit_and_search_candidate)
{
	const testing_chunk_t init[] = {
		CHUNK(BASE, RANGES({ 0, 10 }, { 11, 5 }, { 20, CP - 20 }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ 0, 100 }), NO_RANGES),
	};
	testing_palloc_t *t = testing_palloc_new(init, NELEM(init));
	pm_snapshot_t snap;
	const palloc_chunk_idx_t cis[] = { BASE, BASE + 1 };
	pm_snap(t, cis, 2, &snap);

	uintptr_t s = 0;
	/* Free: page 10, pages [16, 20), then BASE+1 [100, 512). */
	cr_expect_eq(testing_palloc_find(t, 1, &s), PB(BASE, 10));
	cr_expect_eq(s, PB(BASE, 10), "find(1) candidate %#lx", (unsigned long)s);
	cr_expect_eq(testing_palloc_find(t, 2, &s), PB(BASE, 16));
	cr_expect_leq(s, PB(BASE, 10));
	cr_expect_eq(testing_palloc_find(t, 4, &s), PB(BASE, 16));
	cr_expect_leq(s, PB(BASE, 10));
	cr_expect_eq(testing_palloc_find(t, 5, &s), PB(BASE + 1, 100));
	cr_expect_leq(s, PB(BASE, 10));
	cr_expect_eq(testing_palloc_find(t, CP - 100, &s), PB(BASE + 1, 100));
	cr_expect_eq(testing_palloc_find(t, CP - 99, &s), 0);
	cr_expect_eq(s, PALLOC_MAX_ADDR);
	cr_assert(pm_snap_equal(t, &snap), "find changed the heap");
	cr_assert(testing_palloc_is_valid(t));
	testing_palloc_delete(t);
}

/* ---- growth -------------------------------------------------------------- */

struct grow_step {
	palloc_chunk_idx_t ci;
	size_t nchunks;
};

struct chunk_range {
	palloc_chunk_idx_t lo, hi; /* [lo, hi) */
};

static const palloc_sum_t free_chunk_sum =
	(uint64_t)PALLOC_CHUNK_PAGES |
	((uint64_t)PALLOC_CHUNK_PAGES << PALLOC_SUM_LOG_MAX) |
	((uint64_t)PALLOC_CHUNK_PAGES << (2 * PALLOC_SUM_LOG_MAX));

static void check_grown(testing_palloc_t *t, const struct chunk_range *want,
			unsigned nw)
{
	const addrrange_set_t *s = &t->pa.in_use;
	size_t total = 0;

	cr_assert_eq(s->n, nw, "%zu grown ranges, want %u", s->n, nw);
	for (unsigned k = 0; k < nw; k++) {
		cr_assert_eq(s->ranges[k].base, palloc_chunk_base(want[k].lo), "range %u base", k);
		cr_assert_eq(s->ranges[k].limit, palloc_chunk_base(want[k].hi), "range %u limit", k);
		total += palloc_chunk_base(want[k].hi) - palloc_chunk_base(want[k].lo);
	}
	cr_assert_eq(s->total_bytes, total);
	cr_assert_eq(t->pa.start, want[0].lo);
	cr_assert_eq(t->pa.end, want[nw - 1].hi);
	cr_assert_eq(testing_palloc_search_addr(t), PB(want[0].lo, 0));
	for (unsigned k = 0; k < nw; k++) {
		for (palloc_chunk_idx_t c = want[k].lo; c < want[k].hi; c++)
			cr_assert_eq(testing_palloc_summary(t, PALLOC_LEVELS - 1, c),
				     free_chunk_sum, "leaf summary of chunk %zu", c);
		/* The sibling leaves around a range are committed and empty. */
		if ((want[k].lo & 7) != 0 && (k == 0 || want[k - 1].hi != want[k].lo))
			cr_assert_eq(testing_palloc_summary(t, PALLOC_LEVELS - 1, want[k].lo - 1), 0);
		if ((want[k].hi & 7) != 0 && (k + 1 == nw || want[k + 1].lo != want[k].hi))
			cr_assert_eq(testing_palloc_summary(t, PALLOC_LEVELS - 1, want[k].hi), 0);
	}
	cr_assert(testing_palloc_is_valid(t));
}

/* Grows in the given order and then in reverse, checking the ranges, the
 * summaries, and that allocations land in the grown ranges in address
 * order. */
static void run_grow_case(const struct grow_step *g, unsigned ng,
			  const struct chunk_range *want, unsigned nw)
{
	for (int reverse = 0; reverse < 2; reverse++) {
		testing_palloc_t *t = testing_palloc_new(NULL, 0);
		size_t scav;
		cr_assert_eq(testing_palloc_alloc(t, 1, &scav), 0, "empty heap allocated");
		for (unsigned k = 0; k < ng; k++) {
			const struct grow_step *st = &g[reverse ? ng - 1 - k : k];
			cr_assert(testing_palloc_grow(t, palloc_chunk_base(st->ci),
						      st->nchunks * PALLOC_CHUNK_BYTES));
			cr_assert(testing_palloc_is_valid(t), "invalid after grow #%u", k + 1);
		}
		check_grown(t, want, nw);

		cr_assert_eq(testing_palloc_alloc(t, 1, &scav), PB(want[0].lo, 0));
		cr_assert_eq(scav, PG, "grown pages must come back scavenged");
		testing_palloc_free(t, PB(want[0].lo, 0), 1);
		for (unsigned k = 0; k < nw; k++) {
			size_t np = (want[k].hi - want[k].lo) * CP;
			size_t expect_scav = (k == 0 ? np - 1 : np) * PG;
			uintptr_t a = testing_palloc_alloc(t, np, &scav);
			cr_assert_eq(a, PB(want[k].lo, 0), "range %u: alloc(%zu) = %#lx",
				     k, np, (unsigned long)a);
			cr_assert_eq(scav, expect_scav, "range %u scav", k);
		}
		cr_assert_eq(testing_palloc_alloc(t, 1, &scav), 0, "allocated past the grown ranges");
		cr_assert_eq(testing_palloc_search_addr(t), PALLOC_MAX_ADDR);
		cr_assert(testing_palloc_is_valid(t));
		for (unsigned k = nw; k-- > 0;)
			testing_palloc_free(t, PB(want[k].lo, 0), (want[k].hi - want[k].lo) * CP);
		cr_assert(testing_palloc_is_valid(t));
		cr_assert_eq(testing_palloc_alloc(t, 1, &scav), PB(want[0].lo, 0));
		cr_assert_eq(scav, 0, "freed pages are not scavenged");
		testing_palloc_delete(t);
	}
}

#define RUN_GROW(g, want) run_grow_case(g, NELEM(g), want, NELEM(want))

Test(palloc, grow_One)
{
	const struct grow_step g[] = { { BASE, 1 } };
	const struct chunk_range want[] = { { BASE, BASE + 1 } };
	RUN_GROW(g, want);
}

Test(palloc, grow_Contiguous2)
{
	const struct grow_step g[] = { { BASE, 1 }, { BASE + 1, 1 } };
	const struct chunk_range want[] = { { BASE, BASE + 2 } };
	RUN_GROW(g, want);
}

Test(palloc, grow_Contiguous5)
{
	const struct grow_step g[] = { { BASE, 1 }, { BASE + 1, 1 }, { BASE + 2, 1 },
				       { BASE + 3, 1 }, { BASE + 4, 1 } };
	const struct chunk_range want[] = { { BASE, BASE + 5 } };
	RUN_GROW(g, want);
}

Test(palloc, grow_Discontiguous)
{
	const struct grow_step g[] = { { BASE, 1 }, { BASE + 2, 1 }, { BASE + 4, 1 } };
	const struct chunk_range want[] = { { BASE, BASE + 1 }, { BASE + 2, BASE + 3 },
					    { BASE + 4, BASE + 5 } };
	RUN_GROW(g, want);
}

Test(palloc, grow_Mixed)
{
	const struct grow_step g[] = { { BASE, 1 }, { BASE + 1, 1 }, { BASE + 2, 1 },
				       { BASE + 4, 1 } };
	const struct chunk_range want[] = { { BASE, BASE + 3 }, { BASE + 4, BASE + 5 } };
	RUN_GROW(g, want);
}

Test(palloc, grow_WildlyDiscontiguous)
{
	const struct grow_step g[] = { { BASE, 1 }, { BASE + 1, 1 }, { BASE + 0x10, 1 },
				       { BASE + 0x21, 1 } };
	const struct chunk_range want[] = { { BASE, BASE + 2 }, { BASE + 0x10, BASE + 0x11 },
					    { BASE + 0x21, BASE + 0x22 } };
	RUN_GROW(g, want);
}

/* 33 ranges: the range array grows past its initial 16 entries twice. */
Test(palloc, grow_ManyDiscontiguous)
{
	struct grow_step g[33];
	struct chunk_range want[33];
	for (unsigned i = 0; i < 33; i++) {
		g[i] = (struct grow_step){ BASE + 2 * i, 1 };
		want[i] = (struct chunk_range){ BASE + 2 * i, BASE + 2 * i + 1 };
	}
	RUN_GROW(g, want);
}

/* TiB apart, up to the very last chunk of the 48-bit space. */
Test(palloc, grow_ExtremelyDiscontiguous)
{
	const palloc_chunk_idx_t top = PALLOC_NCHUNKS - 1;
	const struct grow_step g[] = { { BASE, 1 }, { BASE + BIG_JUMP, 1 },
				       { BASE + 16 * BIG_JUMP, 2 }, { top, 1 } };
	const struct chunk_range want[] = { { BASE, BASE + 1 },
					    { BASE + BIG_JUMP, BASE + BIG_JUMP + 1 },
					    { BASE + 16 * BIG_JUMP, BASE + 16 * BIG_JUMP + 2 },
					    { top, top + 1 } };
	RUN_GROW(g, want);
}

/* Multi-chunk grows that touch ranges on both sides coalesce them. */
Test(palloc, grow_MultiChunkCoalescing)
{
	const struct grow_step g[] = { { BASE, 3 }, { BASE + 7, 2 }, { BASE + 3, 4 },
				       { BASE + 20, 9 } };
	const struct chunk_range want[] = { { BASE, BASE + 9 }, { BASE + 20, BASE + 29 } };
	RUN_GROW(g, want);
}

/* Unaligned requests are rounded out to whole chunks. */
Test(palloc, grow_unaligned_rounds_out)
{
	testing_palloc_t *t = testing_palloc_new(NULL, 0);
	cr_assert(testing_palloc_grow(t, PB(BASE, 100), CP * PG));
	cr_assert(testing_palloc_grow(t, PB(BASE + 5, 511), 2 * PG));
	const struct chunk_range want[] = { { BASE, BASE + 2 }, { BASE + 5, BASE + 7 } };
	check_grown(t, want, NELEM(want));
	size_t scav;
	cr_assert_eq(testing_palloc_alloc(t, 2 * CP, &scav), PB(BASE, 0));
	cr_assert_eq(testing_palloc_alloc(t, 2, &scav), PB(BASE + 5, 0));
	testing_palloc_delete(t);
}

/* Growth after the heap was exhausted brings the search address back. */
Test(palloc, grow_after_exhaustion)
{
	const testing_chunk_t init[] = { CHUNK(BASE + 10, RANGES({ 0, CP }), NO_RANGES) };
	testing_palloc_t *t = testing_palloc_new(init, 1);
	size_t scav;
	cr_assert_eq(testing_palloc_alloc(t, 1, &scav), 0);
	cr_assert_eq(testing_palloc_search_addr(t), PALLOC_MAX_ADDR);
	cr_assert(testing_palloc_grow(t, palloc_chunk_base(BASE + 20), PALLOC_CHUNK_BYTES));
	cr_assert_eq(testing_palloc_search_addr(t), PB(BASE + 20, 0));
	cr_assert_eq(testing_palloc_alloc(t, 1, &scav), PB(BASE + 20, 0));
	cr_assert(testing_palloc_grow(t, palloc_chunk_base(BASE), PALLOC_CHUNK_BYTES));
	cr_assert_eq(testing_palloc_alloc(t, 1, &scav), PB(BASE, 0));
	cr_assert(testing_palloc_is_valid(t));
	testing_palloc_delete(t);
}

/* ---- alloc_at ------------------------------------------------------------ */

Test(palloc, alloc_at)
{
	/* Grown: [BASE, BASE+2) and BASE+3; hole at BASE+2. */
	const testing_chunk_t init[] = {
		CHUNK(BASE, RANGES({ 30, 2 }), RANGES({ 0, CP })),
		CHUNK(BASE + 1, NO_RANGES, RANGES({ 0, 4 })),
		CHUNK(BASE + 3, NO_RANGES, NO_RANGES),
	};
	const palloc_chunk_idx_t cis[] = { BASE, BASE + 1, BASE + 3 };
	testing_palloc_t *t = testing_palloc_new(init, NELEM(init));
	pm_snapshot_t snap;
	size_t scav;

	/* Failures change nothing. */
	struct {
		uintptr_t base;
		size_t npages;
		const char *why;
	} fails[] = {
		{ PB(BASE, 30), 1, "page in use" },
		{ PB(BASE, 25), 6, "run ends on a page in use" },
		{ PB(BASE, 31), 4, "run starts on a page in use" },
		{ PB(BASE, 0), CP, "run covers pages in use" },
		{ PB(BASE + 1, CP - 1), 2, "run crosses into the hole" },
		{ PB(BASE + 2, 0), 1, "in the hole" },
		{ PB(BASE + 2, CP - 1), 2, "from the hole into a grown chunk" },
		{ PB(BASE - 1, 0), 1, "below the heap" },
		{ PB(BASE - 1, CP - 1), 2, "from below into the heap" },
		{ PB(BASE + 4, 0), 1, "above the heap" },
		{ PB(BASE + 3, 1), CP, "past the end of the heap" },
		{ PB(BASE, 40), 0, "zero pages" },
		{ PB(BASE, 40), ~(size_t)0 >> PALLOC_PAGE_SHIFT, "overflowing length" },
		{ PALLOC_MAX_ADDR - PG, 2, "past the address space" },
	};
	for (unsigned k = 0; k < NELEM(fails); k++) {
		pm_snap(t, cis, NELEM(cis), &snap);
		scav = 12345;
		cr_assert(!testing_palloc_alloc_at(t, fails[k].base, fails[k].npages, &scav),
			  "alloc_at succeeded: %s", fails[k].why);
		cr_assert_eq(scav, 0, "%s: scav reported", fails[k].why);
		cr_assert(pm_snap_equal(t, &snap), "failed alloc_at changed the heap: %s",
			  fails[k].why);
		cr_assert(testing_palloc_is_valid(t));
	}

	/* Successes. */
	cr_assert(testing_palloc_alloc_at(t, PB(BASE, 10), 5, &scav));
	cr_assert_eq(scav, 5 * PG);
	cr_assert(testing_palloc_alloc_at(t, PB(BASE, CP - 2), 4, &scav)); /* straddles */
	cr_assert_eq(scav, 2 * PG + 2 * PG);
	cr_assert(testing_palloc_alloc_at(t, PB(BASE + 3, 0), CP, &scav)); /* whole chunk */
	cr_assert_eq(scav, 0);
	cr_assert(!testing_palloc_alloc_at(t, PB(BASE, 14), 1, &scav), "allocated twice");
	/* At the search address itself: first fit still finds the next page. */
	cr_assert(testing_palloc_alloc_at(t, PB(BASE, 0), 3, &scav));
	cr_assert_eq(testing_palloc_alloc(t, 1, &scav), PB(BASE, 3));
	cr_assert_eq(testing_palloc_alloc(t, 7, &scav), PB(BASE, 15));
	cr_assert(testing_palloc_is_valid(t));

	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, 4 }, { 10, 5 }, { 15, 7 }, { 30, 2 }, { CP - 2, 2 }),
		      RANGES({ 0, CP })),
		CHUNK(BASE + 1, RANGES({ 0, 2 }), RANGES({ 0, 4 })),
		CHUNK(BASE + 3, RANGES({ 0, CP }), NO_RANGES),
	};
	pm_expect_heap(t, after, NELEM(after));
	testing_palloc_delete(t);
}

/* ---- randomised model test ----------------------------------------------- */

/* Groups of chunks: gaps inside one leaf block, a group straddling the
 * level-4 summary page boundary at BASE+512, one alone in the next root
 * entry (8 GiB up), and one 2 TiB away. */
static const struct chunk_range model_groups[] = {
	{ BASE, BASE + 6 },
	{ BASE + 8, BASE + 10 },
	{ BASE + 0x1fc, BASE + 0x204 },
	{ BASE + 0x1000, BASE + 0x1001 },
	{ BASE + BIG_JUMP + 3, BASE + BIG_JUMP + 7 },
};
#define MODEL_MAX_CHUNKS 32
#define MODEL_STEPS 500000
#define MODEL_SEED 0x5eed0f9a11c0ffeeull

struct live_run {
	uintptr_t base;
	size_t npages;
};

struct model_test {
	pm_rng_t rng;
	pm_model_t m;
	testing_palloc_t *t;
	struct live_run *live;
	size_t nlive, cap;
	size_t used_pages, total_pages;
};

static void live_push(struct model_test *mt, uintptr_t base, size_t npages)
{
	if (mt->nlive == mt->cap) {
		mt->cap = mt->cap ? mt->cap * 2 : 1024;
		mt->live = realloc(mt->live, mt->cap * sizeof(*mt->live));
		cr_assert(mt->live);
	}
	mt->live[mt->nlive++] = (struct live_run){ base, npages };
}

/* A skewed request size in [1, 2000]: log-uniform-ish, mostly small. */
static size_t model_npages(pm_rng_t *r)
{
	unsigned k = (unsigned)pm_rng_below(r, 12);
	size_t n = 1 + pm_rng_below(r, (size_t)1 << k);
	return GCM_MIN(n, (size_t)2000);
}

static void model_alloc(struct model_test *mt, unsigned step)
{
	size_t n = model_npages(&mt->rng);
	uintptr_t want = pm_model_first_fit(&mt->m, n);
	size_t scav = 12345;
	uintptr_t got = testing_palloc_alloc(mt->t, n, &scav);
	cr_assert_eq(got, want, "step %u: alloc(%zu) = %#lx, model first fit %#lx",
		     step, n, (unsigned long)got, (unsigned long)want);
	if (want == 0) {
		cr_assert_eq(scav, 0);
		return;
	}
	size_t want_scav = pm_model_alloc(&mt->m, want, n) * PG;
	cr_assert_eq(scav, want_scav, "step %u: alloc(%zu) scav %zu, model %zu",
		     step, n, scav, want_scav);
	mt->used_pages += n;
	live_push(mt, got, n);
}

static void model_alloc_at(struct model_test *mt, unsigned step)
{
	unsigned s = (unsigned)pm_rng_below(&mt->rng, mt->m.n);
	palloc_chunk_idx_t ci = mt->m.ci[s];
	if (pm_rng_below(&mt->rng, 8) == 0)
		ci -= 1; /* often a hole */
	uintptr_t base = PB(ci, pm_rng_below(&mt->rng, CP));
	size_t n = 1 + pm_rng_below(&mt->rng, (size_t)1 << pm_rng_below(&mt->rng, 10));
	bool want = pm_model_range_is(&mt->m, base, n, true);
	size_t scav = 12345;
	bool got = testing_palloc_alloc_at(mt->t, base, n, &scav);
	cr_assert_eq(got, want, "step %u: alloc_at(%#lx, %zu) = %d, model %d", step,
		     (unsigned long)base, n, got, want);
	if (!want) {
		cr_assert_eq(scav, 0);
		return;
	}
	size_t want_scav = pm_model_alloc(&mt->m, base, n) * PG;
	cr_assert_eq(scav, want_scav, "step %u: alloc_at scav", step);
	mt->used_pages += n;
	live_push(mt, base, n);
}

static void model_free(struct model_test *mt)
{
	size_t idx = pm_rng_below(&mt->rng, mt->nlive);
	struct live_run r = mt->live[idx];
	size_t off = 0, len = r.npages;

	if (r.npages > 1 && pm_rng_below(&mt->rng, 10) < 3) {
		/* Free a piece; the rest stays allocated as up to two runs. */
		off = pm_rng_below(&mt->rng, r.npages);
		len = 1 + pm_rng_below(&mt->rng, r.npages - off);
	}
	mt->live[idx] = mt->live[--mt->nlive];
	if (off > 0)
		live_push(mt, r.base, off);
	if (off + len < r.npages)
		live_push(mt, r.base + (off + len) * PG, r.npages - off - len);

	uintptr_t base = r.base + off * PG;
	testing_palloc_free(mt->t, base, len);
	pm_model_free(&mt->m, base, len);
	mt->used_pages -= len;
	cr_assert_leq(testing_palloc_search_addr(mt->t), base,
		      "search address above a freed page");
}

static void model_check(struct model_test *mt, unsigned step)
{
	cr_assert(testing_palloc_is_valid(mt->t), "step %u: heap invalid", step);
	cr_assert(pm_model_matches(&mt->m, mt->t), "step %u: heap differs from the model", step);
}

Test(palloc, random_against_model, .timeout = 120)
{
	static testing_chunk_t chunks[MODEL_MAX_CHUNKS];
	static testing_bit_range_t ranges[MODEL_MAX_CHUNKS][2][64];
	struct model_test mt = { 0 };
	unsigned nchunks = 0;

	pm_rng_seed(&mt.rng, MODEL_SEED);

	/* A random starting heap: some runs in use, some free pages
	 * scavenged (the in-use runs are the first live runs). */
	for (unsigned g = 0; g < NELEM(model_groups); g++) {
		for (palloc_chunk_idx_t ci = model_groups[g].lo; ci < model_groups[g].hi; ci++) {
			testing_chunk_t *c = &chunks[nchunks];
			testing_bit_range_t *ar = ranges[nchunks][0], *sr = ranges[nchunks][1];
			unsigned na = 0, ns = 0;
			for (unsigned p = (unsigned)pm_rng_below(&mt.rng, 64); p < CP && na < 64;) {
				unsigned n = 1 + (unsigned)pm_rng_below(&mt.rng, 40);
				n = GCM_MIN(n, CP - p);
				ar[na++] = (testing_bit_range_t){ p, n };
				p += n + 1 + (unsigned)pm_rng_below(&mt.rng, 80);
			}
			for (unsigned p = (unsigned)pm_rng_below(&mt.rng, 32); p < CP && ns < 64;) {
				unsigned n = 1 + (unsigned)pm_rng_below(&mt.rng, 64);
				n = GCM_MIN(n, CP - p);
				sr[ns++] = (testing_bit_range_t){ p, n };
				p += n + (unsigned)pm_rng_below(&mt.rng, 100);
			}
			*c = (testing_chunk_t){ ci, ar, na, sr, ns };
			nchunks++;
		}
	}
	cr_assert_leq(nchunks, MODEL_MAX_CHUNKS);
	mt.t = testing_palloc_new(chunks, nchunks);
	pm_model_init(&mt.m, chunks, nchunks);
	mt.total_pages = (size_t)nchunks * CP;
	for (unsigned k = 0; k < nchunks; k++)
		for (unsigned r = 0; r < chunks[k].nalloc; r++) {
			live_push(&mt, PB(chunks[k].ci, chunks[k].alloc[r].i), chunks[k].alloc[r].n);
			mt.used_pages += chunks[k].alloc[r].n;
		}
	model_check(&mt, 0);

	unsigned nallocs = 0, nfails = 0;
	for (unsigned step = 1; step <= MODEL_STEPS; step++) {
		/* Phases: filling, balanced, draining. */
		unsigned phase = (step / 10000) % 3;
		unsigned p_alloc = phase == 0 ? 62 : phase == 1 ? 50 : 36;
		unsigned r = (unsigned)pm_rng_below(&mt.rng, 100);
		if (r < 2) {
			model_alloc_at(&mt, step);
		} else if (mt.nlive == 0 || r < p_alloc) {
			size_t before = mt.nlive;
			model_alloc(&mt, step);
			nallocs++;
			nfails += mt.nlive == before;
		} else {
			model_free(&mt);
		}
		uintptr_t first = pm_model_first_free(&mt.m);
		uintptr_t s = testing_palloc_search_addr(mt.t);
		cr_assert(first == 0 || s <= first,
			  "step %u: search address %#lx above the first free page %#lx",
			  step, (unsigned long)s, (unsigned long)first);
		if (step % 100 == 0)
			model_check(&mt, step);
	}
	model_check(&mt, MODEL_STEPS);
	cr_log_info("model test: %u allocations, %u failed", nallocs, nfails);
	cr_expect_gt(nfails, 100u, "the heap never filled up");
	cr_expect_lt(nfails, nallocs / 2);

	/* Drain everything; the heap is all free again and coalesced. */
	while (mt.nlive > 0)
		model_free(&mt);
	model_check(&mt, MODEL_STEPS + 1);
	size_t scav;
	size_t biggest = (size_t)(model_groups[2].hi - model_groups[2].lo) * CP;
	cr_assert_eq(testing_palloc_alloc(mt.t, biggest, &scav), PB(model_groups[2].lo, 0));
	cr_assert_eq(testing_palloc_alloc(mt.t, biggest, &scav), 0);

	pm_model_destroy(&mt.m);
	free(mt.live);
	testing_palloc_delete(mt.t);
}

/* ---- death tests --------------------------------------------------------- */

#if GCM_ASSERTIONS
static void redirect_stderr(void)
{
	cr_redirect_stderr();
}

/* palloc_alloc_locked requires the heap lock; calling it without aborts. */
Test(palloc, alloc_without_lock_aborts, .signal = SIGABRT, .init = redirect_stderr)
{
	const testing_chunk_t init[] = { FREE_CHUNK(BASE) };
	testing_palloc_t *t = testing_palloc_new(init, 1);
	testing_palloc_alloc_unlocked(t, 1);
}
#endif

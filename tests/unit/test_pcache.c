/*
 * test_pcache.c — the per-thread page cache (core/pcache.c).
 *
 * Ports the ideas of Go's mpagecache_test.go: allocation from hand-made
 * (base, cache, scav) triples, flushing into a full chunk, and refilling
 * from table-described heaps. A randomised test then mixes page allocator
 * calls with refill / alloc / flush of several caches against the naive
 * model of palloc_model.h.
 */
#include "gcm_config.h"
#include "palloc_model.h"

#include <criterion/redirect.h>
#include <signal.h>

#define BIG_JUMP ((palloc_chunk_idx_t)0x100000)
#define ONES (~(uint64_t)0)

/* ---- pcache_alloc tables ------------------------------------------------- */

struct chit {
	size_t npages;
	int page;      /* expected page offset from the cache base; -1: fail */
	size_t scav;   /* expected scavenged bytes */
};

static void run_cache_alloc(uint64_t cache, uint64_t scav, const struct chit *hits,
			    unsigned nh)
{
	const uintptr_t base = PB(BASE, 64);
	pcache_t c = { base, cache, scav };

	for (unsigned k = 0; k < nh; k++) {
		pcache_t old = c;
		size_t sb = 12345;
		uintptr_t a = pcache_alloc(&c, hits[k].npages, &sb);
		uintptr_t want = hits[k].page < 0 ? 0 : base + (uintptr_t)hits[k].page * PG;
		cr_assert_eq(a, want, "step %u: alloc(%zu) = %#lx, want %#lx", k + 1,
			     hits[k].npages, (unsigned long)a, (unsigned long)want);
		cr_assert_eq(sb, hits[k].scav, "step %u: scav %zu, want %zu", k + 1, sb,
			     hits[k].scav);
		if (want == 0) {
			cr_assert(c.base == old.base && c.cache == old.cache &&
				  c.scav == old.scav, "step %u: a failed alloc changed the cache", k + 1);
			continue;
		}
		uint64_t mask = (hits[k].npages == 64 ? ONES
				 : (((uint64_t)1 << hits[k].npages) - 1))
				<< hits[k].page;
		cr_assert_eq(c.cache, old.cache & ~mask, "step %u: cache bits", k + 1);
		cr_assert_eq(c.scav, old.scav & ~mask, "step %u: scav bits", k + 1);
		cr_assert_eq(c.base, base);
	}
}

#define RUN_CACHE_ALLOC(cache, scav, hits) run_cache_alloc(cache, scav, hits, NELEM(hits))

Test(pcache, alloc_Empty)
{
	const struct chit hits[] = {
		{ 1, -1, 0 }, { 2, -1, 0 }, { 3, -1, 0 }, { 4, -1, 0 },
		{ 5, -1, 0 }, { 11, -1, 0 }, { 12, -1, 0 }, { 15, -1, 0 },
	};
	RUN_CACHE_ALLOC(0, 0, hits);
}

Test(pcache, alloc_Lo1)
{
	const struct chit hits[] = { { 1, 0, PG }, { 1, -1, 0 }, { 10, -1, 0 } };
	RUN_CACHE_ALLOC(0x1, 0x1, hits);
}

Test(pcache, alloc_Hi1)
{
	const struct chit hits[] = { { 1, 63, 0 }, { 1, -1, 0 }, { 10, -1, 0 } };
	RUN_CACHE_ALLOC((uint64_t)1 << 63, 0, hits);
}

Test(pcache, alloc_Swiss1)
{
	/* Free: even pages 0..14 and page 29; scavenged: 0, 2, 8, 10, 12, 14. */
	const struct chit hits[] = {
		{ 2, -1, 0 },
		{ 1, 0, PG }, { 1, 2, PG }, { 1, 4, 0 }, { 1, 6, 0 },
		{ 1, 8, PG }, { 1, 10, PG }, { 1, 12, PG }, { 1, 14, PG },
		{ 1, 29, 0 }, { 1, -1, 0 },
	};
	RUN_CACHE_ALLOC(0x20005555, 0x5505, hits);
}

Test(pcache, alloc_Lo2)
{
	const struct chit hits[] = { { 2, 0, PG }, { 1, -1, 0 } };
	RUN_CACHE_ALLOC(0x3, (uint64_t)1 << 1, hits);
}

Test(pcache, alloc_Hi2)
{
	const struct chit hits[] = { { 2, 62, PG }, { 1, -1, 0 } };
	RUN_CACHE_ALLOC((uint64_t)0x3 << 62, (uint64_t)1 << 63, hits);
}

Test(pcache, alloc_Swiss2)
{
	/* Free pairs at 31, 35, 39, 43; the pairs at 35 and 43 scavenged. */
	const struct chit hits[] = {
		{ 2, 31, 0 }, { 2, 35, 2 * PG }, { 2, 39, 0 }, { 2, 43, 2 * PG },
		{ 2, -1, 0 }, { 1, -1, 0 },
	};
	RUN_CACHE_ALLOC((uint64_t)0x3333 << 31, (uint64_t)0x3030 << 31, hits);
}

Test(pcache, alloc_Hi53)
{
	/* Free 10..62, scavenged 10..22. */
	const struct chit hits[] = {
		{ 15, 10, 13 * PG }, { 15, 25, 0 }, { 15, 40, 0 },
		{ 15, -1, 0 }, { 9, -1, 0 }, { 8, 55, 0 }, { 1, -1, 0 },
	};
	RUN_CACHE_ALLOC((((uint64_t)1 << 53) - 1) << 10, (((uint64_t)1 << 13) - 1) << 10, hits);
}

Test(pcache, alloc_Full53)
{
	const struct chit hits[] = {
		{ 15, 0, 15 * PG }, { 15, 15, 15 * PG }, { 15, 30, 15 * PG },
		{ 8, 45, 8 * PG }, { 1, -1, 0 },
	};
	RUN_CACHE_ALLOC(((uint64_t)1 << 53) - 1, ((uint64_t)1 << 53) - 1, hits);
}

Test(pcache, alloc_Full64)
{
	const struct chit hits[] = {
		{ 15, 0, 15 * PG }, { 15, 15, 15 * PG }, { 15, 30, 15 * PG },
		{ 15, 45, 15 * PG }, { 5, -1, 0 }, { 4, 60, 4 * PG }, { 1, -1, 0 },
	};
	RUN_CACHE_ALLOC(ONES, ONES, hits);
}

Test(pcache, alloc_FullMixed)
{
	/* All free, odd pages scavenged; requests of 1, 2, ..., 10, then 9. */
	const struct chit hits[] = {
		{ 1, 0, 0 }, { 2, 1, 1 * PG }, { 3, 3, 2 * PG }, { 4, 6, 2 * PG },
		{ 5, 10, 2 * PG }, { 6, 15, 3 * PG }, { 7, 21, 4 * PG },
		{ 8, 28, 4 * PG }, { 9, 36, 4 * PG }, { 10, 45, 5 * PG },
		{ 9, 55, 5 * PG }, { 1, -1, 0 },
	};
	RUN_CACHE_ALLOC(ONES, 0xaaaaaaaaaaaaaaaaull, hits);
}

/* Against a bit-by-bit reference, over random caches. */
Test(pcache, alloc_random_against_reference)
{
	pm_rng_t r;
	pm_rng_seed(&r, 0xcafe);
	for (unsigned iter = 0; iter < 20000; iter++) {
		uint64_t cache = pm_rng_next(&r);
		switch (pm_rng_below(&r, 4)) {
		case 0: cache |= pm_rng_next(&r); break;                    /* dense */
		case 1: cache &= pm_rng_next(&r) & pm_rng_next(&r); break;  /* sparse */
		case 2: cache = ONES << pm_rng_below(&r, 64); break;
		default: break;
		}
		uint64_t scav = pm_rng_next(&r) & cache;
		size_t n = 1 + pm_rng_below(&r, PCACHE_MAX_NPAGES - 1);
		int want = -1;
		for (unsigned i = 0; i + n <= 64 && want < 0; i++) {
			bool all = true;
			for (unsigned j = i; j < i + n; j++)
				all &= (cache >> j) & 1;
			if (all)
				want = (int)i;
		}
		struct chit h = { n, want, 0 };
		if (want >= 0)
			for (unsigned j = (unsigned)want; j < (unsigned)want + n; j++)
				h.scav += ((scav >> j) & 1) * PG;
		run_cache_alloc(cache, scav, &h, 1);
	}
}

/* ---- flush --------------------------------------------------------------- */

/* Flushes (base block, cache, scav) into a fully used chunk and compares
 * with the expected heap: the cache's pages free, its scav pages
 * scavenged, the cache empty. */
static void run_flush(unsigned block, uint64_t cache, uint64_t scav)
{
	const testing_chunk_t before[] = { CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES) };
	testing_palloc_t *t = testing_palloc_new(before, 1);
	size_t sb;
	/* Push the search address to the end, so the flush must lower it. */
	cr_assert_eq(testing_palloc_alloc(t, 1, &sb), 0);
	cr_assert_eq(testing_palloc_search_addr(t), PALLOC_MAX_ADDR);

	pcache_t c = { PB(BASE, block * 64), cache, scav };
	testing_pcache_flush(t, &c);
	cr_assert(pcache_is_empty(&c), "cache not empty after flush");
	cr_assert_eq(c.scav, 0);
	cr_assert(testing_palloc_is_valid(t));
	if (cache != 0)
		cr_assert_leq(testing_palloc_search_addr(t), PB(BASE, block * 64));
	else
		cr_assert_eq(testing_palloc_search_addr(t), PALLOC_MAX_ADDR);

	testing_bit_range_t used[40], sc[40];
	unsigned nu = 0, ns = 0;
	if (block > 0)
		used[nu++] = (testing_bit_range_t){ 0, block * 64 };
	pm_mask_to_ranges(~cache, block * 64, used, &nu);
	if (block < CP / 64 - 1)
		used[nu++] = (testing_bit_range_t){ block * 64 + 64, CP - block * 64 - 64 };
	pm_mask_to_ranges(scav, block * 64, sc, &ns);
	const testing_chunk_t after[] = { { BASE, used, nu, sc, ns } };
	pm_expect_heap(t, after, 1);
	testing_palloc_delete(t);
}

Test(pcache, flush_empty)
{
	run_flush(0, 0, 0);
}

Test(pcache, flush_full)
{
	run_flush(0, ONES, ONES);
	run_flush(7, ONES, 0);
}

Test(pcache, flush_random)
{
	pm_rng_t r;
	pm_rng_seed(&r, 0xf1005);
	for (unsigned i = 0; i < 100; i++) {
		unsigned block = (unsigned)pm_rng_below(&r, CP / 64);
		uint64_t cache = pm_rng_next(&r);
		uint64_t scav = pm_rng_next(&r) & cache;
		run_flush(block, cache, scav);
	}
}

/* ---- refill -------------------------------------------------------------- */

static void run_refill(const testing_chunk_t *before, unsigned nb,
		       const pcache_t *want, unsigned nw,
		       const testing_chunk_t *after, unsigned na)
{
	testing_palloc_t *t = testing_palloc_new(before, nb);
	for (unsigned k = 0; k < nw; k++) {
		pcache_t c = testing_pcache_refill(t);
		cr_assert_eq(c.cache, want[k].cache, "refill %u: cache %016llx, want %016llx",
			     k + 1, (unsigned long long)c.cache,
			     (unsigned long long)want[k].cache);
		cr_assert_eq(c.scav, want[k].scav, "refill %u: scav %016llx, want %016llx",
			     k + 1, (unsigned long long)c.scav,
			     (unsigned long long)want[k].scav);
		if (want[k].cache != 0) {
			cr_assert_eq(c.base, want[k].base, "refill %u: base %#lx, want %#lx",
				     k + 1, (unsigned long)c.base, (unsigned long)want[k].base);
			/* The hint moves to the block's last page (the page
			 * after it may not be grown). */
			cr_assert_eq(testing_palloc_search_addr(t), c.base + 63 * PG,
				     "refill %u: search address", k + 1);
		}
		cr_assert(testing_palloc_is_valid(t), "refill %u: heap invalid", k + 1);
	}
	pm_expect_heap(t, after, na);
	testing_palloc_delete(t);
}

#define RUN_REFILL(before, want, after) \
	run_refill(before, NELEM(before), want, NELEM(want), after, NELEM(after))

Test(pcache, refill_AllFree)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, NO_RANGES, RANGES({ 1, 1 }, { 64, 64 })),
	};
	const pcache_t want[] = {
		{ PB(BASE, 0), ONES, 0x2 },
		{ PB(BASE, 64), ONES, ONES },
		{ PB(BASE, 128), ONES, 0 },
		{ PB(BASE, 192), ONES, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, 256 }), RANGES({ 1, 1 }, { 64, 64 })),
	};
	RUN_REFILL(before, want, after);
}

Test(pcache, refill_ManyArena)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 2, RANGES({ 0, CP - 60 }), RANGES({ CP - 10, 10 })),
	};
	const pcache_t want[] = {
		{ PB(BASE + 2, CP - 64), ~(uint64_t)0xf, (uint64_t)0x3ff << 54 },
		{ 0, 0, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 1, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 2, RANGES({ 0, CP }), RANGES({ CP - 10, 10 })),
	};
	RUN_REFILL(before, want, after);
}

Test(pcache, refill_NotContiguous)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 0xff, NO_RANGES, RANGES({ 31, 67 })),
	};
	const pcache_t want[] = {
		{ PB(BASE + 0xff, 0), ONES, (((uint64_t)1 << 33) - 1) << 31 },
		{ PB(BASE + 0xff, 64), ONES, ((uint64_t)1 << 34) - 1 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(BASE + 0xff, RANGES({ 0, 128 }), RANGES({ 31, 67 })),
	};
	RUN_REFILL(before, want, after);
}

Test(pcache, refill_RetainScavBits)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, 1 }, { 10, 2 }), RANGES({ 0, 4 }, { 11, 1 })),
	};
	const pcache_t want[] = {
		{ PB(BASE, 0), ~(uint64_t)(0x1 | (0x3 << 10)), 0x7 << 1 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, 64 }), RANGES({ 0, 4 }, { 11, 1 })),
	};
	RUN_REFILL(before, want, after);
}

Test(pcache, refill_Fail)
{
	const testing_chunk_t before[] = { CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES) };
	const pcache_t want[] = { { 0, 0, 0 }, { 0, 0, 0 }, { 0, 0, 0 } };
	const testing_chunk_t after[] = { CHUNK(BASE, RANGES({ 0, CP }), NO_RANGES) };
	RUN_REFILL(before, want, after);

	testing_palloc_t *t = testing_palloc_new(before, 1);
	pcache_t c = testing_pcache_refill(t);
	cr_assert(pcache_is_empty(&c));
	cr_assert_eq(testing_palloc_search_addr(t), PALLOC_MAX_ADDR);
	testing_palloc_delete(t);
}

Test(pcache, refill_First)
{
	/* Free: page 32, pages 64..95, 128..511. */
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, 32 }, { 33, 31 }, { 96, 32 }),
		      RANGES({ 1, 4 }, { 31, 5 }, { 66, 2 })),
	};
	const pcache_t want[] = {
		{ PB(BASE, 0), (uint64_t)1 << 32, (uint64_t)1 << 32 },
		{ PB(BASE, 64), ((uint64_t)1 << 32) - 1, (uint64_t)0x3 << 2 },
		{ PB(BASE, 128), ONES, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, 192 }), RANGES({ 1, 4 }, { 31, 5 }, { 66, 2 })),
	};
	RUN_REFILL(before, want, after);
}

/* X's leaf summary ends a page of the level-4 array and Y is 2 TiB away: a
 * refill that took X's last block must not leave the hint past X (the
 * next refill would read an uncommitted summary). */
Test(pcache, refill_DiscontiguousMappedSumBoundary)
{
	const palloc_chunk_idx_t x = BASE + 511, y = BASE + BIG_JUMP;
	const testing_chunk_t before[] = {
		CHUNK(x, RANGES({ 0, CP - 1 }), RANGES({ CP - 1, 1 })),
		CHUNK(y, NO_RANGES, RANGES({ 0, 1 })),
	};
	const pcache_t want[] = {
		{ PB(x, CP - 64), (uint64_t)1 << 63, (uint64_t)1 << 63 },
		{ PB(y, 0), ONES, 0x1 },
		{ PB(y, 64), ONES, 0 },
	};
	const testing_chunk_t after[] = {
		CHUNK(x, RANGES({ 0, CP }), NO_RANGES),
		CHUNK(y, RANGES({ 0, 128 }), NO_RANGES),
	};
	RUN_REFILL(before, want, after);
}

/* Refill, take pages, flush: the pages taken stay in use, the rest come
 * back with their scavenged bits. */
Test(pcache, refill_alloc_flush_round_trip)
{
	const testing_chunk_t before[] = {
		CHUNK(BASE, RANGES({ 0, 70 }, { 72, 3 }), RANGES({ 70, 2 }, { 100, 20 })),
	};
	testing_palloc_t *t = testing_palloc_new(before, 1);
	pcache_t c = testing_pcache_refill(t);
	cr_assert_eq(c.base, PB(BASE, 64));
	cr_assert_eq(c.cache, ~(uint64_t)0x73f);   /* free: 70, 71, 75..127 */
	cr_assert_eq(c.scav, ((uint64_t)0x3 << 6) | ((((uint64_t)1 << 20) - 1) << 36));
	size_t sb;
	cr_assert_eq(pcache_alloc(&c, 2, &sb), PB(BASE, 70));
	cr_assert_eq(sb, 2 * PG);
	cr_assert_eq(pcache_alloc(&c, 5, &sb), PB(BASE, 75));
	cr_assert_eq(sb, 0);
	cr_assert_eq(pcache_alloc(&c, 10, &sb), PB(BASE, 80));
	cr_assert_eq(sb, 0);
	cr_assert_eq(pcache_alloc(&c, 15, &sb), PB(BASE, 90));
	cr_assert_eq(sb, 5 * PG);
	testing_pcache_flush(t, &c);
	cr_assert(pcache_is_empty(&c));
	/* Next allocation from the heap gets the first page the cache
	 * returned. */
	cr_assert_eq(testing_palloc_alloc(t, 1, &sb), PB(BASE, 105));
	cr_assert_eq(sb, PG);
	const testing_chunk_t after[] = {
		CHUNK(BASE, RANGES({ 0, 106 }), RANGES({ 70, 2 }, { 100, 20 })),
	};
	pm_expect_heap(t, after, 1);
	testing_palloc_delete(t);
}

/* ---- randomised: caches and the page allocator against the model --------- */

#define NCACHES 3
#define PC_STEPS 200000

struct pc_live {
	uintptr_t base;
	size_t npages;
};

/* Flushes c into the allocator and the same pages into the model. */
static void pc_flush(testing_palloc_t *t, pm_model_t *m, pcache_t *c)
{
	pcache_t old = *c;
	uintptr_t s_before = testing_palloc_search_addr(t);

	testing_pcache_flush(t, c);
	cr_assert(pcache_is_empty(c));
	if (old.cache == 0) {
		cr_assert_eq(testing_palloc_search_addr(t), s_before);
		return;
	}
	cr_assert_leq(testing_palloc_search_addr(t), old.base);
	int s = pm_model_slot(m, palloc_chunk_index(old.base));
	unsigned w = palloc_chunk_page_index(old.base) / 64;
	m->c[s].alloc.w[w] &= ~old.cache;
	m->c[s].scav.w[w] |= old.scav;
}

Test(pcache, random_against_model, .timeout = 120)
{
	static testing_chunk_t chunks[16];
	static testing_bit_range_t ranges[16][2][16];
	const palloc_chunk_idx_t cis[] = { BASE, BASE + 1, BASE + 2, BASE + 5,
					   BASE + 511, BASE + 512, BASE + BIG_JUMP };
	const unsigned nchunks = NELEM(cis);
	pm_rng_t r;
	pm_model_t m;
	pcache_t caches[NCACHES] = { 0 };
	struct pc_live *live = calloc(nchunks * CP, sizeof(*live));
	size_t nlive = 0;
	unsigned nrefill = 0, nrefill_empty = 0, ncache_alloc = 0, nalloc = 0, nalloc_fail = 0;

	pm_rng_seed(&r, 0xcac4e);
	for (unsigned k = 0; k < nchunks; k++) {
		unsigned na = 0, ns = 0;
		for (unsigned p = (unsigned)pm_rng_below(&r, 64); p < CP && na < 16;) {
			unsigned n = GCM_MIN(1 + (unsigned)pm_rng_below(&r, 30), CP - p);
			ranges[k][0][na++] = (testing_bit_range_t){ p, n };
			p += n + 1 + (unsigned)pm_rng_below(&r, 60);
		}
		for (unsigned p = (unsigned)pm_rng_below(&r, 64); p < CP && ns < 16;) {
			unsigned n = GCM_MIN(1 + (unsigned)pm_rng_below(&r, 60), CP - p);
			ranges[k][1][ns++] = (testing_bit_range_t){ p, n };
			p += n + (unsigned)pm_rng_below(&r, 80);
		}
		chunks[k] = (testing_chunk_t){ cis[k], ranges[k][0], na, ranges[k][1], ns };
		for (unsigned q = 0; q < na; q++)
			live[nlive++] = (struct pc_live){ PB(cis[k], ranges[k][0][q].i),
							  ranges[k][0][q].n };
	}
	testing_palloc_t *t = testing_palloc_new(chunks, nchunks);
	pm_model_init(&m, chunks, nchunks);

	for (unsigned step = 1; step <= PC_STEPS; step++) {
		unsigned op = (unsigned)pm_rng_below(&r, 100);
		unsigned ci = (unsigned)pm_rng_below(&r, NCACHES);
		pcache_t *c = &caches[ci];
		size_t sb = 12345;
		bool filling = (step / 5000) % 2 == 0;

		if (op < 25) {
			/* Take pages from a cache, refilling it when empty. */
			if (pcache_is_empty(c)) {
				uintptr_t first = pm_model_first_free(&m);
				*c = testing_pcache_refill(t);
				if (first == 0) {
					cr_assert(pcache_is_empty(c), "step %u: refill of a full heap", step);
					nrefill_empty++;
					continue;
				}
				nrefill++;
				palloc_chunk_idx_t fc = palloc_chunk_index(first);
				int s = pm_model_slot(&m, fc);
				unsigned w = palloc_chunk_page_index(first) / 64;
				uint64_t want_cache = ~m.c[s].alloc.w[w];
				uint64_t want_scav = m.c[s].scav.w[w] & want_cache;
				cr_assert_eq(c->base, PB(fc, w * 64), "step %u: refill base", step);
				cr_assert_eq(c->cache, want_cache, "step %u: refill cache", step);
				cr_assert_eq(c->scav, want_scav, "step %u: refill scav", step);
				m.c[s].alloc.w[w] = ONES;
				m.c[s].scav.w[w] &= ~want_cache;
			}
			size_t n = 1 + pm_rng_below(&r, pm_rng_below(&r, 3) ? 2 : PCACHE_MAX_NPAGES - 1);
			pcache_t old = *c;
			uintptr_t a = pcache_alloc(c, n, &sb);
			if (a != 0) {
				unsigned i = (unsigned)((a - old.base) / PG);
				uint64_t mask = (((uint64_t)1 << n) - 1) << i;
				cr_assert_eq(old.cache & mask, mask, "step %u: cache alloc of non-free pages", step);
				cr_assert_eq(sb, (size_t)__builtin_popcountll(old.scav & mask) * PG);
				live[nlive++] = (struct pc_live){ a, n };
				ncache_alloc++;
			}
		} else if (op < 30) {
			pc_flush(t, &m, c);
		} else if (op < (filling ? 80u : 55u)) {
			/* While filling, mostly single pages, so the heap
			 * really becomes full. */
			size_t n = filling && pm_rng_below(&r, 4) != 0
					   ? 1
					   : 1 + pm_rng_below(&r, (size_t)1 << pm_rng_below(&r, 10));
			uintptr_t want = pm_model_first_fit(&m, n);
			uintptr_t a = testing_palloc_alloc(t, n, &sb);
			cr_assert_eq(a, want, "step %u: alloc(%zu) = %#lx, model %#lx", step, n,
				     (unsigned long)a, (unsigned long)want);
			nalloc++;
			if (a != 0) {
				cr_assert_eq(sb, pm_model_alloc(&m, a, n) * PG, "step %u: scav", step);
				live[nlive++] = (struct pc_live){ a, n };
			} else {
				nalloc_fail++;
			}
		} else if (nlive > 0) {
			size_t idx = pm_rng_below(&r, nlive);
			struct pc_live lr = live[idx];
			live[idx] = live[--nlive];
			testing_palloc_free(t, lr.base, lr.npages);
			pm_model_free(&m, lr.base, lr.npages);
		}
		cr_assert_leq(nlive, (size_t)nchunks * CP);
		if (step % 100 == 0) {
			cr_assert(testing_palloc_is_valid(t), "step %u: heap invalid", step);
			cr_assert(pm_model_matches(&m, t), "step %u: heap differs from the model", step);
		}
	}
	cr_log_info("pcache model: %u refills (%u of a full heap), %u cache allocations, %u page allocations (%u failed)",
		    nrefill, nrefill_empty, ncache_alloc, nalloc, nalloc_fail);
	cr_expect_gt(nrefill, 1000u);
	cr_expect_gt(nrefill_empty, 10u);
	cr_expect_gt(nalloc_fail, 100u);
	for (unsigned k = 0; k < NCACHES; k++)
		pc_flush(t, &m, &caches[k]);
	cr_assert(testing_palloc_is_valid(t));
	cr_assert(pm_model_matches(&m, t));
	pm_model_destroy(&m);
	free(live);
	testing_palloc_delete(t);
}

/* ---- death tests --------------------------------------------------------- */

#if GCM_ASSERTIONS
static void redirect_stderr(void)
{
	cr_redirect_stderr();
}

/* Requests of PCACHE_MAX_NPAGES or more must bypass the cache. */
Test(pcache, alloc_too_large_aborts, .signal = SIGABRT, .init = redirect_stderr)
{
	pcache_t c = { PB(BASE, 0), ONES, 0 };
	size_t sb;
	pcache_alloc(&c, PCACHE_MAX_NPAGES, &sb);
}

/* Flushing pages the allocator does not have in use is a double free. */
Test(pcache, flush_of_free_pages_aborts, .signal = SIGABRT, .init = redirect_stderr)
{
	const testing_chunk_t before[] = { CHUNK(BASE, RANGES({ 0, 32 }), NO_RANGES) };
	testing_palloc_t *t = testing_palloc_new(before, 1);
	pcache_t c = { PB(BASE, 0), ONES, 0 };
	testing_pcache_flush(t, &c);
}
#endif

/*
 * bench_palloc.c — cost of one page allocation plus its free, by heap size
 * and request size, on test-mode page allocators (testing.h: only the
 * metadata is mapped, so a 256 GiB heap costs ~20 MiB).
 *
 * Heaps of 64 MiB, 1 GiB, 16 GiB and 256 GiB are grown as one range each.
 * Two states:
 *   empty       everything free; every request is met at the heap base;
 *   mostly full every page allocated, then 1% freed as scattered single
 *               pages (one per 100-page stretch, at a random offset) plus
 *               one free run of 1024 pages three quarters of the way up.
 *               The search address sits at the first scattered hole, so a
 *               request of 8 pages or more must walk the radix tree from
 *               there to the run near the top.
 * For each (heap, npages) the program times ITER pairs alloc(npages) +
 * free(same), which leave the heap exactly as they found it, and reports
 * the median over REPS repetitions in ns per pair. The times include the
 * test wrappers' uncontended lock and unlock around each call.
 *
 * The tree always has 5 levels, so the walk's cost should depend on the
 * depth (constant) and not on the heap size; the only part that grows with
 * the heap is the linear scan of the root level (one entry per 8 GiB).
 *
 * Usage: bench_palloc [--quick] [ITER] — build it in a release build
 * (assertions and expensive checks off), or it measures the validators.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base.h"
#include "testing.h"

#define REPS 5
#define BASE TESTING_BASE_CHUNK
#define CP ((size_t)PALLOC_CHUNK_PAGES)

static const struct {
	const char *name;
	size_t nchunks;
} heaps[] = {
	{ "64 MiB", 32 },
	{ "1 GiB", 512 },
	{ "16 GiB", 8192 },
	{ "256 GiB", 131072 },
};
static const size_t req_pages[] = { 1, 8, 64, 512 };
#define NHEAPS (sizeof(heaps) / sizeof(heaps[0]))
#define NREQ (sizeof(req_pages) / sizeof(req_pages[0]))

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng_next(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_palloc: %s\n", what);
	exit(1);
}

static testing_palloc_t *make_heap(size_t nchunks, bool full)
{
	testing_palloc_t *t = testing_palloc_new(NULL, 0);
	size_t npages = nchunks * CP, scav;
	uintptr_t base = testing_page_base(BASE, 0);

	if (!testing_palloc_grow(t, base, nchunks * PALLOC_CHUNK_BYTES))
		die("grow failed");
	if (!full)
		return t;
	if (testing_palloc_alloc(t, npages, &scav) != base)
		die("could not allocate the whole heap");
	/* 1% scattered single pages: one per 100-page stretch. */
	for (size_t s = 0; s + 100 <= npages; s += 100)
		testing_palloc_free(t, base + (s + rng_next() % 100) * PALLOC_PAGE_SIZE, 1);
	/* One 1024-page run three quarters up. It may swallow some of the
	 * single pages: take each page first (alloc_at fails on a page in
	 * use, changing nothing), so every page is in use before the free. */
	size_t run = npages / 4 * 3;
	for (size_t p = run; p < run + 1024; p++) {
		uintptr_t a = base + p * PALLOC_PAGE_SIZE;
		(void)testing_palloc_alloc_at(t, a, 1, &scav);
		testing_palloc_free(t, a, 1);
	}
	return t;
}

/* Median ns per alloc+free pair. */
static double measure(testing_palloc_t *t, size_t npages, size_t iters,
		      uintptr_t *where)
{
	double samples[REPS];
	size_t scav;

	for (int r = 0; r < REPS; r++) {
		uint64_t t0 = now_ns();
		for (size_t i = 0; i < iters; i++) {
			uintptr_t a = testing_palloc_alloc(t, npages, &scav);
			if (a == 0)
				die("allocation failed");
			*where = a;
			testing_palloc_free(t, a, npages);
		}
		samples[r] = (double)(now_ns() - t0) / (double)iters;
	}
	qsort(samples, REPS, sizeof(samples[0]), cmp_double);
	return samples[REPS / 2];
}

int main(int argc, char **argv)
{
	size_t iters = 200000;
	bool quick = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			quick = true;
		else
			iters = strtoull(argv[i], NULL, 10);
	}
	if (quick)
		iters = 20000;
	if (iters == 0)
		die("usage: bench_palloc [--quick] [ITER]");
	size_t nheaps = NHEAPS;
	if (GCM_ASSERTIONS || GCM_EXPENSIVE_CHECKS)
		fprintf(stderr, "bench_palloc: warning: assertions or expensive checks are on; "
				"these numbers measure them\n");
	if (GCM_EXPENSIVE_CHECKS) {
		/* The validator runs on every call and is O(heap): keep to the
		 * smallest heap and a few pairs, as a smoke test only. */
		nheaps = 1;
		iters = GCM_MIN(iters, (size_t)200);
	}

	printf("gcmalloc page allocator: ns per alloc+free pair, median of %d x %zu pairs\n",
	       REPS, iters);
	printf("tree depth: %d levels for every heap; a root entry covers %zu GiB\n",
	       PALLOC_LEVELS, ((size_t)1 << PALLOC_SUM_LOG_MAX) * PALLOC_PAGE_SIZE / GiB);
	for (int full = 1; full >= 0; full--) {
		printf("\n%s\n", full ? "heap mostly full (1% free: scattered single pages + one 1024-page run at 3/4)"
				      : "heap empty");
		printf("%-9s %8s %6s", "heap", "chunks", "roots");
		for (size_t k = 0; k < NREQ; k++)
			printf(" %9zu pg", req_pages[k]);
		printf("\n");
		for (size_t h = 0; h < nheaps; h++) {
			uint64_t t0 = now_ns();
			testing_palloc_t *t = make_heap(heaps[h].nchunks, full);
			double setup_ms = (double)(now_ns() - t0) / 1e6;
			size_t roots = (heaps[h].nchunks * CP + ((size_t)1 << PALLOC_SUM_LOG_MAX) - 1) >>
				       PALLOC_SUM_LOG_MAX;
			printf("%-9s %8zu %6zu", heaps[h].name, heaps[h].nchunks, roots);
			uintptr_t where[NREQ];
			for (size_t k = 0; k < NREQ; k++) {
				double ns = measure(t, req_pages[k], iters, &where[k]);
				printf(" %12.1f", ns);
				fflush(stdout);
			}
			if (!testing_palloc_is_valid(t))
				die("heap invalid after the run");
			printf("   (setup %.0f ms; 512 pg at %.0f%% of the heap)\n", setup_ms,
			       100.0 * (double)(where[NREQ - 1] - testing_page_base(BASE, 0)) /
				       (double)(heaps[h].nchunks * PALLOC_CHUNK_BYTES));
			testing_palloc_delete(t);
		}
	}
	return 0;
}

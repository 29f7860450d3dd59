/* bench_aligned [SCALE] — aligned allocation.
 *
 * A live set of objects allocated with posix_memalign, aligned_alloc and
 * memalign, alignments 16 to 4096 bytes (skewed towards the small ones) and
 * sizes up to twice the alignment, in which a random object is replaced at
 * each operation. Every result is written whole and checked again before it
 * is freed, and checked for its alignment: a misaligned result is counted,
 * not fatal, so the run still completes and is timed; the count is reported
 * on stderr and the exit status is then 3.
 */
#include <malloc.h>
#include <stdint.h>

#include "bench.h"

#define LIVE 4096
#define OPS 6000000ull

static uint64_t misaligned;

struct obj {
	void *p;
	uint32_t size;
	uint32_t align;
	uint64_t key;
};

static void *alloc_aligned(bench_rng *r, size_t align, size_t *size)
{
	void *p = NULL;
	size_t n = *size;
	unsigned how = (unsigned)bench_rng_below(r, 10);

	if (how < 5) {
		int e = posix_memalign(&p, align, n);
		if (e != 0)
			p = NULL;
	} else if (how < 8) {
		/* C11 wants the size to be a multiple of the alignment */
		n = (n + align - 1) & ~(align - 1);
		p = aligned_alloc(align, n);
	} else {
		p = memalign(align, n);
	}
	if (!p) {
		fprintf(stderr, "aligned allocation (%zu, %zu) failed\n", align, n);
		abort();
	}
	if ((uintptr_t)p & (align - 1))
		misaligned++;
	*size = n;
	return p;
}

static void make(bench_rng *r, struct obj *o, uint64_t key)
{
	size_t align = (size_t)16 << (bench_rng_below(r, 9) * bench_rng_below(r, 9) / 8);
	size_t n = 8 + bench_rng_below(r, 2 * align);
	o->p = alloc_aligned(r, align, &n);
	o->size = (uint32_t)n;
	o->align = (uint32_t)align;
	o->key = key;
	bench_fill(o->p, n, key);
}

int main(int argc, char **argv)
{
	double scale = argc > 1 ? bench_scale_arg(argv[1]) : 1.0;
	uint64_t ops = bench_scaled(OPS, scale);
	struct obj *live = bench_xmalloc(LIVE * sizeof *live);
	uint64_t key = 0, sum = 0;
	bench_rng r;
	char params[64];

	bench_rng_seed(&r, 5);
	for (int i = 0; i < LIVE; i++)
		make(&r, &live[i], ++key);
	for (uint64_t op = 0; op < ops; op++) {
		struct obj *o = &live[bench_rng_below(&r, LIVE)];
		sum += bench_check(o->p, o->size, o->key) + o->align;
		free(o->p);
		make(&r, o, ++key);
	}
	for (int i = 0; i < LIVE; i++) {
		sum += bench_check(live[i].p, live[i].size, live[i].key);
		free(live[i].p);
	}
	free(live);
	snprintf(params, sizeof params, "live=%d", LIVE);
	bench_result("aligned", params, ops, sum);
	if (misaligned) {
		fprintf(stderr, "%" PRIu64 " of %" PRIu64 " results were misaligned\n", misaligned,
			ops + LIVE);
		return 3;
	}
	return 0;
}

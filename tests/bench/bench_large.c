/* bench_large [SCALE] — large objects, 64 KiB to 4 MiB.
 *
 * A live set of large objects (sizes log-uniform between 64 KiB and 4 MiB,
 * about 64 MiB live in all) in which a random object is replaced at each
 * operation. Each new object is written: its first 4 KiB whole, then one
 * word in every 4 KiB page, as a program that fills a buffer partly would;
 * each is checked before it is freed. What is measured is mostly how an
 * allocator reuses large blocks instead of asking the kernel for fresh
 * zeroed pages, and what it keeps mapped meanwhile.
 */
#include "bench.h"

#define LIVE 64
#define OPS 30000ull
#define MIN_SHIFT 16 /* 64 KiB */
#define MAX_SHIFT 22 /* 4 MiB */
#define PAGE 4096

struct big {
	unsigned char *p;
	size_t size;
	uint64_t key;
};

static size_t large_size(bench_rng *r)
{
	/* log-uniform: a random power of two in range, times 1..2, 16-byte steps */
	unsigned shift = MIN_SHIFT + (unsigned)bench_rng_below(r, MAX_SHIFT - MIN_SHIFT);
	size_t base = (size_t)1 << shift;
	size_t n = base + (bench_rng_below(r, base) & ~(size_t)15);
	return n;
}

static void fill(struct big *b)
{
	uint64_t t = bench_tag(b->key, b->size);
	for (size_t i = 0; i < PAGE; i += 8) {
		uint64_t v = t + i;
		memcpy(b->p + i, &v, 8);
	}
	for (size_t i = PAGE; i + 8 <= b->size; i += PAGE) {
		uint64_t v = t ^ i;
		memcpy(b->p + i, &v, 8);
	}
	b->p[b->size - 1] = (unsigned char)t;
}

static uint64_t check(const struct big *b)
{
	uint64_t t = bench_tag(b->key, b->size), sum = 0, v;
	int ok = b->p[b->size - 1] == (unsigned char)t;
	for (size_t i = 0; ok && i < PAGE; i += 8) {
		memcpy(&v, b->p + i, 8);
		ok = v == t + i;
	}
	for (size_t i = PAGE; ok && i + 8 <= b->size; i += PAGE) {
		memcpy(&v, b->p + i, 8);
		ok = v == (t ^ i);
		sum += v;
	}
	if (!ok) {
		fprintf(stderr, "corrupted large object %p (size %zu)\n", (void *)b->p, b->size);
		abort();
	}
	return sum;
}

int main(int argc, char **argv)
{
	double scale = argc > 1 ? bench_scale_arg(argv[1]) : 1.0;
	uint64_t ops = bench_scaled(OPS, scale);
	struct big live[LIVE];
	uint64_t key = 0, sum = 0;
	bench_rng r;
	char params[64];

	bench_rng_seed(&r, 3);
	for (int i = 0; i < LIVE; i++) {
		live[i].size = large_size(&r);
		live[i].p = bench_xmalloc(live[i].size);
		live[i].key = ++key;
		fill(&live[i]);
	}
	for (uint64_t op = 0; op < ops; op++) {
		struct big *b = &live[bench_rng_below(&r, LIVE)];
		sum += check(b);
		free(b->p);
		b->size = large_size(&r);
		b->p = bench_xmalloc(b->size);
		b->key = ++key;
		fill(b);
	}
	for (int i = 0; i < LIVE; i++) {
		sum += check(&live[i]);
		free(live[i].p);
	}
	snprintf(params, sizeof params, "live=%d", LIVE);
	bench_result("large", params, ops, sum);
	return 0;
}

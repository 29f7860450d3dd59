/* tests/bench/churn.h — the churn workload shared by bench_churn (one thread,
 * no pthreads at all) and bench_threads (N worker threads).
 *
 * A live set of LIVE small objects (8..1024 bytes, skewed small) is built,
 * then each operation replaces a random one (check, free, allocate, fill)
 * and, every other operation, also allocates a short-lived temporary and
 * frees it at once. Every object is written whole and checked before free.
 */
#ifndef GCM_BENCH_CHURN_H
#define GCM_BENCH_CHURN_H

#include "bench.h"

typedef struct {
	void *p;
	uint32_t size;
	uint32_t key;
} churn_slot;

static uint64_t churn_run(uint64_t seed, size_t live, uint64_t ops)
{
	bench_rng r;
	uint64_t sum = 0;
	uint32_t key = 0;
	churn_slot *slots = bench_xmalloc(live * sizeof *slots);

	bench_rng_seed(&r, seed);
	for (size_t i = 0; i < live; i++) {
		size_t n = bench_small_size(&r);
		slots[i].p = bench_xmalloc(n);
		slots[i].size = (uint32_t)n;
		slots[i].key = ++key;
		bench_fill(slots[i].p, n, slots[i].key);
	}
	for (uint64_t op = 0; op < ops; op++) {
		churn_slot *s = &slots[bench_rng_below(&r, live)];
		size_t n = bench_small_size(&r);
		sum += bench_check(s->p, s->size, s->key);
		free(s->p);
		s->p = bench_xmalloc(n);
		s->size = (uint32_t)n;
		s->key = ++key;
		bench_fill(s->p, n, s->key);
		if (op & 1) {
			size_t tn = bench_small_size(&r);
			void *t = bench_xmalloc(tn);
			bench_fill(t, tn, ~op);
			sum += bench_check(t, tn, ~op);
			free(t);
		}
	}
	for (size_t i = 0; i < live; i++) {
		sum += bench_check(slots[i].p, slots[i].size, slots[i].key);
		free(slots[i].p);
	}
	free(slots);
	return sum;
}

#endif

/* early_dep.c — libearly_dep.so, a DT_NEEDED library of early_threads. Its
 * constructor runs before the constructor of a preloaded allocator (the
 * dynamic linker initialises dependencies of the program, libc aside, before
 * the preloaded objects listed ahead of them) and starts threads that keep
 * allocating until early_threads tells them to stop.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "early_dep.h"

enum { DEP_THREADS = 2 };

static pthread_t threads[DEP_THREADS];
static atomic_int stop;

void *early_churn(void *arg)
{
	uint64_t seed = (uint64_t)(uintptr_t)arg + 17;
	enum { LIVE = 128 };
	void *live[LIVE] = { 0 };
	size_t len[LIVE] = { 0 };
	long rounds = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed) || rounds < 20000) {
		uint64_t x = rnd_next(&seed);
		size_t i = x % LIVE;
		if (live[i]) {
			CHECK(check_pattern(live[i], len[i], (unsigned)i));
			free(live[i]);
		}
		len[i] = 1 + (x >> 30) % 1500;
		live[i] = (x >> 8) % 8 ? malloc(len[i]) : calloc(1, len[i]);
		CHECK(live[i]);
		fill_pattern(live[i], len[i], (unsigned)i);
		rounds++;
	}
	for (size_t i = 0; i < LIVE; i++) {
		if (live[i])
			CHECK(check_pattern(live[i], len[i], (unsigned)i));
		free(live[i]);
	}
	return (void *)rounds;
}

__attribute__((constructor)) static void early_dep_init(void)
{
	for (uintptr_t i = 0; i < DEP_THREADS; i++)
		CHECK(pthread_create(&threads[i], NULL, early_churn, (void *)i) == 0);
}

void early_dep_stop(void)
{
	atomic_store(&stop, 1);
	for (int i = 0; i < DEP_THREADS; i++)
		CHECK(pthread_join(threads[i], NULL) == 0);
}

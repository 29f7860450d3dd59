/* early_threads.c — threads that allocate before the allocator's constructor
 * has run.
 *
 * Two threads are started from the program's .preinit_array, which the
 * dynamic linker runs before any shared object's constructor (the preloaded
 * allocator's included); two more from the constructor of libearly_dep.so,
 * a dependency initialised before the preloaded objects. They all allocate
 * and free until main() stops them. Exits 0 when every check held.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "early_dep.h"

enum { PRE_THREADS = 2 };

static pthread_t pre_threads[PRE_THREADS];
static int pre_started;

static void start_in_preinit(int argc, char **argv, char **envp)
{
	(void)argc;
	(void)argv;
	(void)envp;
	for (uintptr_t i = 0; i < PRE_THREADS; i++)
		CHECK(pthread_create(&pre_threads[i], NULL, early_churn,
		                     (void *)(i + 1000)) == 0);
	pre_started = 1;
}

__attribute__((section(".preinit_array"), used))
static void (*const preinit_entry)(int, char **, char **) = start_in_preinit;

int main(void)
{
	CHECK(pre_started);
	/* Allocate alongside the early threads for a while. */
	for (int round = 0; round < 200; round++) {
		void *v[100];
		for (int i = 0; i < 100; i++) {
			v[i] = malloc((size_t)(round * 7 + i * 13) % 3000 + 1);
			CHECK(v[i]);
			memset(v[i], 1, 1);
		}
		for (int i = 0; i < 100; i++)
			free(v[i]);
	}
	early_dep_stop();
	for (int i = 0; i < PRE_THREADS; i++) {
		void *rounds;
		CHECK(pthread_join(pre_threads[i], &rounds) == 0);
		CHECK((long)rounds >= 20000);
	}
	return 0;
}

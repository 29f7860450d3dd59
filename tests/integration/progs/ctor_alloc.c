/* ctor_alloc.c — libctor_alloc.so, a second preloaded library whose
 * constructor allocates, calls libc functions that allocate internally and
 * starts threads that allocate.
 *
 * Preloaded objects are initialised in reverse LD_PRELOAD order and
 * finalised in LD_PRELOAD order. Listed after the allocator, this library's
 * constructor runs first: the allocator sees calls, from several threads at
 * once, before its own constructor ran, and the background threads keep
 * allocating through the allocator's destructor. Listed before it, the
 * constructor runs on an initialised allocator. Two of the threads are
 * joined in the constructor; two keep allocating until this library's
 * destructor. Its 40 atexit handlers, registered before the dynamic
 * linker's finaliser, run after all destructors and allocate too. Any
 * failed check ends the process with status 1.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

enum { JOINED = 2, BACKGROUND = 2, KEYS = 40, EXIT_HANDLERS = 40 };

static pthread_t joined[JOINED];
static pthread_t background[BACKGROUND];
static atomic_int stop;
static atomic_int exit_handlers_run;

static void churn(uint64_t seed, int rounds)
{
	enum { LIVE = 256 };
	void *live[LIVE] = { 0 };
	size_t len[LIVE] = { 0 };
	for (int r = 0; r < rounds; r++) {
		uint64_t x = rnd_next(&seed);
		size_t i = x % LIVE;
		if (live[i]) {
			CHECK(check_pattern(live[i], len[i], (unsigned)i));
			free(live[i]);
		}
		len[i] = 1 + (x >> 24) % ((x >> 50) % 16 == 0 ? 100000 : 600);
		live[i] = malloc(len[i]);
		CHECK(live[i]);
		fill_pattern(live[i], len[i], (unsigned)i);
	}
	for (size_t i = 0; i < LIVE; i++) {
		if (live[i])
			CHECK(check_pattern(live[i], len[i], (unsigned)i));
		free(live[i]);
	}
}

static void *joined_main(void *arg)
{
	churn((uint64_t)(uintptr_t)arg + 1, 20000);
	char *s = NULL;
	CHECK(asprintf(&s, "thread %lu", (unsigned long)(uintptr_t)arg) > 0);
	free(s);
	return NULL;
}

static void *background_main(void *arg)
{
	uint64_t seed = (uint64_t)(uintptr_t)arg * 7919 + 3;
	long rounds = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		churn(seed++, 500);
		rounds++;
	}
	return (void *)rounds;
}

/* Registered from the constructor, before main's runtime registered the
 * dynamic linker's finaliser, so these run after every destructor (the
 * allocator's included), in reverse order of registration. */
static void on_exit_handler(void)
{
	churn(5, 300);
	atomic_fetch_add(&exit_handlers_run, 1);
}

static void last_exit_handler(void)
{
	churn(6, 300);
	CHECKF(atomic_load(&exit_handlers_run) == EXIT_HANDLERS - 1,
	       "%d of %d exit handlers ran before the last one",
	       atomic_load(&exit_handlers_run), EXIT_HANDLERS - 1);
}

__attribute__((constructor)) static void ctor_alloc_init(void)
{
	for (uintptr_t i = 0; i < BACKGROUND; i++)
		CHECK(pthread_create(&background[i], NULL, background_main,
		                     (void *)(i + 100)) == 0);
	for (uintptr_t i = 0; i < JOINED; i++)
		CHECK(pthread_create(&joined[i], NULL, joined_main, (void *)i) == 0);

	/* dlsym/dlerror keep their state in calloc'ed memory. */
	void *sym = dlsym(RTLD_NEXT, "open");
	CHECK(sym != NULL);
	CHECK(dlsym(RTLD_DEFAULT, "gcm_no_such_symbol_for_tests") == NULL);
	CHECK(dlerror() != NULL);

	/* stdio buffers. */
	FILE *f = fopen("/proc/self/status", "r");
	CHECK(f);
	char *l = NULL;
	size_t cap = 0;
	CHECK(getline(&l, &cap, f) > 0);
	free(l);
	fclose(f);

	/* Keys beyond the first 32 make pthread_setspecific allocate. */
	pthread_key_t keys[KEYS];
	for (int i = 0; i < KEYS; i++)
		CHECK(pthread_key_create(&keys[i], NULL) == 0);
	CHECK(pthread_setspecific(keys[KEYS - 1], (void *)1) == 0);
	for (int i = 0; i < KEYS; i++)
		CHECK(pthread_key_delete(keys[i]) == 0);

	/* atexit beyond the first 32 handlers allocates. */
	CHECK(atexit(last_exit_handler) == 0);
	for (int i = 1; i < EXIT_HANDLERS; i++)
		CHECK(atexit(on_exit_handler) == 0);

	char *s = strdup("constructor");
	CHECK(s);
	s = realloc(s, 4096);
	CHECK(s && strcmp(s, "constructor") == 0);
	free(s);

	for (int i = 0; i < JOINED; i++)
		CHECK(pthread_join(joined[i], NULL) == 0);
}

__attribute__((destructor)) static void ctor_alloc_fini(void)
{
	atomic_store(&stop, 1);
	for (int i = 0; i < BACKGROUND; i++) {
		void *rounds = NULL;
		CHECK(pthread_join(background[i], &rounds) == 0);
		CHECK((long)rounds >= 0);
	}
	churn(77, 2000);
}

/* dlopen_tls.c — dlopen/dlclose of a library with large thread-local data,
 * from 8 threads at once.
 *
 * Usage: dlopen_tls /path/to/libtls_big.so
 *
 * Each thread repeatedly dlopens the library, calls its function (which
 * makes the dynamic linker allocate the thread's TLS block through malloc),
 * checks the result and dlcloses it; some rounds also start a short-lived
 * thread while the library is loaded, so a new thread's DTV is sized for it.
 * Meanwhile the threads allocate and free ordinary memory too.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

enum { THREADS = 8, ROUNDS = 25 };

/* 1 + 256 KiB / 64 + 4096 / 64: see tls_big_touch. */
#define EXPECTED_SUM (1u + (256u * 1024u) / 64u + 4096u / 64u)

typedef uint64_t (*touch_fn)(uint64_t);

static const char *lib_path;

struct inner_arg {
	touch_fn fn;
	uint64_t seed;
	uint64_t result;
};

static void *inner(void *arg)
{
	struct inner_arg *a = arg;
	a->result = a->fn(a->seed);
	void *p = malloc(1000);
	CHECK(p);
	free(p);
	return NULL;
}

static void *worker(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg;
	for (int r = 0; r < ROUNDS; r++) {
		void *h = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
		CHECKF(h, "dlopen: %s", dlerror());
		touch_fn fn = (touch_fn)(uintptr_t)dlsym(h, "tls_big_touch");
		CHECK(fn);
		uint64_t s = fn(id * 100 + (uint64_t)r);
		CHECKF(s == EXPECTED_SUM, "tls_big_touch returned %llu",
		       (unsigned long long)s);

		void *junk[50];
		for (int i = 0; i < 50; i++) {
			junk[i] = malloc((size_t)(i + r) * 50 + 1);
			CHECK(junk[i]);
		}
		if (r % 5 == 0) {
			struct inner_arg a = { fn, id + 7, 0 };
			pthread_t t;
			CHECK(pthread_create(&t, NULL, inner, &a) == 0);
			CHECK(pthread_join(t, NULL) == 0);
			CHECK(a.result == EXPECTED_SUM);
		}
		for (int i = 0; i < 50; i++)
			free(junk[i]);
		CHECK(dlclose(h) == 0);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	CHECK(argc == 2);
	lib_path = argv[1];
	pthread_t t[THREADS];
	for (uintptr_t i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	return 0;
}

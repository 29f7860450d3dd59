/* exit_alloc.c — allocation after exit() has started.
 *
 * Usage: exit_alloc main|thread
 *
 * Three threads allocate and free without pause. Then exit(0) is called,
 * from main ("main") or from a fourth thread ("thread"), while those threads
 * still run. Allocation then happens in an atexit handler, in the program's
 * destructor (which runs before the allocator's destructor) and in the
 * destructor of libexit_dep.so (which runs after it). Each of the three
 * writes one line to stdout with write(2):
 *   atexit ok
 *   destructor ok
 *   late destructor ok
 * The driver compares stdout with exactly these lines.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "exit_dep.h"

enum { WORKERS = 3 };

static void say(const char *msg)
{
	size_t n = strlen(msg);
	CHECK(write(1, msg, n) == (ssize_t)n);
}

static void *worker(void *arg)
{
	uint64_t seed = (uint64_t)(uintptr_t)arg + 5;
	enum { LIVE = 64 };
	void *live[LIVE] = { 0 };
	for (;;) {
		uint64_t x = rnd_next(&seed);
		size_t i = x % LIVE;
		free(live[i]);
		size_t n = 1 + (x >> 20) % ((x >> 60) == 0 ? 200000 : 900);
		live[i] = malloc(n);
		CHECK(live[i]);
		memset(live[i], (int)i, n < 32 ? n : 32);
	}
	return NULL;
}

static void *exiter(void *arg)
{
	(void)arg;
	exit_dep_churn(3);
	exit(0);
}

static void at_exit_handler(void)
{
	exit_dep_churn(100);
	say("atexit ok\n");
}

__attribute__((destructor)) static void program_fini(void)
{
	exit_dep_churn(200);
	say("destructor ok\n");
}

int main(int argc, char **argv)
{
	CHECK(argc == 2);
	int from_thread = strcmp(argv[1], "thread") == 0;
	CHECK(from_thread || strcmp(argv[1], "main") == 0);
	CHECK(atexit(at_exit_handler) == 0);

	pthread_t t;
	for (uintptr_t i = 0; i < WORKERS; i++) {
		CHECK(pthread_create(&t, NULL, worker, (void *)i) == 0);
		CHECK(pthread_detach(t) == 0);
	}
	/* Let the workers get going. */
	usleep(50 * 1000);
	exit_dep_churn(1);
	if (from_thread) {
		CHECK(pthread_create(&t, NULL, exiter, NULL) == 0);
		for (;;)
			pause();
	}
	exit(0);
}

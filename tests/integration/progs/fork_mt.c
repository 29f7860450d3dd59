/* fork_mt.c — fork from a multithreaded process whose threads are inside
 * the allocator all the time.
 *
 * Four threads allocate, reallocate and free without pause. The main thread
 * forks 200 times, and one of the workers forks 20 more times; each child
 * arms alarm(10) (a deadlock on a lock held at fork time becomes SIGALRM),
 * allocates in all size ranges, starts a thread that allocates too, and
 * _exit(0)s. The parent requires every child to exit with status 0.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

enum { WORKERS = 4, MAIN_FORKS = 200, WORKER_FORKS = 20 };

static atomic_int stop;

static void child_alloc(uint64_t seed)
{
	enum { N = 300 };
	void *v[N];
	for (int i = 0; i < N; i++) {
		uint64_t x = rnd_next(&seed);
		size_t n = (i % 60 == 0) ? (size_t)(1 << 20) + (x % 4096)
		         : (i % 10 == 0) ? 5000 + x % 60000
		                         : 1 + x % 1024;
		v[i] = (i % 7 == 0) ? memalign(64, n) : malloc(n);
		CHECK(v[i]);
		fill_pattern(v[i], n < 256 ? n : 256, (unsigned)i);
	}
	for (int i = 0; i < N; i += 2) {
		v[i] = realloc(v[i], 3000);
		CHECK(v[i]);
	}
	for (int i = 0; i < N; i++)
		free(v[i]);
}

static void *child_thread(void *arg)
{
	child_alloc((uint64_t)(uintptr_t)arg);
	return NULL;
}

/* Runs in the child: must not return. */
static void child_main(uint64_t seed)
{
	alarm(10);
	child_alloc(seed);
	pthread_t t;
	CHECK(pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)(seed + 1)) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	_exit(0);
}

static void fork_and_check(uint64_t seed)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		child_main(seed);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "child %llu: %s %d", (unsigned long long)seed,
	       WIFSIGNALED(st) ? "killed by signal" : "exit status",
	       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static void *worker(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint64_t seed = id * 1000003u + 11;
	enum { LIVE = 512 };
	void *live[LIVE] = { 0 };
	int forks_left = id == 0 ? WORKER_FORKS : 0;
	long rounds = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed) || forks_left > 0) {
		uint64_t x = rnd_next(&seed);
		size_t i = x % LIVE;
		if (live[i] && (x >> 40) % 4 == 0) {
			void *r = realloc(live[i], 1 + (x >> 16) % 4000);
			CHECK(r);
			live[i] = r;
		} else {
			free(live[i]);
			size_t n = (x >> 50) % 256 == 0 ? 1 + (x >> 16) % 300000
			                                 : 1 + (x >> 16) % 700;
			live[i] = malloc(n);
			CHECK(live[i]);
			memset(live[i], 0x33, n < 64 ? n : 64);
		}
		if (forks_left > 0 && ++rounds % 5000 == 0) {
			fork_and_check(100000 + (uint64_t)forks_left);
			forks_left--;
		}
	}
	for (size_t i = 0; i < LIVE; i++)
		free(live[i]);
	return NULL;
}

int main(void)
{
	pthread_t t[WORKERS];
	for (uintptr_t i = 0; i < WORKERS; i++)
		CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
	for (int f = 0; f < MAIN_FORKS; f++) {
		fork_and_check((uint64_t)f + 1);
		/* Keep the heap busy from this thread too. */
		void *p = malloc((size_t)f * 100 + 1);
		CHECK(p);
		free(p);
	}
	/* The forking worker goes on until its own forks are done. */
	atomic_store(&stop, 1);
	for (int i = 0; i < WORKERS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	return 0;
}

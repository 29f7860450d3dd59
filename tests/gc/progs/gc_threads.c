/* gc_threads.c — collection with 100 threads.
 *
 * Usage: gc_threads [CYCLES]   (default 20)
 *
 * Each of 100 threads makes one 64 KiB collectable object, keeps it only
 * in a local of its own frame, and then, until told to stop, does one of:
 *   - blocks in read() on a pipe;
 *   - waits on a condition variable;
 *   - sleeps in short nanosleeps;
 *   - mallocs and frees (ordinary memory) in a loop, yielding now and
 *     then; every tenth thread also calls gcm_collect every ~20 ms;
 *   - spins on a flag without any system call (four threads).
 * The main thread runs CYCLES collections. After each, gc_marked_bytes
 * must be exactly 100 x 64 KiB (no object lost, none kept that should not
 * be: nothing else is collectable), no cycle may have been skipped, and
 * every object's canary must be intact. Then the threads check their own
 * object once more, drop it and exit; after they are joined one cycle must
 * leave nothing marked and must have freed all 100 objects.
 *
 * With GCMALLOC_DEBUG=gctrace=1 every cycle that ran while all threads were
 * up reports "100 threads stopped": whoever collects, the other 100
 * threads of the program are stopped. Those cycles are numbered
 * window_first to window_last in the last line of stdout (the driver
 * checks them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gcp.h"

#define NTHREADS 100
#define OBJ_SIZE (64 * KiB)
#define HIDE_MASK ((uintptr_t)0x5A5A5A5A5A5A5A5Aull)

enum kind { K_READ, K_COND, K_SLEEP, K_CHURN, K_SPIN };

static uintptr_t hidden[NTHREADS];
static int ready_count;
static int stop;
static int failed_canary = -1;
static int read_pipe[2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t ready_cv = PTHREAD_COND_INITIALIZER;
static uint64_t concurrent_collects;

static enum kind kind_of(int i)
{
	if (i < 4)
		return K_SPIN;
	switch (i % 4) {
	case 0: return K_READ;
	case 1: return K_COND;
	case 2: return K_SLEEP;
	default: return K_CHURN;
	}
}

static GCP_NOINLINE void *make(int i)
{
	void *o = gcp_new(OBJ_SIZE, 1000 + (uint64_t)i, 0);
	hidden[i] = (uintptr_t)o ^ HIDE_MASK;
	return o;
}

static void announce_ready(void)
{
	pthread_mutex_lock(&mu);
	ready_count++;
	pthread_cond_signal(&ready_cv);
	pthread_mutex_unlock(&mu);
}

static void churn(int i)
{
	uint64_t seed = (uint64_t)i * 7919u + 1;
	uint64_t last = gcp_now_ns();
	int collector = i % 10 == 3;
	void *keep[16] = { 0 };
	for (unsigned n = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); n++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		unsigned k = (unsigned)(seed >> 60);
		free(keep[k]);
		size_t sz = 16 + (size_t)((seed >> 20) % 3000);
		keep[k] = malloc(sz);
		GCP_CHECK(keep[k] != NULL, "malloc(%zu)", sz);
		memset(keep[k], (int)k, sz);
		if (n % 64 == 0)
			sched_yield();
		if (collector && gcp_now_ns() - last > 20 * 1000000u) {
			struct gcm_stats st;
			gcp_collect(&st, 0);
			__atomic_fetch_add(&concurrent_collects, 1, __ATOMIC_RELAXED);
			last = gcp_now_ns();
		}
	}
	for (int k = 0; k < 16; k++)
		free(keep[k]);
}

/* The object is held in this frame (a volatile local) for the whole life
 * of the thread, whatever the thread does meanwhile. */
static GCP_NOINLINE void body(int i)
{
	void *volatile obj = make(i);
	gcp_clear_stack();
	announce_ready();
	switch (kind_of(i)) {
	case K_READ: {
		char c;
		/* The stop signal must not make read() fail (EINTR). */
		ssize_t n = read(read_pipe[0], &c, 1);
		GCP_CHECK(n == 1, "thread %d: read() returned %zd (%s)", i, n,
			  n < 0 ? strerror(errno) : "end of file");
		break;
	}
	case K_COND:
		pthread_mutex_lock(&mu);
		while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
			pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
		break;
	case K_SLEEP:
		while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
			gcp_sleep_ms(1);
		break;
	case K_CHURN:
		churn(i);
		break;
	case K_SPIN:
		while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
			;
		break;
	}
	if (!gcp_intact(obj, OBJ_SIZE, 1000 + (uint64_t)i))
		__atomic_store_n(&failed_canary, i, __ATOMIC_RELAXED);
	obj = NULL;
}

static void *thread_main(void *arg)
{
	int i = (int)(intptr_t)arg;
	body(i);
	gcp_clear_stack();
	return NULL;
}

static GCP_NOINLINE void verify_all(int cycle)
{
	for (int i = 0; i < NTHREADS; i++)
		GCP_CHECK(gcp_intact((void *)(hidden[i] ^ HIDE_MASK), OBJ_SIZE, 1000 + (uint64_t)i),
			  "cycle %d: the object held by thread %d was spoilt (reclaimed while reachable?)",
			  cycle, i);
}

int main(int argc, char **argv)
{
	gcp_init();
	int cycles = argc > 1 ? atoi(argv[1]) : 20;
	GCP_CHECK(pipe2(read_pipe, O_CLOEXEC) == 0, "pipe");

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * KiB);
	pthread_t th[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		GCP_CHECK(pthread_create(&th[i], &attr, thread_main, (void *)(intptr_t)i) == 0,
			  "pthread_create %d", i);
	pthread_mutex_lock(&mu);
	while (ready_count < NTHREADS)
		pthread_cond_wait(&ready_cv, &mu);
	pthread_mutex_unlock(&mu);

	const size_t expect = (size_t)NTHREADS * OBJ_SIZE;
	struct gcm_stats st;
	/* Every cycle completed after this point and before the threads are
	 * told to stop ran with all 101 threads alive. */
	gcp_stats(&st);
	uint64_t window_first = st.gc_cycles + 1;
	uint64_t t0 = gcp_now_ns();
	for (int c = 1; c <= cycles; c++) {
		gcp_collect(&st, 0);
		GCP_CHECK(st.gc_marked_bytes == expect,
			  "cycle %d: %llu bytes marked, expected exactly %zu (100 objects of 64 KiB)",
			  c, (unsigned long long)st.gc_marked_bytes, expect);
		GCP_CHECK(st.gc_freed_bytes == 0, "cycle %d: %llu bytes freed, expected none", c,
			  (unsigned long long)st.gc_freed_bytes);
		verify_all(c);
		gcp_scribble(OBJ_SIZE);
		verify_all(c);
	}
	uint64_t t1 = gcp_now_ns();
	gcp_stats(&st);
	uint64_t window_last = st.gc_cycles;

	pthread_mutex_lock(&mu);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	char wake[NTHREADS];
	memset(wake, 'x', sizeof wake);
	GCP_CHECK(write(read_pipe[1], wake, sizeof wake) == (ssize_t)sizeof wake, "write");
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	GCP_CHECK(failed_canary < 0, "thread %d found its object spoilt", failed_canary);

	gcp_collect(&st, 1);
	GCP_CHECK(st.gc_marked_bytes == 0,
		  "after the threads dropped their objects and exited: %llu bytes still marked",
		  (unsigned long long)st.gc_marked_bytes);
	GCP_CHECK(st.gc_freed_bytes == expect, "%llu bytes freed in total, expected %zu",
		  (unsigned long long)st.gc_freed_bytes, expect);
	GCP_CHECK(st.gc_cycles_skipped == 0, "%llu cycles skipped",
		  (unsigned long long)st.gc_cycles_skipped);
	gcp_say("ok %d threads: %d cycles by main in %.0f ms, %llu by other threads, %llu in all; "
		"window_first=%llu window_last=%llu",
		NTHREADS, cycles, (double)(t1 - t0) / 1e6,
		(unsigned long long)__atomic_load_n(&concurrent_collects, __ATOMIC_RELAXED),
		(unsigned long long)st.gc_cycles, (unsigned long long)window_first,
		(unsigned long long)window_last);
	return 0;
}

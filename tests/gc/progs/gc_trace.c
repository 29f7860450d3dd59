/* gc_trace.c — a workload whose cycles are compared with GCMALLOC_DEBUG=
 * gctrace=1 output.
 *
 * Usage: gc_trace
 *
 * Three threads wait on a condition variable for the whole run (so every
 * cycle stops exactly 3 threads besides the collecting one), while the
 * main thread:
 *   1. builds a 3 MiB live set of small objects and collects;
 *   2. makes 20 MiB of 64 KiB garbage (automatic cycles);
 *   3. adds a 12 MiB object to the live set (figures above 10 MiB) and
 *      collects twice (the second finds nothing to free);
 *   4. joins the threads, drops everything and collects.
 * After each explicit cycle it prints one line to stdout:
 *
 *   stats cycle=N marked=M freed=F heap=H pause_ns=P threads=T
 *
 * with gcm_stats' gc_cycles, gc_marked_bytes, gc_freed_bytes (total),
 * gc_heap_bytes, gc_pause_last_ns, and the number of other threads alive.
 * The driver matches each with the trace line of cycle N on stderr.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#include "gcp.h"

#define NSMALL (3 * MiB / 64)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stop;
static int tids[3];

static void *waiter(void *arg)
{
	int i = (int)(intptr_t)arg;
	pthread_mutex_lock(&mu);
	__atomic_store_n(&tids[i], gcp_gettid(), __ATOMIC_RELEASE);
	while (!stop)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void **volatile small;
static void *volatile big;

static GCP_NOINLINE void build_small(void)
{
	void **t = malloc(NSMALL * sizeof(void *));
	GCP_CHECK(t != NULL, "malloc");
	for (size_t i = 0; i < NSMALL; i++)
		t[i] = gcp_new(64, i, 0);
	small = t;
}

static GCP_NOINLINE void make_garbage(void)
{
	for (int i = 0; i < 20 * 16; i++)
		gcp_new(64 * KiB, 1, 0);
}

static GCP_NOINLINE void make_big(void)
{
	big = gcp_new(12 * MiB, 2, 0);
}

static GCP_NOINLINE void drop_all(void)
{
	free((void *)small);
	small = NULL;
	big = NULL;
}

static void report(int threads)
{
	struct gcm_stats st;
	gcp_collect(&st, 1);
	gcp_say("stats cycle=%llu marked=%llu freed=%llu heap=%llu pause_ns=%llu threads=%d",
		(unsigned long long)st.gc_cycles, (unsigned long long)st.gc_marked_bytes,
		(unsigned long long)st.gc_freed_bytes, (unsigned long long)st.gc_heap_bytes,
		(unsigned long long)st.gc_pause_last_ns, threads);
}

int main(void)
{
	gcp_init();
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		GCP_CHECK(pthread_create(&th[i], NULL, waiter, (void *)(intptr_t)i) == 0,
			  "pthread_create");
	for (int i = 0; i < 3; i++) {
		while (__atomic_load_n(&tids[i], __ATOMIC_ACQUIRE) == 0)
			gcp_sleep_ms(1);
		gcp_wait_in_syscall(tids[i], 202 /* futex */);
	}

	build_small();
	report(3);
	make_garbage();
	make_big();
	report(3);
	report(3);

	pthread_mutex_lock(&mu);
	stop = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	drop_all();
	report(0);
	return 0;
}

/* thread_churn.c — 10,000 short-lived threads must not make RSS grow.
 *
 * Threads are started in a sliding window of 4 running at a time. Each one
 * allocates 1 MiB in small objects (16..1024 bytes), writes to them, frees
 * them, and also frees 64 objects the previous thread left behind (frees of
 * memory allocated by a thread that has exited). RSS (resident pages from
 * /proc/self/statm) is sampled after 1,000 threads and after 10,000 threads.
 *
 * The bound on growth between the two samples is 16 MiB. By 1,000 threads
 * the allocator has reached its steady state (size classes populated, page
 * caches and thread-cache structures sized for 4 concurrent threads), so a
 * correct allocator shows no growth related to the thread count. Anything
 * retained per exited thread is multiplied by 9,000: a leak of 2 KiB per
 * thread already shows as 17.6 MiB, one cached span or page run per thread
 * (8 KiB or more) as 70 MiB or more, while 16 MiB leaves room for noise
 * that does not depend on the thread count (a background scavenger not yet
 * having returned a burst of free pages, fragmentation between the two
 * samples). Each thread touches 1 MiB, so even one thread's whole working
 * set leaked per 1,000 threads would stay under the bound; leaking it per
 * thread would not.
 *
 * Usage: thread_churn [threads [-v]]
 *   threads  default 10000; the first sample is taken after a tenth of them
 *   -v       also print both samples on stderr (for manual runs)
 * On failure the message gives both samples.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define MiB ((size_t)1 << 20)
#define GROWTH_LIMIT (16 * MiB)

enum { IN_FLIGHT = 4, HANDOFF = 64 };

static pthread_mutex_t handoff_lock = PTHREAD_MUTEX_INITIALIZER;
static void *handoff[HANDOFF];

static size_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	CHECK(f);
	unsigned long size = 0, resident = 0;
	CHECK(fscanf(f, "%lu %lu", &size, &resident) == 2);
	fclose(f);
	return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static void *short_lived(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	size_t cap = MiB / 16;
	unsigned char **v = malloc(cap * sizeof *v);
	CHECK(v);
	size_t count = 0, total = 0;
	while (total < MiB) {
		size_t n = 16 + (count * 37 + id) % 1009;
		v[count] = malloc(n);
		CHECK(v[count]);
		v[count][0] = (unsigned char)count;
		v[count][n - 1] = (unsigned char)id;
		total += n;
		count++;
	}
	for (size_t i = 0; i < count; i++) {
		CHECK(v[i][0] == (unsigned char)i);
		free(v[i]);
	}
	free(v);

	/* Free what an earlier thread left, leave some for a later one. */
	void *mine[HANDOFF];
	for (int i = 0; i < HANDOFF; i++) {
		mine[i] = malloc(32 + (size_t)i * 8);
		CHECK(mine[i]);
	}
	pthread_mutex_lock(&handoff_lock);
	for (int i = 0; i < HANDOFF; i++) {
		free(handoff[i]);
		handoff[i] = mine[i];
	}
	pthread_mutex_unlock(&handoff_lock);
	return NULL;
}

int main(int argc, char **argv)
{
	long total = argc > 1 ? atol(argv[1]) : 10000;
	CHECK(total >= 10);
	long first_sample_at = total / 10;

	pthread_t ring[IN_FLIGHT];
	int used[IN_FLIGHT] = { 0 };
	size_t rss_first = 0;
	for (long n = 0; n < total; n++) {
		int slot = (int)(n % IN_FLIGHT);
		if (used[slot])
			CHECK(pthread_join(ring[slot], NULL) == 0);
		if (n == first_sample_at) {
			/* Every thread started so far has been joined. */
			for (int s = 0; s < IN_FLIGHT; s++) {
				if (used[s] && s != slot) {
					CHECK(pthread_join(ring[s], NULL) == 0);
					used[s] = 0;
				}
			}
			rss_first = rss_bytes();
		}
		int r = pthread_create(&ring[slot], NULL, short_lived, (void *)(uintptr_t)n);
		CHECKF(r == 0, "pthread_create #%ld: %s", n, strerror(r));
		used[slot] = 1;
	}
	for (int s = 0; s < IN_FLIGHT; s++)
		if (used[s])
			CHECK(pthread_join(ring[s], NULL) == 0);
	size_t rss_last = rss_bytes();
	if (argc > 2 && strcmp(argv[2], "-v") == 0)
		fprintf(stderr, "rss after %ld threads: %zu KiB, after %ld: %zu KiB\n",
		        first_sample_at, rss_first / 1024, total, rss_last / 1024);

	CHECKF(rss_last <= rss_first + GROWTH_LIMIT,
	       "RSS grew from %zu KiB after %ld threads to %zu KiB after %ld "
	       "threads (limit +%zu KiB)",
	       rss_first / 1024, first_sample_at, rss_last / 1024, total,
	       GROWTH_LIMIT / 1024);
	for (int i = 0; i < HANDOFF; i++)
		free(handoff[i]);
	return 0;
}

/* smoke.c — an ordinary, well-behaved program: a mixed allocation workload
 * on two threads, with content checks. It prints nothing and exits 0.
 *
 * Used as the host program of tests whose subject is elsewhere (a second
 * preloaded library, the environment) and for the "the allocator is silent"
 * check: run preloaded, its stderr must be empty.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

enum { SLOTS = 2048, STEPS = 200000 };

static void *workload(void *arg)
{
	uint64_t rs = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ULL + 1;
	unsigned char **slot = calloc(SLOTS, sizeof *slot);
	size_t *len = calloc(SLOTS, sizeof *len);
	CHECK(slot && len);
	for (int step = 0; step < STEPS; step++) {
		uint64_t r = rnd_next(&rs);
		size_t i = r % SLOTS;
		if (slot[i]) {
			CHECKF(check_pattern(slot[i], len[i], (unsigned)i),
			       "block %zu of %zu bytes corrupted", i, len[i]);
			if ((r >> 21) & 1) {
				size_t n = 1 + (r >> 32) % 2048;
				unsigned char *q = realloc(slot[i], n);
				CHECK(q);
				size_t keep = n < len[i] ? n : len[i];
				CHECK(check_pattern(q, keep, (unsigned)i));
				slot[i] = q;
				len[i] = n;
				fill_pattern(q, n, (unsigned)i);
			} else {
				free(slot[i]);
				slot[i] = NULL;
			}
		} else {
			size_t n = (r >> 40) % 128 == 0 ? 1 + (r >> 16) % (1 << 20)
			                                 : 1 + (r >> 16) % 700;
			slot[i] = (r >> 8) % 16 == 0 ? calloc(1, n) : malloc(n);
			CHECK(slot[i]);
			len[i] = n;
			fill_pattern(slot[i], n, (unsigned)i);
		}
	}
	for (size_t i = 0; i < SLOTS; i++) {
		if (slot[i])
			CHECK(check_pattern(slot[i], len[i], (unsigned)i));
		free(slot[i]);
	}
	free(slot);
	free(len);
	return NULL;
}

int main(void)
{
	pthread_t t;
	CHECK(pthread_create(&t, NULL, workload, (void *)2) == 0);
	workload((void *)1);
	CHECK(pthread_join(t, NULL) == 0);

	char *s = strdup("smoke");
	CHECK(s && strcmp(s, "smoke") == 0);
	free(s);
	return 0;
}

/* shim_prog.c — an aware program built against libgcmalloc-shim, run by
 * test_shim.c twice: with libgcmalloc.so preloaded and without it (and once
 * with a library that provides only some gcm_* symbols, where the loader
 * must fall back entirely).
 *
 * It prints one "key=value" line per observation, in a fixed order, and
 * the driver compares the whole output with what each mode must give: the
 * library's behaviour when active, the documented fallback otherwise
 * (calloc'd memory, canonical strong boxes that never clear, cleanups and
 * finalizers accepted and never run, cancel 0 once then ENOENT, stats with
 * only `size` filled in). Nothing printed depends on addresses or timing.
 *
 * Collector hygiene as in tests/weak/progs/wk.h: objects that must become
 * unreachable are allocated and dropped in noinline helpers that return a
 * weak handle or a cleanup id, and the stack is wiped before collecting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcmalloc.h"

#define NOINLINE __attribute__((noinline, noclone))

static int g_cleanup_runs, g_finalizer_runs;
static int g_token;

static void on_cleanup(void *arg)
{
	if (arg == &g_token)
		g_cleanup_runs++;
}

static void on_finalize(void *obj, void *arg)
{
	(void)obj;
	if (arg == &g_token)
		g_finalizer_runs++;
}

static NOINLINE void clear_stack(void)
{
	volatile char buf[64 * 1024];
	memset((char *)buf, 0, sizeof buf);
	__asm__ volatile("" : : "r"(buf) : "memory");
}

static void collect(void)
{
	clear_stack();
	gcm_shim_collect();
	if (gcm_shim_finalizers_wait(10000) != 0)
		printf("error=finalizers_wait failed\n");
}

/* "0", or "-1/ENAME" for a failed call. */
static const char *rc_errno(int rc, int e)
{
	if (rc == 0)
		return "0";
	switch (e) {
	case EINVAL: return "-1/EINVAL";
	case ENOENT: return "-1/ENOENT";
	case EEXIST: return "-1/EEXIST";
	default: return "-1/other";
	}
}

/* The shim's malloc must hand out zeroed memory even where the heap was
 * dirty: dirty some blocks of the same size first. */
static void check_malloc(void)
{
	enum { N = 8, SIZE = 4000 };
	void *dirty[N];
	for (int i = 0; i < N; i++) {
		dirty[i] = malloc(SIZE);
		if (dirty[i] != NULL)
			memset(dirty[i], 0xa5, SIZE);
	}
	for (int i = 0; i < N; i++)
		free(dirty[i]);
	int zeroed = 1;
	for (int i = 0; i < N; i++) {
		unsigned char *p = gcm_shim_malloc(SIZE);
		if (p == NULL) {
			zeroed = 0;
			continue;
		}
		for (int k = 0; k < SIZE; k++)
			if (p[k] != 0)
				zeroed = 0;
	}
	printf("malloc_zeroed=%d\n", zeroed);
	printf("malloc_0_non_null=%d\n", gcm_shim_malloc(0) != NULL);
	char *a = gcm_shim_malloc_atomic(100);
	if (a != NULL)
		memset(a, 1, 100);
	printf("malloc_atomic_non_null=%d\n", a != NULL);
}

static char g_static[64];

/* An object only a weak handle refers to. */
static NOINLINE gcm_weak_t weak_to_dropped(uintptr_t *hidden)
{
	char *p = gcm_shim_malloc(48);
	*hidden = ~(uintptr_t)p;
	return gcm_shim_weak_make(p);
}

static void check_weak(void)
{
	char *p = gcm_shim_malloc(64);
	gcm_weak_t w = gcm_shim_weak_make(p);
	printf("weak_make_non_null=%d\n", w != NULL);
	printf("weak_canonical=%d\n", gcm_shim_weak_make(p) == w);
	printf("weak_fields_distinct=%d\n",
	       gcm_shim_weak_make(p + 8) != w && gcm_shim_weak_make(p + 8) != NULL &&
		       gcm_shim_weak_make(p + 8) == gcm_shim_weak_make(p + 8));
	printf("weak_get_exact=%d\n",
	       gcm_shim_weak_get(w) == p && gcm_shim_weak_get(gcm_shim_weak_make(p + 8)) == p + 8);
	gcm_weak_t ws = gcm_shim_weak_make(&g_static[3]);
	printf("weak_static=%d\n", ws != NULL && gcm_shim_weak_make(&g_static[3]) == ws &&
					   gcm_shim_weak_get(ws) == &g_static[3] &&
					   gcm_shim_weak_make(&g_static[4]) != ws);
	printf("weak_get_null=%d\n", gcm_shim_weak_get(NULL) == NULL);

	uintptr_t hidden;
	gcm_weak_t wd = weak_to_dropped(&hidden);
	for (int i = 0; i < 3; i++)
		collect();
	void *got = gcm_shim_weak_get(wd);
	printf("weak_after_drop=%s\n", got == NULL ? "cleared"
				     : got == (void *)~hidden ? "kept" : "wrong");
	printf("weak_live_after_collect=%d\n", gcm_shim_weak_get(w) == p &&
						       gcm_shim_weak_make(p) == w &&
						       gcm_shim_weak_get(ws) == &g_static[3]);
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* A dropped object with one cleanup and one finalizer. */
static NOINLINE gcm_cleanup_t dropped_with_cleanup(void)
{
	char *p = gcm_shim_malloc(32);
	char *q = gcm_shim_malloc(32);
	if (gcm_shim_set_finalizer(q, on_finalize, &g_token) != 0)
		printf("error=set_finalizer failed\n");
	return gcm_shim_add_cleanup(p + 16, on_cleanup, &g_token);
}

static void check_cleanups(void)
{
	char *p = gcm_shim_malloc(64);
	gcm_cleanup_t c1 = gcm_shim_add_cleanup(p, on_cleanup, &g_token);
	gcm_cleanup_t c2 = gcm_shim_add_cleanup(p + 8, on_cleanup, &g_token);
	printf("cleanup_ids=%s\n", c1 != 0 && c2 != 0 && c1 != c2 ? "distinct" : "bad");
	errno = 0;
	gcm_cleanup_t bad = gcm_shim_add_cleanup(p, NULL, NULL);
	printf("cleanup_null_fn=%s\n", bad == 0 && errno == EINVAL ? "0/EINVAL" : "wrong");

	errno = 0;
	int rc = gcm_shim_cleanup_cancel(c1);
	printf("cancel_first=%s\n", rc_errno(rc, errno));
	errno = 0;
	rc = gcm_shim_cleanup_cancel(c1);
	printf("cancel_again=%s\n", rc_errno(rc, errno));
	errno = 0;
	rc = gcm_shim_cleanup_cancel(0);
	printf("cancel_zero=%s\n", rc_errno(rc, errno));
	errno = 0;
	rc = gcm_shim_cleanup_cancel(c2 + 1000);
	printf("cancel_unknown=%s\n", rc_errno(rc, errno));

	errno = 0;
	rc = gcm_shim_set_finalizer(p + 8, on_finalize, &g_token);
	printf("finalizer_interior=%s\n", rc_errno(rc, errno));

	gcm_cleanup_t c3 = dropped_with_cleanup();
	printf("cleanup_on_dropped=%s\n", c3 != 0 ? "accepted" : "refused");
	for (int i = 0; i < 3; i++)
		collect();
	printf("cleanup_runs=%d\n", g_cleanup_runs);
	printf("finalizer_runs=%d\n", g_finalizer_runs);
	errno = 0;
	rc = gcm_shim_cleanup_cancel(c3);
	printf("cancel_after_collect=%s\n", rc_errno(rc, errno));
	errno = 0;
	rc = gcm_shim_cleanup_cancel(c2);
	printf("cancel_live=%s\n", rc_errno(rc, errno));
	__asm__ volatile("" : : "r"(p) : "memory");
	printf("finalizers_wait=%d\n", gcm_shim_finalizers_wait(100));
}

static void check_stats(void)
{
	union {
		struct gcm_stats st;
		unsigned char bytes[sizeof(struct gcm_stats) + 32];
	} u;
	size_t full = sizeof(struct gcm_stats);

	memset(&u, 0xee, sizeof u);
	int rc = gcm_shim_stats(&u.st, sizeof u.st);
	int tail_intact = 1;
	for (size_t i = full; i < sizeof u; i++)
		tail_intact &= u.bytes[i] == 0xee;
	printf("stats_full=%d size_ok=%d\n", rc, u.st.size == full);
	printf("stats_cycles=%s\n", u.st.gc_cycles > 0 ? "positive" : "zero");
	int others_zero = 1;
	const uint64_t *f = (const uint64_t *)&u.st;
	for (size_t i = 1; i < full / sizeof(uint64_t); i++)
		others_zero &= f[i] == 0;
	printf("stats_other_fields=%s\n", others_zero ? "all zero" : "some set");

	/* A larger buffer (a newer caller): only the known part is filled. */
	memset(&u, 0xee, sizeof u);
	rc = gcm_shim_stats(&u.st, sizeof u);
	tail_intact = 1;
	for (size_t i = full; i < sizeof u; i++)
		tail_intact &= u.bytes[i] == 0xee;
	printf("stats_larger=%d size_ok=%d tail_untouched=%d\n", rc, u.st.size == full,
	       tail_intact);

	/* Smaller buffers (an older caller): exactly out_size bytes. */
	size_t sizes[] = { 8, 16, 24 };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		memset(&u, 0xee, sizeof u);
		rc = gcm_shim_stats(&u.st, sizes[k]);
		tail_intact = 1;
		for (size_t i = sizes[k]; i < sizeof u; i++)
			tail_intact &= u.bytes[i] == 0xee;
		printf("stats_%zu=%d size=%llu tail_untouched=%d\n", sizes[k], rc,
		       (unsigned long long)u.st.size, tail_intact);
	}
	errno = 0;
	rc = gcm_shim_stats(&u.st, 4);
	printf("stats_4=%s\n", rc_errno(rc, errno));
	errno = 0;
	rc = gcm_shim_stats(NULL, full);
	printf("stats_null=%s\n", rc_errno(rc, errno));
}

int main(void)
{
	int active = gcm_shim_active();
	printf("active=%d\n", active);
	printf("version=%s\n", gcm_shim_version());
	check_malloc();
	check_weak();
	check_cleanups();
	check_stats();
	printf("active_again=%d\n", gcm_shim_active());
	return 0;
}

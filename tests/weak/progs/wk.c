/* wk.c — see wk.h. */
#define _GNU_SOURCE
#include "wk.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

void wk_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fflush(stdout);
	/* One write, so that a failure reported from another thread is not
	 * interleaved with anything. */
	char out[1200];
	int n = snprintf(out, sizeof out, "FAIL %s:%d: %s\n", file, line, msg);
	if (n > 0) {
		ssize_t w = write(2, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
		(void)w;
	}
	_exit(1);
}

const char *wk_errno_name(int e)
{
	switch (e) {
	case 0: return "none";
	case EINVAL: return "EINVAL";
	case EEXIST: return "EEXIST";
	case ENOENT: return "ENOENT";
	case ENOMEM: return "ENOMEM";
	case ETIMEDOUT: return "ETIMEDOUT";
	default: return strerror(e);
	}
}

void wk_require_preload(void)
{
	bool all = gcm_malloc && gcm_malloc_atomic && gcm_collect && gcm_weak_make &&
		   gcm_weak_get && gcm_set_finalizer && gcm_add_cleanup &&
		   gcm_cleanup_cancel && gcm_finalizers_wait && gcm_stats && gcm_version;
	if (!all) {
		fprintf(stderr, "FAIL: the gcm_* functions are not bound: run this program "
			"with LD_PRELOAD=libgcmalloc.so (the test drivers do)\n");
		exit(1);
	}
}

void wk_pass(const char *scenario)
{
	printf("ok %s\n", scenario);
	fflush(stdout);
}

WK_NOINLINE void wk_clear_stack(void)
{
	volatile char buf[64 * 1024];
	memset((char *)buf, 0, sizeof buf);
	__asm__ volatile("" : : "r"(buf) : "memory");
}

WK_NOINLINE void wk_collect(void)
{
	wk_clear_stack();
	gcm_collect();
}

void wk_wait(void)
{
	int rc = gcm_finalizers_wait(10000);
	WK_CHECK(rc == 0, "gcm_finalizers_wait(10 s) failed: %s", wk_errno_name(errno));
}

void wk_collect_and_wait(void)
{
	wk_collect();
	wk_wait();
}

uint64_t wk_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int wk_gettid(void)
{
	return (int)syscall(SYS_gettid);
}

void wk_stats(struct gcm_stats *st)
{
	memset(st, 0, sizeof *st);
	int rc = gcm_stats(st, sizeof *st);
	WK_CHECK(rc == 0, "gcm_stats failed: %s", wk_errno_name(errno));
	WK_CHECK(st->size == sizeof *st, "gcm_stats filled %llu bytes, expected %zu",
		 (unsigned long long)st->size, sizeof *st);
}

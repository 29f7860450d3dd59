/* gcp.c — see gcp.h. */
#define _GNU_SOURCE
#include "gcp.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct gcp_api gcp;

static void *gcp_sym(const char *name)
{
	void *f = dlsym(RTLD_DEFAULT, name);
	if (f == NULL) {
		gcp_say("%s not found: run this program with LD_PRELOAD=libgcmalloc.so", name);
		_exit(GCP_EXIT_NO_PRELOAD);
	}
	return f;
}

void gcp_init(void)
{
	*(void **)&gcp.malloc = gcp_sym("gcm_malloc");
	*(void **)&gcp.malloc_atomic = gcp_sym("gcm_malloc_atomic");
	*(void **)&gcp.collect = gcp_sym("gcm_collect");
	*(void **)&gcp.stats = gcp_sym("gcm_stats");
	*(void **)&gcp.version = gcp_sym("gcm_version");
}

static void gcp_write_line(int fd, const char *prefix, const char *fmt, va_list ap)
{
	char buf[1024];
	int n = snprintf(buf, sizeof buf, "%s", prefix);
	if (n < 0)
		n = 0;
	int m = vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
	if (m > 0)
		n += m;
	if ((size_t)n >= sizeof buf - 1)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	for (const char *p = buf; n > 0;) {
		ssize_t w = write(fd, p, (size_t)n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		n -= (int)w;
	}
}

void gcp_fail(const char *file, int line, const char *fmt, ...)
{
	char prefix[256];
	snprintf(prefix, sizeof prefix, "FAIL %s:%d: ", file, line);
	va_list ap;
	va_start(ap, fmt);
	gcp_write_line(2, prefix, fmt, ap);
	va_end(ap);
	_exit(1);
}

void gcp_say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gcp_write_line(1, "", fmt, ap);
	va_end(ap);
}

void gcp_stats(struct gcm_stats *st)
{
	memset(st, 0, sizeof *st);
	int r = gcp.stats(st, sizeof *st);
	GCP_CHECK(r == 0, "gcm_stats returned %d", r);
	GCP_CHECK(st->size == sizeof *st, "gcm_stats filled %llu bytes, expected %zu",
		  (unsigned long long)st->size, sizeof *st);
}

GCP_NOINLINE void gcp_clear_stack(void)
{
	volatile unsigned char area[64 * 1024];
	memset((void *)area, 0, sizeof area);
	__asm__ volatile("" : : "r"(area) : "memory");
#if defined(__x86_64__)
	/* The scratch registers too: a thread that blocks soon after (in
	 * read(), say) keeps whatever they held while it is stopped. */
	__asm__ volatile("xorl %%eax, %%eax\n\t"
			 "xorl %%ecx, %%ecx\n\t"
			 "xorl %%edx, %%edx\n\t"
			 "xorl %%esi, %%esi\n\t"
			 "xorl %%edi, %%edi\n\t"
			 "xorl %%r8d, %%r8d\n\t"
			 "xorl %%r9d, %%r9d\n\t"
			 "xorl %%r10d, %%r10d\n\t"
			 "xorl %%r11d, %%r11d"
			 : : : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
			   "memory");
#endif
}

/* The cycle itself, in a frame of its own right above the cleared area. */
static GCP_NOINLINE void gcp_collect_now(void)
{
	gcp.collect();
}

GCP_NOINLINE void gcp_collect(struct gcm_stats *after, int exclusive)
{
	struct gcm_stats before;
	gcp_stats(&before);
	gcp_clear_stack();
	gcp_collect_now();
	gcp_stats(after);
	GCP_CHECK(after->gc_cycles_skipped == before.gc_cycles_skipped,
		  "gcm_collect: cycle skipped (skipped %llu -> %llu)",
		  (unsigned long long)before.gc_cycles_skipped,
		  (unsigned long long)after->gc_cycles_skipped);
	if (exclusive)
		GCP_CHECK(after->gc_cycles == before.gc_cycles + 1,
			  "gcm_collect: cycles %llu -> %llu, expected one more",
			  (unsigned long long)before.gc_cycles,
			  (unsigned long long)after->gc_cycles);
	else
		GCP_CHECK(after->gc_cycles > before.gc_cycles,
			  "gcm_collect: no cycle completed (cycles %llu)",
			  (unsigned long long)after->gc_cycles);
}

void gcp_fill(void *p, size_t n, uint64_t seed)
{
	uint64_t *w = p;
	for (size_t i = 0; i < n / 8; i++)
		w[i] = gcp_word(seed, i);
}

int gcp_intact(const void *p, size_t n, uint64_t seed)
{
	const uint64_t *w = p;
	for (size_t i = 0; i < n / 8; i++)
		if (w[i] != gcp_word(seed, i))
			return 0;
	return 1;
}

int gcp_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i] != 0)
			return 0;
	return 1;
}

GCP_NOINLINE void *gcp_new(size_t n, uint64_t seed, int atomic)
{
	void *p = atomic ? gcp.malloc_atomic(n) : gcp.malloc(n);
	GCP_CHECK(p != NULL, "gcm_malloc%s(%zu) returned NULL", atomic ? "_atomic" : "", n);
	GCP_CHECK(((uintptr_t)p & 15) == 0, "gcm_malloc%s(%zu) = %p is not 16-byte aligned",
		  atomic ? "_atomic" : "", n, p);
	if (!atomic)
		GCP_CHECK(gcp_zero(p, n), "gcm_malloc(%zu) returned memory that is not zeroed", n);
	gcp_fill(p, n & ~(size_t)7, seed);
	return p;
}

GCP_NOINLINE void gcp_scribble(size_t n)
{
	unsigned char *p = malloc(n);
	GCP_CHECK(p != NULL, "malloc(%zu) failed", n);
	memset(p, 0x5a, n);
	__asm__ volatile("" : : "r"(p) : "memory");
	free(p);
}

size_t gcp_usable(void *p)
{
	return malloc_usable_size(p);
}

int gcp_gettid(void)
{
	return (int)syscall(SYS_gettid);
}

uint64_t gcp_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Against an absolute deadline: a thread stopped by one cycle after
 * another would never finish a relative sleep restarted after each
 * interruption. */
void gcp_sleep_ms(unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Reads a small /proc file into buf; -1 when it cannot be read. */
static int gcp_read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n;
	do
		n = read(fd, buf, cap - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

void gcp_wait_in_syscall(int tid, long nr)
{
	char path[64], buf[512];
	uint64_t deadline = gcp_now_ns() + (uint64_t)10 * 1000000000u;
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
	int use_stat = gcp_read_small(path, buf, sizeof buf) != 0;
	for (;;) {
		if (!use_stat) {
			if (gcp_read_small(path, buf, sizeof buf) == 0 && buf[0] != 'r' &&
			    strtol(buf, NULL, 10) == nr)
				break;
		} else {
			char spath[64];
			snprintf(spath, sizeof spath, "/proc/self/task/%d/stat", tid);
			if (gcp_read_small(spath, buf, sizeof buf) == 0) {
				char *rp = strrchr(buf, ')');
				if (rp && rp[1] == ' ' && rp[2] == 'S')
					break;
			}
		}
		GCP_CHECK(gcp_now_ns() < deadline, "thread %d never blocked in system call %ld", tid, nr);
		gcp_sleep_ms(1);
	}
	/* The system call may still be on its way in: let it settle. */
	gcp_sleep_ms(5);
}

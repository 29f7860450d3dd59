/* check.h — always-on assertions for the integration helper programs.
 *
 * assert() disappears in release builds (b_ndebug=if-release), so the helper
 * programs use CHECK instead: on failure it writes one line to stderr with
 * write(2) (no stdio, so it is usable from constructors, destructors, atexit
 * handlers and forked children) and ends the process with _exit(1).
 */
#ifndef GCM_IT_CHECK_H
#define GCM_IT_CHECK_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

__attribute__((noreturn, format(printf, 3, 4), unused))
static void check_failed(const char *file, int line, const char *fmt, ...)
{
	char buf[512];
	int n = snprintf(buf, sizeof buf, "FAIL %s:%d: ", file, line);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof buf) {
		va_list ap;
		va_start(ap, fmt);
		int m = vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
		va_end(ap);
		if (m > 0)
			n += m;
	}
	if ((size_t)n >= sizeof buf - 1)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	ssize_t w = write(2, buf, (size_t)n);
	(void)w;
	_exit(1);
}

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond))                                              \
			check_failed(__FILE__, __LINE__, "%s", #cond);     \
	} while (0)

#define CHECKF(cond, ...)                                                 \
	do {                                                              \
		if (!(cond))                                              \
			check_failed(__FILE__, __LINE__, __VA_ARGS__);     \
	} while (0)

/* Hides a value from the optimiser so that calls such as malloc(SIZE_MAX)
 * are made as written and not folded or warned about at compile time. */
__attribute__((unused)) static size_t opaque_size(size_t v)
{
	volatile size_t x = v;
	return x;
}

__attribute__((unused)) static void *opaque_ptr(void *p)
{
	void *volatile x = p;
	return x;
}

/* Small, fast, deterministic pseudo-random numbers (xorshift64*). */
__attribute__((unused)) static uint64_t rnd_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Fills [p, p+n) with a pattern derived from seed; check_fill verifies it. */
__attribute__((unused)) static void fill_pattern(void *p, size_t n, unsigned seed)
{
	unsigned char *c = (unsigned char *)p;
	for (size_t i = 0; i < n; i++)
		c[i] = (unsigned char)(seed + i * 131u);
}

__attribute__((unused)) static int check_pattern(const void *p, size_t n, unsigned seed)
{
	const unsigned char *c = (const unsigned char *)p;
	for (size_t i = 0; i < n; i++)
		if (c[i] != (unsigned char)(seed + i * 131u))
			return 0;
	return 1;
}

#endif

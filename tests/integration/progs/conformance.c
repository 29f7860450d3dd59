/* conformance.c — edge cases of the malloc family, one line per case.
 *
 * The same binary is run twice by the integration driver: once against
 * glibc's allocator and once with libgcmalloc.so preloaded, and the two
 * outputs must be identical (test_glibc_compat.c; deliberate differences go
 * to conformance-allow.txt). Every line therefore states only facts that a
 * correct replacement shares with glibc: whether a call returned NULL, the
 * errno it left, whether memory is aligned / zeroed / preserved / writable,
 * "usable>=req". Never an address, a usable size or a statistic.
 *
 * Each case runs in a forked child with a time limit, so a crash or a hang in
 * one case becomes a line such as "pvalloc_rounding: CRASH SIGSEGV" and the
 * remaining cases still run.
 *
 * Usage: conformance            run every case
 *        conformance NAME...    run the named cases
 *        conformance --list     list the case names
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* Exported by glibc 2.36 (default version) but not declared in its headers. */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

/* errno value planted before a call to see whether the call changed it. */
#define SENTINEL 4242
/* A pointer value planted in posix_memalign's out-parameter. */
#define MEMPTR_SENTINEL ((void *)(uintptr_t)0x5a5a5a5a5a5a5a50ULL)

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* ---- the output line of the running case ------------------------------ */

static char line[4096];
static size_t line_len;

__attribute__((format(printf, 1, 2)))
static void say(const char *fmt, ...)
{
	if (line_len >= sizeof line - 1)
		return;
	if (line_len > 0)
		line[line_len++] = ' ';
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line + line_len, sizeof line - line_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		line_len += (size_t)n;
	if (line_len >= sizeof line)
		line_len = sizeof line - 1;
}

static const char *ename(int e)
{
	static char buf[8][16];
	static unsigned slot;
	switch (e) {
	case SENTINEL: return "unchanged";
	case 0: return "0";
	case ENOMEM: return "ENOMEM";
	case EINVAL: return "EINVAL";
	case EOVERFLOW: return "EOVERFLOW";
	default: break;
	}
	char *b = buf[slot++ % 8];
	snprintf(b, sizeof buf[0], "%d", e);
	return b;
}

/* For failures where glibc and a correct replacement may legitimately
 * choose different error codes (an alignment so large that "invalid" and
 * "out of memory" are both right). */
static const char *ename_enomem_or_einval(int e)
{
	if (e == ENOMEM || e == EINVAL)
		return "ENOMEM|EINVAL";
	return ename(e);
}

static const char *pname(const void *p)
{
	return p ? "ptr" : "NULL";
}

static int aligned(const void *p, size_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

static size_t next_pow2(size_t v)
{
	size_t p = 1;
	while (p < v && p != 0)
		p <<= 1;
	return p;
}

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* Writes every byte of [p, p+n) and reads it back. */
static int writable(void *p, size_t n)
{
	unsigned char *c = p;
	memset(c, 0xA7, n);
	for (size_t i = 0; i < n; i += 61)
		if (c[i] != 0xA7)
			return 0;
	return n == 0 || c[n - 1] == 0xA7;
}

static int all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i])
			return 0;
	return 1;
}

/* ---- malloc ------------------------------------------------------------ */

static void case_malloc_zero(void)
{
	errno = SENTINEL;
	void *p = malloc(opaque_size(0));
	int e = errno;
	say("ret=%s errno=%s", pname(p), ename(e));
	if (p)
		say("aligned16=%s", aligned(p, 16) ? "yes" : "no");
	free(p);
}

static void one_malloc_failure(const char *label, size_t n)
{
	errno = SENTINEL;
	void *p = malloc(opaque_size(n));
	int e = errno;
	say("%s=%s,%s", label, pname(p), ename(e));
	free(p);
}

static void case_malloc_huge(void)
{
	one_malloc_failure("PTRDIFF_MAX+1", (size_t)PTRDIFF_MAX + 1);
	one_malloc_failure("SIZE_MAX", SIZE_MAX);
	one_malloc_failure("SIZE_MAX-4096", SIZE_MAX - 4096);
	one_malloc_failure("PTRDIFF_MAX", (size_t)PTRDIFF_MAX);
	one_malloc_failure("2^62", (size_t)1 << 62);
}

/* ---- calloc ------------------------------------------------------------ */

static void one_calloc(const char *label, size_t a, size_t b)
{
	errno = SENTINEL;
	void *p = calloc(opaque_size(a), opaque_size(b));
	int e = errno;
	say("%s=%s,%s", label, pname(p), ename(e));
	free(p);
}

static void case_calloc_overflow(void)
{
	one_calloc("(2^63,2)", (size_t)1 << 63, 2);
	one_calloc("(2^32,2^32)", (size_t)1 << 32, (size_t)1 << 32);
	one_calloc("(SIZE_MAX,SIZE_MAX)", SIZE_MAX, SIZE_MAX);
	one_calloc("(3,SIZE_MAX/2)", 3, SIZE_MAX / 2);
	one_calloc("(SIZE_MAX/16+1,16)", SIZE_MAX / 16 + 1, 16);
}

static void case_calloc_huge(void)
{
	one_calloc("(2^31,2^31)", (size_t)1 << 31, (size_t)1 << 31);
	one_calloc("(PTRDIFF_MAX,1)", (size_t)PTRDIFF_MAX, 1);
	one_calloc("(1,PTRDIFF_MAX+1)", 1, (size_t)PTRDIFF_MAX + 1);
}

static void case_calloc_zero(void)
{
	one_calloc("(0,0)", 0, 0);
	one_calloc("(0,16)", 0, 16);
	one_calloc("(16,0)", 16, 0);
}

static void case_calloc_fresh_zeroed(void)
{
	static const size_t sizes[] = { 1, 7, 16, 24, 100, 512, 4000, 4096, 5000,
	                                65536, 100000, 300000, 1 * MiB + 5,
	                                4 * MiB, 33 * MiB };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		errno = SENTINEL;
		unsigned char *p = calloc(1, opaque_size(sizes[i]));
		int e = errno;
		const char *bad = !p ? "ret=NULL" : e != SENTINEL ? "errno-changed" :
		                  !all_zero(p, sizes[i]) ? "not-zeroed" :
		                  !aligned(p, 16) ? "aligned16=no" : NULL;
		if (bad) {
			say("size=%zu %s", sizes[i], bad);
			free(p);
			return;
		}
		free(p);
	}
	say("zeroed=yes errno=unchanged");
}

/* Allocate, dirty, free, then calloc the same sizes again: memory recycled
 * from a free list or a cache must come back zeroed. */
static void case_calloc_recycled_zeroed(void)
{
	static const size_t sizes[] = { 24, 48, 100, 256, 1000, 4096, 10000, 65536,
	                                200000, 1 * MiB, 3 * MiB, 8 * MiB };
	enum { MAXN = 64 };
	void *ptrs[MAXN];
	for (int round = 0; round < 3; round++) {
		for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
			size_t size = sizes[s];
			size_t n = (2 * MiB) / size;
			if (n < 1)
				n = 1;
			if (n > MAXN)
				n = MAXN;
			for (size_t i = 0; i < n; i++) {
				ptrs[i] = malloc(opaque_size(size));
				if (!ptrs[i]) {
					say("malloc failed size=%zu", size);
					return;
				}
				memset(ptrs[i], 0xA5, size);
			}
			for (size_t i = 0; i < n; i++)
				free(ptrs[i]);
			for (size_t i = 0; i < n; i++) {
				ptrs[i] = calloc(1, opaque_size(size));
				if (!ptrs[i]) {
					say("calloc failed size=%zu", size);
					return;
				}
				if (!all_zero(ptrs[i], size)) {
					say("dirty size=%zu round=%d", size, round);
					return;
				}
				/* Dirty again so the next round recycles dirty memory. */
				memset(ptrs[i], 0x5A, size);
			}
			for (size_t i = 0; i < n; i++)
				free(ptrs[i]);
		}
	}
	say("zeroed=yes");
}

/* ---- realloc / reallocarray --------------------------------------------- */

static void case_realloc_null(void)
{
	errno = SENTINEL;
	void *p = realloc(NULL, opaque_size(100));
	int e = errno;
	say("ret=%s errno=%s", pname(p), ename(e));
	if (p)
		say("usable>=req=%s", malloc_usable_size(p) >= 100 ? "yes" : "no");
	free(p);
}

static void case_realloc_null_zero(void)
{
	errno = SENTINEL;
	void *p = realloc(NULL, opaque_size(0));
	int e = errno;
	say("ret=%s errno=%s", pname(p), ename(e));
	free(p);
}

static void case_realloc_zero(void)
{
	static const size_t sizes[] = { 1, 100, 5000, 300000, 4 * MiB };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		void *p = malloc(opaque_size(sizes[i]));
		CHECK(p);
		memset(p, 1, sizes[i]);
		errno = SENTINEL;
		void *r = realloc(p, opaque_size(0));
		int e = errno;
		say("%zu=%s,%s", sizes[i], pname(r), ename(e));
		if (r)
			free(r);
	}
}

static void one_realloc_failure(const char *label, size_t old, size_t n)
{
	void *p = malloc(opaque_size(old));
	CHECK(p);
	fill_pattern(p, old, 7);
	errno = SENTINEL;
	void *r = realloc(p, opaque_size(n));
	int e = errno;
	say("%s=%s,%s", label, pname(r), ename(e));
	if (r) {
		free(r);
		return;
	}
	say("intact=%s", check_pattern(p, old, 7) ? "yes" : "no");
	free(p);
}

static void case_realloc_huge(void)
{
	one_realloc_failure("(100,SIZE_MAX-8)", 100, SIZE_MAX - 8);
	one_realloc_failure("(100,PTRDIFF_MAX+1)", 100, (size_t)PTRDIFF_MAX + 1);
	one_realloc_failure("(100,2^62)", 100, (size_t)1 << 62);
	one_realloc_failure("(4MiB,SIZE_MAX-8)", 4 * MiB, SIZE_MAX - 8);
	one_realloc_failure("(4MiB,2^62)", 4 * MiB, (size_t)1 << 62);
}

static void case_realloc_contents(void)
{
	static const size_t chain[] = { 1, 17, 100, 4000, 70000, 1 * MiB, 5 * MiB,
	                                300, 10, 24 * MiB, 2 * MiB, 33, 0 };
	size_t old = 8;
	unsigned char *p = malloc(opaque_size(old));
	CHECK(p);
	fill_pattern(p, old, 3);
	for (size_t i = 0; chain[i]; i++) {
		size_t n = chain[i];
		errno = SENTINEL;
		unsigned char *r = realloc(p, opaque_size(n));
		if (!r) {
			say("realloc failed %zu->%zu", old, n);
			free(p);
			return;
		}
		if (errno != SENTINEL) {
			say("errno changed %zu->%zu to %s", old, n, ename(errno));
			free(r);
			return;
		}
		size_t keep = old < n ? old : n;
		if (!check_pattern(r, keep, 3) || !aligned(r, 16)) {
			say("%s %zu->%zu", aligned(r, 16) ? "lost-contents" : "aligned16=no",
			    old, n);
			free(r);
			return;
		}
		fill_pattern(r, n, 3);
		p = r;
		old = n;
	}
	free(p);
	say("preserved=yes aligned16=yes errno=unchanged");
}

static void case_reallocarray_overflow(void)
{
	unsigned char *p = malloc(64);
	CHECK(p);
	fill_pattern(p, 64, 9);
	errno = SENTINEL;
	void *r = reallocarray(p, opaque_size(SIZE_MAX / 2), 3);
	int e = errno;
	say("(p,SIZE_MAX/2,3)=%s,%s", pname(r), ename(e));
	if (r)
		free(r);
	else {
		say("intact=%s", check_pattern(p, 64, 9) ? "yes" : "no");
		free(p);
	}
	errno = SENTINEL;
	r = reallocarray(NULL, opaque_size((size_t)1 << 32), (size_t)1 << 32);
	e = errno;
	say("(NULL,2^32,2^32)=%s,%s", pname(r), ename(e));
	free(r);
	errno = SENTINEL;
	r = reallocarray(NULL, opaque_size((size_t)1 << 31), (size_t)1 << 31);
	e = errno;
	say("(NULL,2^31,2^31)=%s,%s", pname(r), ename(e));
	free(r);
}

static void case_reallocarray_ok(void)
{
	errno = SENTINEL;
	unsigned char *p = reallocarray(NULL, opaque_size(10), 10);
	int e = errno;
	say("(NULL,10,10)=%s,%s", pname(p), ename(e));
	if (!p)
		return;
	fill_pattern(p, 100, 5);
	errno = SENTINEL;
	unsigned char *r = reallocarray(p, opaque_size(1000), 100);
	e = errno;
	say("(p,1000,100)=%s,%s", pname(r), ename(e));
	if (!r) {
		free(p);
		return;
	}
	say("preserved=%s", check_pattern(r, 100, 5) ? "yes" : "no");
	free(r);
}

static void case_reallocarray_zero(void)
{
	void *p = malloc(10);
	CHECK(p);
	errno = SENTINEL;
	void *r = reallocarray(p, opaque_size(0), 10);
	int e = errno;
	say("(p,0,10)=%s,%s", pname(r), ename(e));
	free(r);
}

/* ---- free ----------------------------------------------------------------- */

static void case_free_null(void)
{
	errno = SENTINEL;
	free(opaque_ptr(NULL));
	say("errno=%s", ename(errno));
}

static void case_free_keeps_errno(void)
{
	for (size_t n = 16; n <= 64 * MiB; n *= 2) {
		for (int kind = 0; kind < 3; kind++) {
			void *p = NULL;
			if (kind == 0)
				p = malloc(opaque_size(n));
			else if (kind == 1)
				p = calloc(1, opaque_size(n));
			else
				p = memalign(64, opaque_size(n));
			if (!p) {
				say("allocation failed size=%zu", n);
				return;
			}
			memset(p, 0x11, n);
			errno = SENTINEL;
			free(p);
			if (errno != SENTINEL) {
				say("free changed errno size=%zu kind=%d to %s", n, kind,
				    ename(errno));
				return;
			}
		}
	}
	/* Also after many frees in a row (caches flushing, pages released). */
	enum { N = 20000 };
	static void *v[N];
	for (int i = 0; i < N; i++)
		v[i] = malloc(opaque_size(16 + (size_t)(i % 97) * 8));
	for (int i = 0; i < N; i++) {
		errno = SENTINEL;
		free(v[i]);
		if (errno != SENTINEL) {
			say("free changed errno in a burst at %d to %s", i, ename(errno));
			return;
		}
	}
	say("errno=unchanged");
}

/* ---- alignment of plain allocations ---------------------------------- */

static void case_align16_small(void)
{
	enum { N = 4096 };
	static void *v[N + 1];
	for (size_t n = 1; n <= N; n++) {
		v[n] = malloc(opaque_size(n));
		if (!v[n] || !aligned(v[n], 16)) {
			say("size=%zu ret=%s aligned16=no", n, pname(v[n]));
			return;
		}
		memset(v[n], (int)n, n);
	}
	for (size_t n = 1; n <= N; n++) {
		const unsigned char *c = v[n];
		if (c[0] != (unsigned char)n || c[n - 1] != (unsigned char)n) {
			say("overlap size=%zu", n);
			return;
		}
		free(v[n]);
	}
	say("aligned16=yes");
}

static const size_t large_sizes[] = {
	4097, 5000, 8192, 12345, 32768, 65536, 65537, 100000, 131073, 262144,
	1 * MiB, 1 * MiB + 1, 3 * MiB, 16 * MiB, 64 * MiB + 3, 0
};

static void case_align16_large(void)
{
	for (size_t i = 0; large_sizes[i]; i++) {
		size_t n = large_sizes[i];
		unsigned char *p = malloc(opaque_size(n));
		if (!p || !aligned(p, 16)) {
			say("size=%zu ret=%s aligned16=no", n, pname(p));
			free(p);
			return;
		}
		p[0] = 1;
		p[n - 1] = 2;
		free(p);
	}
	say("aligned16=yes");
}

static void case_align16_calloc_realloc(void)
{
	void *r = NULL;
	for (size_t n = 1; n <= 4096; n++) {
		void *c = calloc(n, 1);
		if (!c || !aligned(c, 16)) {
			say("calloc size=%zu aligned16=no", n);
			return;
		}
		free(c);
		void *nr = realloc(r, opaque_size(n));
		if (!nr || !aligned(nr, 16)) {
			say("realloc size=%zu aligned16=no", n);
			return;
		}
		r = nr;
	}
	free(r);
	say("aligned16=yes");
}

/* ---- malloc_usable_size ------------------------------------------------- */

static const size_t usable_sizes[] = {
	1, 8, 15, 16, 17, 24, 31, 48, 100, 127, 128, 129, 255, 256, 1000, 1024,
	2047, 4095, 4096, 4097, 10000, 65536, 131072, 200000, 1 * MiB,
	1 * MiB + 7, 5 * MiB, 0
};

enum fam { F_MALLOC, F_CALLOC, F_REALLOC, F_MEMALIGN, F_ALIGNED_ALLOC,
           F_POSIX_MEMALIGN, F_VALLOC, F_PVALLOC };

static void *alloc_by(enum fam f, size_t n)
{
	void *p = NULL;
	switch (f) {
	case F_MALLOC: return malloc(opaque_size(n));
	case F_CALLOC: return calloc(1, opaque_size(n));
	case F_REALLOC: {
		void *q = malloc(opaque_size(n / 2 + 1));
		if (!q)
			return NULL;
		p = realloc(q, opaque_size(n));
		if (!p)
			free(q);
		return p;
	}
	case F_MEMALIGN: return memalign(64, opaque_size(n));
	case F_ALIGNED_ALLOC: return aligned_alloc(64, opaque_size((n + 63) & ~(size_t)63));
	case F_POSIX_MEMALIGN:
		if (posix_memalign(&p, 128, opaque_size(n)) != 0)
			return NULL;
		return p;
	case F_VALLOC: return valloc(opaque_size(n));
	case F_PVALLOC: return pvalloc(opaque_size(n));
	}
	return NULL;
}

static void usable_family(enum fam f)
{
	for (size_t i = 0; usable_sizes[i]; i++) {
		size_t n = usable_sizes[i];
		void *p = alloc_by(f, n);
		if (!p) {
			say("size=%zu ret=NULL", n);
			return;
		}
		errno = SENTINEL;
		size_t u = malloc_usable_size(p);
		if (errno != SENTINEL) {
			say("size=%zu malloc_usable_size changed errno to %s", n,
			    ename(errno));
			free(p);
			return;
		}
		if (u < n) {
			say("size=%zu usable>=req=no", n);
			free(p);
			return;
		}
		if (!writable(p, u)) {
			say("size=%zu usable area not writable", n);
			free(p);
			return;
		}
		free(p);
	}
	say("usable>=req=yes writable=yes");
}

static void case_usable_malloc(void) { usable_family(F_MALLOC); }
static void case_usable_calloc(void) { usable_family(F_CALLOC); }
static void case_usable_realloc(void) { usable_family(F_REALLOC); }
static void case_usable_memalign(void) { usable_family(F_MEMALIGN); }
static void case_usable_aligned_alloc(void) { usable_family(F_ALIGNED_ALLOC); }
static void case_usable_posix_memalign(void) { usable_family(F_POSIX_MEMALIGN); }
static void case_usable_valloc(void) { usable_family(F_VALLOC); }
static void case_usable_pvalloc(void) { usable_family(F_PVALLOC); }

static void case_usable_null(void)
{
	errno = SENTINEL;
	size_t u = malloc_usable_size(opaque_ptr(NULL));
	say("ret=%zu errno=%s", u, ename(errno));
}

/* ---- posix_memalign ------------------------------------------------------ */

static void one_posix_memalign(const char *label, size_t al, size_t n)
{
	void *p = MEMPTR_SENTINEL;
	int r = posix_memalign(&p, opaque_size(al), opaque_size(n));
	if (r == 0) {
		say("%s=0,%s%s", label, p == MEMPTR_SENTINEL ? "untouched" : pname(p),
		    p && p != MEMPTR_SENTINEL && !aligned(p, al) ? ",misaligned" : "");
		if (p != MEMPTR_SENTINEL)
			free(p);
	} else {
		say("%s=%s,%s", label, ename(r),
		    p == MEMPTR_SENTINEL ? "untouched" : "clobbered");
	}
}

static void case_posix_memalign_einval(void)
{
	one_posix_memalign("0", 0, 16);
	one_posix_memalign("1", 1, 16);
	one_posix_memalign("2", 2, 16);
	one_posix_memalign("3", 3, 16);
	one_posix_memalign("4", 4, 16);
	one_posix_memalign("12", 12, 16);
	one_posix_memalign("24", 24, 16);
	one_posix_memalign("48", 48, 16);
	one_posix_memalign("4097", 4097, 16);
	one_posix_memalign("2^63+8", ((size_t)1 << 63) + 8, 16);
	one_posix_memalign("SIZE_MAX", SIZE_MAX, 16);
}

static void case_posix_memalign_enomem(void)
{
	one_posix_memalign("(64,2^62)", 64, (size_t)1 << 62);
	one_posix_memalign("(64,SIZE_MAX-16)", 64, SIZE_MAX - 16);
	one_posix_memalign("(4096,SIZE_MAX-4096)", 4096, SIZE_MAX - 4096);
	one_posix_memalign("(64,PTRDIFF_MAX+1)", 64, (size_t)PTRDIFF_MAX + 1);
	one_posix_memalign("(2^63,1)", (size_t)1 << 63, 1);
}

static void case_posix_memalign_ok(void)
{
	one_posix_memalign("(8,0)", 8, 0);
	one_posix_memalign("(8,1)", 8, 1);
	one_posix_memalign("(16,100)", 16, 100);
	one_posix_memalign("(4096,0)", 4096, 0);
	one_posix_memalign("(4096,4096)", 4096, 4096);
}

/* ---- memalign / aligned_alloc ------------------------------------------- */

static void one_memalign_rounding(size_t al, size_t n)
{
	errno = SENTINEL;
	void *p = memalign(opaque_size(al), opaque_size(n));
	int e = errno;
	size_t want = next_pow2(al);
	if (want < 16)
		want = 16;
	if (!p) {
		say("(%zu,%zu)=NULL,%s", al, n, ename(e));
		return;
	}
	say("(%zu,%zu)=ptr,%s,aligned%zu=%s", al, n, ename(e), want,
	    aligned(p, want) && writable(p, n) ? "yes" : "no");
	free(p);
}

static void case_memalign_non_pow2(void)
{
	one_memalign_rounding(48, 10);
	one_memalign_rounding(24, 100);
	one_memalign_rounding(100, 10);
	one_memalign_rounding(3, 10);
	one_memalign_rounding(4097, 1);
	one_memalign_rounding(12345, 100);
}

static void case_memalign_small_align(void)
{
	one_memalign_rounding(0, 10);
	one_memalign_rounding(1, 10);
	one_memalign_rounding(2, 10);
	one_memalign_rounding(8, 10);
	one_memalign_rounding(16, 0);
}

static void one_memalign_fail(const char *label, size_t al, size_t n, int lax)
{
	errno = SENTINEL;
	void *p = memalign(opaque_size(al), opaque_size(n));
	int e = errno;
	say("%s=%s,%s", label, pname(p), lax ? ename_enomem_or_einval(e) : ename(e));
	free(p);
}

static void case_memalign_huge_align(void)
{
	one_memalign_fail("(2^63,1)", (size_t)1 << 63, 1, 1);
	one_memalign_fail("(2^62,1)", (size_t)1 << 62, 1, 1);
	one_memalign_fail("(SIZE_MAX,1)", SIZE_MAX, 1, 1);
	one_memalign_fail("(2^63+1,1)", ((size_t)1 << 63) + 1, 1, 1);
}

static void case_aligned_size_overflow(void)
{
	one_memalign_fail("memalign(64,SIZE_MAX-16)", 64, SIZE_MAX - 16, 0);
	one_memalign_fail("memalign(4096,SIZE_MAX-4096)", 4096, SIZE_MAX - 4096, 0);
	one_memalign_fail("memalign(2^20,PTRDIFF_MAX)", (size_t)1 << 20,
	                  (size_t)PTRDIFF_MAX, 0);
	one_memalign_fail("memalign(64,2^62)", 64, (size_t)1 << 62, 0);

	errno = SENTINEL;
	void *p = aligned_alloc(64, opaque_size(SIZE_MAX - 63));
	int e = errno;
	say("aligned_alloc(64,SIZE_MAX-63)=%s,%s", pname(p), ename(e));
	free(p);

	errno = SENTINEL;
	p = valloc(opaque_size(SIZE_MAX - 16));
	e = errno;
	say("valloc(SIZE_MAX-16)=%s,%s", pname(p), ename(e));
	free(p);

	errno = SENTINEL;
	p = pvalloc(opaque_size(SIZE_MAX - 16));
	e = errno;
	say("pvalloc(SIZE_MAX-16)=%s,%s", pname(p), ename(e));
	free(p);

	errno = SENTINEL;
	p = pvalloc(opaque_size(SIZE_MAX - 2 * page_size()));
	e = errno;
	say("pvalloc(SIZE_MAX-2page)=%s,%s", pname(p), ename(e));
	free(p);
}

/* glibc 2.36 accepts an alignment that is not a power of two (it rounds up)
 * and a size that is not a multiple of the alignment; C17 allows rejecting
 * them with EINVAL. Both answers print the same normalised word. */
static void one_aligned_alloc_lenient(size_t al, size_t n)
{
	errno = SENTINEL;
	void *p = aligned_alloc(opaque_size(al), opaque_size(n));
	int e = errno;
	const char *verdict;
	if (!p)
		verdict = e == EINVAL ? "EINVAL-or-aligned" : "NULL-without-EINVAL";
	else if (!aligned(p, next_pow2(al ? al : 1)) || !writable(p, n))
		verdict = "misaligned";
	else if (e != SENTINEL)
		verdict = "errno-changed";
	else
		verdict = "EINVAL-or-aligned";
	say("(%zu,%zu)=%s", al, n, verdict);
	free(p);
}

static void case_aligned_alloc_non_pow2(void)
{
	one_aligned_alloc_lenient(3, 8);
	one_aligned_alloc_lenient(48, 96);
	one_aligned_alloc_lenient(24, 10);
	one_aligned_alloc_lenient(0, 8);
}

static void case_aligned_alloc_odd_size(void)
{
	one_aligned_alloc_lenient(64, 100);
	one_aligned_alloc_lenient(4096, 1);
	one_aligned_alloc_lenient(16, 0);
}

static void case_aligned_alloc_ok(void)
{
	static const size_t cases[][2] = { { 16, 16 }, { 64, 128 }, { 256, 1024 },
	                                   { 4096, 8192 }, { 65536, 65536 } };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		errno = SENTINEL;
		void *p = aligned_alloc(opaque_size(cases[i][0]), opaque_size(cases[i][1]));
		int e = errno;
		say("(%zu,%zu)=%s,%s%s", cases[i][0], cases[i][1], pname(p), ename(e),
		    p && !(aligned(p, cases[i][0]) && writable(p, cases[i][1]))
		            ? ",misaligned" : "");
		free(p);
	}
}

/* Alignments 2^4 .. 2^30: aligned, writable, freeable and realloc-able.
 * aligned_alloc gets a size equal to the alignment (a multiple of it). */
static void big_align_family(int fn)
{
	for (int k = 4; k <= 30; k++) {
		size_t al = (size_t)1 << k;
		size_t n = fn == 2 ? al : 100; /* aligned_alloc: size a multiple */
		void *p = NULL;
		if (fn == 0) {
			p = memalign(opaque_size(al), opaque_size(n));
		} else if (fn == 1) {
			if (posix_memalign(&p, opaque_size(al), opaque_size(n)) != 0)
				p = NULL;
		} else {
			p = aligned_alloc(opaque_size(al), opaque_size(n));
		}
		if (!p) {
			say("2^%d=NULL", k);
			return;
		}
		if (!aligned(p, al)) {
			say("2^%d misaligned", k);
			return;
		}
		unsigned char *c = p;
		size_t pat = n - 1 < 4096 ? n - 1 : 4096;
		fill_pattern(c, pat, (unsigned)k);
		c[n - 1] = 0x3C;
		/* Grow small blocks; shrink the huge ones (an allocator that
		 * copies would otherwise fault in gigabytes). */
		size_t grow = n <= MiB ? n * 2 + 4096 : 8192;
		if (grow < n)
			c[grow - 1] = 0x3C;
		unsigned char *r = realloc(p, opaque_size(grow));
		if (!r) {
			say("2^%d realloc=NULL", k);
			free(p);
			return;
		}
		size_t last = (grow < n ? grow : n) - 1;
		if (!check_pattern(r, pat < last ? pat : last, (unsigned)k) ||
		    r[last] != 0x3C) {
			say("2^%d realloc lost contents", k);
			free(r);
			return;
		}
		r[grow - 1] = 1;
		free(r);
	}
	say("2^4..2^30=aligned,writable,realloc-ok");
}

static void case_memalign_big_align(void) { big_align_family(0); }
static void case_posix_memalign_big_align(void) { big_align_family(1); }
static void case_aligned_alloc_big_align(void) { big_align_family(2); }

/* ---- valloc / pvalloc ----------------------------------------------------- */

static void case_valloc_rounding(void)
{
	size_t pg = page_size();
	const size_t sizes[] = { 0, 1, 100, pg - 1, pg, pg + 1, 10 * pg + 3 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		errno = SENTINEL;
		void *p = valloc(opaque_size(sizes[i]));
		int e = errno;
		if (!p) {
			say("(%zu)=NULL,%s", sizes[i], ename(e));
			continue;
		}
		say("(%s)=ptr,%s,page-aligned=%s,usable>=req=%s",
		    i == 3 ? "page-1" : i == 4 ? "page" : i == 5 ? "page+1" :
		    i == 6 ? "10page+3" : i == 0 ? "0" : i == 1 ? "1" : "100",
		    ename(e), aligned(p, pg) ? "yes" : "no",
		    malloc_usable_size(p) >= sizes[i] && writable(p, sizes[i]) ? "yes" : "no");
		free(p);
	}
}

static void case_pvalloc_rounding(void)
{
	size_t pg = page_size();
	const size_t sizes[] = { 0, 1, pg - 1, pg, pg + 1, 3 * pg + 5 };
	const char *labels[] = { "0", "1", "page-1", "page", "page+1", "3page+5" };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		errno = SENTINEL;
		void *p = pvalloc(opaque_size(sizes[i]));
		int e = errno;
		if (!p) {
			say("(%s)=NULL,%s", labels[i], ename(e));
			continue;
		}
		/* Whole pages; pvalloc(0) is only required to give a page-aligned
		 * block (glibc 2.36 gives a minimum-size chunk). */
		size_t whole = (sizes[i] + pg - 1) / pg * pg;
		size_t u = malloc_usable_size(p);
		say("(%s)=ptr,%s,page-aligned=%s,usable>=pages=%s", labels[i], ename(e),
		    aligned(p, pg) ? "yes" : "no",
		    u >= whole && writable(p, whole) ? "yes" : "no");
		free(p);
	}
}

static void case_valloc_pvalloc_realloc(void)
{
	for (int which = 0; which < 2; which++) {
		unsigned char *p = which ? pvalloc(opaque_size(100)) : valloc(opaque_size(100));
		if (!p) {
			say("%s=NULL", which ? "pvalloc" : "valloc");
			continue;
		}
		fill_pattern(p, 100, 11);
		unsigned char *r = realloc(p, opaque_size(3 * page_size() + 1));
		if (!r) {
			say("%s realloc=NULL", which ? "pvalloc" : "valloc");
			free(p);
			continue;
		}
		say("%s=realloc-%s", which ? "pvalloc" : "valloc",
		    check_pattern(r, 100, 11) ? "preserved" : "lost");
		r = realloc(r, opaque_size(10));
		CHECK(r);
		free(r);
	}
}

/* ---- mixing families and the __libc_ aliases ------------------------------ */

static void case_family_mix(void)
{
	unsigned char *p = memalign(256, 300);
	CHECK(p);
	fill_pattern(p, 300, 1);
	p = realloc(p, 100000);
	CHECK(p && check_pattern(p, 300, 1));
	free(p);

	p = aligned_alloc(4096, 4096);
	CHECK(p);
	fill_pattern(p, 4096, 2);
	CHECK(malloc_usable_size(p) >= 4096);
	p = realloc(p, 10);
	CHECK(p && check_pattern(p, 10, 2));
	free(p);

	void *q = NULL;
	CHECK(posix_memalign(&q, 65536, 1 * MiB) == 0);
	fill_pattern(q, 1 * MiB, 3);
	q = realloc(q, 9 * MiB);
	CHECK(q && check_pattern(q, 1 * MiB, 3));
	free(q);

	p = calloc(10, 10);
	CHECK(p);
	p = reallocarray(p, 1000, 10);
	CHECK(p && all_zero(p, 100));
	free(p);
	say("ok");
}

static void case_libc_aliases(void)
{
	unsigned char *p = __libc_malloc(100);
	CHECK(p);
	memset(p, 1, 100);
	CHECK(malloc_usable_size(p) >= 100);
	free(p);

	p = malloc(200);
	CHECK(p);
	__libc_free(p);

	p = __libc_calloc(50, 4);
	CHECK(p && all_zero(p, 200));
	p = realloc(p, 5000);
	CHECK(p);
	free(p);

	p = malloc(64);
	CHECK(p);
	fill_pattern(p, 64, 4);
	p = __libc_realloc(p, 100000);
	CHECK(p && check_pattern(p, 64, 4));
	free(p);

	p = __libc_memalign(128, 1000);
	CHECK(p && aligned(p, 128));
	free(p);

	p = __libc_valloc(10);
	CHECK(p && aligned(p, page_size()));
	free(p);

	p = __libc_pvalloc(10);
	CHECK(p && aligned(p, page_size()) && malloc_usable_size(p) >= page_size());
	p = realloc(p, 2 * page_size());
	CHECK(p);
	__libc_free(p);
	say("ok");
}

/* ---- successful calls leave errno alone ---------------------------------- */

#define NO_ERRNO_CHANGE(label, expr)                                            \
	do {                                                                    \
		errno = SENTINEL;                                               \
		expr;                                                           \
		if (errno != SENTINEL) {                                        \
			say("changed-by %s to %s", label, ename(errno));        \
			return;                                                 \
		}                                                               \
	} while (0)

static void case_errno_on_success(void)
{
	void *a, *b, *c, *d, *e, *f, *g, *h, *i, *j, *k = NULL;
	NO_ERRNO_CHANGE("malloc(1)", a = malloc(opaque_size(1)));
	NO_ERRNO_CHANGE("malloc(1MiB)", b = malloc(opaque_size(1 * MiB)));
	NO_ERRNO_CHANGE("malloc(64MiB)", c = malloc(opaque_size(64 * MiB)));
	NO_ERRNO_CHANGE("calloc(1,1)", d = calloc(1, opaque_size(1)));
	NO_ERRNO_CHANGE("calloc(2^20,8)", e = calloc(opaque_size(1 * MiB), 8));
	NO_ERRNO_CHANGE("realloc-grow", a = realloc(a, opaque_size(100000)));
	NO_ERRNO_CHANGE("realloc-shrink", b = realloc(b, opaque_size(10)));
	NO_ERRNO_CHANGE("realloc(NULL,10)", f = realloc(NULL, opaque_size(10)));
	NO_ERRNO_CHANGE("reallocarray", f = reallocarray(f, opaque_size(10), 30));
	NO_ERRNO_CHANGE("memalign", g = memalign(opaque_size(4096), 10));
	NO_ERRNO_CHANGE("aligned_alloc", h = aligned_alloc(opaque_size(64), 640));
	NO_ERRNO_CHANGE("posix_memalign", CHECK(posix_memalign(&k, 32, 32) == 0));
	NO_ERRNO_CHANGE("valloc", i = valloc(opaque_size(5000)));
	NO_ERRNO_CHANGE("pvalloc", j = pvalloc(opaque_size(5000)));
	CHECK(a && b && c && d && e && f && g && h && i && j && k);
	NO_ERRNO_CHANGE("malloc_usable_size", CHECK(malloc_usable_size(a) >= 100000));
	NO_ERRNO_CHANGE("realloc(64MiB->128MiB)", c = realloc(c, opaque_size(128 * MiB)));
	CHECK(c);
	void *all[] = { a, b, c, d, e, f, g, h, i, j, k };
	for (size_t x = 0; x < sizeof all / sizeof all[0]; x++)
		NO_ERRNO_CHANGE("free", free(all[x]));
	say("errno=unchanged");
}

/* ---- libc functions that allocate internally ----------------------------- */

static int cmp_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void case_libc_internal_allocations(void)
{
	char *s = strdup("conformance");
	CHECK(s && strcmp(s, "conformance") == 0);
	free(s);

	s = strndup("abcdefgh", 3);
	CHECK(s && strcmp(s, "abc") == 0);
	free(s);

	CHECK(asprintf(&s, "%d-%s", 42, "x") == 4 && strcmp(s, "42-x") == 0);
	free(s);

	char *cwd = getcwd(NULL, 0);
	CHECK(cwd);
	char *rp = realpath(".", NULL);
	CHECK(rp);
	free(rp);
	free(cwd);

	char *buf = NULL;
	size_t len = 0;
	FILE *ms = open_memstream(&buf, &len);
	CHECK(ms);
	for (int n = 0; n < 5000; n++)
		fprintf(ms, "line %d\n", n);
	CHECK(fclose(ms) == 0);
	CHECK(buf && len > 30000);

	FILE *in = fmemopen(buf, len, "r");
	CHECK(in);
	char *l = NULL;
	size_t cap = 0;
	int lines = 0;
	while (getline(&l, &cap, in) > 0)
		lines++;
	CHECK(lines == 5000);
	free(l);
	fclose(in);
	free(buf);

	struct dirent **names = NULL;
	int n = scandir("/", &names, NULL, cmp_names);
	CHECK(n > 0);
	for (int x = 0; x < n; x++)
		free(names[x]);
	free(names);
	say("ok");
}

/* ---- threads ---------------------------------------------------------------- */

enum { XT_N = 20000 };
static void *xt_from_main[XT_N];
static void *xt_from_thread[XT_N];

static void *xt_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < XT_N; i++) {
		free(xt_from_main[i]);
		xt_from_thread[i] = malloc(16 + (size_t)(i % 50) * 16);
		CHECK(xt_from_thread[i]);
		memset(xt_from_thread[i], 3, 16);
	}
	return NULL;
}

static void case_cross_thread_free(void)
{
	for (int i = 0; i < XT_N; i++) {
		xt_from_main[i] = malloc(16 + (size_t)(i % 70) * 24);
		CHECK(xt_from_main[i]);
		memset(xt_from_main[i], 1, 16);
	}
	pthread_t t;
	CHECK(pthread_create(&t, NULL, xt_worker, NULL) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	for (int i = 0; i < XT_N; i++)
		free(xt_from_thread[i]);
	say("ok");
}

/* ---- the glibc-specific API: only properties both sides share ------------ */

static void case_mallinfo_callable(void)
{
	void *p = malloc(1 * MiB);
	CHECK(p);
	struct mallinfo2 m2 = mallinfo2();
	(void)m2;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	struct mallinfo m1 = mallinfo();
#pragma GCC diagnostic pop
	(void)m1;
	free(p);
	say("called");
}

static void case_malloc_trim(void)
{
	void *v[1000];
	for (int i = 0; i < 1000; i++)
		v[i] = malloc(opaque_size(1000));
	for (int i = 0; i < 1000; i++)
		free(v[i]);
	errno = SENTINEL;
	int r0 = malloc_trim(0);
	int e = errno;
	int r1 = malloc_trim(opaque_size(1 * MiB));
	say("trim(0)=%s trim(1MiB)=%s errno=%s",
	    r0 == 0 || r0 == 1 ? "0|1" : "other", r1 == 0 || r1 == 1 ? "0|1" : "other",
	    ename(e));
}

static void case_mallopt_known(void)
{
	say("M_MMAP_THRESHOLD=%d", mallopt(M_MMAP_THRESHOLD, 1 << 20));
	say("M_ARENA_MAX=%d", mallopt(M_ARENA_MAX, 2));
	void *p = malloc(2 * MiB);
	CHECK(p);
	free(p);
}

/* glibc 2.36 returns EINVAL itself; its manual page documents -1 with errno
 * EINVAL. Either is accepted: callers test for non-zero. */
static void case_malloc_info_bad_options(void)
{
	FILE *f = fopen("/dev/null", "w");
	CHECK(f);
	errno = SENTINEL;
	int r = malloc_info(1, f);
	int e = errno;
	fclose(f);
	if (r == EINVAL || (r == -1 && e == EINVAL))
		say("malloc_info(1)=EINVAL|-1,EINVAL");
	else
		say("malloc_info(1)=%d errno=%s", r, ename(e));
}

/* ---- a mixed workload with content checks ---------------------------- */

static void case_random_workload(void)
{
	enum { SLOTS = 4096 };
	static unsigned char *slot[SLOTS];
	static size_t len[SLOTS];
	uint64_t rs = 0x9E3779B97F4A7C15ULL;
	for (int step = 0; step < 300000; step++) {
		uint64_t r = rnd_next(&rs);
		size_t i = r % SLOTS;
		if (slot[i]) {
			if (!check_pattern(slot[i], len[i], (unsigned)i)) {
				say("corrupted at step %d", step);
				return;
			}
			if ((r >> 20) % 3 == 0) {
				size_t n = 1 + (r >> 32) % 3000;
				unsigned char *q = realloc(slot[i], n);
				CHECK(q);
				size_t keep = n < len[i] ? n : len[i];
				if (!check_pattern(q, keep, (unsigned)i)) {
					say("realloc lost contents at step %d", step);
					return;
				}
				slot[i] = q;
				len[i] = n;
				fill_pattern(q, n, (unsigned)i);
			} else {
				free(slot[i]);
				slot[i] = NULL;
			}
		} else {
			size_t n = (r >> 40) % 64 == 0 ? 1 + (r >> 16) % 200000
			                                : 1 + (r >> 16) % 512;
			slot[i] = malloc(n);
			CHECK(slot[i]);
			len[i] = n;
			fill_pattern(slot[i], n, (unsigned)i);
		}
	}
	for (int i = 0; i < SLOTS; i++) {
		if (slot[i] && !check_pattern(slot[i], len[i], (unsigned)i)) {
			say("corrupted at the end");
			return;
		}
		free(slot[i]);
	}
	say("ok");
}

/* ---- driver ----------------------------------------------------------------- */

struct tcase {
	const char *name;
	void (*fn)(void);
};

#define C(n) { #n, case_##n }
static const struct tcase cases[] = {
	C(malloc_zero),
	C(malloc_huge),
	C(calloc_overflow),
	C(calloc_huge),
	C(calloc_zero),
	C(calloc_fresh_zeroed),
	C(calloc_recycled_zeroed),
	C(realloc_null),
	C(realloc_null_zero),
	C(realloc_zero),
	C(realloc_huge),
	C(realloc_contents),
	C(reallocarray_overflow),
	C(reallocarray_ok),
	C(reallocarray_zero),
	C(free_null),
	C(free_keeps_errno),
	C(align16_small),
	C(align16_large),
	C(align16_calloc_realloc),
	C(usable_malloc),
	C(usable_calloc),
	C(usable_realloc),
	C(usable_memalign),
	C(usable_aligned_alloc),
	C(usable_posix_memalign),
	C(usable_valloc),
	C(usable_pvalloc),
	C(usable_null),
	C(posix_memalign_einval),
	C(posix_memalign_enomem),
	C(posix_memalign_ok),
	C(memalign_non_pow2),
	C(memalign_small_align),
	C(memalign_huge_align),
	C(aligned_size_overflow),
	C(aligned_alloc_non_pow2),
	C(aligned_alloc_odd_size),
	C(aligned_alloc_ok),
	C(memalign_big_align),
	C(posix_memalign_big_align),
	C(aligned_alloc_big_align),
	C(valloc_rounding),
	C(pvalloc_rounding),
	C(valloc_pvalloc_realloc),
	C(family_mix),
	C(libc_aliases),
	C(errno_on_success),
	C(libc_internal_allocations),
	C(cross_thread_free),
	C(mallinfo_callable),
	C(malloc_trim),
	C(mallopt_known),
	C(malloc_info_bad_options),
	C(random_workload),
};
#undef C

enum { NCASES = sizeof cases / sizeof cases[0] };

/* Seconds a single case may take before it is reported as a hang. */
#define CASE_TIME_LIMIT 30

static void run_case(const struct tcase *tc)
{
	int p[2];
	CHECK(pipe(p) == 0);
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		alarm(CASE_TIME_LIMIT);
		line_len = 0;
		tc->fn();
		line[line_len++] = '\n';
		size_t off = 0;
		while (off < line_len) {
			ssize_t w = write(p[1], line + off, line_len - off);
			if (w <= 0)
				_exit(2);
			off += (size_t)w;
		}
		_exit(0);
	}
	close(p[1]);
	char buf[sizeof line + 1];
	size_t got = 0;
	for (;;) {
		ssize_t r = read(p[0], buf + got, sizeof buf - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == sizeof buf - 1)
			break;
	}
	close(p[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		CHECK(errno == EINTR);
	buf[got] = '\0';

	if (WIFSIGNALED(st)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(st));
		printf("%s: CRASH SIG%s\n", tc->name, abbrev ? abbrev : "?");
	} else if (WEXITSTATUS(st) != 0 || got == 0 || buf[got - 1] != '\n') {
		printf("%s: EXIT %d\n", tc->name, WEXITSTATUS(st));
	} else {
		printf("%s: %s", tc->name, buf);
	}
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < NCASES; i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	if (argc == 1) {
		for (size_t i = 0; i < NCASES; i++)
			run_case(&cases[i]);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	for (int a = 1; a < argc; a++) {
		size_t i;
		for (i = 0; i < NCASES; i++)
			if (strcmp(argv[a], cases[i].name) == 0)
				break;
		if (i == NCASES) {
			fprintf(stderr, "conformance: unknown case %s\n", argv[a]);
			return 2;
		}
		run_case(&cases[i]);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

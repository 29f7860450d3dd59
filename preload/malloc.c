/*
 * malloc.c — the interposed malloc family.
 *
 * Each function applies glibc's documented argument rules (errno values,
 * overflow checks, alignment validation, realloc(p, 0) frees) and calls the
 * engine in core/. The __libc_* names that glibc also exports are aliases of
 * the same functions, so code that calls them gets gcmalloc memory, never
 * glibc heap memory that gcmalloc's free would not recognise.
 *
 * Nothing here calls an exported name: internal calls go to core/ directly,
 * so a program that defines its own malloc cannot re-enter half-way.
 */
#define _GNU_SOURCE
#include "alloc.h"
#include "export.h"
#include "lock.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#define GCM_ALIAS(name) __attribute__((alias(#name), used))

GCM_EXPORT void *malloc(size_t n)
{
	lock_assert_none_held();
	return alloc_malloc(n);
}

GCM_EXPORT void free(void *p)
{
	lock_assert_none_held();
	alloc_free(p);
}

GCM_EXPORT void *calloc(size_t nmemb, size_t size)
{
	lock_assert_none_held();
	return alloc_calloc(nmemb, size);
}

GCM_EXPORT void *realloc(void *p, size_t n)
{
	lock_assert_none_held();
	return alloc_realloc(p, n, "realloc");
}

GCM_EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
	size_t n;
	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n);
}

GCM_EXPORT void *memalign(size_t align, size_t n)
{
	lock_assert_none_held();
	return alloc_memalign(align, n);
}

GCM_EXPORT void *aligned_alloc(size_t align, size_t n)
{
	/* glibc 2.36 accepts any alignment here and treats it as memalign. */
	return alloc_memalign(align, n);
}

GCM_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (align % sizeof(void *) != 0 || !is_pow2(align / sizeof(void *)))
		return EINVAL;
	int saved = errno;
	void *p = alloc_memalign(align, n);
	if (p == NULL) {
		errno = saved;
		return ENOMEM;
	}
	*out = p;
	return 0;
}

GCM_EXPORT void *valloc(size_t n)
{
	return alloc_memalign((size_t)sysconf(_SC_PAGESIZE), n);
}

GCM_EXPORT void *pvalloc(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t rounded = (n + page - 1) & ~(page - 1);
	if (rounded < n) {
		errno = ENOMEM;
		return NULL;
	}
	return alloc_memalign(page, rounded ? rounded : page);
}

GCM_EXPORT size_t malloc_usable_size(void *p)
{
	return alloc_usable_size(p);
}

GCM_EXPORT void cfree(void *p) GCM_ALIAS(free);
GCM_EXPORT void *__libc_malloc(size_t n) GCM_ALIAS(malloc);
GCM_EXPORT void __libc_free(void *p) GCM_ALIAS(free);
GCM_EXPORT void *__libc_calloc(size_t nmemb, size_t size) GCM_ALIAS(calloc);
GCM_EXPORT void *__libc_realloc(void *p, size_t n) GCM_ALIAS(realloc);
GCM_EXPORT void *__libc_memalign(size_t align, size_t n) GCM_ALIAS(memalign);
GCM_EXPORT void *__libc_valloc(size_t n) GCM_ALIAS(valloc);
GCM_EXPORT void *__libc_pvalloc(size_t n) GCM_ALIAS(pvalloc);

/*
 * sizeclass.h — the small-object size classes.
 *
 * Requests up to SIZECLASS_MAX_SIZE bytes are rounded up to one of
 * SIZECLASS_COUNT - 1 classes (class 0 means "large: straight from the page
 * allocator"). Every class is a multiple of 16 bytes, so every object is
 * 16-byte aligned. From 128 bytes up there are 8 classes per doubling, so
 * rounding wastes less than 12.5% of an object; below 128 bytes the classes
 * are the multiples of 16. Each class has a span size, a multiple of 32 KiB,
 * chosen so that the tail of the span that fits no whole object is at most
 * 12.5% of the span.
 *
 * The table is computed at start-up by sizeclass_init (pure arithmetic, no
 * allocation); test_sizeclass.c checks its properties.
 */
#ifndef GCM_SIZECLASS_H
#define GCM_SIZECLASS_H

#include "base.h"

#define SIZECLASS_MAX_SIZE ((size_t)32768)
#define SIZECLASS_COUNT 73 /* class 0 (large) + 72 small classes */
/* Small spans are multiples of this many pages (32 KiB). */
#define SIZECLASS_SPAN_UNIT 8
/* The most objects a span of any class holds (the span's bitmap size):
 * 16-byte objects in one unit. */
#define SIZECLASS_MAX_NELEMS 2048

typedef struct sizeclass_info {
	uint32_t size;    /* object size in bytes */
	uint32_t npages;  /* span size in pages */
	uint32_t nelems;  /* objects per span */
	uint32_t recip;   /* ceil(2^32 / size): offset * recip >> 32 = index */
} sizeclass_info_t;

/* Read-only after sizeclass_init. */
extern sizeclass_info_t sizeclass_table[SIZECLASS_COUNT];
extern uint8_t sizeclass_small_lookup[SIZECLASS_MAX_SIZE / 16 + 1];

void sizeclass_init(void);

/* The class of a request of n bytes, 1 <= n <= SIZECLASS_MAX_SIZE; 0 for
 * n == 0 is not allowed (callers round 0 up to 1). */
GCM_INLINE unsigned sizeclass_of(size_t n)
{
	return sizeclass_small_lookup[(n + 15) >> 4];
}

#endif /* GCM_SIZECLASS_H */

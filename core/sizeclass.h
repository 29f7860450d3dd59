/*
 * sizeclass.h — the small-object size classes.
 *
 * Requests up to SIZECLASS_MAX_SIZE bytes are rounded up to one of
 * SIZECLASS_SMALL_COUNT - 1 classes (class 0 means "large: straight from the
 * page allocator"). Every one of them is a multiple of 16 bytes, so every
 * malloc object is 16-byte aligned, as glibc's are. From 128 bytes up there
 * are 8 classes per doubling, so rounding wastes less than 12.5% of an
 * object; below 128 bytes the classes are the multiples of 16. Each class
 * has a span size, a multiple of 32 KiB, chosen so that the tail of the span
 * that fits no whole object is at most 12.5% of the span.
 *
 * One more class, SIZECLASS_24, sits after them and serves only the
 * collectable kinds (sizeclass_gc_of): requests of 17 to 24 bytes, the
 * common size of a collected node (two pointers and two ints, three
 * pointers), would waste a quarter of a 32-byte object. Its objects are
 * 8-byte aligned, which is all a type of at most 24 bytes can need (a
 * type's size is a multiple of its alignment). malloc keeps glibc's 16.
 *
 * The table is computed at start-up by sizeclass_init (pure arithmetic, no
 * allocation); test_sizeclass.c checks its properties.
 */
#ifndef GCM_SIZECLASS_H
#define GCM_SIZECLASS_H

#include "base.h"

#define SIZECLASS_MAX_SIZE ((size_t)32768)
/* Class 0 (large) + 72 small classes for every kind ... */
#define SIZECLASS_SMALL_COUNT 73
/* ... + the 24-byte class of the collectable kinds. */
#define SIZECLASS_24 73
#define SIZECLASS_COUNT 74
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

/* The class of a collectable request of n bytes, 1 <= n <= SIZECLASS_MAX_SIZE. */
GCM_INLINE unsigned sizeclass_gc_of(size_t n)
{
	return n - 17 < 8 ? SIZECLASS_24 : sizeclass_of(n);
}

#endif /* GCM_SIZECLASS_H */

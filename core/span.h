/*
 * span.h — a span: a run of pages that holds either objects of one size
 * class or one large object.
 *
 * A small-object span divides its pages into nelems objects of elem_size
 * bytes starting at base. Object i starts at base + i * elem_size; the
 * object index of an address is computed with a reciprocal multiply, so
 * finding an object's start (free, and later the collector's conservative
 * pointer test) is O(1). The span keeps one bit per object in freebits:
 * 1 = the object is free and in the central list's custody. Objects handed
 * to a thread cache have their bit clear, like objects in use. The span also
 * reserves the bitmaps and flags the collector needs (mark bits, per-object
 * "collectable" bits) so that it can be added without changing the layout.
 *
 * Span descriptors live in metadata memory (heap.c), never inside the heap.
 */
#ifndef GCM_SPAN_H
#define GCM_SPAN_H

#include "base.h"
#include "lock.h"
#include "sizeclass.h"

#define SPAN_BITMAP_WORDS (SIZECLASS_MAX_NELEMS / 64)

/* What a span's objects are. Each kind has its own spans, central lists and
 * cache bins, so the collector tells collectable objects from malloc ones
 * by their span alone. */
enum span_kind {
	SPAN_KIND_MALLOC = 0,     /* the malloc family: never collected, scanned as roots */
	SPAN_KIND_GC = 1,         /* gcm_malloc: collectable, scanned */
	SPAN_KIND_GC_ATOMIC = 2,  /* gcm_malloc_atomic: collectable, never scanned */
	SPAN_KINDS = 3,
};

/* A span class: kind and size class in one index (0..SPANCLASS_COUNT). The
 * malloc kind's span classes equal its size classes. */
#define SPANCLASS_COUNT (SPAN_KINDS * SIZECLASS_COUNT)

GCM_INLINE unsigned spanclass_make(unsigned kind, unsigned cls)
{
	return kind * SIZECLASS_COUNT + cls;
}

GCM_INLINE unsigned spanclass_cls(unsigned sc)
{
	return sc % SIZECLASS_COUNT;
}

GCM_INLINE unsigned spanclass_kind(unsigned sc)
{
	return sc / SIZECLASS_COUNT;
}

enum span_state {
	SPAN_DEAD = 0,   /* descriptor not in use */
	SPAN_SMALL = 1,  /* objects of one size class */
	SPAN_LARGE = 2,  /* one object of npages pages */
};

typedef struct span span_t;

struct span {
	/* Read-only while the span is in use. */
	uintptr_t base;
	size_t npages;
	uint32_t elem_size;   /* small: class size; large: 0 */
	uint32_t nelems;      /* small: objects in the span; large: 1 */
	uint32_t recip;       /* small: sizeclass_info_t.recip */
	uint8_t cls;          /* 0 for large spans */
	uint8_t state;        /* enum span_state */
	uint8_t kind;         /* enum span_kind */
	uint16_t sc;          /* spanclass_make(kind, cls) */
	/* Large spans: bytes of the object that are known to be zero pages
	 * fresh from the kernel (calloc may skip clearing them). */
	uint8_t fresh;

	/* Protected by: the central lock of cls (small spans). */
	uint32_t nfree;       /* set bits in freebits */
	span_t *next;         /* central list links */
	span_t *prev;
	int8_t list;          /* central fullness list, -1 when in none */
	uint64_t freebits[SPAN_BITMAP_WORDS];

	/* The collector's mark bits, one per object. Written with the world
	 * stopped. */
	uint64_t markbits[SPAN_BITMAP_WORDS];

	/* Weak handles, finalizers and cleanups of this span's objects,
	 * sorted by offset (special.c). NULL when there are none, which keeps
	 * free() on its fast path. Protected by: special_lock; read without
	 * it as a hint by free's fast path. */
	struct special *specials;
	struct special *specials_last; /* the list's last record. Protected by: special_lock */
	struct special *specials_hint; /* the last record found. Protected by: special_lock */
	lock_t special_lock;
};

/* Index of the object containing addr (addr inside a small span). */
GCM_INLINE uint32_t span_object_index(const span_t *s, uintptr_t addr)
{
	return (uint32_t)(((uint64_t)(addr - s->base) * s->recip) >> 32);
}

GCM_INLINE uintptr_t span_object_base(const span_t *s, uint32_t idx)
{
	return s->base + (uintptr_t)idx * s->elem_size;
}

/* Whether addr (inside a small span) is the first byte of an object: the
 * test free() and friends apply before trusting a pointer. */
GCM_INLINE bool span_is_object_start(const span_t *s, uintptr_t addr)
{
	return span_object_base(s, span_object_index(s, addr)) == addr;
}

GCM_INLINE size_t span_bytes(const span_t *s)
{
	return s->npages << 12;
}

#endif /* GCM_SPAN_H */

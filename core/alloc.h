/*
 * alloc.h — the allocation entry points the preload layer calls.
 *
 * These implement glibc's documented behaviour (errno, overflow, alignment
 * rules) so that preload/ is a thin layer of exported names. Pointers that
 * gcmalloc did not hand out are reported and the process aborts: see
 * alloc_report_invalid.
 */
#ifndef GCM_ALLOC_H
#define GCM_ALLOC_H

#include "base.h"
#include "alloc_inline.h"

#include <string.h>

/* One-time initialisation of the engine. Thread-safe, idempotent, calls
 * nothing that allocates. Returns false if the kernel refused the
 * metadata reservations. */
bool alloc_init(void);
bool alloc_is_initialized(void);

void *alloc_calloc(size_t nmemb, size_t size);
void *alloc_realloc(void *p, size_t n, const char *call);
/* glibc memalign rules: a non-power-of-two alignment is rounded up. */
void *alloc_memalign(size_t align, size_t n);
size_t alloc_usable_size(void *p);

/* Collectable allocation slow path (kind: SPAN_KIND_GC or _GC_ATOMIC);
 * counts the bytes and may run a collection. */
GCM_NOINLINE void *alloc_gc_malloc_slow(size_t n, unsigned kind);

/* Collectable allocation: zeroed (SPAN_KIND_GC) or not (SPAN_KIND_GC_ATOMIC).
 * The fast path pops from the kind's bin and counts the bytes in the
 * thread's cache. */
GCM_INLINE void *alloc_gc_malloc(size_t n, unsigned kind)
{
	if (GCM_LIKELY(n <= SIZECLASS_MAX_SIZE)) {
		unsigned cls = sizeclass_gc_of(n);
		tcache_t *tc = tcache_tls;
		tcache_bin_t *b = &tc->bins[spanclass_make(kind, cls)];
		if (GCM_LIKELY(b->n != 0)) {
			void *p = b->slots[--b->n];
			uint32_t size = sizeclass_table[cls].size;
			if (kind == SPAN_KIND_GC)
				memset(p, 0, size);
			else
				((uintptr_t *)p)[1] = 0;
			tc->gc_pending_bytes += size;
			return p;
		}
	}
	return alloc_gc_malloc_slow(n, kind);
}

/* Whether the object starting at obj in span s is free (in the central
 * list or the calling thread's cache; another thread's cache is not seen). */
bool alloc_object_is_free(span_t *s, uintptr_t obj);

/* Frees a large span (accounting included). */
void alloc_free_large(span_t *s);

/* Prints "<call>(): invalid pointer <p> ..." and aborts. */
GCM_NORETURN GCM_COLD void alloc_report_invalid(const char *call, const void *p);

/* malloc_trim: returns the calling thread's caches and every empty span,
 * then releases every free page to the kernel. Returns the bytes released. */
size_t alloc_trim(void);

/* Heap figures for mallinfo, malloc_stats and malloc_info. */
typedef struct alloc_stats {
	size_t mapped_bytes;   /* arenas mapped */
	size_t meta_bytes;     /* metadata mapped */
	size_t span_bytes;     /* bytes in spans (small + large) */
	size_t large_bytes;    /* bytes in large objects */
	size_t nlarge;         /* live large objects */
	size_t free_bytes;     /* free pages, not released */
	size_t released_bytes; /* free pages released to the kernel */
	size_t nthreads_idle_flushed; /* idle thread caches flushed */
} alloc_stats_t;

void alloc_get_stats(alloc_stats_t *out);

/* Fork protocol: every allocator lock in rank order. */
void alloc_prefork(void);
void alloc_postfork_parent(void);
void alloc_postfork_child(void);

#endif /* GCM_ALLOC_H */

/*
 * alloc_inline.h — the malloc and free fast paths.
 *
 * malloc of a small size: one TLS load, one table lookup for the size
 * class, pop from the class's bin. free: a two-level page-map lookup for the
 * span, a multiply to check the pointer is an object start, push onto the
 * bin. No lock, no atomic read-modify-write, no option or global statistic
 * is touched. Everything else (empty or full bin, large objects, pointers
 * that are not ours, a suspected double free, threads without a cache) is
 * one predicted branch away, in alloc.c.
 */
#ifndef GCM_ALLOC_INLINE_H
#define GCM_ALLOC_INLINE_H

#include "base.h"
#include "pagemap.h"
#include "sizeclass.h"
#include "tcache.h"

GCM_NOINLINE GCM_COLD void *alloc_malloc_slow(size_t n);
GCM_NOINLINE void alloc_free_slow(void *p, const char *call);

GCM_INLINE void *alloc_malloc(size_t n)
{
	if (GCM_LIKELY(n <= SIZECLASS_MAX_SIZE)) {
		tcache_bin_t *b = &tcache_tls->bins[sizeclass_of(n)];
		if (GCM_LIKELY(b->n != 0)) {
			void *p = b->slots[--b->n];
			((uintptr_t *)p)[1] = 0; /* drop the free-object mark */
			return p;
		}
	}
	return alloc_malloc_slow(n);
}

GCM_INLINE void alloc_free(void *p)
{
	span_t *s = pagemap_lookup(p);
	if (GCM_LIKELY(s != NULL && s->cls != 0 && (!GCM_COLLECTOR || s->specials == NULL))) {
		tcache_bin_t *b = &tcache_tls->bins[s->sc];
		if (GCM_LIKELY(span_is_object_start(s, (uintptr_t)p) &&
			       b->n < b->max &&
			       ((uintptr_t *)p)[1] != tcache_key)) {
			((uintptr_t *)p)[1] = tcache_key;
			b->slots[b->n++] = p;
			return;
		}
	}
	alloc_free_slow(p, "free");
}

#endif /* GCM_ALLOC_INLINE_H */

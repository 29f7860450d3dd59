/*
 * pcache.h — a per-thread cache of up to 64 free pages.
 *
 * Small page requests (fewer than PCACHE_MAX_NPAGES pages) are served from a
 * 64-page aligned block the thread took from the page allocator in one
 * locked call, so most span allocations never touch the heap lock.
 *
 * A cache is owned by one thread; pcache_alloc runs without any lock. The
 * pages it holds are marked in use in the page allocator (invisible to other
 * threads and to the scavenger) until pcache_flush_locked gives them back.
 */
#ifndef GCM_PCACHE_H
#define GCM_PCACHE_H

#include "base.h"
#include "palloc.h"

#define PCACHE_NPAGES 64
/* Requests of this many pages or more bypass the cache: past that the cache
 * would rarely fit them and mostly fragment. */
#define PCACHE_MAX_NPAGES 16

typedef struct pcache {
	uintptr_t base;  /* 64-page aligned; meaningful while cache != 0 */
	uint64_t cache;  /* 1 = page free and owned by this cache */
	uint64_t scav;   /* 1 = that page is scavenged (a fresh zero page) */
} pcache_t;

GCM_INLINE bool pcache_is_empty(const pcache_t *c)
{
	return c->cache == 0;
}

/* Takes npages (< PCACHE_MAX_NPAGES) contiguous pages from the cache, or
 * returns 0. *scav_bytes receives how many of them were scavenged. No lock:
 * the calling thread owns c. */
uintptr_t pcache_alloc(pcache_t *c, size_t npages, size_t *scav_bytes);

/* Fills an empty cache with the free pages of the 64-page block holding the
 * first free page at or above the search address. Returns an empty cache if
 * the heap has no free page. Locks: heap lock. */
pcache_t pcache_refill_locked(palloc_t *pa);

/* Gives every page of c back to the page allocator (restoring scavenged
 * bits) and empties c. Locks: heap lock. */
void pcache_flush_locked(palloc_t *pa, pcache_t *c);

#endif /* GCM_PCACHE_H */

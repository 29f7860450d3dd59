/*
 * testing.h — test-only entry points into core/.
 *
 * Built into the gcmcore_testing library that the unit tests link, never into
 * libgcmalloc.so. Each entry point takes the locks the internal function
 * requires, calls it and releases them, so tests never hold allocator locks
 * themselves (the way Go's export_test.go wraps pageAlloc).
 *
 * Test page allocators run in test mode: they describe heaps at made-up
 * addresses (TESTING_BASE_CHUNK and up) and map nothing but their metadata.
 */
#ifndef GCM_TESTING_H
#define GCM_TESTING_H

#include "base.h"
#include "palloc.h"
#include "pcache.h"

/* Chunk index of the first chunk of test heaps: address 0x3000000000. */
#define TESTING_BASE_CHUNK ((palloc_chunk_idx_t)0x18000)

/* A run of pages [i, i+n) inside one chunk. */
typedef struct testing_bit_range {
	unsigned i, n;
} testing_bit_range_t;

/* One chunk of a test heap: which pages are in use and which are
 * scavenged. Pages in use are never scavenged: ranges in both lists end up
 * in use only. */
typedef struct testing_chunk {
	palloc_chunk_idx_t ci;
	const testing_bit_range_t *alloc;
	unsigned nalloc;
	const testing_bit_range_t *scav;
	unsigned nscav;
} testing_chunk_t;

/* A page allocator with its own lock (rank heap). */
typedef struct testing_palloc {
	palloc_t pa;
	lock_t lock;
} testing_palloc_t;

/* Address of page `page` of chunk ci. */
GCM_INLINE uintptr_t testing_page_base(palloc_chunk_idx_t ci, unsigned page)
{
	return palloc_chunk_base(ci) + ((uintptr_t)page << PALLOC_PAGE_SHIFT);
}

/* Builds a test allocator grown chunk by chunk over the given chunks (in
 * any order), with the given in-use and scavenged pages. */
testing_palloc_t *testing_palloc_new(const testing_chunk_t *chunks, unsigned n);
void testing_palloc_delete(testing_palloc_t *t);

uintptr_t testing_palloc_alloc(testing_palloc_t *t, size_t npages,
			       size_t *scav_bytes);
bool testing_palloc_alloc_at(testing_palloc_t *t, uintptr_t base,
			     size_t npages, size_t *scav_bytes);
void testing_palloc_free(testing_palloc_t *t, uintptr_t base, size_t npages);
uintptr_t testing_palloc_find(testing_palloc_t *t, size_t npages,
			      uintptr_t *search_out);
bool testing_palloc_grow(testing_palloc_t *t, uintptr_t base, size_t nbytes);
uintptr_t testing_palloc_search_addr(testing_palloc_t *t);
bool testing_palloc_is_valid(testing_palloc_t *t);
/* A copy of chunk ci's bitmaps. */
palloc_chunk_t testing_palloc_chunk(testing_palloc_t *t, palloc_chunk_idx_t ci);
/* The summary at (level, index). */
palloc_sum_t testing_palloc_summary(testing_palloc_t *t, unsigned level,
				    size_t index);

pcache_t testing_pcache_refill(testing_palloc_t *t);
void testing_pcache_flush(testing_palloc_t *t, pcache_t *c);

/* Calls a lock-requiring function without the lock (death tests). */
void testing_palloc_alloc_unlocked(testing_palloc_t *t, size_t npages);



/* Scavenges the test allocator (scav_scavenge takes its lock itself). */
size_t testing_scav_scavenge(testing_palloc_t *t, uintptr_t *cursor,
			     size_t nbytes, bool force);
/* Starts a new generation (scavenger density window). */
void testing_palloc_next_gen(testing_palloc_t *t);

/* The global heap's free page count (takes the heap lock). */
size_t testing_heap_free_pages(void);
#endif /* GCM_TESTING_H */

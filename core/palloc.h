/*
 * palloc.h — the page allocator: which pages of the heap's address space are
 * free, found through a radix tree of summaries over per-chunk bitmaps.
 *
 * See the design comment at the top of palloc.c. Every function here
 * requires the heap lock (pa->lock) unless it says otherwise; the lock is
 * owned by the heap (heap.c) or, in tests, by the test allocator.
 */
#ifndef GCM_PALLOC_H
#define GCM_PALLOC_H

#include "base.h"
#include "addrrange.h"
#include "lock.h"
#include "palloc_bits.h"
#include "palloc_sum.h"

/* The allocator's page: 4 KiB, the kernel's page, so a chunk of 512 pages is
 * 2 MiB, exactly one x86-64 transparent huge page. */
#define PALLOC_PAGE_SHIFT 12
#define PALLOC_PAGE_SIZE ((size_t)1 << PALLOC_PAGE_SHIFT)
#define PALLOC_CHUNK_SHIFT (PALLOC_PAGE_SHIFT + PALLOC_CHUNK_PAGES_SHIFT)
#define PALLOC_CHUNK_BYTES ((size_t)1 << PALLOC_CHUNK_SHIFT)

/* The tree covers a 48-bit address space with 5 levels; each level below
 * the root fans out by 8 (8 summaries are one 64-byte cache line). */
#define PALLOC_ADDR_BITS 48
#define PALLOC_LEVELS 5
#define PALLOC_LEVEL_BITS 3
#define PALLOC_ROOT_BITS \
	(PALLOC_ADDR_BITS - PALLOC_CHUNK_SHIFT - (PALLOC_LEVELS - 1) * PALLOC_LEVEL_BITS)
/* One past the highest heap address: a search address equal to this means
 * "the heap is exhausted". */
#define PALLOC_MAX_ADDR ((uintptr_t)1 << PALLOC_ADDR_BITS)
#define PALLOC_NCHUNKS ((size_t)1 << (PALLOC_ADDR_BITS - PALLOC_CHUNK_SHIFT))

/* Chunk metadata directory: chunk index = L1 (14 bits) : L2 (13 bits). Each
 * L2 block holds 8192 chunk records (1 MiB) and is mapped on first use. */
#define PALLOC_CHUNKS_L2_BITS 13
#define PALLOC_CHUNKS_L1_BITS \
	(PALLOC_ADDR_BITS - PALLOC_CHUNK_SHIFT - PALLOC_CHUNKS_L2_BITS)

typedef size_t palloc_chunk_idx_t;

GCM_INLINE palloc_chunk_idx_t palloc_chunk_index(uintptr_t addr)
{
	return addr >> PALLOC_CHUNK_SHIFT;
}

GCM_INLINE uintptr_t palloc_chunk_base(palloc_chunk_idx_t ci)
{
	return (uintptr_t)ci << PALLOC_CHUNK_SHIFT;
}

GCM_INLINE unsigned palloc_chunk_page_index(uintptr_t addr)
{
	return (unsigned)((addr >> PALLOC_PAGE_SHIFT) & (PALLOC_CHUNK_PAGES - 1));
}

/*
 * Invariants (with the heap lock held):
 *   - summary[PALLOC_LEVELS-1][ci] is palloc_bits_summarize() of chunk ci's
 *     alloc bitmap for every grown chunk, and every entry above is the merge
 *     of its 8 children;
 *   - every page below search_addr is in use, and search_addr lies inside a
 *     grown range or equals PALLOC_MAX_ADDR;
 *   - no page is both in use and scavenged;
 *   - the 8 sibling entries of any grown entry are committed, at every level.
 */
typedef struct palloc {
	/* Level arrays, reserved PROT_NONE at init and committed as the heap
	 * grows. Protected by: heap lock. */
	palloc_sum_t *summary[PALLOC_LEVELS];
	/* Per level, one bit per page of the level array: committed or not.
	 * Protected by: heap lock. */
	uint64_t *summary_committed[PALLOC_LEVELS];
	/* Chunk bitmaps, two-level directory. Protected by: heap lock. */
	palloc_chunk_t *chunks[(size_t)1 << PALLOC_CHUNKS_L1_BITS];
	/* Address-ordered first fit starts here. Protected by: heap lock. */
	uintptr_t search_addr;
	/* Chunk indices ever grown are within [start, end). Protected by: heap lock. */
	palloc_chunk_idx_t start, end;
	/* Every range given to grow. Protected by: heap lock. */
	addrrange_set_t in_use;
	/* Bytes of metadata committed (summaries and chunk bitmaps).
	 * Protected by: heap lock. */
	size_t meta_bytes;
	/* Pages currently free (not in use) in the grown ranges, and pages
	 * free and scavenged. Protected by: heap lock. */
	size_t free_pages;
	size_t scav_pages;
	/* Pages in the grown ranges. Protected by: heap lock. */
	size_t grown_pages;
	/* Generations (advanced by the scavenger, scav.c) and the most pages
	 * in use at once during the current and the previous one.
	 * Protected by: heap lock. */
	uint32_t gen;
	size_t peak_in_use_pages;
	size_t prev_peak_in_use_pages;
	lock_t *lock;          /* Read-only after init. */
	/* Test mode: the allocator is built at made-up addresses; nothing but
	 * its metadata is ever mapped. Read-only after init. */
	bool test_mode;
} palloc_t;

/* Reserves the summary arrays. lock is the lock that protects pa. Not
 * locked itself (pa is not shared yet). Returns false if the address space
 * reservation failed. */
bool palloc_init(palloc_t *pa, lock_t *lock, bool test_mode);
/* Unmaps every piece of metadata (tests only). */
void palloc_destroy(palloc_t *pa);

/* Adds [base, base+nbytes), rounded out to whole chunks, to the heap as free
 * and scavenged pages. Returns false, changing nothing, if the range
 * overlaps earlier growth; false also if metadata could not be committed.
 * Locks: heap lock. */
bool palloc_grow_locked(palloc_t *pa, uintptr_t base, size_t nbytes);

/* Allocates npages contiguous pages (address-ordered first fit). Returns the
 * base address, or 0 if no run is long enough; *scav_bytes receives how
 * many of the returned bytes had been scavenged (fresh zero pages).
 * Locks: heap lock. */
uintptr_t palloc_alloc_locked(palloc_t *pa, size_t npages, size_t *scav_bytes);

/* Allocates exactly [base, base+npages) if every page of it is free and
 * grown. Returns false otherwise, changing nothing. Locks: heap lock. */
bool palloc_alloc_at_locked(palloc_t *pa, uintptr_t base, size_t npages,
			    size_t *scav_bytes);

/* Returns [base, base+npages), which must be in use, to the free pages.
 * Locks: heap lock. */
void palloc_free_locked(palloc_t *pa, uintptr_t base, size_t npages);

/* Finds (without allocating) the first run of npages free pages. Returns
 * its base or 0, and in *search_out the new search-address candidate.
 * Locks: heap lock. */
uintptr_t palloc_find_locked(palloc_t *pa, size_t npages, uintptr_t *search_out);

/* Re-summarises the chunks covering [base, base+npages) after their bitmaps
 * changed and merges the change up the tree, stopping at the first level
 * that did not change. contig says the whole range was allocated (alloc) or
 * freed (!alloc) at once, which lets interior chunks be set directly.
 * Locks: heap lock. */
void palloc_update_locked(palloc_t *pa, uintptr_t base, size_t npages,
			  bool contig, bool alloc);

/* The chunk record of a grown chunk. Locks: heap lock (or tests that own pa). */
GCM_INLINE palloc_chunk_t *palloc_chunk_of(const palloc_t *pa,
					  palloc_chunk_idx_t ci)
{
	return &pa->chunks[ci >> PALLOC_CHUNKS_L2_BITS]
			  [ci & (((size_t)1 << PALLOC_CHUNKS_L2_BITS) - 1)];
}

/* The smallest grown address >= addr, or PALLOC_MAX_ADDR. Locks: heap lock. */
uintptr_t palloc_find_mapped_addr_locked(const palloc_t *pa, uintptr_t addr);

/* Records that pages of chunk ci were just allocated: updates the chunk's
 * and the heap's peak-in-use figures. Locks: heap lock. */
void palloc_note_alloc_locked(palloc_t *pa, palloc_chunk_idx_t ci);

/* Starts a new generation. Locks: heap lock. */
void palloc_next_gen_locked(palloc_t *pa);

/* Recomputes every summary from the bitmaps and checks the invariants
 * above. O(heap). Locks: heap lock. */
bool palloc_is_valid_locked(const palloc_t *pa);

#endif /* GCM_PALLOC_H */

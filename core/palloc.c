/*
 * palloc.c — the page allocator.
 *
 * The page allocator owns the question "which pages of the heap are free?"
 * and answers "give me n contiguous pages" with the lowest-addressed run that
 * fits (address-ordered first fit keeps the heap compact and makes the
 * scavenger's work, which goes from the top down, meet little contention).
 *
 * Data structure. The heap's address space is cut into 2 MiB chunks of 512
 * pages. Each chunk that has been grown into has two 512-bit bitmaps
 * (palloc_bits.c): pages in use, and pages returned to the kernel. Above
 * the chunks sits a radix tree of summaries (palloc_sum.h). Level 4 has one
 * summary per chunk; each level above has one summary per 8 entries of the
 * level below; the root level has 2^15 entries, each covering 8 GiB, which
 * spans a 48-bit address space in five levels:
 *
 *   level   entries   pages per entry   address shift
 *     0      2^15         2^21              33
 *     1      2^18         2^18              30
 *     2      2^21         2^15              27
 *     3      2^24         2^12              24
 *     4      2^27         2^9               21   (one per chunk)
 *
 * Each level is one flat array indexed by address >> shift, reserved
 * PROT_NONE at start-up (about 1.1 GiB of address space in all, no memory)
 * and committed a page at a time when the heap grows into the addresses it
 * describes. A search reads only entries whose parent is non-zero, and a
 * parent is non-zero only if one of its children was grown, and growth
 * commits whole blocks of 8 siblings, so a search never touches an
 * uncommitted page.
 *
 * Finding n free pages walks from the root. At each level it scans one block
 * of entries, carrying a run of free pages that may cross entries: if the run
 * so far plus an entry's start fits, the answer is there; if the entry's max
 * fits, descend into it; otherwise the run restarts at the entry's end. At
 * the leaf it searches the chunk bitmap. The cost is proportional to the
 * depth of the tree, not to the size of the heap.
 *
 * The search address hint. Every page below search_addr is in use, so each
 * level's scan starts at the hint's entry when the hint falls in the block
 * being scanned. Allocation raises the hint to the first free page the search
 * saw; freeing lowers it. When the heap has holes in its address space, the
 * hint is moved to the base of the next grown range so that the fast path in
 * palloc_alloc_locked never reads the summary of a chunk that was never
 * grown.
 *
 * Updates. Allocating or freeing changes chunk bitmaps; palloc_update_locked
 * re-summarises the affected leaves (returning at once if a single leaf did
 * not change) and merges upwards level by level, stopping as soon as a whole
 * level is unchanged.
 *
 * Scavenged pages. Growth marks new pages scavenged (they were never
 * touched); allocation clears the scavenged bits of what it hands out and
 * reports how many bytes were scavenged, so callers know those pages are
 * zero. Freeing leaves the bits alone: a freed page is a scavenging
 * candidate.
 *
 * Locking. Everything here runs under the heap lock; each function asserts
 * it. The tests build private allocators with their own lock (testing.c).
 *
 * Calls: palloc_bits.c for bitmaps, addrrange.c for the grown ranges, sys.c
 * to reserve and commit metadata.
 */
#include "base.h"
#include "palloc.h"
#include "debug.h"
#include "log.h"
#include "sys.h"

#include <string.h>

static const unsigned palloc_level_bits[PALLOC_LEVELS] = {
	PALLOC_ROOT_BITS, PALLOC_LEVEL_BITS, PALLOC_LEVEL_BITS,
	PALLOC_LEVEL_BITS, PALLOC_LEVEL_BITS,
};

/* log2 of the pages one entry of each level covers. */
static const unsigned palloc_level_log_pages[PALLOC_LEVELS] = {
	PALLOC_CHUNK_PAGES_SHIFT + 4 * PALLOC_LEVEL_BITS,
	PALLOC_CHUNK_PAGES_SHIFT + 3 * PALLOC_LEVEL_BITS,
	PALLOC_CHUNK_PAGES_SHIFT + 2 * PALLOC_LEVEL_BITS,
	PALLOC_CHUNK_PAGES_SHIFT + 1 * PALLOC_LEVEL_BITS,
	PALLOC_CHUNK_PAGES_SHIFT,
};

GCM_INLINE unsigned palloc_level_shift(unsigned l)
{
	return palloc_level_log_pages[l] + PALLOC_PAGE_SHIFT;
}

GCM_INLINE size_t palloc_level_entries(unsigned l)
{
	return (size_t)1 << (PALLOC_ADDR_BITS - palloc_level_shift(l));
}

GCM_INLINE size_t palloc_level_index(unsigned l, uintptr_t addr)
{
	return addr >> palloc_level_shift(l);
}

GCM_INLINE uintptr_t palloc_level_addr(unsigned l, size_t idx)
{
	return (uintptr_t)idx << palloc_level_shift(l);
}

static const palloc_sum_t palloc_free_chunk_sum =
	(uint64_t)PALLOC_CHUNK_PAGES |
	((uint64_t)PALLOC_CHUNK_PAGES << PALLOC_SUM_LOG_MAX) |
	((uint64_t)PALLOC_CHUNK_PAGES << (2 * PALLOC_SUM_LOG_MAX));

bool palloc_init(palloc_t *pa, lock_t *lock, bool test_mode)
{
	/* A root entry's page count must fit the summary fields. */
	_Static_assert(PALLOC_CHUNK_PAGES_SHIFT + 4 * PALLOC_LEVEL_BITS ==
			       PALLOC_SUM_LOG_MAX,
		       "root entries must cover exactly PALLOC_SUM_MAX pages");
	memset(pa, 0, sizeof(*pa));
	pa->lock = lock;
	pa->test_mode = test_mode;
	pa->search_addr = PALLOC_MAX_ADDR;
	for (unsigned l = 0; l < PALLOC_LEVELS; l++) {
		size_t nbytes = palloc_level_entries(l) * sizeof(palloc_sum_t);
		pa->summary[l] = sys_reserve(nbytes);
		size_t npages = nbytes / SYS_PAGE_SIZE;
		size_t bitmap_bytes = align_up((npages + 63) / 64 * 8, SYS_PAGE_SIZE);
		pa->summary_committed[l] = sys_alloc(bitmap_bytes);
		if (pa->summary[l] == NULL || pa->summary_committed[l] == NULL) {
			palloc_destroy(pa);
			return false;
		}
	}
	return true;
}

void palloc_destroy(palloc_t *pa)
{
	for (unsigned l = 0; l < PALLOC_LEVELS; l++) {
		size_t nbytes = palloc_level_entries(l) * sizeof(palloc_sum_t);
		size_t npages = nbytes / SYS_PAGE_SIZE;
		if (pa->summary[l])
			sys_free(pa->summary[l], nbytes);
		if (pa->summary_committed[l])
			sys_free(pa->summary_committed[l],
				 align_up((npages + 63) / 64 * 8, SYS_PAGE_SIZE));
		pa->summary[l] = NULL;
		pa->summary_committed[l] = NULL;
	}
	for (size_t i = 0; i < GCM_ARRAY_LEN(pa->chunks); i++) {
		if (pa->chunks[i]) {
			sys_free(pa->chunks[i], sizeof(palloc_chunk_t)
							<< PALLOC_CHUNKS_L2_BITS);
			pa->chunks[i] = NULL;
		}
	}
	addrrange_destroy(&pa->in_use);
}

/*
 * Commits the pages of level l's array that hold entries [lo, hi).
 * Locks: heap lock.
 */
static bool palloc_commit_level_locked(palloc_t *pa, unsigned l, size_t lo,
				       size_t hi)
{
	lock_assert_held(pa->lock);
	uintptr_t arr = (uintptr_t)pa->summary[l];
	size_t first = (lo * sizeof(palloc_sum_t)) / SYS_PAGE_SIZE;
	size_t last = (hi * sizeof(palloc_sum_t) + SYS_PAGE_SIZE - 1) / SYS_PAGE_SIZE;
	uint64_t *bits = pa->summary_committed[l];

	size_t p = first;
	while (p < last) {
		if (bits[p / 64] & ((uint64_t)1 << (p % 64))) {
			p++;
			continue;
		}
		size_t q = p;
		while (q < last && !(bits[q / 64] & ((uint64_t)1 << (q % 64))))
			q++;
		if (!sys_commit((void *)(arr + p * SYS_PAGE_SIZE),
				(q - p) * SYS_PAGE_SIZE))
			return false;
		for (size_t i = p; i < q; i++)
			bits[i / 64] |= (uint64_t)1 << (i % 64);
		pa->meta_bytes += (q - p) * SYS_PAGE_SIZE;
		p = q;
	}
	return true;
}

/*
 * Commits the summary entries describing [base, limit), widened to whole
 * blocks of 8 siblings, and the chunk records. Locks: heap lock.
 */
static bool palloc_sys_grow_locked(palloc_t *pa, uintptr_t base, uintptr_t limit)
{
	lock_assert_held(pa->lock);
	for (unsigned l = 0; l < PALLOC_LEVELS; l++) {
		size_t lo = palloc_level_index(l, base);
		size_t hi = palloc_level_index(l, limit - 1) + 1;
		if (l > 0) {
			size_t block = (size_t)1 << palloc_level_bits[l];
			lo = align_down(lo, block);
			hi = align_up(hi, block);
		} else {
			lo = 0;
			hi = palloc_level_entries(0);
		}
		if (!palloc_commit_level_locked(pa, l, lo, hi))
			return false;
	}
	for (palloc_chunk_idx_t c = palloc_chunk_index(base);
	     c < palloc_chunk_index(limit); c++) {
		size_t l1 = c >> PALLOC_CHUNKS_L2_BITS;
		if (pa->chunks[l1] == NULL) {
			size_t nbytes = sizeof(palloc_chunk_t) << PALLOC_CHUNKS_L2_BITS;
			palloc_chunk_t *blk = sys_alloc(nbytes);
			if (blk == NULL)
				return false;
			/* Readers that run without the lock (none yet)
			 * would tolerate NULL; publish with a release store. */
			__atomic_store_n(&pa->chunks[l1], blk, __ATOMIC_RELEASE);
			pa->meta_bytes += nbytes;
		}
	}
	return true;
}

bool palloc_grow_locked(palloc_t *pa, uintptr_t base, size_t nbytes)
{
	lock_assert_held(pa->lock);
	uintptr_t limit = align_up(base + nbytes, PALLOC_CHUNK_BYTES);
	base = align_down(base, PALLOC_CHUNK_BYTES);
	if (base >= limit || limit > PALLOC_MAX_ADDR)
		return false;
	/* The range must not overlap anything grown before: growing it again
	 * would reset the bitmaps of chunks in use. */
	size_t succ = addrrange_find_succ(&pa->in_use, base);
	if ((succ > 0 && pa->in_use.ranges[succ - 1].limit > base) ||
	    (succ < pa->in_use.n && pa->in_use.ranges[succ].base < limit))
		return false;

	if (!palloc_sys_grow_locked(pa, base, limit))
		return false;
	if (!addrrange_add(&pa->in_use, base, limit))
		return false;

	palloc_chunk_idx_t start = palloc_chunk_index(base);
	palloc_chunk_idx_t end = palloc_chunk_index(limit);
	if (pa->end == 0 || start < pa->start)
		pa->start = start;
	if (end > pa->end)
		pa->end = end;
	if (base < pa->search_addr)
		pa->search_addr = base;

	for (palloc_chunk_idx_t c = start; c < end; c++) {
		palloc_chunk_t *ch = palloc_chunk_of(pa, c);
		memset(&ch->alloc, 0, sizeof(ch->alloc));
		memset(&ch->scav, 0xff, sizeof(ch->scav));
	}
	size_t npages = (limit - base) >> PALLOC_PAGE_SHIFT;
	pa->free_pages += npages;
	pa->scav_pages += npages;
	pa->grown_pages += npages;
	palloc_update_locked(pa, base, npages, true, false);
	return true;
}

void palloc_note_alloc_locked(palloc_t *pa, palloc_chunk_idx_t ci)
{
	lock_assert_held(pa->lock);
	palloc_chunk_t *ch = palloc_chunk_of(pa, ci);
	unsigned in_use = 0;
	for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++)
		in_use += (unsigned)__builtin_popcountll(ch->alloc.w[w]);
	if (ch->gen != pa->gen) {
		/* First allocation in this chunk this generation. */
		ch->prev_peak_in_use = ch->gen + 1 == pa->gen ? ch->peak_in_use : 0;
		ch->peak_in_use = 0;
		ch->gen = pa->gen;
	}
	if (in_use > ch->peak_in_use)
		ch->peak_in_use = (uint16_t)in_use;
	size_t heap_in_use = pa->grown_pages - pa->free_pages;
	if (heap_in_use > pa->peak_in_use_pages)
		pa->peak_in_use_pages = heap_in_use;
}

void palloc_next_gen_locked(palloc_t *pa)
{
	lock_assert_held(pa->lock);
	pa->gen++;
	pa->prev_peak_in_use_pages = pa->peak_in_use_pages;
	pa->peak_in_use_pages = pa->grown_pages - pa->free_pages;
}

void palloc_update_locked(palloc_t *pa, uintptr_t base, size_t npages,
			  bool contig, bool alloc)
{
	lock_assert_held(pa->lock);
	const unsigned leaf = PALLOC_LEVELS - 1;
	uintptr_t limit = base + (npages << PALLOC_PAGE_SHIFT); /* exclusive */
	palloc_chunk_idx_t sc = palloc_chunk_index(base);
	palloc_chunk_idx_t ec = palloc_chunk_index(limit - 1);
	palloc_sum_t *leaves = pa->summary[leaf];

	if (sc == ec) {
		palloc_sum_t y = palloc_bits_summarize(&palloc_chunk_of(pa, sc)->alloc);
		if (leaves[sc] == y)
			return; /* nothing above can change */
		leaves[sc] = y;
	} else if (contig) {
		leaves[sc] = palloc_bits_summarize(&palloc_chunk_of(pa, sc)->alloc);
		for (palloc_chunk_idx_t c = sc + 1; c < ec; c++)
			leaves[c] = alloc ? 0 : palloc_free_chunk_sum;
		leaves[ec] = palloc_bits_summarize(&palloc_chunk_of(pa, ec)->alloc);
	} else {
		for (palloc_chunk_idx_t c = sc; c <= ec; c++)
			leaves[c] = palloc_bits_summarize(&palloc_chunk_of(pa, c)->alloc);
	}

	bool changed = true;
	for (unsigned l = leaf; l-- > 0 && changed;) {
		changed = false;
		unsigned child_bits = palloc_level_bits[l + 1];
		unsigned child_log_pages = palloc_level_log_pages[l + 1];
		size_t lo = palloc_level_index(l, base);
		size_t hi = palloc_level_index(l, limit - 1) + 1;
		for (size_t i = lo; i < hi; i++) {
			const palloc_sum_t *children = &pa->summary[l + 1][i << child_bits];
			palloc_sum_t sum = palloc_sum_merge(children, 1u << child_bits,
							    child_log_pages);
			if (pa->summary[l][i] != sum) {
				pa->summary[l][i] = sum;
				changed = true;
			}
		}
	}
}

uintptr_t palloc_find_mapped_addr_locked(const palloc_t *pa, uintptr_t addr)
{
	lock_assert_held(pa->lock);
	uintptr_t out;
	if (addr >= PALLOC_MAX_ADDR || !addrrange_find_addr_ge(&pa->in_use, addr, &out))
		return PALLOC_MAX_ADDR;
	return out;
}

/*
 * The smallest window [base, bound] (inclusive bound) known to contain the
 * first free page. Every free region the search passes must either contain
 * the window's narrower replacement or lie entirely outside it; a partial
 * overlap means the summaries disagree with each other.
 */
struct first_free {
	uintptr_t base;
	uintptr_t bound;
};

static void palloc_found_free(struct first_free *ff, uintptr_t addr, size_t nbytes)
{
	uintptr_t last = addr + nbytes - 1;
	if (ff->base <= addr && last <= ff->bound) {
		ff->base = addr;
		ff->bound = last;
	} else if (!(last < ff->base || ff->bound < addr)) {
		gcm_throw("page allocator: free region [%p, %p] partly overlaps the search window [%p, %p]",
			  (void *)addr, (void *)last, (void *)ff->base,
			  (void *)ff->bound);
	}
}

uintptr_t palloc_find_locked(palloc_t *pa, size_t npages, uintptr_t *search_out)
{
	lock_assert_held(pa->lock);
	struct first_free ff = { 0, PALLOC_MAX_ADDR - 1 };
	size_t i = 0; /* block index at the current level */

	for (unsigned l = 0; l < PALLOC_LEVELS; l++) {
		const size_t entries_per_block = (size_t)1 << palloc_level_bits[l];
		const unsigned log_pages = palloc_level_log_pages[l];
		const size_t entry_pages = (size_t)1 << log_pages;
		i <<= palloc_level_bits[l];
		const palloc_sum_t *entries = &pa->summary[l][i];

		size_t j0 = 0;
		size_t search_idx = palloc_level_index(l, pa->search_addr);
		if (pa->search_addr < PALLOC_MAX_ADDR &&
		    (search_idx & ~(entries_per_block - 1)) == i)
			j0 = search_idx & (entries_per_block - 1);

		size_t base = 0, size = 0;
		bool descend = false;
		for (size_t j = j0; j < entries_per_block; j++) {
			palloc_sum_t sum = entries[j];
			if (sum == 0) {
				size = 0;
				continue;
			}
			palloc_found_free(&ff, palloc_level_addr(l, i + j),
					  entry_pages << PALLOC_PAGE_SHIFT);
			size_t s = palloc_sum_start(sum);
			if (size + s >= npages) {
				if (size == 0)
					base = j << log_pages;
				size += s;
				break;
			}
			if (palloc_sum_max(sum) >= npages) {
				i += j;
				descend = true;
				break;
			}
			if (size == 0 || s < entry_pages) {
				size = palloc_sum_end(sum);
				base = ((j + 1) << log_pages) - size;
				continue;
			}
			size += entry_pages;
		}
		if (descend)
			continue;
		if (size >= npages) {
			uintptr_t addr = palloc_level_addr(l, i) +
					 (base << PALLOC_PAGE_SHIFT);
			*search_out = palloc_find_mapped_addr_locked(pa, ff.base);
			return addr;
		}
		if (l == 0) {
			*search_out = PALLOC_MAX_ADDR;
			return 0;
		}
		gcm_throw("page allocator: summary at level %u index %zu promised %zu free pages that its children do not have",
			  l - 1, i >> palloc_level_bits[l], npages);
	}

	/* i is a chunk index whose leaf summary fits npages. */
	palloc_chunk_t *ch = palloc_chunk_of(pa, i);
	unsigned first_free;
	unsigned j = palloc_bits_find(&ch->alloc, (unsigned)npages, 0, &first_free);
	if (j == PALLOC_BITS_NONE)
		gcm_throw("page allocator: chunk %zu summary promised %zu free pages its bitmap does not have",
			  i, npages);
	uintptr_t cbase = palloc_chunk_base(i);
	uintptr_t first = cbase + ((uintptr_t)first_free << PALLOC_PAGE_SHIFT);
	palloc_found_free(&ff, first, palloc_chunk_base(i + 1) - first);
	*search_out = palloc_find_mapped_addr_locked(pa, ff.base);
	return cbase + ((uintptr_t)j << PALLOC_PAGE_SHIFT);
}

/*
 * Marks [base, base+npages) in use, chunk by chunk. Returns the number of
 * bytes in the range that were scavenged. Locks: heap lock.
 */
static size_t palloc_alloc_range_locked(palloc_t *pa, uintptr_t base, size_t npages)
{
	lock_assert_held(pa->lock);
	uintptr_t last = base + (npages << PALLOC_PAGE_SHIFT) - 1;
	palloc_chunk_idx_t sc = palloc_chunk_index(base);
	palloc_chunk_idx_t ec = palloc_chunk_index(last);
	unsigned si = palloc_chunk_page_index(base);
	unsigned ei = palloc_chunk_page_index(last);
	size_t scav = 0;

	if (sc == ec) {
		scav += palloc_chunk_alloc_range(palloc_chunk_of(pa, sc), si, ei + 1 - si);
	} else {
		scav += palloc_chunk_alloc_range(palloc_chunk_of(pa, sc), si,
						 PALLOC_CHUNK_PAGES - si);
		for (palloc_chunk_idx_t c = sc + 1; c < ec; c++)
			scav += palloc_chunk_alloc_range(palloc_chunk_of(pa, c), 0,
							 PALLOC_CHUNK_PAGES);
		scav += palloc_chunk_alloc_range(palloc_chunk_of(pa, ec), 0, ei + 1);
	}
	pa->free_pages -= npages;
	pa->scav_pages -= scav;
	palloc_update_locked(pa, base, npages, true, true);
	for (palloc_chunk_idx_t c = sc; c <= ec; c++)
		palloc_note_alloc_locked(pa, c);
	return scav << PALLOC_PAGE_SHIFT;
}

uintptr_t palloc_alloc_locked(palloc_t *pa, size_t npages, size_t *scav_bytes)
{
	lock_assert_held(pa->lock);
	GCM_ASSERT(npages > 0);
	*scav_bytes = 0;
	if (palloc_chunk_index(pa->search_addr) >= pa->end)
		return 0;

	uintptr_t addr = 0, search = 0;
	/* Fast path: the chunk holding the search address may fit the run. */
	if (PALLOC_CHUNK_PAGES - palloc_chunk_page_index(pa->search_addr) >= npages) {
		palloc_chunk_idx_t ci = palloc_chunk_index(pa->search_addr);
		if (palloc_sum_max(pa->summary[PALLOC_LEVELS - 1][ci]) >= npages) {
			unsigned first_free;
			unsigned j = palloc_bits_find(&palloc_chunk_of(pa, ci)->alloc,
						      (unsigned)npages,
						      palloc_chunk_page_index(pa->search_addr),
						      &first_free);
			if (j == PALLOC_BITS_NONE)
				gcm_throw("page allocator: chunk %zu summary and bitmap disagree",
					  ci);
			addr = palloc_chunk_base(ci) + ((uintptr_t)j << PALLOC_PAGE_SHIFT);
			search = palloc_chunk_base(ci) +
				 ((uintptr_t)first_free << PALLOC_PAGE_SHIFT);
		}
	}
	if (addr == 0) {
		addr = palloc_find_locked(pa, npages, &search);
		if (addr == 0) {
			/* No single free page anywhere: the heap is full. A
			 * larger request may only have met fragmentation. */
			if (npages == 1)
				pa->search_addr = PALLOC_MAX_ADDR;
			return 0;
		}
	}
	*scav_bytes = palloc_alloc_range_locked(pa, addr, npages);
	if (search > pa->search_addr)
		pa->search_addr = search;
	GCM_ASSERT_EXPENSIVE(palloc_is_valid_locked(pa));
	return addr;
}

bool palloc_alloc_at_locked(palloc_t *pa, uintptr_t base, size_t npages,
			    size_t *scav_bytes)
{
	lock_assert_held(pa->lock);
	uintptr_t limit = base + (npages << PALLOC_PAGE_SHIFT);
	*scav_bytes = 0;
	if (npages == 0 || limit <= base || limit > PALLOC_MAX_ADDR)
		return false;
	/* The whole range must lie inside one grown range. */
	size_t r = addrrange_find_succ(&pa->in_use, base);
	if (r == 0 || limit > pa->in_use.ranges[r - 1].limit)
		return false;
	for (uintptr_t a = base; a < limit;) {
		palloc_chunk_idx_t ci = palloc_chunk_index(a);
		unsigned pi = palloc_chunk_page_index(a);
		uintptr_t cl = GCM_MIN(limit, palloc_chunk_base(ci + 1));
		unsigned n = (unsigned)((cl - a) >> PALLOC_PAGE_SHIFT);
		if (palloc_bits_count_range(&palloc_chunk_of(pa, ci)->alloc, pi, n) != 0)
			return false;
		a = cl;
	}
	*scav_bytes = palloc_alloc_range_locked(pa, base, npages);
	/* Pages below search_addr must stay in use; an allocation at an
	 * arbitrary place cannot break that. But if it started exactly at the
	 * hint, the hint now points at a used page: find the next free one
	 * lazily (a hint below the first free page is always correct). */
	GCM_ASSERT_EXPENSIVE(palloc_is_valid_locked(pa));
	return true;
}

void palloc_free_locked(palloc_t *pa, uintptr_t base, size_t npages)
{
	lock_assert_held(pa->lock);
	GCM_ASSERT(npages > 0);
	if (base < pa->search_addr)
		pa->search_addr = base;
	uintptr_t last = base + (npages << PALLOC_PAGE_SHIFT) - 1;
	palloc_chunk_idx_t sc = palloc_chunk_index(base);
	palloc_chunk_idx_t ec = palloc_chunk_index(last);
	unsigned si = palloc_chunk_page_index(base);
	unsigned ei = palloc_chunk_page_index(last);

	if (sc == ec) {
		palloc_chunk_free_range(palloc_chunk_of(pa, sc), si, ei + 1 - si);
	} else {
		palloc_chunk_free_range(palloc_chunk_of(pa, sc), si,
					PALLOC_CHUNK_PAGES - si);
		for (palloc_chunk_idx_t c = sc + 1; c < ec; c++)
			palloc_chunk_free_range(palloc_chunk_of(pa, c), 0,
						PALLOC_CHUNK_PAGES);
		palloc_chunk_free_range(palloc_chunk_of(pa, ec), 0, ei + 1);
	}
	pa->free_pages += npages;
	palloc_update_locked(pa, base, npages, true, false);
	GCM_ASSERT_EXPENSIVE(palloc_is_valid_locked(pa));
}

/* Reports a validation failure and returns false. */
static bool palloc_invalid(const char *what, size_t a, size_t b)
{
	log_line("page allocator invalid: %s (%zu, %zu)", what, a, b);
	return false;
}

bool palloc_is_valid_locked(const palloc_t *pa)
{
	lock_assert_held(pa->lock);
	const unsigned leaf = PALLOC_LEVELS - 1;
	size_t free_pages = 0, scav_pages = 0;

	if (pa->search_addr != PALLOC_MAX_ADDR &&
	    !addrrange_contains(&pa->in_use, pa->search_addr))
		return palloc_invalid("search address outside the heap",
				      pa->search_addr, 0);

	for (size_t r = 0; r < pa->in_use.n; r++) {
		uintptr_t base = pa->in_use.ranges[r].base;
		uintptr_t limit = pa->in_use.ranges[r].limit;
		for (palloc_chunk_idx_t c = palloc_chunk_index(base);
		     c < palloc_chunk_index(limit); c++) {
			const palloc_chunk_t *ch = palloc_chunk_of(pa, c);
			for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++) {
				if (ch->alloc.w[w] & ch->scav.w[w])
					return palloc_invalid("page both in use and scavenged",
							      c, w);
				free_pages += (size_t)__builtin_popcountll(~ch->alloc.w[w]);
				scav_pages += (size_t)__builtin_popcountll(ch->scav.w[w]);
			}
			if (pa->summary[leaf][c] != palloc_bits_summarize(&ch->alloc))
				return palloc_invalid("stale leaf summary", c, 0);
			/* Pages below the search address are in use. */
			uintptr_t cb = palloc_chunk_base(c);
			if (cb < pa->search_addr) {
				uintptr_t stop = GCM_MIN(pa->search_addr, palloc_chunk_base(c + 1));
				unsigned n = (unsigned)((stop - cb) >> PALLOC_PAGE_SHIFT);
				if (palloc_bits_count_range(&ch->alloc, 0, n) != n)
					return palloc_invalid("free page below the search address",
							      c, n);
			}
		}
		for (unsigned l = leaf; l-- > 0;) {
			unsigned child_bits = palloc_level_bits[l + 1];
			size_t lo = palloc_level_index(l, base);
			size_t hi = palloc_level_index(l, limit - 1) + 1;
			for (size_t i = lo; i < hi; i++) {
				palloc_sum_t want = palloc_sum_merge(
					&pa->summary[l + 1][i << child_bits],
					1u << child_bits, palloc_level_log_pages[l + 1]);
				if (pa->summary[l][i] != want)
					return palloc_invalid("stale summary (level, index)", l, i);
			}
		}
	}
	if (free_pages != pa->free_pages)
		return palloc_invalid("free page count", free_pages, pa->free_pages);
	if (scav_pages != pa->scav_pages)
		return palloc_invalid("scavenged page count", scav_pages, pa->scav_pages);
	return true;
}

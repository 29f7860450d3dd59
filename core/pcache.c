/*
 * pcache.c — the per-thread page cache.
 *
 * The cache is a 64-bit window onto one aligned block of 64 pages in one
 * chunk: bit i stands for page base + i. Refilling marks every free page of
 * the block in use in the chunk bitmap in one word operation, moving the
 * block's "scavenged" bits into the cache (so the invariant that a page is
 * never both in use and scavenged holds in the bitmaps), and moves the
 * search address to the block's last page. Flushing reverses that.
 *
 * Allocation from the cache is a find-first-set (one page) or a run search
 * in one word (several pages), with no lock.
 */
#include "base.h"
#include "pcache.h"
#include "debug.h"

uintptr_t pcache_alloc(pcache_t *c, size_t npages, size_t *scav_bytes)
{
	GCM_ASSERT(npages > 0 && npages < PCACHE_MAX_NPAGES);
	*scav_bytes = 0;
	if (c->cache == 0)
		return 0;
	unsigned i;
	uint64_t mask;
	if (npages == 1) {
		i = (unsigned)__builtin_ctzll(c->cache);
		mask = (uint64_t)1 << i;
	} else {
		i = palloc_bits_find_range64(c->cache, (unsigned)npages);
		if (i >= 64)
			return 0;
		mask = (((uint64_t)1 << npages) - 1) << i;
	}
	*scav_bytes = (size_t)__builtin_popcountll(c->scav & mask) * PALLOC_PAGE_SIZE;
	c->cache &= ~mask;
	c->scav &= ~mask;
	return c->base + ((uintptr_t)i << PALLOC_PAGE_SHIFT);
}

pcache_t pcache_refill_locked(palloc_t *pa)
{
	lock_assert_held(pa->lock);
	pcache_t c = { 0, 0, 0 };
	if (palloc_chunk_index(pa->search_addr) >= pa->end)
		return c;

	palloc_chunk_idx_t ci = palloc_chunk_index(pa->search_addr);
	unsigned page;
	if (pa->summary[PALLOC_LEVELS - 1][ci] != 0) {
		unsigned first_free;
		page = palloc_bits_find(&palloc_chunk_of(pa, ci)->alloc, 1,
					palloc_chunk_page_index(pa->search_addr),
					&first_free);
		if (page == PALLOC_BITS_NONE)
			gcm_throw("page cache: chunk %zu summary and bitmap disagree", ci);
	} else {
		uintptr_t search;
		uintptr_t addr = palloc_find_locked(pa, 1, &search);
		if (addr == 0) {
			pa->search_addr = PALLOC_MAX_ADDR;
			return c;
		}
		ci = palloc_chunk_index(addr);
		page = palloc_chunk_page_index(addr);
	}
	palloc_chunk_t *ch = palloc_chunk_of(pa, ci);
	unsigned w = page / 64;
	c.base = palloc_chunk_base(ci) + ((uintptr_t)(w * 64) << PALLOC_PAGE_SHIFT);
	c.cache = ~ch->alloc.w[w];
	c.scav = ch->scav.w[w] & c.cache;
	ch->alloc.w[w] = ~(uint64_t)0;
	ch->scav.w[w] &= ~c.cache;
	pa->free_pages -= (size_t)__builtin_popcountll(c.cache);
	pa->scav_pages -= (size_t)__builtin_popcountll(c.scav);
	palloc_update_locked(pa, c.base, PCACHE_NPAGES, false, true);
	palloc_note_alloc_locked(pa, ci);
	/* Everything up to the block's last page is now in use; the page after
	 * the block may not be grown, so stop at the last page. */
	pa->search_addr = c.base + ((uintptr_t)(PCACHE_NPAGES - 1) << PALLOC_PAGE_SHIFT);
	return c;
}

void pcache_flush_locked(palloc_t *pa, pcache_t *c)
{
	lock_assert_held(pa->lock);
	if (c->cache == 0)
		return;
	palloc_chunk_idx_t ci = palloc_chunk_index(c->base);
	unsigned w = palloc_chunk_page_index(c->base) / 64;
	palloc_chunk_t *ch = palloc_chunk_of(pa, ci);
	GCM_ASSERT((ch->alloc.w[w] & c->cache) == c->cache);
	GCM_ASSERT((c->scav & ~c->cache) == 0);
	ch->alloc.w[w] &= ~c->cache;
	ch->scav.w[w] |= c->scav;
	pa->free_pages += (size_t)__builtin_popcountll(c->cache);
	pa->scav_pages += (size_t)__builtin_popcountll(c->scav);
	if (c->base < pa->search_addr)
		pa->search_addr = c->base;
	palloc_update_locked(pa, c->base, PCACHE_NPAGES, false, false);
	c->base = 0;
	c->cache = 0;
	c->scav = 0;
}

/*
 * testing.c — test-only entry points (see testing.h). Each takes the test
 * allocator's lock around the internal call.
 */
#include "base.h"
#include "testing.h"
#include "debug.h"
#include "sys.h"

testing_palloc_t *testing_palloc_new(const testing_chunk_t *chunks, unsigned n)
{
	testing_palloc_t *t = sys_alloc(align_up(sizeof(*t), SYS_PAGE_SIZE));
	if (t == NULL)
		gcm_throw("testing: cannot map a test allocator");
	lock_init(&t->lock, "HEAP", LOCK_RANK_HEAP);
	if (!palloc_init(&t->pa, &t->lock, true))
		gcm_throw("testing: cannot reserve page allocator metadata");

	lock_acquire(&t->lock);
	for (unsigned k = 0; k < n; k++) {
		const testing_chunk_t *c = &chunks[k];
		uintptr_t base = palloc_chunk_base(c->ci);
		if (!palloc_grow_locked(&t->pa, base, PALLOC_CHUNK_BYTES))
			gcm_throw("testing: grow failed");
		palloc_chunk_t *ch = palloc_chunk_of(&t->pa, c->ci);
		/* Grow marked everything scavenged; start from the table. */
		for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++)
			ch->scav.w[w] = 0;
		t->pa.scav_pages -= PALLOC_CHUNK_PAGES;
		for (unsigned r = 0; r < c->nscav; r++) {
			palloc_bits_set_range(&ch->scav, c->scav[r].i, c->scav[r].n);
		}
		for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++)
			t->pa.scav_pages += (size_t)__builtin_popcountll(ch->scav.w[w]);
		for (unsigned r = 0; r < c->nalloc; r++) {
			unsigned i = c->alloc[r].i, m = c->alloc[r].n;
			size_t sc = palloc_bits_count_range(&ch->scav, i, m);
			palloc_bits_set_range(&ch->alloc, i, m);
			palloc_bits_clear_range(&ch->scav, i, m);
			t->pa.free_pages -= m;
			t->pa.scav_pages -= sc;
		}
		palloc_update_locked(&t->pa, base, PALLOC_CHUNK_PAGES, false, false);
	}
	/* The search address may now point at a used page; pages below it are
	 * still in use, which is all the invariant asks. */
	lock_release(&t->lock);
	return t;
}

void testing_palloc_delete(testing_palloc_t *t)
{
	palloc_destroy(&t->pa);
	sys_free(t, align_up(sizeof(*t), SYS_PAGE_SIZE));
}

uintptr_t testing_palloc_alloc(testing_palloc_t *t, size_t npages,
			       size_t *scav_bytes)
{
	lock_acquire(&t->lock);
	uintptr_t a = palloc_alloc_locked(&t->pa, npages, scav_bytes);
	lock_release(&t->lock);
	return a;
}

bool testing_palloc_alloc_at(testing_palloc_t *t, uintptr_t base,
			     size_t npages, size_t *scav_bytes)
{
	lock_acquire(&t->lock);
	bool ok = palloc_alloc_at_locked(&t->pa, base, npages, scav_bytes);
	lock_release(&t->lock);
	return ok;
}

void testing_palloc_free(testing_palloc_t *t, uintptr_t base, size_t npages)
{
	lock_acquire(&t->lock);
	palloc_free_locked(&t->pa, base, npages);
	lock_release(&t->lock);
}

uintptr_t testing_palloc_find(testing_palloc_t *t, size_t npages,
			      uintptr_t *search_out)
{
	lock_acquire(&t->lock);
	uintptr_t a = palloc_find_locked(&t->pa, npages, search_out);
	lock_release(&t->lock);
	return a;
}

bool testing_palloc_grow(testing_palloc_t *t, uintptr_t base, size_t nbytes)
{
	lock_acquire(&t->lock);
	bool ok = palloc_grow_locked(&t->pa, base, nbytes);
	lock_release(&t->lock);
	return ok;
}

uintptr_t testing_palloc_search_addr(testing_palloc_t *t)
{
	lock_acquire(&t->lock);
	uintptr_t a = t->pa.search_addr;
	lock_release(&t->lock);
	return a;
}

bool testing_palloc_is_valid(testing_palloc_t *t)
{
	lock_acquire(&t->lock);
	bool ok = palloc_is_valid_locked(&t->pa);
	lock_release(&t->lock);
	return ok;
}

palloc_chunk_t testing_palloc_chunk(testing_palloc_t *t, palloc_chunk_idx_t ci)
{
	lock_acquire(&t->lock);
	palloc_chunk_t c = *palloc_chunk_of(&t->pa, ci);
	lock_release(&t->lock);
	return c;
}

palloc_sum_t testing_palloc_summary(testing_palloc_t *t, unsigned level,
				    size_t index)
{
	lock_acquire(&t->lock);
	palloc_sum_t s = t->pa.summary[level][index];
	lock_release(&t->lock);
	return s;
}

pcache_t testing_pcache_refill(testing_palloc_t *t)
{
	lock_acquire(&t->lock);
	pcache_t c = pcache_refill_locked(&t->pa);
	lock_release(&t->lock);
	return c;
}

void testing_pcache_flush(testing_palloc_t *t, pcache_t *c)
{
	lock_acquire(&t->lock);
	pcache_flush_locked(&t->pa, c);
	lock_release(&t->lock);
}

void testing_palloc_alloc_unlocked(testing_palloc_t *t, size_t npages)
{
	size_t scav;
	palloc_alloc_locked(&t->pa, npages, &scav);
}

#include "heap.h"
#include "scav.h"

size_t testing_scav_scavenge(testing_palloc_t *t, uintptr_t *cursor,
			     size_t nbytes, bool force)
{
	scav_cursor_t c = { *cursor };
	size_t n = scav_scavenge(&t->pa, &c, nbytes, force);
	*cursor = c.addr;
	return n;
}

void testing_palloc_next_gen(testing_palloc_t *t)
{
	lock_acquire(&t->lock);
	palloc_next_gen_locked(&t->pa);
	lock_release(&t->lock);
}

size_t testing_heap_free_pages(void)
{
	lock_acquire(&heap_global.lock);
	size_t n = heap_global.pa.free_pages;
	lock_release(&heap_global.lock);
	return n;
}

/*
 * test_heap.c — the heap through the engine's entry points (alloc_*),
 * without the preload: spans from the page cache, thread-exit hand-back,
 * large objects, realloc in place.
 */
#include "alloc.h"
#include "heap.h"
#include "testing.h"
#include "tcache.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

extern void (*tcache_on_new_thread)(tcache_t *tc);

static pthread_key_t exit_key;

static void on_exit_key(void *tc)
{
	tcache_thread_exit(tc);
}

static void on_new_thread(tcache_t *tc)
{
	pthread_setspecific(exit_key, tc);
}

static void setup(void)
{
	cr_assert(alloc_init());
	pthread_key_create(&exit_key, on_exit_key);
	tcache_on_new_thread = on_new_thread;
}

TestSuite(heap, .init = setup);

struct probe {
	size_t free_during;
};

static void *page_cache_thread(void *arg)
{
	struct probe *pr = arg;
	void *p = alloc_malloc(16);
	cr_assert_not_null(p);
	pr->free_during = testing_heap_free_pages();
	alloc_free(p);
	return NULL;
}

Test(heap, thread_exit_returns_the_page_cache)
{
	/* Warm the main thread so the heap exists. */
	alloc_free(alloc_malloc(64));
	size_t before = testing_heap_free_pages();
	struct probe pr;
	pthread_t t;
	pthread_create(&t, NULL, page_cache_thread, &pr);
	pthread_join(t, NULL);
	size_t after = testing_heap_free_pages();
	/* While it ran, the thread held a whole 64-page block in its page
	 * cache (the heap was fresh, so the block had 64 free pages). */
	cr_expect_eq(before - pr.free_during, (size_t)PCACHE_NPAGES);
	/* After it exited, only the one-page span the 16-byte class keeps
	 * for its next refill is still out. */
	cr_expect_eq(before - after, (size_t)sizeclass_table[sizeclass_of(16)].npages);
}

Test(heap, small_objects_are_distinct_aligned_and_reusable)
{
	enum { N = 10000 };
	static void *ptrs[N];
	for (int i = 0; i < N; i++) {
		size_t n = (size_t)(i % 700) + 1;
		ptrs[i] = alloc_malloc(n);
		cr_assert_not_null(ptrs[i]);
		cr_assert_eq((uintptr_t)ptrs[i] % 16, 0u);
		cr_assert_geq(alloc_usable_size(ptrs[i]), n);
		memset(ptrs[i], i & 0xff, n);
	}
	for (int i = 0; i < N; i++) {
		size_t n = (size_t)(i % 700) + 1;
		const unsigned char *c = ptrs[i];
		for (size_t k = 0; k < n; k++)
			cr_assert_eq(c[k], (unsigned char)(i & 0xff), "object %d byte %zu", i, k);
		alloc_free(ptrs[i]);
	}
}

Test(heap, large_objects_use_whole_pages_and_shrink_in_place)
{
	char *p = alloc_malloc(1 << 20);
	cr_assert_not_null(p);
	cr_expect_eq((uintptr_t)p % PALLOC_PAGE_SIZE, 0u);
	cr_expect_eq(alloc_usable_size(p), (size_t)1 << 20);
	memset(p, 7, 1 << 20);
	char *q = alloc_realloc(p, 300 << 10, "realloc");
	cr_expect_eq(q, p, "shrinking a large block moves it");
	cr_expect_eq(alloc_usable_size(q), (size_t)300 << 10);
	cr_expect_eq(q[(300 << 10) - 1], 7);
	alloc_free(q);
}

Test(heap, large_realloc_grows_in_place_when_the_next_pages_are_free)
{
	char *p = alloc_malloc(256 << 10);
	cr_assert_not_null(p);
	memset(p, 3, 256 << 10);
	char *q = alloc_realloc(p, 512 << 10, "realloc");
	cr_expect_eq(q, p);
	cr_expect_eq(q[(256 << 10) - 1], 3);
	alloc_free(q);
}

Test(heap, large_realloc_moves_pages_and_keeps_contents)
{
	size_t n = 4 << 20;
	unsigned *p = alloc_malloc(n);
	for (size_t i = 0; i < n / sizeof(unsigned); i++)
		p[i] = (unsigned)i * 2654435761u;
	/* Block the in-place path. */
	void *blocker = alloc_malloc(64 << 10);
	cr_assert_eq((uintptr_t)blocker, (uintptr_t)p + n,
		     "the heap did not place the blocker right after the block");
	unsigned *q = alloc_realloc(p, 3 * n, "realloc");
	cr_assert_not_null(q);
	cr_expect_neq(q, p);
	for (size_t i = 0; i < n / sizeof(unsigned); i++)
		cr_assert_eq(q[i], (unsigned)i * 2654435761u, "word %zu", i);
	alloc_free(q);
	alloc_free(blocker);
}

Test(heap, aligned_allocation_up_to_a_gibibyte)
{
	for (size_t align = 32; align <= ((size_t)1 << 30); align <<= 1) {
		void *p = alloc_memalign(align, 100);
		cr_assert_not_null(p, "align %zu", align);
		cr_expect_eq((uintptr_t)p % align, 0u, "align %zu", align);
		memset(p, 1, 100);
		alloc_free(p);
	}
}

Test(heap, calloc_of_recycled_memory_is_zero)
{
	for (size_t n = 24; n <= ((size_t)8 << 20); n *= 3) {
		for (int round = 0; round < 3; round++) {
			unsigned char *p = alloc_malloc(n);
			memset(p, 0xa5, n);
			alloc_free(p);
			p = alloc_calloc(1, n);
			for (size_t i = 0; i < n; i++)
				cr_assert_eq(p[i], 0, "n=%zu byte %zu", n, i);
			alloc_free(p);
		}
	}
}

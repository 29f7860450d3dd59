/*
 * alloc.c — the slow paths of allocation: thread set-up, large objects,
 * calloc, realloc, aligned allocation, usable size, error reports, and the
 * one-time initialisation of the engine.
 *
 * Large objects (above SIZECLASS_MAX_SIZE) are spans of their own, taken
 * straight from the page allocator. realloc of a large object shrinks in
 * place, grows in place when the following pages are free, and otherwise
 * moves: large blocks by moving their pages (mremap), smaller ones by
 * copying.
 */
#define _GNU_SOURCE
#include "base.h"
#include "alloc.h"
#include "central.h"
#include "debug.h"
#include "heap.h"
#include "log.h"
#include "options.h"
#include "fin.h"
#include "gc.h"
#include "pagemap.h"
#include "roots.h"
#include "scav.h"
#include "special.h"
#include "sys.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Blocks at least this big are moved by remapping their pages. */
#define ALLOC_MOVE_PAGES_MIN ((size_t)1 << 20)

/* 0 = not started, 1 = in progress, 2 = done, 3 = failed. Atomic. */
static int alloc_init_state;

bool alloc_is_initialized(void)
{
	return __atomic_load_n(&alloc_init_state, __ATOMIC_ACQUIRE) == 2;
}

bool alloc_init(void)
{
	int st = __atomic_load_n(&alloc_init_state, __ATOMIC_ACQUIRE);
	if (GCM_LIKELY(st == 2))
		return true;
	int expected = 0;
	if (__atomic_compare_exchange_n(&alloc_init_state, &expected, 1, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		sys_init();
		opt_init(environ);
		sizeclass_init();
		central_init();
		tcache_init();
		bool ok = heap_init();
		/* The page map's root is 16 MiB of static storage holding only
		 * pointers to metadata: never a root for the collector. */
		roots_exclude((uintptr_t)pagemap_root,
			      (uintptr_t)(pagemap_root + PAGEMAP_ROOT_ENTRIES));
		__atomic_store_n(&alloc_init_state, ok ? 2 : 3, __ATOMIC_RELEASE);
		return ok;
	}
	/* Another thread is initialising: nothing in there allocates or
	 * blocks for long, so wait for it. */
	while ((st = __atomic_load_n(&alloc_init_state, __ATOMIC_ACQUIRE)) == 1)
		sched_yield();
	return st == 2;
}

bool alloc_object_is_free(span_t *s, uintptr_t obj)
{
	if (s->cls == 0)
		return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SPAN_LARGE;
	tcache_busy_enter();
	bool is_free = (((uintptr_t *)obj)[1] == tcache_key &&
			tcache_bin_contains(tcache_tls, s->sc, (void *)obj)) ||
		       central_is_free(s->sc, (void *)obj);
	tcache_busy_leave();
	return is_free;
}

void alloc_report_invalid(const char *call, const void *p)
{
	log_line("%s(): invalid pointer %p (not allocated by gcmalloc, already freed, or not the start of a block)",
		 call, p);
	abort();
}

static void *alloc_large(size_t n, bool zero, unsigned kind)
{
	size_t npages = (n + PALLOC_PAGE_SIZE - 1) >> PALLOC_PAGE_SHIFT;
	if (n > (size_t)PTRDIFF_MAX || npages == 0) {
		errno = ENOMEM;
		return NULL;
	}
	span_t *s = heap_alloc_span(npages, NULL);
	if (s == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	s->kind = (uint8_t)kind;
	s->sc = (uint16_t)spanclass_make(kind, 0);
	s->nelems = 1;
	__atomic_store_n(&s->state, SPAN_LARGE, __ATOMIC_RELEASE);
	__atomic_fetch_add(&heap_global.large_bytes, span_bytes(s), __ATOMIC_RELAXED);
	__atomic_fetch_add(&heap_global.nlarge, 1, __ATOMIC_RELAXED);
	if (zero && !s->fresh)
		memset((void *)s->base, 0, n);
	return (void *)s->base;
}

void alloc_free_large(span_t *s)
{
	__atomic_fetch_sub(&heap_global.large_bytes, span_bytes(s), __ATOMIC_RELAXED);
	__atomic_fetch_sub(&heap_global.nlarge, 1, __ATOMIC_RELAXED);
	heap_free_span(s);
}

/* The calling thread's cache, set up on first use. */
static tcache_t *alloc_tcache(void)
{
	tcache_t *tc = tcache_tls;
	if (GCM_UNLIKELY(tc->state == TCACHE_EMPTY)) {
		if (!alloc_init())
			return NULL;
		tc = tcache_get_slow();
	}
	return tc;
}

/* The size class of a small request of kind `kind`: the collectable kinds
 * have a 24-byte class of their own (sizeclass.h). */
static unsigned alloc_class_of(size_t n, unsigned kind)
{
	return kind == SPAN_KIND_MALLOC ? sizeclass_of(n) : sizeclass_gc_of(n);
}

/* An object of n bytes of the given kind, from the thread's cache (refilled
 * as needed) or, above the largest class, straight from the heap. */
static void *alloc_kind_slow_body(size_t n, unsigned kind)
{
	if (!alloc_init()) {
		errno = ENOMEM;
		return NULL;
	}
	if (n > SIZECLASS_MAX_SIZE)
		return alloc_large(n, kind == SPAN_KIND_GC, kind);
	tcache_t *tc = alloc_tcache();
	if (tc == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	__atomic_store_n(&tc->active_epoch, __atomic_load_n(&tcache_epoch, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
	unsigned sc = spanclass_make(kind, alloc_class_of(n, kind));
	tcache_bin_t *b = &tc->bins[sc];
	void *p = b->n != 0 ? b->slots[--b->n] : tcache_refill_pop(tc, sc);
	if (p == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	((uintptr_t *)p)[1] = 0;
	if (kind == SPAN_KIND_GC)
		memset(p, 0, sizeclass_table[spanclass_cls(sc)].size);
	return p;
}

void *alloc_malloc_slow(size_t n)
{
	tcache_busy_enter();
	void *p = alloc_kind_slow_body(n, SPAN_KIND_MALLOC);
	tcache_busy_leave();
	scav_maybe_start();
	return p;
}

void *alloc_gc_malloc_slow(size_t n, unsigned kind)
{
	tcache_busy_enter();
	void *p = alloc_kind_slow_body(n, kind);
	size_t counted = 0;
	tcache_t *tc = tcache_tls;
	if (p != NULL) {
		counted = n > SIZECLASS_MAX_SIZE ? align_up(n, PALLOC_PAGE_SIZE)
						 : sizeclass_table[sizeclass_gc_of(n)].size;
		counted += tc->gc_pending_bytes;
		tc->gc_pending_bytes = 0;
	}
	tcache_busy_leave();
	scav_maybe_start();
	/* A safe point: p is held in this frame, so a cycle keeps it. */
	if (counted != 0)
		gc_account(counted);
	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

static void alloc_free_slow_body(void *p, const char *call)
{
	span_t *s = pagemap_lookup(p);
	if (s == NULL)
		alloc_report_invalid(call, p);
	if (s->cls != 0) {
		if (!span_is_object_start(s, (uintptr_t)p))
			alloc_report_invalid(call, p);
		if (s->specials != NULL)
			special_free_object(s, (uintptr_t)p, s->elem_size);
		tcache_t *tc = alloc_tcache();
		if (tc == NULL) {
			central_flush(s->sc, &p, 1, call);
			return;
		}
		/* The mark says "probably already free": make sure. An object
		 * in another thread's cache is not found here; the central
		 * list catches it when that cache flushes. */
		if (((uintptr_t *)p)[1] == tcache_key &&
		    (tcache_bin_contains(tc, s->sc, p) || central_is_free(s->sc, p))) {
			log_line("%s(): double free of %p", call, p);
			abort();
		}
		__atomic_store_n(&tc->active_epoch, __atomic_load_n(&tcache_epoch, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
		tcache_bin_t *b = &tc->bins[s->sc];
		if (b->n < b->max) {
			((uintptr_t *)p)[1] = tcache_key;
			b->slots[b->n++] = p;
		} else {
			tcache_flush_push(tc, s->sc, p);
		}
		return;
	}
	if (s->state != SPAN_LARGE || (uintptr_t)p != s->base)
		alloc_report_invalid(call, p);
	if (s->specials != NULL)
		special_free_object(s, s->base, span_bytes(s));
	alloc_free_large(s);
}

void alloc_free_slow(void *p, const char *call)
{
	if (p == NULL)
		return;
	tcache_busy_enter();
	alloc_free_slow_body(p, call);
	tcache_busy_leave();
	/* Every cache is consistent again: a safe point to start the
	 * scavenger's thread (pthread_create may allocate). */
	scav_maybe_start();
}

static void *alloc_calloc_body(size_t nmemb, size_t size)
{
	size_t n;
	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	if (n > SIZECLASS_MAX_SIZE) {
		if (!alloc_init()) {
			errno = ENOMEM;
			return NULL;
		}
		return alloc_large(n, true, SPAN_KIND_MALLOC);
	}
	void *p = alloc_malloc(n);
	if (p != NULL)
		memset(p, 0, n);
	return p;
}

void *alloc_calloc(size_t nmemb, size_t size)
{
	tcache_busy_enter();
	void *r = alloc_calloc_body(nmemb, size);
	tcache_busy_leave();
	return r;
}

size_t alloc_usable_size(void *p)
{
	if (p == NULL)
		return 0;
	span_t *s = pagemap_lookup(p);
	if (s == NULL)
		alloc_report_invalid("malloc_usable_size", p);
	if (s->cls != 0) {
		if (!span_is_object_start(s, (uintptr_t)p))
			alloc_report_invalid("malloc_usable_size", p);
		return s->elem_size;
	}
	if (s->state != SPAN_LARGE || (uintptr_t)p != s->base)
		alloc_report_invalid("malloc_usable_size", p);
	return span_bytes(s);
}

/* Moves a large block to a new, bigger span. */
static void *alloc_realloc_move_large(span_t *s, size_t n)
{
	size_t old_bytes = span_bytes(s);
	void *np = alloc_large(n, false, s->kind);
	if (np == NULL)
		return NULL;
	if (old_bytes >= ALLOC_MOVE_PAGES_MIN &&
	    sys_move_pages(np, (void *)s->base, old_bytes)) {
		/* The old range now holds fresh zero pages. */
	} else {
		memcpy(np, (void *)s->base, old_bytes);
	}
	alloc_free_large(s);
	return np;
}

static void *alloc_realloc_body(void *p, size_t n, const char *call)
{
	if (p == NULL)
		return alloc_malloc(n);
	if (n == 0) {
		/* glibc: realloc(p, 0) frees p and returns NULL. */
		alloc_free_slow(p, call);
		return NULL;
	}
	if (n > (size_t)PTRDIFF_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	span_t *s = pagemap_lookup(p);
	if (s == NULL)
		alloc_report_invalid(call, p);
	size_t usable;
	if (s->cls != 0) {
		if (!span_is_object_start(s, (uintptr_t)p))
			alloc_report_invalid(call, p);
		usable = s->elem_size;
		/* Same class: nothing to do. */
		if (n <= SIZECLASS_MAX_SIZE && alloc_class_of(n, spanclass_kind(s->sc)) == s->cls)
			return p;
	} else {
		if (s->state != SPAN_LARGE || (uintptr_t)p != s->base)
			alloc_report_invalid(call, p);
		usable = span_bytes(s);
		if (n > SIZECLASS_MAX_SIZE) {
			size_t npages = (n + PALLOC_PAGE_SIZE - 1) >> PALLOC_PAGE_SHIFT;
			if (npages == s->npages)
				return p;
			if (npages < s->npages) {
				size_t drop = s->npages - npages;
				__atomic_fetch_sub(&heap_global.large_bytes,
						   drop << PALLOC_PAGE_SHIFT, __ATOMIC_RELAXED);
				heap_shrink_span(s, drop);
				return p;
			}
			size_t grow = npages - s->npages;
			if (heap_grow_span_in_place(s, grow)) {
				__atomic_fetch_add(&heap_global.large_bytes,
						   grow << PALLOC_PAGE_SHIFT, __ATOMIC_RELAXED);
				return p;
			}
			return alloc_realloc_move_large(s, n);
		}
	}
	/* Move, keeping the kind: a collectable object stays collectable. */
	unsigned kind = s->kind;
	void *np = kind == SPAN_KIND_MALLOC ? alloc_malloc(n) : alloc_kind_slow_body(n, kind);
	if (np == NULL)
		return NULL;
	memcpy(np, p, GCM_MIN(usable, n));
	alloc_free_slow(p, call);
	return np;
}

void *alloc_realloc(void *p, size_t n, const char *call)
{
	tcache_busy_enter();
	void *r = alloc_realloc_body(p, n, call);
	tcache_busy_leave();
	return r;
}

static void *alloc_memalign_body(size_t align, size_t n)
{
	if (align <= 16)
		return alloc_malloc(n);
	if (!is_pow2(align)) {
		if (align > ((size_t)1 << 62)) {
			errno = EINVAL;
			return NULL;
		}
		align = (size_t)1 << (64 - __builtin_clzll(align));
	}
	if (align > ((size_t)1 << 40) || n > (size_t)PTRDIFF_MAX - align) {
		errno = ENOMEM;
		return NULL;
	}
	if (!alloc_init()) {
		errno = ENOMEM;
		return NULL;
	}
	if (n == 0)
		n = 1;
	if (align <= PALLOC_PAGE_SIZE && n <= SIZECLASS_MAX_SIZE) {
		/* A class whose size is a multiple of align has every object
		 * aligned, since spans start on page boundaries. */
		for (unsigned c = sizeclass_of(n); c < SIZECLASS_SMALL_COUNT; c++)
			if (sizeclass_table[c].size % align == 0)
				return alloc_malloc(sizeclass_table[c].size);
	}
	if (align <= PALLOC_PAGE_SIZE)
		return alloc_large(GCM_MAX(n, SIZECLASS_MAX_SIZE + 1), false, SPAN_KIND_MALLOC);
	size_t npages = (GCM_MAX(n, SIZECLASS_MAX_SIZE + 1) + PALLOC_PAGE_SIZE - 1) >>
			PALLOC_PAGE_SHIFT;
	span_t *s = heap_alloc_span_aligned(npages, align);
	if (s == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	s->nelems = 1;
	__atomic_store_n(&s->state, SPAN_LARGE, __ATOMIC_RELEASE);
	__atomic_fetch_add(&heap_global.large_bytes, span_bytes(s), __ATOMIC_RELAXED);
	__atomic_fetch_add(&heap_global.nlarge, 1, __ATOMIC_RELAXED);
	return (void *)s->base;
}

void *alloc_memalign(size_t align, size_t n)
{
	tcache_busy_enter();
	void *r = alloc_memalign_body(align, n);
	tcache_busy_leave();
	return r;
}

static size_t alloc_trim_body(void)
{
	if (!alloc_is_initialized())
		return 0;
	/* What the calling thread caches, and the empty spans the central
	 * lists keep, become free pages first. */
	tcache_t *tc = tcache_tls;
	if (tc->state == TCACHE_LIVE)
		tcache_flush_all(tc);
	central_release_empty();
	return scav_release_all();
}

size_t alloc_trim(void)
{
	tcache_busy_enter();
	size_t r = alloc_trim_body();
	tcache_busy_leave();
	return r;
}

void alloc_get_stats(alloc_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	if (!alloc_is_initialized())
		return;
	tcache_busy_enter();
	lock_acquire(&heap_global.lock);
	out->mapped_bytes = heap_global.mapped_bytes;
	out->meta_bytes = heap_global.meta_bytes + heap_global.pa.meta_bytes;
	out->free_bytes = (heap_global.pa.free_pages - heap_global.pa.scav_pages)
			  << PALLOC_PAGE_SHIFT;
	out->released_bytes = heap_global.pa.scav_pages << PALLOC_PAGE_SHIFT;
	lock_release(&heap_global.lock);
	out->span_bytes = __atomic_load_n(&heap_global.span_bytes, __ATOMIC_RELAXED);
	out->large_bytes = __atomic_load_n(&heap_global.large_bytes, __ATOMIC_RELAXED);
	out->nlarge = __atomic_load_n(&heap_global.nlarge, __ATOMIC_RELAXED);
	out->nthreads_idle_flushed = __atomic_load_n(&tcache_idle_flushes, __ATOMIC_RELAXED);
	tcache_busy_leave();
}

/* Fork hooks, in rank order: gc (10), central (30), scav (35), heap (40),
 * finq (47), meta (50), thread (60). The per-span special locks are not
 * taken (there may be millions); the child re-initialises them. */
void alloc_prefork(void)
{
	if (!alloc_is_initialized())
		return;
	if (GCM_COLLECTOR)
		gc_prefork();
	central_prefork();
	scav_prefork();
	heap_prefork();
	if (GCM_COLLECTOR) {
		fin_prefork();
		special_prefork();
	}
	tcache_prefork();
}

void alloc_postfork_parent(void)
{
	if (!alloc_is_initialized())
		return;
	tcache_postfork_parent();
	if (GCM_COLLECTOR) {
		special_postfork_parent();
		fin_postfork_parent();
	}
	heap_postfork_parent();
	scav_postfork_parent();
	central_postfork_parent();
	if (GCM_COLLECTOR)
		gc_postfork_parent();
}

void alloc_postfork_child(void)
{
	if (!alloc_is_initialized())
		return;
	tcache_postfork_child();
	if (GCM_COLLECTOR) {
		special_postfork_child();
		fin_postfork_child();
	}
	heap_postfork_child();
	scav_postfork_child();
	central_postfork_child();
	if (GCM_COLLECTOR)
		gc_postfork_child();
}

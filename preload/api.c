/*
 * api.c — the exported gcm_* functions: argument checks and errno, then the
 * engine (core/gc.c, core/alloc.c).
 */
#define _GNU_SOURCE
#include "alloc.h"
#include "export.h"
#include "fin.h"
#include "gc.h"
#include "lock.h"
#include "span.h"
#include "weak.h"

#include "gcmalloc.h"

#include <errno.h>
#include <string.h>

GCM_EXPORT void *gcm_malloc(size_t n)
{
	lock_assert_none_held();
	return alloc_gc_malloc(n ? n : 1, SPAN_KIND_GC);
}

GCM_EXPORT void *gcm_malloc_atomic(size_t n)
{
	lock_assert_none_held();
	return alloc_gc_malloc(n ? n : 1, SPAN_KIND_GC_ATOMIC);
}

GCM_EXPORT void gcm_collect(void)
{
	lock_assert_none_held();
	gc_collect();
}

GCM_EXPORT gcm_weak_t gcm_weak_make(const void *p)
{
	lock_assert_none_held();
	if (!alloc_init()) {
		errno = ENOMEM;
		return NULL;
	}
	return weak_make(p);
}

GCM_EXPORT void *gcm_weak_get(gcm_weak_t w)
{
	return weak_get(w);
}

GCM_EXPORT int gcm_set_finalizer(void *p, void (*fn)(void *obj, void *arg), void *arg)
{
	lock_assert_none_held();
	if (!alloc_init()) {
		errno = ENOMEM;
		return -1;
	}
	return fin_set_finalizer(p, fn, arg);
}

GCM_EXPORT gcm_cleanup_t gcm_add_cleanup(void *p, void (*fn)(void *arg), void *arg)
{
	lock_assert_none_held();
	if (!alloc_init()) {
		errno = ENOMEM;
		return 0;
	}
	return fin_add_cleanup(p, fn, arg);
}

GCM_EXPORT int gcm_cleanup_cancel(gcm_cleanup_t c)
{
	lock_assert_none_held();
	return fin_cleanup_cancel(c);
}

GCM_EXPORT int gcm_finalizers_wait(unsigned timeout_ms)
{
	lock_assert_none_held();
	return fin_wait(timeout_ms);
}

GCM_EXPORT int gcm_stats(struct gcm_stats *out, size_t out_size)
{
	if (out == NULL || out_size < sizeof(uint64_t)) {
		errno = EINVAL;
		return -1;
	}
	struct gcm_stats st;
	memset(&st, 0, sizeof(st));
	gc_stats_t g;
	gc_get_stats(&g);
	alloc_stats_t a;
	alloc_get_stats(&a);
	st.gc_cycles = g.cycles;
	st.gc_cycles_skipped = g.cycles_skipped;
	st.gc_heap_bytes = g.heap_bytes;
	st.gc_marked_bytes = g.marked_bytes;
	st.gc_trigger_bytes = g.trigger_bytes;
	st.gc_freed_bytes = g.freed_bytes;
	st.gc_pause_total_ns = g.pause_total_ns;
	st.gc_pause_last_ns = g.pause_last_ns;
	st.gc_pause_max_ns = g.pause_max_ns;
	st.heap_mapped_bytes = a.mapped_bytes;
	st.heap_in_use_bytes = a.span_bytes;
	st.heap_free_bytes = a.free_bytes;
	st.heap_released_bytes = a.released_bytes;
	st.heap_metadata_bytes = a.meta_bytes;
	fin_get_counts(&st.finalizers_run, &st.finalizers_queued);
	size_t n = out_size < sizeof(st) ? out_size : sizeof(st);
	st.size = n;
	memcpy(out, &st, n);
	return 0;
}

GCM_EXPORT const char *gcm_version(void)
{
	return GCM_VERSION;
}

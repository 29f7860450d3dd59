/*
 * glibc.c — glibc's malloc introspection and tuning calls, answered with
 * gcmalloc's own figures: malloc_trim, mallinfo, mallinfo2, mallopt,
 * malloc_stats, malloc_info.
 *
 * malloc_stats and malloc_info print with the non-allocating logger or
 * plain fputs of a stack buffer, never while holding an allocator lock.
 */
#define _GNU_SOURCE
#include "alloc.h"
#include "export.h"
#include "heap.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

GCM_EXPORT int malloc_trim(size_t pad)
{
	(void)pad;
	return alloc_trim() > 0;
}

static size_t glibc_clamp_int(size_t v)
{
	return v > INT_MAX ? INT_MAX : v;
}

GCM_EXPORT struct mallinfo2 mallinfo2(void)
{
	alloc_stats_t st;
	alloc_get_stats(&st);
	struct mallinfo2 mi;
	memset(&mi, 0, sizeof(mi));
	mi.arena = st.mapped_bytes;                 /* address space in arenas */
	mi.ordblks = 0;
	mi.hblks = st.nlarge;                       /* large objects */
	mi.hblkhd = st.large_bytes;
	mi.uordblks = st.span_bytes;                /* bytes in spans */
	mi.fordblks = st.free_bytes;                /* free, still resident */
	mi.keepcost = st.released_bytes;            /* free and released */
	mi.usmblks = 0;
	return mi;
}

GCM_EXPORT struct mallinfo mallinfo(void)
{
	struct mallinfo2 m2 = mallinfo2();
	struct mallinfo mi;
	memset(&mi, 0, sizeof(mi));
	mi.arena = (int)glibc_clamp_int(m2.arena);
	mi.hblks = (int)glibc_clamp_int(m2.hblks);
	mi.hblkhd = (int)glibc_clamp_int(m2.hblkhd);
	mi.uordblks = (int)glibc_clamp_int(m2.uordblks);
	mi.fordblks = (int)glibc_clamp_int(m2.fordblks);
	mi.keepcost = (int)glibc_clamp_int(m2.keepcost);
	return mi;
}

GCM_EXPORT int mallopt(int param, int value)
{
	(void)value;
	switch (param) {
	case M_MXFAST:
	case M_TRIM_THRESHOLD:
	case M_TOP_PAD:
	case M_MMAP_THRESHOLD:
	case M_MMAP_MAX:
	case M_CHECK_ACTION:
	case M_PERTURB:
	case M_ARENA_TEST:
	case M_ARENA_MAX:
		/* Accepted; gcmalloc's heap has no such knob. */
		return 1;
	default:
		return 0;
	}
}

void preload_print_stats(void)
{
	alloc_stats_t st;
	alloc_get_stats(&st);
	log_fd(2, "gcmalloc heap:\n"
		  "  arenas mapped    %12zu bytes\n"
		  "  in spans         %12zu bytes\n"
		  "  large objects    %12zu bytes in %zu blocks\n"
		  "  free, resident   %12zu bytes\n"
		  "  free, released   %12zu bytes\n"
		  "  metadata         %12zu bytes\n"
		  "  idle caches flushed %9zu\n",
	       st.mapped_bytes, st.span_bytes, st.large_bytes, st.nlarge,
	       st.free_bytes, st.released_bytes, st.meta_bytes,
	       st.nthreads_idle_flushed);
}

GCM_EXPORT void malloc_stats(void)
{
	preload_print_stats();
}

GCM_EXPORT int malloc_info(int options, FILE *fp)
{
	if (options != 0) {
		errno = EINVAL;
		return -1;
	}
	alloc_stats_t st;
	alloc_get_stats(&st);
	char buf[1024];
	log_format(buf, sizeof(buf),
		   "<malloc version=\"gcmalloc-%s\">\n"
		   "<total type=\"mapped\" size=\"%zu\"/>\n"
		   "<total type=\"spans\" size=\"%zu\"/>\n"
		   "<total type=\"large\" count=\"%zu\" size=\"%zu\"/>\n"
		   "<total type=\"free\" size=\"%zu\"/>\n"
		   "<total type=\"released\" size=\"%zu\"/>\n"
		   "<total type=\"metadata\" size=\"%zu\"/>\n"
		   "</malloc>\n",
		   GCM_VERSION, st.mapped_bytes, st.span_bytes, st.nlarge,
		   st.large_bytes, st.free_bytes, st.released_bytes,
		   st.meta_bytes);
	fputs(buf, fp);
	return 0;
}

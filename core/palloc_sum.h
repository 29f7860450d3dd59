/*
 * palloc_sum.h — packed page-allocator summaries.
 *
 * A summary describes the free pages of a power-of-two-sized, page-aligned
 * region of the heap with three counts:
 *
 *   start  free pages at the low end of the region,
 *   max    the longest run of free pages anywhere in it,
 *   end    free pages at the high end of the region.
 *
 * The radix tree in palloc.c stores one summary per chunk at its leaf level
 * and one per group of 8 children above; the root entry covers
 * 2^PALLOC_SUM_LOG_MAX pages. Each count takes 21 bits of a uint64_t:
 *
 *   bits  0..20  start
 *   bits 21..41  max
 *   bits 42..62  end
 *   bit  63      "everything free": start = max = end = 2^21
 *
 * The largest count, 2^21, does not fit in 21 bits, but it only occurs when
 * the whole root region is free, in which case all three counts are 2^21, so
 * a single flag bit stands for it. A fully allocated region packs to 0, so a
 * search skips it with one load and compare.
 */
#ifndef GCM_PALLOC_SUM_H
#define GCM_PALLOC_SUM_H

#include "base.h"
#include "debug.h"

typedef uint64_t palloc_sum_t;

#define PALLOC_SUM_LOG_MAX 21
#define PALLOC_SUM_MAX ((uint64_t)1 << PALLOC_SUM_LOG_MAX)
#define PALLOC_SUM_MASK (PALLOC_SUM_MAX - 1)
#define PALLOC_SUM_ALL_FREE ((uint64_t)1 << 63)

GCM_INLINE palloc_sum_t palloc_sum_pack(unsigned start, unsigned max,
					unsigned end)
{
	GCM_ASSERT(start <= PALLOC_SUM_MAX && max <= PALLOC_SUM_MAX &&
		   end <= PALLOC_SUM_MAX);
	GCM_ASSERT(start <= max && end <= max);
	if (max == PALLOC_SUM_MAX)
		return PALLOC_SUM_ALL_FREE;
	return (uint64_t)start | ((uint64_t)max << PALLOC_SUM_LOG_MAX) |
	       ((uint64_t)end << (2 * PALLOC_SUM_LOG_MAX));
}

GCM_INLINE unsigned palloc_sum_start(palloc_sum_t s)
{
	if (s & PALLOC_SUM_ALL_FREE)
		return (unsigned)PALLOC_SUM_MAX;
	return (unsigned)(s & PALLOC_SUM_MASK);
}

GCM_INLINE unsigned palloc_sum_max(palloc_sum_t s)
{
	if (s & PALLOC_SUM_ALL_FREE)
		return (unsigned)PALLOC_SUM_MAX;
	return (unsigned)((s >> PALLOC_SUM_LOG_MAX) & PALLOC_SUM_MASK);
}

GCM_INLINE unsigned palloc_sum_end(palloc_sum_t s)
{
	if (s & PALLOC_SUM_ALL_FREE)
		return (unsigned)PALLOC_SUM_MAX;
	return (unsigned)((s >> (2 * PALLOC_SUM_LOG_MAX)) & PALLOC_SUM_MASK);
}

GCM_INLINE void palloc_sum_unpack(palloc_sum_t s, unsigned *start,
				  unsigned *max, unsigned *end)
{
	*start = palloc_sum_start(s);
	*max = palloc_sum_max(s);
	*end = palloc_sum_end(s);
}

/*
 * Merges n consecutive child summaries, each describing 2^log_child_pages
 * pages, into the summary of their union.
 *
 *   start grows while every child so far was entirely free;
 *   max is the best of the running max, the child's max, and the run that
 *     crosses from the running end into the child's start;
 *   end is the child's end, extended by the running end when the child is
 *     entirely free.
 */
GCM_INLINE palloc_sum_t palloc_sum_merge(const palloc_sum_t *child, unsigned n,
					 unsigned log_child_pages)
{
	const unsigned child_pages = 1u << log_child_pages;
	unsigned start, max, end;

	palloc_sum_unpack(child[0], &start, &max, &end);
	for (unsigned i = 1; i < n; i++) {
		unsigned s, m, e;
		palloc_sum_unpack(child[i], &s, &m, &e);
		if (start == i * child_pages)
			start += s;
		max = GCM_MAX(max, GCM_MAX(m, end + s));
		if (e == child_pages)
			end += child_pages;
		else
			end = e;
	}
	return palloc_sum_pack(start, max, end);
}

#endif /* GCM_PALLOC_SUM_H */

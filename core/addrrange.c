/*
 * addrrange.c — the sorted range set of addrrange.h.
 *
 * Lookups are binary searches; insertion shifts the tail of the array. The
 * set is small (one entry per discontiguous piece of heap) and changes only
 * when the heap grows, so this is never on a hot path.
 */
#include "base.h"
#include "addrrange.h"
#include "debug.h"
#include "sys.h"

#include <string.h>

size_t addrrange_find_succ(const addrrange_set_t *s, uintptr_t addr)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->ranges[mid].base > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

bool addrrange_contains(const addrrange_set_t *s, uintptr_t addr)
{
	size_t i = addrrange_find_succ(s, addr);
	return i > 0 && addr < s->ranges[i - 1].limit;
}

bool addrrange_find_addr_ge(const addrrange_set_t *s, uintptr_t addr,
			    uintptr_t *out)
{
	size_t i = addrrange_find_succ(s, addr);
	if (i > 0 && addr < s->ranges[i - 1].limit) {
		*out = addr;
		return true;
	}
	if (i < s->n) {
		*out = s->ranges[i].base;
		return true;
	}
	return false;
}

static bool addrrange_grow_array(addrrange_set_t *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 16;
	addr_range_t *nr = sys_alloc(ncap * sizeof(addr_range_t));
	if (nr == NULL)
		return false;
	if (s->ranges) {
		memcpy(nr, s->ranges, s->n * sizeof(addr_range_t));
		sys_free(s->ranges, s->cap * sizeof(addr_range_t));
	}
	s->ranges = nr;
	s->cap = ncap;
	return true;
}

bool addrrange_add(addrrange_set_t *s, uintptr_t base, uintptr_t limit)
{
	GCM_ASSERT(base < limit);
	size_t i = addrrange_find_succ(s, base);
	/* i is the first range above base; i-1 (if any) starts at or below. */
	bool merge_below = i > 0 && s->ranges[i - 1].limit == base;
	bool merge_above = i < s->n && s->ranges[i].base == limit;
	GCM_ASSERT(i == 0 || s->ranges[i - 1].limit <= base);
	GCM_ASSERT(i == s->n || s->ranges[i].base >= limit);

	if (merge_below && merge_above) {
		s->ranges[i - 1].limit = s->ranges[i].limit;
		memmove(&s->ranges[i], &s->ranges[i + 1],
			(s->n - i - 1) * sizeof(addr_range_t));
		s->n--;
	} else if (merge_below) {
		s->ranges[i - 1].limit = limit;
	} else if (merge_above) {
		s->ranges[i].base = base;
	} else {
		if (s->n == s->cap && !addrrange_grow_array(s))
			return false;
		memmove(&s->ranges[i + 1], &s->ranges[i],
			(s->n - i) * sizeof(addr_range_t));
		s->ranges[i].base = base;
		s->ranges[i].limit = limit;
		s->n++;
	}
	s->total_bytes += limit - base;
	return true;
}

void addrrange_destroy(addrrange_set_t *s)
{
	if (s->ranges)
		sys_free(s->ranges, s->cap * sizeof(addr_range_t));
	memset(s, 0, sizeof(*s));
}

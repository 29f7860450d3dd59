/*
 * addrrange.h — a sorted, coalesced set of address ranges [base, limit).
 *
 * The page allocator records here every range it was ever asked to grow
 * into. Queries answer "is this address inside the heap?" and "where does
 * the next piece of heap start above this address?", which the search hint
 * needs when the heap is not contiguous.
 *
 * Storage is an array obtained from sys_alloc that doubles when full (the
 * old array is unmapped). The set is not locked itself: its owner's lock
 * (the heap lock for the page allocator) protects it.
 */
#ifndef GCM_ADDRRANGE_H
#define GCM_ADDRRANGE_H

#include "base.h"

typedef struct addr_range {
	uintptr_t base;
	uintptr_t limit; /* exclusive */
} addr_range_t;

typedef struct addrrange_set {
	addr_range_t *ranges; /* sorted by base, disjoint, not touching */
	size_t n;
	size_t cap;
	size_t total_bytes;   /* sum of limit - base */
} addrrange_set_t;

/* Adds [base, limit), which must not overlap the set, merging it with
 * touching neighbours. Returns false if the array could not grow. */
bool addrrange_add(addrrange_set_t *s, uintptr_t base, uintptr_t limit);
/* Index of the first range whose base is above addr (n if none). */
size_t addrrange_find_succ(const addrrange_set_t *s, uintptr_t addr);
bool addrrange_contains(const addrrange_set_t *s, uintptr_t addr);
/* The smallest address >= addr that lies in the set; false if none. */
bool addrrange_find_addr_ge(const addrrange_set_t *s, uintptr_t addr,
			    uintptr_t *out);
/* Unmaps the storage. */
void addrrange_destroy(addrrange_set_t *s);

#endif /* GCM_ADDRRANGE_H */

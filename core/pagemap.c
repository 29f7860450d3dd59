/*
 * pagemap.c — leaves of the address-to-span map (see pagemap.h).
 */
#include "base.h"
#include "pagemap.h"
#include "sys.h"

pagemap_leaf_t *pagemap_root[PAGEMAP_ROOT_ENTRIES];

bool pagemap_ensure(uintptr_t base, size_t nbytes)
{
	for (uintptr_t a = align_down(base, (uintptr_t)1 << PAGEMAP_LEAF_SHIFT);
	     a < base + nbytes; a += (uintptr_t)1 << PAGEMAP_LEAF_SHIFT) {
		size_t i = a >> PAGEMAP_LEAF_SHIFT;
		if (pagemap_root[i] != NULL)
			continue;
		pagemap_leaf_t *leaf = sys_alloc(sizeof(pagemap_leaf_t));
		if (leaf == NULL)
			return false;
		__atomic_store_n(&pagemap_root[i], leaf, __ATOMIC_RELEASE);
	}
	return true;
}

void pagemap_set(uintptr_t base, size_t npages, span_t *s)
{
	for (size_t i = 0; i < npages; i++) {
		uintptr_t a = base + (i << 12);
		pagemap_root[a >> PAGEMAP_LEAF_SHIFT]
			->span[(a >> 12) & (PAGEMAP_LEAF_ENTRIES - 1)] = s;
	}
}

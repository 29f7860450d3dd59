/*
 * pagemap.h — the address-to-span map.
 *
 * Every page of every arena maps to the span that contains it (or NULL when
 * the page belongs to no span). The map has two levels: a root array with
 * one slot per 64 MiB of the 47-bit user address space (2^21 slots, 16 MiB
 * of zero-filled static storage that costs memory only where written), and a leaf of 16384 span
 * pointers per 64 MiB, mapped when an arena is created there.
 *
 * Reads are lock-free: a leaf, once published, is never freed; entries are
 * written with plain stores by the thread that owns the pages (a thread
 * building a span from pages only it holds), and a pointer reaches another
 * thread only through the program's own synchronisation, which orders the
 * entry's store before the other thread's lookup.
 */
#ifndef GCM_PAGEMAP_H
#define GCM_PAGEMAP_H

#include "base.h"
#include "span.h"

#define PAGEMAP_ADDR_BITS 47
#define PAGEMAP_LEAF_SHIFT 26 /* 64 MiB per leaf */
#define PAGEMAP_LEAF_ENTRIES ((size_t)1 << (PAGEMAP_LEAF_SHIFT - 12))
#define PAGEMAP_ROOT_ENTRIES ((size_t)1 << (PAGEMAP_ADDR_BITS - PAGEMAP_LEAF_SHIFT))

typedef struct pagemap_leaf {
	span_t *span[PAGEMAP_LEAF_ENTRIES];
} pagemap_leaf_t;

/* Root array, in zero-initialised static storage, so lookups work before
 * anything is initialised (and find nothing). Slots are written once, under
 * the heap lock, with a release store. */
extern pagemap_leaf_t *pagemap_root[PAGEMAP_ROOT_ENTRIES];

/* Makes sure leaves exist for [base, base+nbytes). Locks: heap lock. */
bool pagemap_ensure(uintptr_t base, size_t nbytes);

/* The span owning addr, or NULL when addr is not in gcmalloc's heap. */
GCM_INLINE span_t *pagemap_lookup(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	if (GCM_UNLIKELY(a >> PAGEMAP_ADDR_BITS))
		return NULL;
	pagemap_leaf_t *leaf = __atomic_load_n(&pagemap_root[a >> PAGEMAP_LEAF_SHIFT],
					       __ATOMIC_ACQUIRE);
	if (GCM_UNLIKELY(leaf == NULL))
		return NULL;
	return leaf->span[(a >> 12) & (PAGEMAP_LEAF_ENTRIES - 1)];
}

/* Points every page of [base, base + npages pages) at s (s may be NULL). The
 * caller owns those pages. */
void pagemap_set(uintptr_t base, size_t npages, span_t *s);

#endif /* GCM_PAGEMAP_H */

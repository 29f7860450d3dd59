/*
 * weak.h — weak handles (Go's weak.Pointer, in C).
 *
 * Contract (SPEC, restated as invariants):
 *   - make(p) is canonical: while p's object lives, every make(p) returns
 *     the same handle; two different addresses (two fields of one object)
 *     get two different handles; get returns exactly the address given.
 *   - A handle reads NULL from the moment a cycle finds its object
 *     unreachable, before any finalizer of the object runs, and stays NULL
 *     if a finalizer resurrects it; a make after that returns a new handle.
 *   - A handle reads NULL once its object is free()d.
 *   - Addresses outside the heap (static data, stacks, foreign mmaps) get
 *     immortal handles from a lock-free, append-only trie; they never read
 *     NULL.
 *   - make on heap memory that is not a live object fails with EINVAL.
 *   - Handles to heap objects are themselves collectable: a handle the
 *     program drops is reclaimed, and its record removed from the object.
 */
#ifndef GCM_WEAK_H
#define GCM_WEAK_H

#include "base.h"
#include "mark.h"

/* A handle: the address it reads, 0 once the object died. Atomic. Heap
 * handles are collectable objects of the atomic kind holding just this;
 * immortal handles are trie nodes that begin with it. */
struct gcm_weak {
	uintptr_t target;
};

struct gcm_weak *weak_make(const void *p);
void *weak_get(const struct gcm_weak *w);

#endif /* GCM_WEAK_H */

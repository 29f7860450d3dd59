/*
 * roots.h — where the collector finds pointers that are not in the heap:
 * the writable segments of every loaded object, thread stacks and thread
 * storage (located through the process's memory map).
 */
#ifndef GCM_ROOTS_H
#define GCM_ROOTS_H

#include "base.h"

typedef void (*roots_fn)(uintptr_t lo, uintptr_t hi, void *arg);

/* Excludes [lo, hi) from every root range reported (allocator metadata that
 * lives in a data segment). At most ROOTS_MAX_EXCLUDED ranges; set at
 * start-up, read-only afterwards. */
#define ROOTS_MAX_EXCLUDED 8
void roots_exclude(uintptr_t lo, uintptr_t hi);

/* Runs fn(arg) with the dynamic loader's lock held, so that no dlopen or
 * dlclose can add or remove segments while fn runs (the lock is recursive;
 * roots_for_each_segment may be called from fn). */
void roots_with_loader_locked(void (*fn)(void *), void *arg);

/* Calls fn for each writable segment of every loaded object, minus the
 * excluded ranges. Must run under roots_with_loader_locked. */
void roots_for_each_segment(roots_fn fn, void *arg);

/* An upper bound on the size of a thread's static TLS area below its
 * thread pointer: the TLS segments of every loaded object plus glibc's
 * surplus. Must run under roots_with_loader_locked. */
size_t roots_static_tls_bytes(void);

/* Reads the process's memory map (raw system calls, no allocation).
 * Returns false if it could not be read. */
bool roots_read_maps(void);
/* The mapping containing addr, from the last roots_read_maps. */
bool roots_mapping_of(uintptr_t addr, uintptr_t *lo, uintptr_t *hi);

#endif /* GCM_ROOTS_H */

/*
 * gc.h — the conservative collector: cycles, pacing, statistics.
 *
 * See gc.c for the cycle. Objects from gcm_malloc (scanned) and
 * gcm_malloc_atomic (not scanned) are collectable; everything else is a root.
 */
#ifndef GCM_GC_H
#define GCM_GC_H

#include "base.h"
#include "lock.h"

/* The smallest collectable heap at which automatic collection starts. */
#define GC_MIN_HEAP_BYTES ((size_t)4 << 20)

typedef struct gc_stats {
	uint64_t cycles;           /* completed collections */
	uint64_t cycles_skipped;   /* collections abandoned (world not stopped) */
	uint64_t heap_bytes;       /* collectable bytes: marked + allocated since */
	uint64_t marked_bytes;     /* live collectable bytes at the last cycle */
	uint64_t trigger_bytes;    /* next automatic cycle at this heap size */
	uint64_t freed_bytes;      /* total bytes reclaimed */
	uint64_t pause_total_ns;
	uint64_t pause_last_ns;
	uint64_t pause_max_ns;
} gc_stats_t;

/* A full, blocking cycle. Returns false if the cycle had to be skipped
 * (some thread could not be stopped). Locks: must hold no allocator lock. */
bool gc_collect(void);

/* Called after collectable allocation counted in the calling thread's
 * cache: adds them to the heap figure and starts a cycle when the heap
 * reached its trigger. Must be called at a safe point (not busy). */
void gc_account(size_t nbytes);

void gc_get_stats(gc_stats_t *out);

/* Fork protocol: a fork waits for a running cycle to finish. */
void gc_prefork(void);
void gc_postfork_parent(void);
void gc_postfork_child(void);

#endif /* GCM_GC_H */

/*
 * scav.h — the scavenger: gives free pages back to the kernel.
 *
 * See the design comment in scav.c. Functions that take the heap lock
 * themselves say "Locks: must not hold the heap lock"; the ones that need it
 * carry _locked and assert it.
 */
#ifndef GCM_SCAV_H
#define GCM_SCAV_H

#include "base.h"
#include "palloc.h"

/* A chunk with at least this many pages in use (31/32 of it) during this or
 * the previous generation is "dense": background and growth scavenging leave
 * it alone, so its huge page is not broken up for memory that will soon be
 * used again. Forced scavenging ignores the rule. */
#define SCAV_DENSE_PAGES (PALLOC_CHUNK_PAGES - PALLOC_CHUNK_PAGES / 32)
/* Memory retained above the heap goal, in percent. */
#define SCAV_RETAIN_EXTRA_PERCENT 10
/* The memory-limit goal: this percentage of GCMALLOC_MEMLIMIT. */
#define SCAV_LIMIT_GOAL_PERCENT 95
/* Length of a generation: the window over which peak use is measured. */
#define SCAV_GEN_NS ((uint64_t)1000000000)

/* Where a scavenging pass resumes: an address; chunks below it are visited
 * next, from the top down. */
typedef struct scav_cursor {
	uintptr_t addr;
} scav_cursor_t;

/*
 * Releases up to nbytes of free, not yet released memory from pa, highest
 * addresses first, starting below the cursor and moving it down. Dense
 * chunks are skipped unless force. Returns the bytes released; fewer than
 * asked means the pass reached the bottom of the heap (the cursor is then
 * reset to the top). In test mode nothing is released to the kernel, only
 * the bitmaps change.
 * Locks: must not hold pa's lock (takes it around each run, and releases
 * it during the madvise call).
 */
size_t scav_scavenge(palloc_t *pa, scav_cursor_t *cur, size_t nbytes, bool force);

/* Heap figures the goals are computed from. */
typedef struct scav_figures {
	size_t in_use_bytes;    /* pages not free (in spans, page caches) */
	size_t retained_bytes;  /* pages not released: in use + free resident */
	size_t goal_bytes;      /* retained should not exceed this */
	size_t limit_goal_bytes;/* SIZE_MAX without GCMALLOC_MEMLIMIT */
	size_t meta_bytes;
} scav_figures_t;

/* Locks: heap lock. */
void scav_figures_locked(const palloc_t *pa, size_t extra_meta_bytes,
			 scav_figures_t *out);

/* Bytes the background scavenger should still release (0 = goals met). */
size_t scav_excess(const scav_figures_t *f);

/* The global heap's scavenger. */

/* Notes that the heap freed nbytes of pages; wakes the background thread
 * if it is parked for want of anything free and enough was freed (a free
 * never makes work before the generation ends: see scav.c). Callable with
 * any allocator lock held; never blocks. */
void scav_kick(size_t nbytes);

/* Starts the background thread if it was asked for and is not running.
 * Must be called where re-entering malloc is safe (no lock held, thread
 * cache consistent): the ends of the allocation slow paths. */
void scav_maybe_start(void);
extern bool scav_start_wanted; /* Atomic: set by scav_kick */

/* Allocation-time scavenging after the heap grew by growth_bytes, and when
 * the memory limit is near. Locks: must not hold the heap lock. */
void scav_eager(size_t growth_bytes);

/* malloc_trim: releases every free page, prints a "(forced)" trace line
 * when asked to. Returns the bytes released. Locks: must not hold the heap
 * lock. */
size_t scav_release_all(void);

void scav_prefork(void);
void scav_postfork_parent(void);
void scav_postfork_child(void);

#endif /* GCM_SCAV_H */

/*
 * heap.h — the heap: the page allocator, the arenas it grows into, the heap
 * lock, span descriptors and the per-thread page caches.
 *
 * Spans are the unit the rest of the allocator asks for: heap_alloc_span
 * returns npages fresh pages described by a span and entered in the page
 * map; heap_free_span gives them back.
 */
#ifndef GCM_HEAP_H
#define GCM_HEAP_H

#include "base.h"
#include "lock.h"
#include "palloc.h"
#include "pcache.h"
#include "span.h"

/* Arenas are committed in units of 64 MiB of address space, from one
 * reservation of HEAP_RESERVE_BYTES while it lasts. */
#define HEAP_ARENA_BYTES ((size_t)64 << 20)
#define HEAP_RESERVE_BYTES ((size_t)64 << 30)

/* What a thread keeps between heap calls: its page cache and a few spare
 * span descriptors. Owned by one thread; another thread may touch it only
 * after the owner has handed it back (heap_thread_release). */
typedef struct heap_local {
	pcache_t pcache;
	span_t *spare;        /* singly linked through next */
	unsigned nspare;
} heap_local_t;

typedef struct heap {
	lock_t lock;                  /* the heap lock, rank HEAP */
	palloc_t pa;                  /* Protected by: lock */
	span_t *free_spans;           /* spare descriptors. Protected by: lock */
	uintptr_t arena_hint;         /* where the next arena should go. Protected by: lock */
	/* The address-space reservation arenas are committed from:
	 * [reserve_base, reserve_limit), used up to reserve_next.
	 * Protected by: lock */
	uintptr_t reserve_base, reserve_next, reserve_limit;
	bool reserve_failed;
	size_t mapped_bytes;          /* arena bytes mapped. Protected by: lock */
	size_t meta_bytes;            /* descriptor slabs. Protected by: lock */
	/* Bytes in spans handed out (small + large). Atomic. */
	size_t span_bytes;
	size_t large_bytes;           /* bytes in large spans. Atomic. */
	size_t nlarge;                /* live large objects. Atomic. */
} heap_t;

extern heap_t heap_global;

bool heap_init(void);

/*
 * Allocates a span of npages pages. With local != NULL, small requests are
 * served from the thread's page cache without the heap lock. Returns NULL
 * when the kernel refuses memory. The span comes back with base, npages and
 * fresh set and every other field zero; it is entered in the page map.
 * Locks: none held on entry (takes the heap lock itself); callers may hold a
 * lock of lower rank (a central lock).
 */
span_t *heap_alloc_span(size_t npages, heap_local_t *local);

/* A large span of npages pages whose base is aligned to align (a power of
 * two above the page size). Locks: as heap_alloc_span. */
span_t *heap_alloc_span_aligned(size_t npages, size_t align);

/* Tries to extend a large span in place by npages pages. Locks: as above. */
bool heap_grow_span_in_place(span_t *s, size_t npages);
/* Returns the last npages pages of a large span to the heap. */
void heap_shrink_span(span_t *s, size_t npages);

/* Gives a span's pages and descriptor back. Locks: as heap_alloc_span. */
void heap_free_span(span_t *s);

/* Returns a thread's page cache and spare descriptors to the heap. Called
 * at thread exit. Locks: takes the heap lock. */
void heap_local_flush(heap_local_t *local);

/* Whether addr lies in the heap's arenas (in a span or in free pages).
 * Locks: takes the heap lock. */
bool heap_contains(uintptr_t addr);

/* Calls fn for every span in the heap, in address order. fn may free the
 * span it is given. The caller must keep every other thread from creating
 * or freeing spans meanwhile (the world is stopped, or it is the only
 * thread, as in a fork child). */
void heap_for_each_span(void (*fn)(span_t *s, void *arg), void *arg);

/* Fork protocol (rank order is the caller's business). */
void heap_prefork(void);
void heap_postfork_parent(void);
void heap_postfork_child(void);

#endif /* GCM_HEAP_H */

/*
 * central.h — the central free lists: per size class, the spans that have
 * free objects.
 *
 * Thread caches exchange objects with the central lists in batches: a refill
 * takes up to half a cache bin of objects, a flush returns half a bin. Each
 * class has its own lock (rank CENTRAL), so threads working on different
 * classes never contend, and the cost of a lock is shared by a whole batch.
 *
 * Partial spans are kept in four lists by how full they are, and refills
 * take from the fullest first. Objects are thus packed into spans that are
 * already mostly used, while spans whose objects are leaving drain, become
 * empty and go back to the heap. (With a single list, a program whose
 * objects move between classes, such as strings grown by realloc, leaves a
 * few long-lived objects scattered over every span the class ever had.)
 * A span whose objects have all come back is returned to the heap, except
 * that each class keeps one empty span to absorb alloc/free see-saws.
 */
#ifndef GCM_CENTRAL_H
#define GCM_CENTRAL_H

#include "base.h"
#include "heap.h"
#include "lock.h"
#include "sizeclass.h"
#include "span.h"

/* Fullness lists: list i holds spans with between i/4 and (i+1)/4 of their
 * objects in use (list 3 also the almost full ones). */
#define CENTRAL_NLISTS 4

typedef struct central {
	lock_t lock;
	/* Spans with free objects and at least one in use, by fullness.
	 * Protected by: lock */
	span_t *partial[CENTRAL_NLISTS];
	span_t *spare;     /* one empty span kept back. Protected by: lock */
	size_t nspans;     /* spans of this class in use. Protected by: lock */
} GCM_ALIGNED(GCM_CACHELINE) central_t;

/* One per span class (kind and size class); entries of class 0 unused. */
extern central_t central_table[SPANCLASS_COUNT];

void central_init(void);

/* Fills out[0..want) with free objects of span class sc, allocating spans from
 * the heap as needed (with local's page cache when local != NULL). Returns
 * how many it got: fewer than want only when memory ran out. The objects
 * come in ascending address order. Locks: takes the class lock. */
unsigned central_refill(unsigned sc, void **out, unsigned want,
			heap_local_t *local);

/* Returns n objects of span class sc. Aborts with a message naming `call` and
 * the pointer if one of them is already free in the central list (a double
 * free). Locks: takes the class lock. */
void central_flush(unsigned sc, void *const *objs, unsigned n,
		   const char *call);

/* Whether the object at p (of a small span of span class sc) is free in
 * the central list. Locks: takes the class lock. */
bool central_is_free(unsigned sc, const void *p);

/* Collector: frees every object of small span s (a collectable kind) that
 * is neither marked nor already free, re-files s, and gives it back to the
 * heap if it became empty. Returns the bytes freed. Locks: takes the class
 * lock; the world is stopped. */
size_t central_sweep_span(span_t *s);

/* Returns every span with no object in use to the heap (malloc_trim). */
void central_release_empty(void);

void central_prefork(void);
void central_postfork_parent(void);
void central_postfork_child(void);

#endif /* GCM_CENTRAL_H */

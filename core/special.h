/*
 * special.h — records attached to heap objects: weak handles, finalizers,
 * cleanups.
 *
 * Each span keeps its specials in one list sorted by byte offset from the
 * span's base (then by kind), under the span's special lock. The records
 * live in metadata memory (a pool of slabs), never in the heap, so they are
 * not scanned: what they point to is kept alive (or not) by the collector's
 * explicit rules in fin.c and weak.c.
 *
 * Invariants:
 *   - a span's list is sorted by (offset, kind);
 *   - at most one WEAK record per offset and one FINALIZER per object (at
 *     the object's first byte); any number of CLEANUP records;
 *   - span->specials == NULL exactly when the span has none.
 */
#ifndef GCM_SPECIAL_H
#define GCM_SPECIAL_H

#include "base.h"
#include "span.h"

enum special_kind {
	SPECIAL_WEAK = 1,
	SPECIAL_FINALIZER = 2,
	SPECIAL_CLEANUP = 3,
};

typedef struct special special_t;

struct special {
	special_t *next;
	uintptr_t offset;       /* byte offset of the address from span->base */
	uint8_t kind;
	/* Incremented every time the record is freed, so a stale cleanup id
	 * (which names a record and its sequence) is recognised. */
	uint32_t seq;
	uint32_t index;         /* position in the pool (for ids); fixed */
	union {
		struct gcm_weak *handle;              /* WEAK */
		struct {
			void (*fn)(void *obj, void *arg);
			void *arg;
		} fin;                                /* FINALIZER */
		struct {
			void (*fn)(void *arg);
			void *arg;
		} cleanup;                            /* CLEANUP */
	} u;
	span_t *span;           /* the span the record is on (CLEANUP ids) */
};

/* A record from the pool, zeroed except seq and index; NULL when out of
 * memory. Locks: takes the meta lock (callable under a span's lock). */
special_t *special_alloc(void);
/* Back to the pool. */
void special_free(special_t *sp);
/* Frees sp if it is still the record (seq, kind) on no span, atomically
 * with respect to other callers. Returns whether it did. */
bool special_free_if(special_t *sp, uint32_t seq, unsigned kind);
/* The record with this pool index (cleanup ids). */
special_t *special_by_index(uint32_t index);

/* Inserts sp into s's list at its place. Locks: s->special_lock. */
void special_insert_locked(span_t *s, special_t *sp);
/* Unlinks the record *pp (whose predecessor is prev, NULL for the head).
 * Locks: s->special_lock. */
void special_unlink_locked(span_t *s, special_t **pp, special_t *prev);
/* Unlinks sp from s's list. Locks: s->special_lock. */
void special_remove_locked(span_t *s, special_t *sp);
/* The record of this kind at exactly this offset, or NULL.
 * Locks: s->special_lock. */
special_t *special_find_locked(span_t *s, uintptr_t offset, unsigned kind);

/* free() of the object [obj, obj + size) of span s: clears its weak
 * handles and drops its finalizer and cleanups without running them.
 * Locks: takes s->special_lock. */
void special_free_object(span_t *s, uintptr_t obj, size_t size);

/* Fork protocol for the record pool; the child also re-initialises the
 * special lock of every span that has records (its holder, if any, is
 * gone). */
void special_prefork(void);
void special_postfork_parent(void);
void special_postfork_child(void);

#endif /* GCM_SPECIAL_H */

/*
 * lockrank.h — every allocator lock, its name and its rank.
 *
 * A thread may only acquire a lock whose rank is strictly greater than the
 * rank of every lock it already holds. Locks of equal rank are never held
 * together (the per-class central locks share one rank; the fork handler,
 * which takes them all, is the one exception and says so).
 *
 * Acquisition order, outermost first:
 *
 * Locks are named by their symbol (HEAP, CENTRAL, ...) in every message.
 *
 *   gc        the collector's cycle lock (one collection at a time)
 *   central   one per size class: the spans with free objects
 *   scav      the scavenger's own state (eager cursor, trace counters); an
 *             allocation that holds a central lock may scavenge eagerly
 *   heap      the page allocator, arenas, the span map writes
 *   special   one per span: its list of specials (weak handles, finalizers,
 *             cleanups)
 *   finq      the finalizer and cleanup queue
 *   meta      the metadata allocator (special records)
 *   thread    the registry of thread caches
 *   test_*    two locks used only by the lock tests
 *
 * Nothing that can allocate or block indefinitely is called with any of
 * these held.
 */
#ifndef GCM_LOCKRANK_H
#define GCM_LOCKRANK_H

#define GCM_LOCK_RANKS(X)       \
	X(GC, 10)                      \
	X(CENTRAL, 30)                 \
	X(SCAV, 35)                    \
	X(HEAP, 40)                    \
	X(SPECIAL, 45)                 \
	X(FINQ, 47)                    \
	X(META, 50)                    \
	X(THREAD, 60)                  \
	X(TEST_OUTER, 90)              \
	X(TEST_INNER, 91)

enum lock_rank {
#define GCM_LOCK_RANK_ENUM(sym, rank) LOCK_RANK_##sym = rank,
	GCM_LOCK_RANKS(GCM_LOCK_RANK_ENUM)
#undef GCM_LOCK_RANK_ENUM
};

#endif /* GCM_LOCKRANK_H */

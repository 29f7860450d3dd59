/*
 * lock.h — named, ranked allocator locks and their assertions.
 *
 * Every allocator lock is a lock_t: a mutex plus a name and a rank from
 * lockrank.h. In builds with assertions (GCM_ASSERTIONS == 1):
 *
 *   - each lock records its owner, so lock_assert_held() is O(1);
 *   - each thread keeps a small stack of the locks it holds (TLS, never
 *     allocated), and acquiring a lock whose rank is not greater than the
 *     top of that stack aborts with one line naming both locks;
 *   - releasing a lock the thread does not hold aborts.
 *
 * In release builds every check compiles to nothing and lock_t operations are
 * plain pthread mutex calls.
 *
 * Convention: a function that requires a lock says so in a "Locks:" line of
 * its comment, carries _locked in its name, and calls lock_assert_held() as
 * its first statement.
 */
#ifndef GCM_LOCK_H
#define GCM_LOCK_H

#include "base.h"
#include "lockrank.h"

#include <pthread.h>

typedef struct lock {
	pthread_mutex_t mu;
	const char *name;     /* Read-only after init. */
	unsigned rank;        /* Read-only after init. */
	uintptr_t owner;      /* Assertion builds: thread token of the holder,
	                         0 when free. Written by the holder only. */
} lock_t;

#define LOCK_INITIALIZER(sym) \
	{ PTHREAD_MUTEX_INITIALIZER, #sym, LOCK_RANK_##sym, 0 }

void lock_init(lock_t *l, const char *name, unsigned rank);
void lock_acquire(lock_t *l);
void lock_release(lock_t *l);
bool lock_try_acquire(lock_t *l);

/* Fork protocol: the prefork handler takes every lock in rank order,
 * including many of equal rank, so it bypasses the rank check and the
 * held-lock stack. The postfork variants release such a lock in the parent
 * and re-initialise it in the child (only the forking thread survives). */
void lock_acquire_prefork(lock_t *l);
void lock_release_postfork_parent(lock_t *l);
void lock_reinit_postfork_child(lock_t *l);

/* An opaque token unique to the calling thread while it lives. */
uintptr_t lock_self(void);

GCM_NORETURN GCM_COLD void lock_report_not_held(const lock_t *l,
						const char *func);
GCM_NORETURN GCM_COLD void lock_report_held(const lock_t *l, const char *func);
GCM_NORETURN GCM_COLD void lock_report_any_held(const char *func);
/* Number of ranked locks the calling thread holds (assertion builds; 0 in
 * release builds). */
unsigned lock_held_count(void);

/* Aborts unless the calling thread holds l. */
#define lock_assert_held(l)                                               \
	do {                                                              \
		if (GCM_ASSERTIONS &&                                      \
		    __atomic_load_n(&(l)->owner, __ATOMIC_RELAXED) != lock_self())           \
			lock_report_not_held((l), __func__);              \
	} while (0)

/* Aborts if the calling thread holds l. */
#define lock_assert_not_held(l)                                           \
	do {                                                              \
		if (GCM_ASSERTIONS &&                                      \
		    __atomic_load_n(&(l)->owner, __ATOMIC_RELAXED) == lock_self())           \
			lock_report_held((l), __func__);                  \
	} while (0)

/* Aborts if the calling thread holds any allocator lock: the contract of
 * every entry point that may take locks itself. */
#define lock_assert_none_held()                                           \
	do {                                                              \
		if (GCM_ASSERTIONS && lock_held_count() != 0)             \
			lock_report_any_held(__func__);                   \
	} while (0)

#endif /* GCM_LOCK_H */

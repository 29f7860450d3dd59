/*
 * lock.c — rank checking and ownership tracking for lock_t.
 *
 * Each thread owns a fixed stack of the locks it holds (initial-exec TLS, no
 * allocation). Acquiring compares the new lock's rank with the rank on top of
 * the stack; since ranks on the stack are strictly increasing, that one
 * comparison checks the order against every held lock. Release finds the
 * lock by address from the top, so out-of-order release is allowed.
 *
 * The checks run only when GCM_ASSERTIONS is 1; otherwise the functions are
 * thin wrappers around the pthread mutex.
 */
#include "base.h"
#include "lock.h"
#include "log.h"

#include <stdlib.h>

#define LOCK_MAX_HELD 8

struct held_locks {
	unsigned n;
	const lock_t *lock[LOCK_MAX_HELD];
};

/* Owned by the thread itself; never read by another thread. */
static GCM_TLS struct held_locks lock_held;
/* Its address is the thread's identity token. */
static GCM_TLS char lock_token;

uintptr_t lock_self(void)
{
	return (uintptr_t)&lock_token;
}

unsigned lock_held_count(void)
{
	return GCM_ASSERTIONS ? lock_held.n : 0;
}

void lock_init(lock_t *l, const char *name, unsigned rank)
{
	pthread_mutex_init(&l->mu, NULL);
	l->name = name;
	l->rank = rank;
	l->owner = 0;
}

static void lock_print_held(void)
{
	for (unsigned i = 0; i < lock_held.n; i++)
		log_line("  holding %s (rank %u)", lock_held.lock[i]->name,
			 lock_held.lock[i]->rank);
}

GCM_NORETURN GCM_COLD static void lock_report_order(const lock_t *held,
						     const lock_t *want)
{
	log_line("lock order violation: acquiring %s (rank %u) while holding %s (rank %u)",
		 want->name, want->rank, held->name, held->rank);
	lock_print_held();
	abort();
}

void lock_report_not_held(const lock_t *l, const char *func)
{
	log_line("lock assertion failed: %s requires lock %s (rank %u), not held",
		 func, l->name, l->rank);
	lock_print_held();
	abort();
}

void lock_report_held(const lock_t *l, const char *func)
{
	log_line("lock assertion failed: %s must not hold lock %s (rank %u)",
		 func, l->name, l->rank);
	abort();
}

void lock_report_any_held(const char *func)
{
	log_line("lock assertion failed: %s entered with allocator locks held",
		 func);
	lock_print_held();
	abort();
}

static void lock_push(const lock_t *l)
{
	if (lock_held.n > 0) {
		const lock_t *top = lock_held.lock[lock_held.n - 1];
		if (top == l) {
			log_line("lock %s (rank %u) acquired twice by one thread",
				 l->name, l->rank);
			abort();
		}
		if (top->rank >= l->rank)
			lock_report_order(top, l);
	}
	if (lock_held.n == LOCK_MAX_HELD) {
		log_line("too many locks held acquiring %s", l->name);
		lock_print_held();
		abort();
	}
	lock_held.lock[lock_held.n++] = l;
}

static void lock_pop(const lock_t *l)
{
	for (unsigned i = lock_held.n; i-- > 0;) {
		if (lock_held.lock[i] == l) {
			for (unsigned j = i; j + 1 < lock_held.n; j++)
				lock_held.lock[j] = lock_held.lock[j + 1];
			lock_held.n--;
			return;
		}
	}
	log_line("unlock of %s (rank %u) without matching lock", l->name,
		 l->rank);
	abort();
}

void lock_acquire(lock_t *l)
{
	if (GCM_ASSERTIONS)
		lock_push(l); /* check the order before we can deadlock */
	pthread_mutex_lock(&l->mu);
	if (GCM_ASSERTIONS)
		__atomic_store_n(&l->owner, lock_self(), __ATOMIC_RELAXED);
}

bool lock_try_acquire(lock_t *l)
{
	if (pthread_mutex_trylock(&l->mu) != 0)
		return false;
	if (GCM_ASSERTIONS) {
		lock_push(l);
		__atomic_store_n(&l->owner, lock_self(), __ATOMIC_RELAXED);
	}
	return true;
}

void lock_release(lock_t *l)
{
	if (GCM_ASSERTIONS) {
		if (l->owner != lock_self())
			lock_report_not_held(l, __func__);
		lock_pop(l);
		__atomic_store_n(&l->owner, 0, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&l->mu);
}

void lock_acquire_prefork(lock_t *l)
{
	pthread_mutex_lock(&l->mu);
	if (GCM_ASSERTIONS)
		__atomic_store_n(&l->owner, lock_self(), __ATOMIC_RELAXED);
}

void lock_release_postfork_parent(lock_t *l)
{
	if (GCM_ASSERTIONS)
		__atomic_store_n(&l->owner, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&l->mu);
}

void lock_reinit_postfork_child(lock_t *l)
{
	pthread_mutex_init(&l->mu, NULL);
	l->owner = 0;
}

/*
 * tcache.h — per-thread object caches.
 *
 * Each thread has one tcache_t: for every size class a bin, a stack of free
 * objects that malloc pops and free pushes without any lock or atomic
 * operation. A bin that runs empty is refilled with half its capacity from
 * the central list; a bin that fills up flushes its older half back. A free
 * from any thread goes to the freeing thread's own bin, so cross-thread
 * frees cost the same as local ones; the central lock is taken once per
 * batch.
 *
 * The thread-local pointer tcache_tls is never NULL. It starts at a static
 * empty cache whose bins have no capacity, so the very first malloc or free
 * of a thread falls into the slow path, which builds the thread's cache;
 * there is no "initialised?" test on the fast path. After the thread's
 * destructor has run it points at a static dead cache, also with no
 * capacity, and every later call in that thread is served by the slow path
 * without caching anything.
 */
#ifndef GCM_TCACHE_H
#define GCM_TCACHE_H

#include "base.h"
#include "heap.h"
#include "sizeclass.h"
#include "span.h"

#include <signal.h>

typedef struct tcache_bin {
	uint32_t n;     /* objects in slots[0..n) */
	uint32_t max;   /* capacity; 0 in the empty and dead caches */
	void **slots;
} tcache_bin_t;

enum tcache_state {
	TCACHE_EMPTY = 0, /* the static cache of threads not yet set up */
	TCACHE_LIVE = 1,
	TCACHE_DEAD = 2,  /* the static cache of threads past their destructor */
};

typedef struct tcache tcache_t;

struct tcache {
	/* Owned by the thread; never touched by another thread while the
	 * thread lives. */
	tcache_bin_t bins[SPANCLASS_COUNT]; /* by span class; class-0 entries unused */
	heap_local_t local;
	unsigned state;
	/* Statistics, written by the owner only. */
	uint64_t nmalloc;
	uint64_t nfree;
	/* Collectable bytes allocated on the fast path, not yet counted in
	 * the collector's heap figure. Owner only. */
	size_t gc_pending_bytes;
	/* Incremental flushing of bins (see tcache.c). Owner only. */
	unsigned gc_tick;
	unsigned gc_next;
	/* Idle-release bookkeeping (see tcache.c). Atomic: written by the
	 * owner (active_epoch, flushed_epoch) and read by the scavenger. */
	unsigned active_epoch;   /* tcache_epoch at the owner's last slow path */
	unsigned flushed_epoch;  /* tcache_epoch at the last requested flush */
	int tid;                 /* the owner's kernel thread id. Read-only. */
	/* Registry links: the live list or the pool. Protected by: thread lock. */
	tcache_t *next;
	size_t nbytes;  /* size of this mapping */
};

/* The calling thread's cache. Never NULL. */
extern GCM_TLS tcache_t *tcache_tls;
/* A per-process value written into the second word of every object in a
 * thread cache, so free can cheaply suspect a double free. Read-only after
 * init. */
extern uintptr_t tcache_key;

void tcache_init(void);

/*
 * Busy marking. A thread's own signal handler may flush its cache (idle
 * release, below) only when the thread was interrupted outside every
 * allocator operation. The fast paths are recognised by the interrupted
 * program counter (they are inlined into the exported functions of the
 * library, whose code range is known); the slow paths, which also call into
 * libc (locks, memcpy, system calls) with caches or locks in an
 * intermediate state, raise this per-thread counter for their whole
 * duration. Plain stores with compiler barriers: only the same thread's
 * signal handler reads it.
 */
extern GCM_TLS unsigned tcache_busy;

/* Set while a collector is stopping the world (stw.c). A thread leaving
 * its outermost busy section then stops right there (stw_park_self)
 * instead of waiting for the next signal: a thread that spends most of its
 * time inside the allocator would otherwise be hard to catch. Atomic. */
extern int stw_requested;
void stw_park_self(void);

GCM_INLINE void tcache_busy_enter(void)
{
	tcache_busy++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

GCM_INLINE void tcache_busy_leave(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (--tcache_busy == 0 &&
	    GCM_UNLIKELY(__atomic_load_n(&stw_requested, __ATOMIC_RELAXED)))
		stw_park_self();
}

/* The scavenger's generation count, advanced once per generation. Atomic. */
extern unsigned tcache_epoch;
/* Idle caches flushed by their owners on request. Atomic. */
extern size_t tcache_idle_flushes;

/* The address range of the code whose interruption makes a flush unsafe
 * (the library's executable segment). Set once at start-up. */
void tcache_set_code_range(uintptr_t lo, uintptr_t hi);

/* The signal that asks a thread to flush its idle cache; 0 disables idle
 * release. Set once at start-up by the preload layer, which installs the
 * handler. */
extern int tcache_flush_signal;
/* The handler installed for it; requests are sent only while it is still
 * installed (the program may take the signal over). */
extern void (*tcache_flush_handler)(int, siginfo_t *, void *);

/* In a signal handler of the calling thread, interrupted at pc: whether the
 * thread was outside every allocator operation (no bin half-updated, no
 * allocator lock held or being taken). */
bool tcache_at_safe_point(uintptr_t pc);

/* Runs in the owner thread's signal handler: flushes the thread's cache if
 * the interrupted program counter pc is outside the allocator's code and
 * the thread is not inside a slow path. Returns whether it flushed. */
bool tcache_flush_from_signal(uintptr_t pc);

/* Calls fn for every live thread cache. The caller must have stopped
 * every other thread (stw_stop), so no cache changes meanwhile. */
void tcache_for_each_live(void (*fn)(tcache_t *tc, void *arg), void *arg);

/* Called by the scavenger once per generation: asks every live thread that
 * has cached memory and has not been in a slow path for a whole generation
 * to flush its cache. Returns the number of threads asked. */
unsigned tcache_request_idle_flushes(void);

/* Builds the calling thread's cache if it has none. Returns the cache to use
 * (the dead cache after thread exit). */
tcache_t *tcache_get_slow(void);

/* Refills bin sc (a span class) of tc and pops one object; NULL when
 * memory ran out. */
void *tcache_refill_pop(tcache_t *tc, unsigned sc);
/* Pushes p into the full bin sc, flushing half of it first. */
void tcache_flush_push(tcache_t *tc, unsigned sc, void *p);
/* True if p is in tc's bin sc. */
bool tcache_bin_contains(const tcache_t *tc, unsigned sc, const void *p);

/* Returns every object in tc's bins to the central lists and its page
 * cache to the heap; tc stays usable. Only tc's owner may call this. */
void tcache_flush_all(tcache_t *tc);

/* Thread exit: returns everything tc holds and retires it. */
void tcache_thread_exit(tcache_t *tc);

void tcache_prefork(void);
void tcache_postfork_parent(void);
void tcache_postfork_child(void);

#endif /* GCM_TCACHE_H */

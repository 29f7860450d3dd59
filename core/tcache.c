/*
 * tcache.c — building, refilling, flushing and retiring thread caches.
 *
 * A cache is one mapping: the tcache_t followed by the slot arrays of all
 * bins. Caches of exited threads go to a free pool and are reused by new
 * threads, so a program that starts thousands of short-lived threads maps
 * only as many caches as it ever has threads alive at once.
 *
 * Bin capacity depends on the object size: up to 128 objects and about
 * 32 KiB per bin, at least 4 objects.
 *
 * Incremental flushing. Objects sitting in a bin keep their spans from
 * draining: a bin of 20 objects freed at different times can pin 20 spans
 * that are otherwise empty. So every TCACHE_GC_EVERY slow-path events the
 * thread takes the next non-empty bin in turn and returns its older half to
 * the central list. A busy bin refills in one batch; an idle one empties
 * within a few rounds.
 *
 * Idle release. A thread that allocated and freed a lot and then blocks
 * forever (in read(), in pthread_cond_wait) keeps what its cache holds: up
 * to a bin of objects per class and a 64-page block. No other thread may
 * touch that cache, because the owner could wake up at any moment and use
 * it with no lock. So the cache is flushed by its owner: once per
 * generation the scavenger sends a signal to each thread whose cache holds
 * something and that has not entered a slow path for a whole generation,
 * and the owner's handler flushes its own cache. The handler runs on the
 * owner's stack, so it cannot race the owner: the owner is, by definition,
 * not running its own code while its handler runs. What remains is whether
 * the owner was interrupted in the middle of an allocator operation, with
 * a bin half-updated or an allocator lock held: the handler then does
 * nothing. Two tests decide it: the interrupted program counter lies in
 * the library's own code (every fast path is inlined there), or the busy
 * counter is raised (every slow path raises it for its whole duration,
 * including its calls into libc for locks, copies and system calls). If
 * neither holds, every bin and the page cache are consistent and no
 * allocator lock is held by this thread, so the flush takes the central and
 * heap locks like any other thread would. The blocked system call is
 * restarted (SA_RESTART) or sees a spurious wake-up, which pthread_cond_wait
 * allows.
 */
#include "base.h"
#include "tcache.h"
#include "central.h"
#include "debug.h"
#include "lock.h"
#include "sys.h"

#include <string.h>

/* Static caches with zero capacity (see tcache.h). */
static tcache_t tcache_empty = { .state = TCACHE_EMPTY };
static tcache_t tcache_dead = { .state = TCACHE_DEAD };

GCM_TLS tcache_t *tcache_tls = &tcache_empty;
uintptr_t tcache_key;


GCM_TLS unsigned tcache_busy;
unsigned tcache_epoch;
size_t tcache_idle_flushes;
int tcache_flush_signal;
void (*tcache_flush_handler)(int, siginfo_t *, void *);
/* Read-only after start-up. */
static uintptr_t tcache_code_lo, tcache_code_hi;

static lock_t tcache_lock = LOCK_INITIALIZER(THREAD);
/* Retired caches ready for reuse. Protected by: tcache_lock. */
static tcache_t *tcache_pool;
/* Caches of live threads. Protected by: tcache_lock. */
static tcache_t *tcache_live;
/* Number of live caches. Protected by: tcache_lock. */
static size_t tcache_nlive;

#define TCACHE_GC_EVERY 8

static unsigned tcache_bin_capacity(unsigned sc)
{
	uint32_t size = sizeclass_table[spanclass_cls(sc)].size;
	uint32_t cap = (uint32_t)(32768 / size);
	return GCM_MAX(4u, GCM_MIN(128u, cap));
}

static size_t tcache_total_slots(void)
{
	size_t n = 0;
	for (unsigned c = 0; c < SPANCLASS_COUNT; c++)
		if (spanclass_cls(c) != 0)
			n += tcache_bin_capacity(c);
	return n;
}

void tcache_init(void)
{
	uintptr_t k = (uintptr_t)&tcache_key ^ (uintptr_t)sys_nanotime() * 0x9e3779b97f4a7c15u;
	tcache_key = k | 1; /* never 0, never a valid aligned pointer */
}

/* Hook run when the thread that owns a live cache exits: set by the preload
 * layer through a pthread key; core only needs the cache itself. */
static tcache_t *tcache_new(void)
{
	tcache_t *tc = NULL;
	lock_acquire(&tcache_lock);
	if (tcache_pool != NULL) {
		tc = tcache_pool;
		tcache_pool = tc->next;
	}
	lock_release(&tcache_lock);
	if (tc != NULL)
		return tc;

	size_t nbytes = align_up(sizeof(tcache_t) + tcache_total_slots() * sizeof(void *),
				 SYS_PAGE_SIZE);
	tc = sys_alloc(nbytes);
	if (tc == NULL)
		return NULL;
	tc->nbytes = nbytes;
	void **slots = (void **)(tc + 1);
	for (unsigned c = 0; c < SPANCLASS_COUNT; c++) {
		if (spanclass_cls(c) == 0)
			continue;
		tc->bins[c].slots = slots;
		tc->bins[c].max = tcache_bin_capacity(c);
		slots += tc->bins[c].max;
	}
	return tc;
}

/* Set by the preload layer: registers the cache for thread-exit
 * notification. May allocate (it runs with tcache_tls already set). */
void (*tcache_on_new_thread)(tcache_t *tc);

tcache_t *tcache_get_slow(void)
{
	tcache_t *tc = tcache_tls;
	if (tc != NULL && tc != &tcache_empty)
		return tc;
	tc = tcache_new();
	if (tc == NULL)
		return &tcache_dead;
	tc->state = TCACHE_LIVE;
	tc->tid = sys_gettid();
	tc->active_epoch = __atomic_load_n(&tcache_epoch, __ATOMIC_RELAXED);
	tc->flushed_epoch = tc->active_epoch;
	lock_acquire(&tcache_lock);
	tc->next = tcache_live;
	tcache_live = tc;
	tcache_nlive++;
	lock_release(&tcache_lock);
	tcache_tls = tc;
	if (tcache_on_new_thread)
		tcache_on_new_thread(tc);
	return tc;
}

/* Returns the older half of the next non-empty bin (other than skip) to
 * the central list. */
static void tcache_gc_step(tcache_t *tc, unsigned skip)
{
	if (++tc->gc_tick % TCACHE_GC_EVERY != 0)
		return;
	for (unsigned k = 0; k < SPANCLASS_COUNT; k++) {
		unsigned c = tc->gc_next++ % SPANCLASS_COUNT;
		tcache_bin_t *b = &tc->bins[c];
		if (c == skip || b->n == 0)
			continue;
		unsigned nflush = (b->n + 1) / 2;
		central_flush(c, b->slots, nflush, "free");
		for (unsigned i = nflush; i < b->n; i++)
			b->slots[i - nflush] = b->slots[i];
		b->n -= nflush;
		return;
	}
}

void *tcache_refill_pop(tcache_t *tc, unsigned sc)
{
	tcache_bin_t *b = &tc->bins[sc];
	if (b->max != 0)
		tcache_gc_step(tc, sc);
	if (b->max == 0) {
		/* Dead (or cache-less) thread: one object, no caching. */
		void *p = NULL;
		central_refill(sc, &p, 1, NULL);
		return p;
	}
	unsigned want = GCM_MAX(1u, b->max / 2);
	unsigned got = central_refill(sc, b->slots, want, &tc->local);
	if (got == 0)
		return NULL;
	/* slots[] is ascending; pop from the top returns the highest first.
	 * Reverse so the lowest address is handed out first. */
	for (unsigned i = 0, j = got - 1; i < j; i++, j--) {
		void *t = b->slots[i];
		b->slots[i] = b->slots[j];
		b->slots[j] = t;
	}
	b->n = got - 1;
	return b->slots[got - 1];
}

void tcache_flush_push(tcache_t *tc, unsigned sc, void *p)
{
	tcache_bin_t *b = &tc->bins[sc];
	if (b->max == 0) {
		central_flush(sc, &p, 1, "free");
		return;
	}
	tcache_gc_step(tc, sc);
	/* Flush the older (bottom) half; keep the recently freed, hot ones. */
	unsigned nflush = GCM_MAX(1u, b->n / 2);
	central_flush(sc, b->slots, nflush, "free");
	memmove(b->slots, b->slots + nflush, (b->n - nflush) * sizeof(void *));
	b->n -= nflush;
	((uintptr_t *)p)[1] = tcache_key;
	b->slots[b->n++] = p;
}

bool tcache_bin_contains(const tcache_t *tc, unsigned sc, const void *p)
{
	const tcache_bin_t *b = &tc->bins[sc];
	for (unsigned i = 0; i < b->n; i++)
		if (b->slots[i] == p)
			return true;
	return false;
}

void tcache_flush_all(tcache_t *tc)
{
	for (unsigned c = 0; c < SPANCLASS_COUNT; c++) {
		tcache_bin_t *b = &tc->bins[c];
		if (b->n > 0)
			central_flush(c, b->slots, b->n, "free");
		b->n = 0;
	}
	heap_local_flush(&tc->local);
}

void tcache_thread_exit(tcache_t *tc)
{
	if (tc == NULL || tc->state != TCACHE_LIVE)
		return;
	tcache_tls = &tcache_dead;
	tcache_busy_enter();
	tcache_flush_all(tc);
	tc->nmalloc = tc->nfree = 0;
	lock_acquire(&tcache_lock);
	for (tcache_t **pp = &tcache_live; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == tc) {
			*pp = tc->next;
			break;
		}
	}
	tc->state = TCACHE_EMPTY;
	tc->next = tcache_pool;
	tcache_pool = tc;
	tcache_nlive--;
	lock_release(&tcache_lock);
	tcache_busy_leave();
}

void tcache_set_code_range(uintptr_t lo, uintptr_t hi)
{
	tcache_code_lo = lo;
	tcache_code_hi = hi;
}

/* Whether tc holds anything worth flushing. Read by a thread other than the
 * owner: a heuristic; a wrong guess costs one signal or one missed round. */
static bool tcache_holds_memory(const tcache_t *tc)
{
	if (__atomic_load_n(&tc->local.pcache.cache, __ATOMIC_RELAXED) != 0)
		return true;
	for (unsigned c = 0; c < SPANCLASS_COUNT; c++)
		if (__atomic_load_n(&tc->bins[c].n, __ATOMIC_RELAXED) != 0)
			return true;
	return false;
}

unsigned tcache_request_idle_flushes(void)
{
	unsigned epoch = __atomic_add_fetch(&tcache_epoch, 1, __ATOMIC_RELAXED);
	int sig = __atomic_load_n(&tcache_flush_signal, __ATOMIC_ACQUIRE);
	if (sig == 0)
		return 0;
	struct sigaction cur;
	if (sigaction(sig, NULL, &cur) != 0 || !(cur.sa_flags & SA_SIGINFO) ||
	    cur.sa_sigaction != tcache_flush_handler)
		return 0; /* the program has taken the signal over */
	unsigned asked = 0;
	lock_acquire(&tcache_lock);
	/* A cache on the live list belongs to a thread that has not finished
	 * its exit (retiring takes this lock), so its tid is still valid. */
	for (tcache_t *tc = tcache_live; tc != NULL; tc = tc->next) {
		unsigned active = __atomic_load_n(&tc->active_epoch, __ATOMIC_RELAXED);
		unsigned flushed = __atomic_load_n(&tc->flushed_epoch, __ATOMIC_RELAXED);
		/* Idle for a whole generation, used since the last flush,
		 * and holding something. */
		if (epoch - active < 2 || flushed == active + 1 || !tcache_holds_memory(tc))
			continue;
		if (sys_tgkill(tc->tid, sig))
			asked++;
	}
	lock_release(&tcache_lock);
	return asked;
}

bool tcache_at_safe_point(uintptr_t pc)
{
	return tcache_busy == 0 && !(pc >= tcache_code_lo && pc < tcache_code_hi);
}

bool tcache_flush_from_signal(uintptr_t pc)
{
	tcache_t *tc = tcache_tls;
	if (tc->state != TCACHE_LIVE || !tcache_at_safe_point(pc))
		return false;
	tcache_busy_enter();
	tcache_flush_all(tc);
	__atomic_fetch_add(&tcache_idle_flushes, 1, __ATOMIC_RELAXED);
	/* Flushed after the generation it was last active in: an idle
	 * thread is asked once. */
	__atomic_store_n(&tc->flushed_epoch,
			 __atomic_load_n(&tc->active_epoch, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELAXED);
	tcache_busy_leave();
	return true;
}

void tcache_for_each_live(void (*fn)(tcache_t *tc, void *arg), void *arg)
{
	/* No lock: with the world stopped nobody else changes the list,
	 * and taking the thread lock could wait on a stopped thread. A
	 * thread stopped inside tcache_new or tcache_thread_exit is not at a
	 * safe point, so the list is consistent. */
	for (tcache_t *tc = tcache_live; tc != NULL; tc = tc->next)
		fn(tc, arg);
}

void tcache_prefork(void)
{
	lock_acquire_prefork(&tcache_lock);
}

void tcache_postfork_parent(void)
{
	lock_release_postfork_parent(&tcache_lock);
}

void tcache_postfork_child(void)
{
	lock_reinit_postfork_child(&tcache_lock);
	/* Only the forking thread exists in the child. The other caches stay
	 * allocated but are dropped from the live list: their owners are gone
	 * and one of them may have been stopped mid-update. */
	tcache_t *self = tcache_tls;
	tcache_live = NULL;
	tcache_nlive = 0;
	if (self->state == TCACHE_LIVE) {
		self->tid = sys_gettid();
		self->next = NULL;
		tcache_live = self;
		tcache_nlive = 1;
	}
}

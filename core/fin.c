/*
 * fin.c — finalizers, cleanups, the finalizer thread, and what the
 * collector does with special records.
 *
 * Semantics (Go's SetFinalizer and AddCleanup):
 *   - One finalizer per object, set on its first byte; fn(obj, arg) runs once
 *     after the object is found unreachable. Everything the object
 *     references stays alive for that cycle; the object itself survives the
 *     cycle (the finalizer may resurrect it) and is reclaimed by a later one
 *     if it is still unreachable. If A references B and both have
 *     finalizers, A's runs first and B's in a later cycle. A cycle of
 *     finalizable objects is never collected.
 *   - Any number of cleanups per object, on any address inside it; fn(arg)
 *     runs after the object is unreachable and never resurrects it. The
 *     argument is a root: an argument pointing into the object keeps it
 *     alive forever. An object that also has a finalizer has its cleanups
 *     run only once it is unreachable after the finalizer ran.
 *   - Weak handles of an unreachable object read NULL before any finalizer
 *     of it runs.
 *   - Finalizers and cleanups on addresses outside the heap are accepted and
 *     never run. free() drops an object's finalizer and cleanups unrun.
 *
 * The collector's part (fin_collect_stw, world stopped, roots marked):
 *   1. Mark the arguments of every finalizer and cleanup, and every object
 *      and argument waiting in the queue.
 *   2. For every finalizable object not marked, mark what its contents
 *      reference (not the object itself). An object reachable from another
 *      finalizable object is thereby marked and not finalized this cycle:
 *      that gives the dependency order, and makes cycles uncollectable.
 *   3. Weak handles: an unmarked handle (dropped by the program) loses its
 *      record; a handle whose object is unmarked is cleared. Cleanups of
 *      unmarked objects without a finalizer are queued.
 *   4. Finalizers of unmarked objects are queued, their records removed,
 *      and the objects marked so the sweep keeps them this cycle.
 * Steps 3 and 4 are separate passes so that no weak handle sees an object
 * that step 4 resurrected.
 *
 * The queue is a ring in mmap'd memory under the FINQ lock. One finalizer
 * thread, started the first time a finalizer or cleanup is set, takes the
 * entries in batches of up to 64 and runs them one at a time in queue
 * order, and sleeps on a futex while the queue is empty; it takes every
 * lock only inside a busy section, so a collection never stops it holding
 * one, and runs the user's function holding none. After each batch it
 * wipes the stack slots that held the objects, so a stale copy does not
 * keep one alive, and it wakes gcm_finalizers_wait only when the queue ran
 * dry.
 */
#define _GNU_SOURCE
#include "base.h"
#include "fin.h"
#include "alloc.h"
#include "central.h"
#include "debug.h"
#include "heap.h"
#include "lock.h"
#include "pagemap.h"
#include "special.h"
#include "stw.h"
#include "sys.h"
#include "tcache.h"
#include "weak.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

struct fin_entry {
	uint8_t kind;          /* SPECIAL_FINALIZER or SPECIAL_CLEANUP */
	void *fn;
	void *obj;
	void *arg;
};

static lock_t finq_lock = LOCK_INITIALIZER(FINQ);
/* Protected by: finq_lock. */
static struct fin_entry *finq;
static size_t finq_cap, finq_head, finq_len;
static bool fin_running;       /* the thread is running an entry */
static uint64_t fin_nrun;
static bool fin_started;
/* Futex words. Atomic. */
static int finq_seq;           /* bumped when entries are queued */
static int fin_state_seq;      /* bumped when the thread finishes an entry or idles */

/* Locks: finq_lock. */
static bool finq_push_locked(uint8_t kind, void *fn, void *obj, void *arg)
{
	lock_assert_held(&finq_lock);
	if (finq_len == finq_cap) {
		size_t ncap = finq_cap ? finq_cap * 2 : 4096;
		struct fin_entry *n = sys_alloc(ncap * sizeof(*n));
		if (n == NULL)
			return false;
		for (size_t i = 0; i < finq_len; i++)
			n[i] = finq[(finq_head + i) % finq_cap];
		if (finq != NULL)
			sys_free(finq, finq_cap * sizeof(*finq));
		finq = n;
		finq_cap = ncap;
		finq_head = 0;
	}
	struct fin_entry *e = &finq[(finq_head + finq_len) % finq_cap];
	e->kind = kind;
	e->fn = fn;
	e->obj = obj;
	e->arg = arg;
	finq_len++;
	return true;
}

/* Overwrites this much stack below the caller, so copies of a finalized
 * object left in dead frames of the finalizer thread do not keep it alive. */
static GCM_NOINLINE void fin_clear_stack(void)
{
	volatile char buf[4096];
	memset((char *)buf, 0, sizeof(buf));
	__asm__ volatile("" : : "r"(buf) : "memory");
}

static GCM_NOINLINE void fin_run_entry(struct fin_entry *e)
{
	if (e->kind == SPECIAL_FINALIZER)
		((void (*)(void *, void *))e->fn)(e->obj, e->arg);
	else
		((void (*)(void *))e->fn)(e->arg);
	e->obj = e->arg = NULL;
}

#define FIN_BATCH 64

static void *fin_thread_main(void *unused)
{
	(void)unused;
	struct fin_entry batch[FIN_BATCH];
	for (;;) {
		tcache_busy_enter();
		lock_acquire(&finq_lock);
		while (finq_len == 0) {
			int seq = __atomic_load_n(&finq_seq, __ATOMIC_ACQUIRE);
			lock_release(&finq_lock);
			tcache_busy_leave();
			sys_futex_wait(&finq_seq, seq, 0);
			tcache_busy_enter();
			lock_acquire(&finq_lock);
		}
		/* Take a batch: one lock round trip for up to FIN_BATCH
		 * entries; they still run one at a time, in order. */
		size_t nb = GCM_MIN(finq_len, (size_t)FIN_BATCH);
		for (size_t i = 0; i < nb; i++) {
			batch[i] = finq[finq_head];
			memset(&finq[finq_head], 0, sizeof(finq[finq_head]));
			finq_head = (finq_head + 1) % finq_cap;
		}
		finq_len -= nb;
		fin_running = true;
		lock_release(&finq_lock);
		tcache_busy_leave();

		for (size_t i = 0; i < nb; i++)
			fin_run_entry(&batch[i]);
		memset(batch, 0, sizeof(batch));
		fin_clear_stack();

		tcache_busy_enter();
		lock_acquire(&finq_lock);
		fin_running = false;
		fin_nrun += nb;
		bool idle = finq_len == 0;
		lock_release(&finq_lock);
		tcache_busy_leave();
		/* Waiters only care about the queue running dry. */
		if (idle) {
			__atomic_fetch_add(&fin_state_seq, 1, __ATOMIC_ACQ_REL);
			sys_futex_wake_all(&fin_state_seq);
		}
	}
	return NULL;
}

/* Starts the finalizer thread once. A safe point is required. */
static void fin_maybe_start(void)
{
	if (__atomic_load_n(&fin_started, __ATOMIC_ACQUIRE))
		return;
	tcache_busy_enter();
	lock_acquire(&finq_lock);
	bool start = !fin_started;
	fin_started = true;
	lock_release(&finq_lock);
	tcache_busy_leave();
	if (!start)
		return;
	/* The program's own signals go to its threads, not this one; the
	 * allocator's signals (stop, flush) must reach it. */
	sigset_t set, old;
	sigfillset(&set);
	if (stw_signal)
		sigdelset(&set, stw_signal);
	if (tcache_flush_signal)
		sigdelset(&set, tcache_flush_signal);
	pthread_sigmask(SIG_SETMASK, &set, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	if (pthread_create(&t, &attr, fin_thread_main, NULL) != 0) {
		tcache_busy_enter();
		lock_acquire(&finq_lock);
		fin_started = false;
		lock_release(&finq_lock);
		tcache_busy_leave();
	}
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* The object of span s containing span offset off: its start, or 0 if off
 * is in the tail of a small span that no object covers. */
static uintptr_t fin_object_of(const span_t *s, uintptr_t off)
{
	if (s->cls == 0)
		return s->base;
	uint32_t idx = span_object_index(s, s->base + off);
	return idx < s->nelems ? span_object_base(s, idx) : 0;
}

static size_t fin_object_size(const span_t *s)
{
	return s->cls != 0 ? s->elem_size : span_bytes(s);
}

/* Whether the object starting at obj in span s is marked. */
static bool fin_is_marked(const span_t *s, uintptr_t obj)
{
	if (s->cls == 0)
		return s->markbits[0] & 1;
	return mark_is_marked(s, span_object_index(s, obj));
}

/* Free heap pages (a freed large block) are not "outside the heap". */
static bool fin_in_free_heap_pages(uintptr_t addr)
{
	tcache_busy_enter();
	bool in = heap_contains(addr);
	tcache_busy_leave();
	return in;
}

int fin_set_finalizer(void *p, void (*fn)(void *obj, void *arg), void *arg)
{
	span_t *s = pagemap_lookup(p);
	if (s == NULL) {
		if (fin_in_free_heap_pages((uintptr_t)p)) {
			errno = EINVAL;
			return -1;
		}
		return 0; /* outside the heap: accepted, never runs */
	}
	uintptr_t off = (uintptr_t)p - s->base;
	uintptr_t obj = fin_object_of(s, off);
	if (obj != (uintptr_t)p || alloc_object_is_free(s, obj)) {
		errno = EINVAL;
		return -1;
	}
	special_t *rec = fn != NULL ? special_alloc() : NULL;
	if (fn != NULL && rec == NULL) {
		errno = ENOMEM;
		return -1;
	}
	int rc = 0;
	tcache_busy_enter();
	lock_acquire(&s->special_lock);
	special_t *old = special_find_locked(s, off, SPECIAL_FINALIZER);
	if (fn == NULL) {
		if (old != NULL)
			special_remove_locked(s, old);
		rec = old; /* freed below */
	} else if (old != NULL) {
		rc = -1;
	} else {
		rec->kind = SPECIAL_FINALIZER;
		rec->offset = off;
		rec->u.fin.fn = fn;
		rec->u.fin.arg = arg;
		special_insert_locked(s, rec);
		rec = NULL;
	}
	lock_release(&s->special_lock);
	tcache_busy_leave();
	if (rec != NULL)
		special_free(rec);
	if (rc != 0) {
		errno = EEXIST;
		return -1;
	}
	if (fn != NULL)
		fin_maybe_start();
	return 0;
}

uint64_t fin_add_cleanup(void *p, void (*fn)(void *arg), void *arg)
{
	if (fn == NULL) {
		errno = EINVAL;
		return 0;
	}
	span_t *s = pagemap_lookup(p);
	uintptr_t off = 0;
	if (s == NULL && fin_in_free_heap_pages((uintptr_t)p)) {
		errno = EINVAL;
		return 0;
	}
	if (s != NULL) {
		off = (uintptr_t)p - s->base;
		uintptr_t obj = fin_object_of(s, off);
		if (obj == 0 || alloc_object_is_free(s, obj)) {
			errno = EINVAL;
			return 0;
		}
	}
	special_t *rec = special_alloc();
	if (rec == NULL) {
		errno = ENOMEM;
		return 0;
	}
	rec->kind = SPECIAL_CLEANUP;
	rec->offset = off;
	rec->u.cleanup.fn = fn;
	rec->u.cleanup.arg = arg;
	uint64_t id = ((uint64_t)(rec->index + 1) << 32) | rec->seq;
	if (s != NULL) {
		tcache_busy_enter();
		lock_acquire(&s->special_lock);
		special_insert_locked(s, rec);
		lock_release(&s->special_lock);
		tcache_busy_leave();
		fin_maybe_start();
	}
	/* Outside the heap: the record stays on no span and never runs; it
	 * exists so that the id can be cancelled. */
	return id;
}

int fin_cleanup_cancel(uint64_t id)
{
	if (id == 0) {
		errno = EINVAL;
		return -1;
	}
	special_t *sp = special_by_index((uint32_t)(id >> 32) - 1);
	uint32_t seq = (uint32_t)id;
	if (sp == NULL) {
		errno = ENOENT;
		return -1;
	}
	span_t *s = __atomic_load_n(&sp->span, __ATOMIC_ACQUIRE);
	bool found = false;
	if (s != NULL) {
		tcache_busy_enter();
		lock_acquire(&s->special_lock);
		if (sp->span == s && sp->seq == seq && sp->kind == SPECIAL_CLEANUP) {
			special_remove_locked(s, sp);
			found = true;
		}
		lock_release(&s->special_lock);
		tcache_busy_leave();
		if (found)
			special_free(sp);
	} else {
		found = special_free_if(sp, seq, SPECIAL_CLEANUP);
	}
	if (!found) {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

int fin_wait(unsigned timeout_ms)
{
	uint64_t deadline = sys_nanotime() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		int seq = __atomic_load_n(&fin_state_seq, __ATOMIC_ACQUIRE);
		tcache_busy_enter();
		lock_acquire(&finq_lock);
		bool idle = finq_len == 0 && !fin_running;
		lock_release(&finq_lock);
		tcache_busy_leave();
		if (idle)
			return 0;
		uint64_t now = sys_nanotime();
		if (now >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		sys_futex_wait(&fin_state_seq, seq, GCM_MIN(deadline - now, (uint64_t)100000000));
	}
}

void fin_get_counts(uint64_t *run, uint64_t *queued)
{
	tcache_busy_enter();
	lock_acquire(&finq_lock);
	*run = fin_nrun;
	*queued = finq_len;
	lock_release(&finq_lock);
	tcache_busy_leave();
}

/* ---- The collector's part (world stopped) ------------------------------ */

struct fin_walk {
	void (*fn)(span_t *s, mark_state_t *m);
	mark_state_t *m;
};

static void fin_walk_span(span_t *s, void *arg)
{
	struct fin_walk *w = arg;
	if (s->specials != NULL)
		w->fn(s, w->m);
}

/* Calls fn on every span that has specials. */
static void fin_for_each_special_span(void (*fn)(span_t *s, mark_state_t *m), mark_state_t *m)
{
	struct fin_walk w = { fn, m };
	heap_for_each_span(fin_walk_span, &w);
}

static void fin_mark_args(span_t *s, mark_state_t *m)
{
	lock_acquire(&s->special_lock);
	for (special_t *sp = s->specials; sp != NULL; sp = sp->next) {
		if (sp->kind == SPECIAL_FINALIZER)
			mark_word(m, (uintptr_t)sp->u.fin.arg);
		else if (sp->kind == SPECIAL_CLEANUP)
			mark_word(m, (uintptr_t)sp->u.cleanup.arg);
	}
	lock_release(&s->special_lock);
}

static void fin_mark_finalizable_contents(span_t *s, mark_state_t *m)
{
	if (s->kind == SPAN_KIND_MALLOC)
		return;
	lock_acquire(&s->special_lock);
	for (special_t *sp = s->specials; sp != NULL; sp = sp->next) {
		if (sp->kind != SPECIAL_FINALIZER)
			continue;
		uintptr_t obj = s->base + sp->offset;
		if (!fin_is_marked(s, obj) && s->kind == SPAN_KIND_GC)
			mark_range(m, obj, obj + fin_object_size(s));
	}
	lock_release(&s->special_lock);
}

static special_t *fin_dead_records;
static size_t fin_queued_this_cycle;

static void fin_unlink_dead(span_t *s, special_t **pp, special_t *prev)
{
	special_t *sp = *pp;
	special_unlink_locked(s, pp, prev);
	sp->next = fin_dead_records;
	fin_dead_records = sp;
}

/* Queues (kind, fn, obj, arg) and retires the record *pp. Returns false,
 * changing nothing, if the queue could not grow (the record then stays for
 * the next cycle). Locks: s->special_lock. */
static bool fin_queue_and_retire(span_t *s, special_t **pp, special_t *prev,
				 uint8_t kind, void *fn, void *obj, void *arg)
{
	lock_assert_held(&s->special_lock);
	lock_acquire(&finq_lock);
	bool ok = finq_push_locked(kind, fn, obj, arg);
	lock_release(&finq_lock);
	if (ok) {
		fin_queued_this_cycle++;
		fin_unlink_dead(s, pp, prev);
	}
	return ok;
}

/* Pass 3: weak handles and cleanups. */
static void fin_pass_weak_cleanup(span_t *s, mark_state_t *m)
{
	(void)m;
	lock_acquire(&s->special_lock);
	special_t **pp = &s->specials;
	special_t *prev = NULL;
	while (*pp != NULL) {
		special_t *sp = *pp;
		if (sp->kind == SPECIAL_WEAK) {
			uintptr_t h = (uintptr_t)sp->u.handle;
			span_t *hs = pagemap_lookup((const void *)h);
			bool handle_live = hs != NULL && fin_is_marked(hs, h);
			bool target_dead = s->kind != SPAN_KIND_MALLOC &&
					   !fin_is_marked(s, fin_object_of(s, sp->offset));
			if (!handle_live || target_dead) {
				if (handle_live)
					__atomic_store_n(&sp->u.handle->target, 0, __ATOMIC_RELEASE);
				fin_unlink_dead(s, pp, prev);
				continue;
			}
		} else if (sp->kind == SPECIAL_CLEANUP && s->kind != SPAN_KIND_MALLOC) {
			uintptr_t obj = fin_object_of(s, sp->offset);
			if (!fin_is_marked(s, obj) &&
			    special_find_locked(s, obj - s->base, SPECIAL_FINALIZER) == NULL &&
			    fin_queue_and_retire(s, pp, prev, SPECIAL_CLEANUP,
						 (void *)sp->u.cleanup.fn, NULL, sp->u.cleanup.arg))
				continue;
		}
		prev = sp;
		pp = &sp->next;
	}
	lock_release(&s->special_lock);
}

/* Pass 4: finalizers. */
static void fin_pass_finalizers(span_t *s, mark_state_t *m)
{
	if (s->kind == SPAN_KIND_MALLOC)
		return;
	lock_acquire(&s->special_lock);
	special_t **pp = &s->specials;
	special_t *prev = NULL;
	while (*pp != NULL) {
		special_t *sp = *pp;
		if (sp->kind == SPECIAL_FINALIZER) {
			uintptr_t obj = s->base + sp->offset;
			if (!fin_is_marked(s, obj)) {
				bool queued = fin_queue_and_retire(s, pp, prev, SPECIAL_FINALIZER,
								   (void *)sp->u.fin.fn, (void *)obj,
								   sp->u.fin.arg);
				/* Alive this cycle either way: queued, or kept with
				 * its finalizer for the next cycle. */
				mark_word(m, obj);
				if (queued)
					continue;
			}
		}
		prev = sp;
		pp = &sp->next;
	}
	lock_release(&s->special_lock);
}

void fin_collect_stw(mark_state_t *m)
{
	fin_dead_records = NULL;
	fin_queued_this_cycle = 0;
	/* 1. Queued entries and the arguments of every record. */
	lock_acquire(&finq_lock);
	for (size_t i = 0; i < finq_len; i++) {
		struct fin_entry *e = &finq[(finq_head + i) % finq_cap];
		mark_word(m, (uintptr_t)e->obj);
		mark_word(m, (uintptr_t)e->arg);
	}
	lock_release(&finq_lock);
	fin_for_each_special_span(fin_mark_args, m);
	mark_drain(m);
	/* 2. What finalizable objects reference. */
	fin_for_each_special_span(fin_mark_finalizable_contents, m);
	mark_drain(m);
	/* 3 and 4. */
	fin_for_each_special_span(fin_pass_weak_cleanup, m);
	fin_for_each_special_span(fin_pass_finalizers, m);
	mark_drain(m);
	while (fin_dead_records != NULL) {
		special_t *sp = fin_dead_records;
		fin_dead_records = sp->next;
		special_free(sp);
	}
}

void fin_after_cycle(void)
{
	if (fin_queued_this_cycle == 0)
		return;
	fin_queued_this_cycle = 0;
	fin_maybe_start();
	__atomic_fetch_add(&finq_seq, 1, __ATOMIC_ACQ_REL);
	sys_futex_wake(&finq_seq);
}

void fin_prefork(void)
{
	lock_acquire_prefork(&finq_lock);
}

void fin_postfork_parent(void)
{
	lock_release_postfork_parent(&finq_lock);
}

void fin_postfork_child(void)
{
	lock_reinit_postfork_child(&finq_lock);
	/* The finalizer thread is not in the child: start one if needed. */
	fin_running = false;
	fin_started = false; /* restarted by the next cycle that queues work */
}

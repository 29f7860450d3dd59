/*
 * gc.c — the conservative mark-sweep collector.
 *
 * What it owns. Objects allocated with gcm_malloc (scanned for pointers)
 * and gcm_malloc_atomic (never scanned) live in spans of their own kinds;
 * the program never has to free them. A cycle finds every such object that
 * nothing reachable points to and frees it. Programs that never call
 * gcm_malloc never run a cycle and pay nothing.
 *
 * A cycle, all with the world stopped (stw.c):
 *
 *   1. Pre-mark. For every small span of every kind the mark bits start as
 *      a copy of its free bits, and every object sitting in a thread's
 *      cache bin is marked too. Free objects thus look marked: a stale
 *      pointer to one is ignored, free memory is never scanned, and the
 *      sweep never frees a free object twice.
 *   2. Roots. The writable segments of the executable and of every loaded
 *      library (re-read every cycle, under the loader's lock), minus the
 *      allocator's own metadata; the registers and stack of every stopped
 *      thread, from its interrupted stack pointer (less the 128-byte red
 *      zone) to the top of its stack mapping, which holds its static TLS;
 *      the main thread's TLS block; the collecting thread's own registers
 *      and stack; and every live object of the malloc family, since it may
 *      hold the only pointer to a collectable object. Ranges that fall in
 *      the heap's arenas are clipped off stack scans: only live objects of
 *      the heap are ever scanned.
 *   3. Mark (mark.c), depth first with an explicit stack.
 *   4. Sweep: every collectable object not marked is freed into its span's
 *      free bits; spans that become empty go back to the heap; large
 *      objects not marked go back to the page allocator.
 *
 * Pacing (GCMALLOC_GC, as Go's GOGC): the next cycle starts when the
 * collectable heap (bytes marked at the last cycle plus bytes allocated
 * since) reaches marked * (1 + percent/100), and never below
 * GC_MIN_HEAP_BYTES; "off" leaves only explicit gcm_collect. Allocation is
 * counted per thread and added to the global figure in the slow path, so
 * the check costs nothing on the fast path.
 *
 * Calls: stw.c (stopping threads), roots.c (segments, memory map), mark.c,
 * central.c (sweeping small spans), heap.c, tcache.c (bins).
 */
#define _GNU_SOURCE
#include "base.h"
#include "gc.h"
#include "alloc.h"
#include "central.h"
#include "debug.h"
#include "fin.h"
#include "heap.h"
#include "log.h"
#include "mark.h"
#include "options.h"
#include "pagemap.h"
#include "roots.h"
#include "stw.h"
#include "sys.h"
#include "tcache.h"

#include <string.h>
#include <ucontext.h>

/* One cycle at a time; rank GC, outermost. */
static lock_t gc_lock = LOCK_INITIALIZER(GC);

/* Atomic. */
static size_t gc_heap_bytes;
static size_t gc_trigger_bytes = GC_MIN_HEAP_BYTES;
/* Protected by: gc_lock. */
static gc_stats_t gc_stat;
static uintptr_t *gc_saved_stack;
static size_t gc_saved_stack_cap;
static bool gc_warned_skip;

static void gc_premark_span(span_t *s, void *arg)
{
	(void)arg;
	if (s->cls != 0)
		memcpy(s->markbits, s->freebits, sizeof(s->markbits));
	else
		s->markbits[0] = 0;
}

static void gc_premark_cache(tcache_t *tc, void *arg)
{
	(void)arg;
	for (unsigned c = 0; c < SPANCLASS_COUNT; c++) {
		tcache_bin_t *b = &tc->bins[c];
		for (uint32_t i = 0; i < b->n; i++) {
			span_t *s = pagemap_lookup(b->slots[i]);
			if (s == NULL || s->cls == 0)
				continue;
			uint32_t idx = span_object_index(s, (uintptr_t)b->slots[i]);
			s->markbits[idx / 64] |= (uint64_t)1 << (idx % 64);
		}
	}
}

static void gc_mark_root(uintptr_t lo, uintptr_t hi, void *arg)
{
	mark_state_t *m = arg;
	if (hi > lo)
		m->root_bytes += hi - lo;
	mark_root(m, lo, hi);
}

/* Scans [lo, hi) but never into the heap's arenas (a stack mapping the
 * kernel merged with a neighbouring arena). */
static void gc_mark_outside_heap(mark_state_t *m, uintptr_t lo, uintptr_t hi)
{
	const addrrange_set_t *ar = &heap_global.pa.in_use;
	size_t i = addrrange_find_succ(ar, lo);
	if (i > 0 && lo < ar->ranges[i - 1].limit)
		return; /* starts inside the heap: not a stack */
	if (i < ar->n && ar->ranges[i].base < hi)
		hi = ar->ranges[i].base;
	gc_mark_root(lo, hi, m);
}

/* The size of glibc's thread control block (struct pthread, 2368 bytes in
 * glibc 2.36), which sits at the thread pointer at the very top of a
 * thread's stack mapping: the scan ends at the page boundary after it. */
#define GC_TCB_BYTES 2368

/*
 * A stack from sp (less the red zone) up. A thread made by pthread_create
 * has its static TLS and control block at the top of its stack mapping,
 * right at its thread pointer tp, so its stack ends a few KiB above tp:
 * the scan stops there, even if the kernel merged the mapping with a
 * neighbour above. The main thread's stack is a mapping of its own (it
 * grows down, so it never merges) and is scanned to its end.
 */
static void gc_mark_stack(mark_state_t *m, uintptr_t sp, uintptr_t tp)
{
	uintptr_t lo, hi;
	if (!roots_mapping_of(sp, &lo, &hi))
		return;
	uintptr_t from = sp >= lo + 128 ? sp - 128 : lo;
	if (tp > sp && tp < hi)
		hi = GCM_MIN(hi, align_up(tp + GC_TCB_BYTES, SYS_PAGE_SIZE));
	gc_mark_outside_heap(m, from, hi);
}

/* Static TLS bytes below a thread pointer (an upper bound). Set at the
 * start of each cycle. */
static size_t gc_tls_bytes;

/* A thread's static TLS block and thread control block when they are not
 * inside its stack mapping (the main thread's): the gc_tls_bytes below the
 * thread pointer and a few KiB above, within the mapping that holds it. */
static void gc_mark_tls(mark_state_t *m, uintptr_t tp, uintptr_t sp)
{
	uintptr_t lo, hi, slo, shi;
	if (!roots_mapping_of(tp, &lo, &hi))
		return;
	if (roots_mapping_of(sp, &slo, &shi) && slo == lo)
		return; /* already scanned with the stack */
	uintptr_t from = tp - lo > gc_tls_bytes ? tp - gc_tls_bytes : lo;
	uintptr_t to = hi - tp > 4096 ? tp + 4096 : hi;
	gc_mark_outside_heap(m, from, to);
}

static void gc_mark_malloc_objects(span_t *s, void *arg)
{
	mark_state_t *m = arg;
	if (s->kind != SPAN_KIND_MALLOC)
		return;
	if (s->cls == 0) {
		if (s->state == SPAN_LARGE)
			gc_mark_root(s->base, s->base + span_bytes(s), m);
		return;
	}
	for (uint32_t w = 0; w * 64 < s->nelems; w++) {
		uint64_t live = ~s->markbits[w];
		if (s->nelems - w * 64 < 64)
			live &= ((uint64_t)1 << (s->nelems - w * 64)) - 1;
		while (live != 0) {
			uint32_t idx = w * 64 + (uint32_t)__builtin_ctzll(live);
			live &= live - 1;
			uintptr_t o = span_object_base(s, idx);
			gc_mark_root(o, o + s->elem_size, m);
			mark_drain(m);
		}
	}
}

/* The collecting thread's own registers and stack, captured when the
 * program called into the collector (gc_run): its registers then, and its
 * stack from that frame up. The collector's own frames below are not
 * scanned: they hold heap addresses of their own (span bases, bin slots)
 * that must not keep objects alive. */
static void gc_mark_own_stack(mark_state_t *m, const ucontext_t *uc)
{
	/* The general registers only: vector registers hold no live pointers
	 * across the call, and stale copies there would keep objects alive. */
	gc_mark_root((uintptr_t)&uc->uc_mcontext.gregs,
		     (uintptr_t)(&uc->uc_mcontext.gregs + 1), m);
	uintptr_t lo, hi, tp = (uintptr_t)__builtin_thread_pointer();
	if (roots_mapping_of((uintptr_t)uc, &lo, &hi)) {
		if (tp > (uintptr_t)uc && tp < hi)
			hi = GCM_MIN(hi, align_up(tp + GC_TCB_BYTES, SYS_PAGE_SIZE));
		gc_mark_outside_heap(m, (uintptr_t)(uc + 1), hi);
	}
	gc_mark_tls(m, tp, (uintptr_t)uc);
}

struct gc_sweep {
	size_t freed_bytes;
	size_t live_bytes;
};

static void gc_sweep_span(span_t *s, void *arg)
{
	struct gc_sweep *sw = arg;
	if (s->kind == SPAN_KIND_MALLOC)
		return;
	if (s->cls != 0) {
		sw->freed_bytes += central_sweep_span(s);
		return;
	}
	if (s->state != SPAN_LARGE)
		return;
	if (s->markbits[0] & 1)
		return;
	sw->freed_bytes += span_bytes(s);
	alloc_free_large(s);
}

struct gc_cycle {
	const ucontext_t *caller; /* the collecting thread at entry */
	bool ok;
	uint64_t t_start, t_stopped, t_marked, t_swept;
	size_t nthreads;
	mark_state_t m;
	struct gc_sweep sw;
};

/* The cycle proper, run with the loader's lock held (segments stay put). */
static void gc_cycle_locked(void *arg)
{
	struct gc_cycle *c = arg;
	if (!stw_stop()) {
		c->ok = false;
		return;
	}
	c->t_stopped = sys_nanotime();
	mark_state_t *m = &c->m;
	const addrrange_set_t *ar = &heap_global.pa.in_use;
	if (ar->n > 0) {
		m->heap_lo = ar->ranges[0].base;
		m->heap_hi = ar->ranges[ar->n - 1].limit;
	}

	heap_for_each_span(gc_premark_span, NULL);
	tcache_for_each_live(gc_premark_cache, NULL);
	gc_tls_bytes = roots_static_tls_bytes();

	if (roots_read_maps()) {
		for (size_t i = 0; i < stw_nthreads; i++) {
			stw_thread_t *t = &stw_threads[i];
			if (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) != STW_STOPPED)
				continue;
			c->nthreads++;
			gc_mark_root((uintptr_t)t->regs, (uintptr_t)(t->regs + STW_NREGS), m);
			gc_mark_stack(m, t->sp, t->tp);
			gc_mark_tls(m, t->tp, t->sp);
			mark_drain(m);
		}
		gc_mark_own_stack(m, c->caller);
		mark_drain(m);
	}
	roots_for_each_segment(gc_mark_root, m);
	mark_drain(m);
	heap_for_each_span(gc_mark_malloc_objects, m);
	mark_drain(m);
	/* Weak handles, finalizers and cleanups (fin.c). */
	fin_collect_stw(m);
	c->t_marked = sys_nanotime();

	heap_for_each_span(gc_sweep_span, &c->sw);
	c->t_swept = sys_nanotime();
	stw_start();
	c->ok = true;
}

static void gc_trace_bytes(char *buf, size_t cap, size_t n)
{
	if (n >= ((size_t)10 << 20))
		log_format(buf, cap, "%zu MiB", n >> 20);
	else
		log_format(buf, cap, "%zu KiB", n >> 10);
}

struct gc_request {
	bool automatic;
	bool ran;
	const ucontext_t *caller;
};

static void gc_collect_cycle(struct gc_request *req);

/*
 * Runs with gc_lock held and, inside, the loader's lock. The order matters
 * for fork: the prefork handler takes gc_lock, so no thread can hold the
 * loader's lock on the collector's behalf when the process forks (a child
 * would inherit it locked and hang in its first dl_iterate_phdr).
 */
static void gc_collect_locked(void *arg)
{
	struct gc_request *req = arg;
	lock_assert_held(&gc_lock);
	/* The collecting thread takes allocator locks from here on: its own
	 * idle-flush handler must not run in the middle. */
	tcache_busy_enter();
	gc_collect_cycle(req);
	tcache_busy_leave();
}

static void gc_collect_cycle(struct gc_request *req)
{
	size_t before = __atomic_load_n(&gc_heap_bytes, __ATOMIC_RELAXED);
	if (req->automatic && (opt.gc_percent < 0 ||
			       before < __atomic_load_n(&gc_trigger_bytes, __ATOMIC_RELAXED)))
		return; /* another thread collected meanwhile */
	struct gc_cycle c;
	memset(&c, 0, sizeof(c));
	c.caller = req->caller;
	/* The mark stack is kept from one cycle to the next: mapping it
	 * afresh would fault its pages in during every pause. */
	c.m.stack = gc_saved_stack;
	c.m.cap = gc_saved_stack_cap;
	c.t_start = sys_nanotime();
	gc_cycle_locked(&c);
	gc_saved_stack = c.m.stack;
	gc_saved_stack_cap = c.m.cap;
	if (!c.ok) {
		gc_stat.cycles_skipped++;
		bool warn = !gc_warned_skip;
		gc_warned_skip = true;
		if (warn)
			log_line("collection skipped: a thread could not be stopped (it blocks signal %d or never leaves the allocator)",
				 stw_signal);
		return;
	}
	req->ran = true;
	size_t marked = c.m.marked_bytes;
	size_t allocated_during = __atomic_load_n(&gc_heap_bytes, __ATOMIC_RELAXED) - before;
	__atomic_store_n(&gc_heap_bytes, marked + allocated_during, __ATOMIC_RELAXED);
	size_t trigger = GC_MIN_HEAP_BYTES;
	if (opt.gc_percent >= 0) {
		size_t goal = marked + marked / 100 * (size_t)opt.gc_percent;
		trigger = GCM_MAX(trigger, goal);
	}
	__atomic_store_n(&gc_trigger_bytes, trigger, __ATOMIC_RELAXED);
	uint64_t pause = c.t_swept - c.t_start; /* stopping the threads included */
	gc_stat.cycles++;
	gc_stat.marked_bytes = marked;
	gc_stat.freed_bytes += c.sw.freed_bytes;
	gc_stat.pause_last_ns = pause;
	gc_stat.pause_total_ns += pause;
	gc_stat.pause_max_ns = GCM_MAX(gc_stat.pause_max_ns, pause);
	uint64_t ncycle = gc_stat.cycles;

	if (opt.gctrace) {
		char b1[32], b2[32], b3[32];
		gc_trace_bytes(b1, sizeof(b1), before);
		gc_trace_bytes(b2, sizeof(b2), before - c.sw.freed_bytes > before ? 0 : before - c.sw.freed_bytes);
		gc_trace_bytes(b3, sizeof(b3), marked);
		log_line("gc %zu: heap %s -> %s (%s marked), pause %zu.%03zu ms (stop %zu.%03zu, mark %zu.%03zu, sweep %zu.%03zu ms), %zu threads stopped, %zu KiB roots",
			 (size_t)ncycle, b1, b2, b3,
			 (size_t)(pause / 1000000), (size_t)(pause / 1000 % 1000),
			 (size_t)((c.t_stopped - c.t_start) / 1000000),
			 (size_t)((c.t_stopped - c.t_start) / 1000 % 1000),
			 (size_t)((c.t_marked - c.t_stopped) / 1000000),
			 (size_t)((c.t_marked - c.t_stopped) / 1000 % 1000),
			 (size_t)((c.t_swept - c.t_marked) / 1000000),
			 (size_t)((c.t_swept - c.t_marked) / 1000 % 1000),
			 c.nthreads, c.m.root_bytes >> 10);
	}
}

/* noinline: its frame, holding the caller's saved registers, sits right
 * below the program's frames, and everything the collector does runs in
 * frames below it. */
static GCM_NOINLINE bool gc_run(bool automatic)
{
	lock_assert_none_held();
	if (!alloc_init())
		return false;
	ucontext_t uc;
	getcontext(&uc);
	/* Waiting for the locks happens at a safe point: a collector in
	 * another thread can stop this one meanwhile. */
	struct gc_request req = { automatic, false, &uc };
	if (automatic) {
		/* A cycle is running or about to: this one is not needed,
		 * and waiting could deadlock a thread that allocates inside a
		 * dl_iterate_phdr callback (it holds the loader's lock). */
		if (!lock_try_acquire(&gc_lock))
			return false;
	} else {
		lock_acquire(&gc_lock);
	}
	roots_with_loader_locked(gc_collect_locked, &req);
	lock_release(&gc_lock);
	if (req.ran)
		fin_after_cycle();
	__asm__ volatile("" : : "r"(&uc) : "memory");
	return req.ran;
}

bool gc_collect(void)
{
	return gc_run(false);
}

void gc_account(size_t nbytes)
{
	size_t heap = __atomic_add_fetch(&gc_heap_bytes, nbytes, __ATOMIC_RELAXED);
	if (opt.gc_percent < 0)
		return;
	if (heap >= __atomic_load_n(&gc_trigger_bytes, __ATOMIC_RELAXED))
		gc_run(true);
}

void gc_get_stats(gc_stats_t *out)
{
	lock_acquire(&gc_lock);
	*out = gc_stat;
	lock_release(&gc_lock);
	out->heap_bytes = __atomic_load_n(&gc_heap_bytes, __ATOMIC_RELAXED);
	out->trigger_bytes = __atomic_load_n(&gc_trigger_bytes, __ATOMIC_RELAXED);
}

void gc_prefork(void)
{
	lock_acquire_prefork(&gc_lock);
}

void gc_postfork_parent(void)
{
	lock_release_postfork_parent(&gc_lock);
}

void gc_postfork_child(void)
{
	lock_reinit_postfork_child(&gc_lock);
}

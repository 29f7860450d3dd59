/*
 * scav.c — the scavenger: returning free memory to the kernel.
 *
 * What it owns. Every page of the heap is in use, free and resident, or free
 * and released ("scavenged"): the page allocator's two bitmaps say which
 * (palloc_bits.h). The scavenger turns free resident pages into released
 * ones with madvise(MADV_DONTNEED), so that a program's RSS follows what it
 * uses rather than what it once used. Allocation turns released pages back
 * into in-use ones for free: the kernel faults in zero pages on first touch.
 *
 * Goals. A malloc heap has no collection cycle to measure its needs by, so
 * gcmalloc measures them by time. Time is cut into generations of one
 * second; the page allocator records the most pages in use at once during
 * the current and the previous generation. The heap goal is that peak plus
 * 10%:
 *
 *     goal = max(peak(this generation), peak(previous one)) * 1.10
 *
 * and the scavenger works while the retained memory (pages in use plus free
 * resident pages) is above it. A program whose use drops therefore sees its
 * RSS follow within one to two seconds, while a program that frees and
 * reallocates in a cycle shorter than that keeps its pages (releasing them
 * would only buy page faults). With GCMALLOC_MEMLIMIT the scavenger also
 * works while retained memory plus allocator metadata is above 95% of the
 * limit.
 *
 * Where it looks. Candidates are searched from the highest addresses down,
 * the opposite end from where address-ordered first-fit allocation works,
 * so the two rarely meet. Within a chunk the highest free resident run is
 * taken first. A chunk that had 496 or more of its 512 pages in use at some
 * point in this or the previous generation is "dense" and is skipped by
 * background and growth-time scavenging: it is one 2 MiB huge page that will
 * most likely fill up again, and releasing a few pages of it would break the
 * huge page up. Forced scavenging (malloc_trim, the memory limit) ignores the
 * rule.
 *
 * How a run is released. With the heap lock held, the run is marked in use
 * in the chunk bitmap, so no allocation can take it; the lock is dropped for
 * the madvise call, then retaken to mark the run free and scavenged. The
 * invariant "never in use and scavenged" holds at every step, and no thread
 * ever waits on the heap lock for a system call. The temporary marking
 * bypasses the peak-in-use statistics.
 *
 * Who releases.
 *   - The background thread, started the first time the heap frees pages.
 *     It works in runs of up to 2 MiB for about 1 ms of its own CPU time, then
 *     sleeps long enough to hold its CPU share at 1% of one CPU (a bounded
 *     proportional-integral correction adjusts the sleep ratio from the
 *     measured share). With nothing to do it sleeps until the generation
 *     ends, or, when nothing free is retained at all, parks on a futex
 *     until frees wake it (scav_kick says why frees wake it only then).
 *     At each generation boundary it starts a new generation and, with
 *     GCMALLOC_DEBUG=scavtrace=1, prints one line if any work was done.
 *   - The eager path, at allocation time: when the heap has just grown, up
 *     to the growth is released if retained memory is above the goal (the
 *     fragments that were not big enough for the allocation), and when the
 *     memory limit is exceeded the excess is released at once, forced.
 *   - malloc_trim(0): everything free, forced, and a "(forced)" trace line
 *     (preceded by a line for the work done since the last one, if any).
 *
 * Calls: palloc.c (bitmaps, summaries), sys.c (madvise, futex, clocks),
 * heap.c (the global heap and its lock), log.c (the trace line).
 */
#define _GNU_SOURCE
#include "base.h"
#include "scav.h"
#include "central.h"
#include "debug.h"
#include "heap.h"
#include "log.h"
#include "options.h"
#include "stw.h"
#include "sys.h"
#include "tcache.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

/* The least work worth waking for or doing: this many bytes. */
#define SCAV_QUANTUM_BYTES ((size_t)64 << 10)
/* The background thread releases up to this much per call, one run of a
 * chunk at most per madvise: a 2 MiB call costs the kernel about half as
 * much CPU per byte as 64 KiB calls (fewer calls, fewer TLB flushes) and
 * still takes a fraction of a turn. */
#define SCAV_BG_STEP_BYTES ((size_t)2 << 20)
/* The background thread works about this long (CPU time) per turn. */
#define SCAV_WORK_NS ((uint64_t)1000000)

/* Finds, in chunk ch, the highest run of free resident pages, at most
 * max_pages long, taking it from the top of the run. Returns its first page
 * and *npages, or PALLOC_BITS_NONE. */
static unsigned scav_find_candidate(const palloc_chunk_t *ch, unsigned max_pages,
				    unsigned *npages)
{
	for (int w = PALLOC_CHUNK_WORDS - 1; w >= 0; w--) {
		uint64_t x = ch->alloc.w[w] | ch->scav.w[w]; /* 1 = not a candidate */
		if (x == ~(uint64_t)0)
			continue;
		unsigned top = 63 - (unsigned)__builtin_clzll(~x);
		unsigned end = (unsigned)w * 64 + top + 1; /* exclusive */
		/* Length of the zero run of x ending at bit top. */
		uint64_t y = x << (63 - top); /* bit top is now bit 63 */
		unsigned len = y == 0 ? top + 1 : (unsigned)__builtin_clzll(y);
		if (len == top + 1) {
			/* The run reaches the bottom of the word: extend it. */
			for (int v = w - 1; v >= 0; v--) {
				uint64_t z = ch->alloc.w[v] | ch->scav.w[v];
				if (z == 0) {
					len += 64;
					continue;
				}
				len += (unsigned)__builtin_clzll(z);
				break;
			}
		}
		unsigned size = GCM_MIN(len, max_pages);
		*npages = size;
		return end - size;
	}
	return PALLOC_BITS_NONE;
}

/* Whether background scavenging should leave chunk ch alone. Locks: heap. */
static bool scav_chunk_is_dense_locked(const palloc_t *pa, const palloc_chunk_t *ch)
{
	lock_assert_held(pa->lock);
	unsigned in_use = 0;
	for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++)
		in_use += (unsigned)__builtin_popcountll(ch->alloc.w[w]);
	unsigned peak = in_use;
	if (ch->gen == pa->gen)
		peak = GCM_MAX(peak, GCM_MAX(ch->peak_in_use, ch->prev_peak_in_use));
	else if (ch->gen + 1 == pa->gen)
		peak = GCM_MAX(peak, ch->peak_in_use);
	return peak >= SCAV_DENSE_PAGES;
}

/* The chunk just below addr that lies in the grown heap, or
 * PALLOC_NCHUNKS if there is none. Locks: heap lock. */
static palloc_chunk_idx_t scav_chunk_below_locked(const palloc_t *pa, uintptr_t addr)
{
	lock_assert_held(pa->lock);
	if (addr == 0)
		return PALLOC_NCHUNKS;
	size_t i = addrrange_find_succ(&pa->in_use, addr - 1);
	if (i == 0)
		return PALLOC_NCHUNKS;
	uintptr_t top = GCM_MIN(addr, pa->in_use.ranges[i - 1].limit);
	return palloc_chunk_index(top - 1);
}

/*
 * Releases one run of at most max_pages pages of chunk ci. Returns the pages
 * released (0 if the chunk has no candidate, or is dense and !force).
 * Locks: takes pa's lock; must not hold it.
 */
static size_t scav_one(palloc_t *pa, palloc_chunk_idx_t ci, size_t max_pages,
		       bool force)
{
	lock_assert_not_held(pa->lock);
	lock_acquire(pa->lock);
	palloc_chunk_t *ch = palloc_chunk_of(pa, ci);
	if (!force && scav_chunk_is_dense_locked(pa, ch)) {
		lock_release(pa->lock);
		return 0;
	}
	unsigned n;
	unsigned first = scav_find_candidate(ch, (unsigned)GCM_MIN(max_pages, PALLOC_CHUNK_PAGES), &n);
	if (first == PALLOC_BITS_NONE) {
		lock_release(pa->lock);
		return 0;
	}
	uintptr_t base = palloc_chunk_base(ci) + ((uintptr_t)first << PALLOC_PAGE_SHIFT);
	/* Take the run out of reach of allocation while it is released. */
	palloc_chunk_alloc_range(ch, first, n);
	pa->free_pages -= n;
	palloc_update_locked(pa, base, n, true, true);
	lock_release(pa->lock);

	if (!pa->test_mode)
		sys_unused((void *)base, (size_t)n << PALLOC_PAGE_SHIFT);

	lock_acquire(pa->lock);
	palloc_chunk_free_range(ch, first, n);
	palloc_bits_set_range(&ch->scav, first, n);
	pa->free_pages += n;
	pa->scav_pages += n;
	if (base < pa->search_addr)
		pa->search_addr = base;
	palloc_update_locked(pa, base, n, true, false);
	GCM_ASSERT_EXPENSIVE(palloc_is_valid_locked(pa));
	lock_release(pa->lock);
	return n;
}

size_t scav_scavenge(palloc_t *pa, scav_cursor_t *cur, size_t nbytes, bool force)
{
	lock_assert_not_held(pa->lock);
	size_t want = (nbytes + PALLOC_PAGE_SIZE - 1) >> PALLOC_PAGE_SHIFT;
	if (nbytes > SIZE_MAX - PALLOC_PAGE_SIZE)
		want = SIZE_MAX >> PALLOC_PAGE_SHIFT;
	size_t released = 0;
	if (cur->addr == 0)
		cur->addr = PALLOC_MAX_ADDR;
	while (released < want) {
		lock_acquire(pa->lock);
		palloc_chunk_idx_t ci = scav_chunk_below_locked(pa, cur->addr);
		lock_release(pa->lock);
		if (ci == PALLOC_NCHUNKS) {
			cur->addr = PALLOC_MAX_ADDR; /* next pass starts at the top */
			break;
		}
		size_t n = scav_one(pa, ci, want - released, force);
		if (n == 0)
			cur->addr = palloc_chunk_base(ci); /* nothing more here */
		released += n;
	}
	return released << PALLOC_PAGE_SHIFT;
}

void scav_figures_locked(const palloc_t *pa, size_t extra_meta_bytes,
			 scav_figures_t *out)
{
	lock_assert_held(pa->lock);
	size_t in_use = pa->grown_pages - pa->free_pages;
	size_t retained = pa->grown_pages - pa->scav_pages;
	size_t peak = GCM_MAX(pa->peak_in_use_pages, pa->prev_peak_in_use_pages);
	peak = GCM_MAX(peak, in_use);
	out->in_use_bytes = in_use << PALLOC_PAGE_SHIFT;
	out->retained_bytes = retained << PALLOC_PAGE_SHIFT;
	size_t goal = peak + peak * SCAV_RETAIN_EXTRA_PERCENT / 100;
	out->goal_bytes = goal << PALLOC_PAGE_SHIFT;
	out->meta_bytes = pa->meta_bytes + extra_meta_bytes;
	out->limit_goal_bytes = SIZE_MAX;
	if (opt.memlimit_bytes != SIZE_MAX)
		out->limit_goal_bytes = opt.memlimit_bytes / 100 * SCAV_LIMIT_GOAL_PERCENT;
}

size_t scav_excess(const scav_figures_t *f)
{
	size_t excess = 0;
	if (f->retained_bytes > f->goal_bytes)
		excess = f->retained_bytes - f->goal_bytes;
	size_t total = f->retained_bytes + f->meta_bytes;
	if (total > f->limit_goal_bytes)
		excess = GCM_MAX(excess, total - f->limit_goal_bytes);
	return excess < SCAV_QUANTUM_BYTES ? 0 : excess;
}

/* ---- The global heap's scavenger ---------------------------------------- */

static lock_t scav_lock = LOCK_INITIALIZER(SCAV);
/* Protected by: scav_lock. */
static scav_cursor_t scav_eager_cursor;
/* Bytes released since the last trace line. Atomic. */
static size_t scav_released_bg, scav_released_eager;
/* Whether and how the background thread is parked. Atomic; futex word. */
enum {
	SCAV_RUNNING = 0,
	SCAV_PARKED_IDLE = 1,  /* nothing free is retained: until a kick */
	SCAV_PARKED_TIMED = 2, /* until the next generation; kicks do not wake */
};
static int scav_parked;
/* Atomic. */
bool scav_start_wanted;
static bool scav_started;
static void scav_global_figures(scav_figures_t *f)
{
	lock_acquire(&heap_global.lock);
	scav_figures_locked(&heap_global.pa, heap_global.meta_bytes, f);
	lock_release(&heap_global.lock);
}

/* One trace line, Go 1.21's fields: work done since the last line in the
 * background and eagerly, what the heap retains now, and the share of it in
 * use. */
static void scav_trace(size_t bg, size_t eager, bool forced)
{
	scav_figures_t f;
	scav_global_figures(&f);
	size_t util = f.retained_bytes ? f.in_use_bytes * 100 / f.retained_bytes : 100;
	log_line("scav %zu KiB work (bg), %zu KiB work (eager), %zu KiB now, %zu%% util%s",
		 bg >> 10, eager >> 10, f.retained_bytes >> 10, util,
		 forced ? " (forced)" : "");
}

/* The line for the work done since the last one, if there was any. */
static void scav_trace_pending(void)
{
	size_t bg = __atomic_exchange_n(&scav_released_bg, 0, __ATOMIC_RELAXED);
	size_t eager = __atomic_exchange_n(&scav_released_eager, 0, __ATOMIC_RELAXED);
	if (opt.scavtrace && (bg | eager) != 0)
		scav_trace(bg, eager, false);
}

/* Bytes freed to the page allocator since the background thread parked. */
static size_t scav_freed_since_park;

void scav_kick(size_t nbytes)
{
	if (!__atomic_load_n(&scav_started, __ATOMIC_RELAXED)) {
		if (!__atomic_load_n(&scav_start_wanted, __ATOMIC_RELAXED))
			__atomic_store_n(&scav_start_wanted, true, __ATOMIC_RELAXED);
		return;
	}
	/* A free never makes work at once: it leaves what the heap retains
	 * unchanged (pages go from in use to free, not released) and the
	 * goal is a peak over whole generations, so work can only appear
	 * when a generation ends. A thread parked until then is left alone:
	 * a wake costs the freeing thread a system call and, when the
	 * scheduler runs the woken thread on this CPU, its turn as well
	 * (measured: 0.2-2 ms, inside a collection's pause when the sweep
	 * frees spans). Only a thread parked for good, because nothing free
	 * was retained, is woken, once a quantum's worth has been freed, to
	 * start counting generations again. */
	if (__atomic_load_n(&scav_parked, __ATOMIC_RELAXED) != SCAV_PARKED_IDLE ||
	    __atomic_add_fetch(&scav_freed_since_park, nbytes, __ATOMIC_RELAXED) < SCAV_QUANTUM_BYTES)
		return;
	if (__atomic_exchange_n(&scav_parked, SCAV_RUNNING, __ATOMIC_ACQ_REL) == SCAV_PARKED_IDLE)
		sys_futex_wake(&scav_parked);
}

/*
 * The pacing controller. The thread works for `worked` ns of CPU, then
 * sleeps worked / ratio. Open loop, ratio = t / (1 - t) gives exactly the
 * target share t; in practice sleeps overshoot and the clock is coarse, so a
 * proportional-integral correction, computed on the measured share of the
 * whole turn (work plus the time actually slept), scales the open-loop
 * ratio. The correction moves by at most a quarter per turn and stays in
 * [1/8, 8], so it cannot swing between the extremes.
 */
struct scav_pacer {
	double target;      /* CPU share, 0 < target < 1 */
	double correction;  /* multiplies the open-loop ratio */
	double integral;
};

static double scav_pacer_ratio(const struct scav_pacer *p)
{
	return p->target / (1.0 - p->target) * p->correction;
}

static void scav_pacer_update(struct scav_pacer *p, uint64_t worked_ns, uint64_t turn_ns)
{
	double share = (double)worked_ns / (double)turn_ns;
	double err = (p->target - share) / p->target; /* relative, > 0: too little CPU */
	if (err > 1.0)
		err = 1.0;
	if (err < -1.0)
		err = -1.0;
	p->integral += 0.05 * err;
	if (p->integral > 1.0)
		p->integral = 1.0;
	if (p->integral < -1.0)
		p->integral = -1.0;
	double step = 1.0 + 0.25 * (0.5 * err + p->integral);
	p->correction *= step < 0.75 ? 0.75 : step > 1.25 ? 1.25 : step;
	if (p->correction < 0.125)
		p->correction = 0.125;
	if (p->correction > 8.0)
		p->correction = 8.0;
}

static void *scav_bg_main(void *arg)
{
	(void)arg;
	/* This thread blocks every signal and holds no pointer into the
	 * heap: the collector does not stop it. */
	__atomic_store_n(&stw_exempt_tid, sys_gettid(), __ATOMIC_RELEASE);
	scav_cursor_t cur = { PALLOC_MAX_ADDR };
	double target = (double)opt.scav_cpu_percent / 100.0;
	struct scav_pacer pacer = { target, 1.0, 0.0 };
	/* sleep = worked / ratio */
	double scav_ratio = target < 1.0 ? scav_pacer_ratio(&pacer) : 1000.0;
	uint64_t gen_start = sys_nanotime();

	for (;;) {
		uint64_t now = sys_nanotime();
		if (now - gen_start >= SCAV_GEN_NS) {
			lock_acquire(&heap_global.lock);
			palloc_next_gen_locked(&heap_global.pa);
			lock_release(&heap_global.lock);
			gen_start = now;
			cur.addr = PALLOC_MAX_ADDR;
			/* Threads idle for a whole generation hand their
			 * caches back (tcache.c). */
			tcache_request_idle_flushes();
			scav_trace_pending();
		}

		scav_figures_t f;
		scav_global_figures(&f);
		size_t excess = scav_excess(&f);
		uint64_t to_next_gen = SCAV_GEN_NS - GCM_MIN(SCAV_GEN_NS, sys_nanotime() - gen_start);
		if (excess == 0) {
			/* Nothing to do. While anything free is retained, the
			 * goal may drop when this generation ends: sleep until
			 * then. Otherwise park until a kick. The state is
			 * published before the figures are read again under the
			 * heap lock, and a freeing thread kicks after its own
			 * section of that lock: either the figures include its
			 * free, or it sees SCAV_PARKED_IDLE and wakes us. */
			__atomic_store_n(&scav_freed_since_park, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&scav_parked, SCAV_PARKED_IDLE, __ATOMIC_RELEASE);
			scav_global_figures(&f);
			if (scav_excess(&f) == 0) {
				if (f.retained_bytes == f.in_use_bytes) {
					sys_futex_wait(&scav_parked, SCAV_PARKED_IDLE, 0);
				} else {
					__atomic_store_n(&scav_parked, SCAV_PARKED_TIMED,
							 __ATOMIC_RELEASE);
					sys_futex_wait(&scav_parked, SCAV_PARKED_TIMED, to_next_gen + 1);
				}
			}
			__atomic_store_n(&scav_parked, SCAV_RUNNING, __ATOMIC_RELEASE);
			continue;
		}

		uint64_t t0 = sys_thread_cputime();
		uint64_t w0 = sys_nanotime();
		size_t released = 0;
		while (released < excess && sys_thread_cputime() - t0 < SCAV_WORK_NS) {
			size_t n = scav_scavenge(&heap_global.pa, &cur,
						 GCM_MIN(SCAV_BG_STEP_BYTES, excess - released),
						 false);
			released += n;
			/* Counted per call, so that a malloc_trim line
			 * can report all work done before it. */
			__atomic_fetch_add(&scav_released_bg, n, __ATOMIC_RELAXED);
			if (n == 0)
				break;
		}
		uint64_t worked = sys_thread_cputime() - t0;
		if (worked == 0)
			worked = (sys_nanotime() - w0) | 1;
		if (released == 0) {
			/* Only dense chunks left: wait for the next generation. */
			sys_sleep_ns(to_next_gen + 1);
			continue;
		}
		if (target >= 1.0)
			continue; /* no pacing */
		uint64_t sleep_ns = (uint64_t)((double)worked / scav_ratio);
		if (sleep_ns > SCAV_GEN_NS)
			sleep_ns = SCAV_GEN_NS;
		uint64_t s0 = sys_nanotime();
		sys_sleep_ns(sleep_ns);
		uint64_t slept = sys_nanotime() - s0;
		scav_pacer_update(&pacer, worked, worked + slept);
		scav_ratio = scav_pacer_ratio(&pacer);
	}
	return NULL;
}

void scav_maybe_start(void)
{
	if (__atomic_load_n(&scav_started, __ATOMIC_RELAXED) ||
	    !__atomic_load_n(&scav_start_wanted, __ATOMIC_RELAXED))
		return;
	lock_acquire(&scav_lock);
	bool start = !scav_started;
	scav_started = true;
	lock_release(&scav_lock);
	if (!start)
		return;
	/* The thread takes no signals meant for the program. pthread_create
	 * may allocate: callers guarantee that is safe here. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 << 10);
	if (pthread_create(&t, &attr, scav_bg_main, NULL) != 0) {
		lock_acquire(&scav_lock);
		scav_started = false;
		lock_release(&scav_lock);
	}
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void scav_eager(size_t growth_bytes)
{
	lock_assert_not_held(&heap_global.lock);
	scav_figures_t f;
	scav_global_figures(&f);
	size_t want = 0;
	bool force = false;
	if (growth_bytes > 0 && f.retained_bytes > f.goal_bytes)
		want = GCM_MIN(growth_bytes, f.retained_bytes - f.goal_bytes);
	size_t total = f.retained_bytes + f.meta_bytes;
	if (opt.memlimit_bytes != SIZE_MAX && total > f.limit_goal_bytes) {
		want = GCM_MAX(want, total - f.limit_goal_bytes);
		force = true;
	}
	if (want < SCAV_QUANTUM_BYTES)
		return;
	lock_acquire(&scav_lock);
	size_t n = scav_scavenge(&heap_global.pa, &scav_eager_cursor, want, force);
	lock_release(&scav_lock);
	__atomic_fetch_add(&scav_released_eager, n, __ATOMIC_RELAXED);
}

size_t scav_release_all(void)
{
	lock_assert_not_held(&heap_global.lock);
	/* Work done since the last line is reported before the forced line,
	 * so that the trace accounts, in order, for everything released up
	 * to malloc_trim. */
	scav_trace_pending();
	lock_acquire(&scav_lock);
	scav_cursor_t cur = { PALLOC_MAX_ADDR };
	size_t n = scav_scavenge(&heap_global.pa, &cur, SIZE_MAX, true);
	lock_release(&scav_lock);
	if (opt.scavtrace)
		scav_trace(0, n, true);
	return n;
}

void scav_prefork(void)
{
	lock_acquire_prefork(&scav_lock);
}

void scav_postfork_parent(void)
{
	lock_release_postfork_parent(&scav_lock);
}

void scav_postfork_child(void)
{
	lock_reinit_postfork_child(&scav_lock);
	/* The background thread does not exist in the child; start a new one
	 * when there is work. */
	scav_started = false;
	scav_parked = SCAV_RUNNING;
	scav_start_wanted = true;
}

/*
 * bench_weak.c — weak handles and finalizers, gcmalloc against the Boehm
 * collector. One source, built two ways:
 *
 *   BW_MODE_GCM    gcm_malloc, gcm_weak_make/get, gcm_set_finalizer,
 *                  gcm_finalizers_wait, gcm_collect, found at start with
 *                  dlsym(RTLD_DEFAULT) (run it with LD_PRELOAD=libgcmalloc.so;
 *                  exits 77 when they are absent).
 *   BW_MODE_BOEHM  Debian's libgc (bdw-gc): GC_MALLOC objects; a weak handle
 *                  is a GC_MALLOC_ATOMIC cell holding GC_HIDE_POINTER(obj),
 *                  registered with GC_general_register_disappearing_link,
 *                  read under the allocation lock (GC_call_with_alloc_lock,
 *                  as gc.h asks); finalizers with GC_register_finalizer.
 *
 * Equivalences chosen (so both do the same work):
 *   - Objects are 32 bytes, scanned (gcm_malloc / GC_MALLOC), and hold no
 *     pointers. The arrays that keep objects and handles alive are roots
 *     that are scanned and never collected: malloc blocks under gcmalloc
 *     (every malloc block is a root there), GC_MALLOC_UNCOLLECTABLE under
 *     Boehm.
 *   - Weak make: gcmalloc's handles are canonical, so a repeated make of the
 *     same address is a lookup that returns the first handle (checked).
 *     Boehm has no canonical handles: a make is always a new cell and a new
 *     registration, the only way it offers to get a weak reference.
 *   - Weak get: gcm_weak_get against reading the cell under the allocation
 *     lock (NULL once the link was cleared). Boehm's disappearing links are
 *     cleared before finalizers run, like gcmalloc's handles.
 *   - Finalizers run on one finalizer thread in both: gcmalloc's own;
 *     for Boehm, GC_set_finalize_on_demand(1) plus a finalizer notifier that
 *     wakes a thread of ours calling GC_invoke_finalizers (that thread is
 *     started at start-up in every workload, so Boehm always runs
 *     multi-threaded, with real locking, as gcmalloc does). Waiting for them
 *     is gcm_finalizers_wait against waiting until the queue is empty
 *     (GC_should_invoke_finalizers() == 0) and that thread asleep.
 *   - Collections are explicit full ones (gcm_collect / GC_gcollect); both
 *     also collect on their own as the heap grows.
 *
 * Usage: bench_weak_{gcm,boehm} [make|fin|clear|all] [SCALE]
 *
 * Workloads (sizes at scale 1):
 *   make   N = 512 Ki live objects; a handle for each (first make), K = 2
 *          more makes of each (repeat make), then M = 32 gets of each handle,
 *          every result checked. Million operations per second for make
 *          (first, repeat, all) and get.
 *   fin    R = 3 rounds of N = 256 Ki objects: allocate each and set its
 *          finalizer, drop them all, collect, wait until every finalizer ran
 *          (each one at most once, checked). Finalizers per second end to
 *          end (allocation to the last finalizer) and from the drop on.
 *   clear  R = 4 rounds of N = 256 Ki objects with a handle each: drop the
 *          objects, collect once, check that every handle reads NULL. Time
 *          per clearing cycle.
 *
 * Both collectors are conservative: a stale copy of an address can keep a
 * dead object alive. A handle still set after the timed cycle, or a
 * finalizer not yet run, is counted (survivors=, late=) and up to three
 * more collections, not timed, look again; a few per round that stay
 * (BW_RETAIN_MAX) are reported, more are an error. A handle that is set
 * must still read its own object.
 *
 * Each workload prints one line on stdout:
 *   bench_weak workload=W mode=M key=value...
 * A wrong result (a get that returns another address, a live object's
 * handle cleared, a handle of a dead object still set past the allowance, a
 * finalizer run twice or for an object it was not set on) prints
 * "bench_weak: error: ..." on stderr and exits 1.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <time.h>

#if defined(BW_MODE_GCM) == defined(BW_MODE_BOEHM)
#error "define exactly one of BW_MODE_GCM and BW_MODE_BOEHM"
#endif

#ifdef BW_MODE_GCM
#include <dlfcn.h>
#include "gcmalloc.h"
#else
#define GC_THREADS 1
#include <gc/gc.h>
#endif

#define BW_OBJ_SIZE 32

struct bw_obj {
	uint64_t key; /* the object's index (and round), xor BW_SALT */
	uint64_t pad[BW_OBJ_SIZE / 8 - 1];
};

#define BW_SALT 0x5eed5eed12345678ull

/* Dead objects a conservative scan may keep (a stale copy of an address on a
 * stack, in a register or in the collector's own variables; seen with
 * Boehm: the first object of a block, whose address the collector itself
 * keeps): up to this many per round are reported, not an error. */
#define BW_RETAIN_MAX(n) (8 + (n) / 10000)

typedef void *bw_weak;
typedef void (*bw_fin_fn)(void *obj, void *arg);

static __attribute__((format(printf, 1, 2), noreturn)) void bw_die(const char *fmt, ...);

static void bw_die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "bench_weak: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double bw_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the two back ends ------------------------------------------------- */

#ifdef BW_MODE_GCM

static const char bw_mode[] = "gcmalloc";

static void *(*bw_gcm_malloc)(size_t);
static void (*bw_gcm_collect)(void);
static gcm_weak_t (*bw_gcm_weak_make)(const void *);
static void *(*bw_gcm_weak_get)(gcm_weak_t);
static int (*bw_gcm_set_finalizer)(void *, void (*)(void *, void *), void *);
static int (*bw_gcm_finalizers_wait)(unsigned);
static int (*bw_gcm_stats)(struct gcm_stats *, size_t);

static void bw_init(void)
{
	*(void **)&bw_gcm_malloc = dlsym(RTLD_DEFAULT, "gcm_malloc");
	*(void **)&bw_gcm_collect = dlsym(RTLD_DEFAULT, "gcm_collect");
	*(void **)&bw_gcm_weak_make = dlsym(RTLD_DEFAULT, "gcm_weak_make");
	*(void **)&bw_gcm_weak_get = dlsym(RTLD_DEFAULT, "gcm_weak_get");
	*(void **)&bw_gcm_set_finalizer = dlsym(RTLD_DEFAULT, "gcm_set_finalizer");
	*(void **)&bw_gcm_finalizers_wait = dlsym(RTLD_DEFAULT, "gcm_finalizers_wait");
	*(void **)&bw_gcm_stats = dlsym(RTLD_DEFAULT, "gcm_stats");
	if (!bw_gcm_malloc || !bw_gcm_collect || !bw_gcm_weak_make || !bw_gcm_weak_get ||
		!bw_gcm_set_finalizer || !bw_gcm_finalizers_wait || !bw_gcm_stats) {
		fprintf(stderr, "bench_weak: the gcm_* functions are missing; "
			"run with LD_PRELOAD=libgcmalloc.so\n");
		exit(77);
	}
}

static void *bw_new(void)
{
	void *p = bw_gcm_malloc(BW_OBJ_SIZE);
	if (!p)
		bw_die("gcm_malloc(%d) failed", BW_OBJ_SIZE);
	return p;
}

/* An array of n pointers that is scanned and never collected. */
static void **bw_roots(size_t n)
{
	void **a = calloc(n, sizeof *a);
	if (!a)
		bw_die("calloc(%zu pointers) failed", n);
	return a;
}

static void bw_roots_free(void **a)
{
	free(a);
}

static inline bw_weak bw_make(void *p)
{
	return bw_gcm_weak_make(p);
}

static inline void *bw_get(bw_weak w)
{
	return bw_gcm_weak_get(w);
}

static void bw_set_finalizer(void *p, bw_fin_fn fn, void *arg)
{
	if (bw_gcm_set_finalizer(p, fn, arg) != 0)
		bw_die("gcm_set_finalizer(%p): %s", p, strerror(errno));
}

static void bw_collect(void)
{
	bw_gcm_collect();
}

static int bw_finalizers_wait(unsigned timeout_ms)
{
	return bw_gcm_finalizers_wait(timeout_ms);
}

static uint64_t bw_cycles(void)
{
	struct gcm_stats st;
	memset(&st, 0, sizeof st);
	if (bw_gcm_stats(&st, sizeof st) != 0)
		return 0;
	return st.gc_cycles;
}

#else /* BW_MODE_BOEHM */

static const char bw_mode[] = "boehm";

static pthread_mutex_t bw_fin_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bw_fin_work = PTHREAD_COND_INITIALIZER; /* to the thread */
static pthread_cond_t bw_fin_idle = PTHREAD_COND_INITIALIZER; /* from it */
static int bw_fin_pending; /* the notifier asked for a run */
static int bw_fin_busy;    /* the thread is running finalizers */

static void GC_CALLBACK bw_fin_notify(void)
{
	pthread_mutex_lock(&bw_fin_mu);
	bw_fin_pending = 1;
	pthread_cond_signal(&bw_fin_work);
	pthread_mutex_unlock(&bw_fin_mu);
}

/* The finalizer thread: runs the queue whenever notified, then reports
 * that it is idle. */
static void *bw_fin_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&bw_fin_mu);
	for (;;) {
		while (!bw_fin_pending)
			pthread_cond_wait(&bw_fin_work, &bw_fin_mu);
		bw_fin_pending = 0;
		bw_fin_busy = 1;
		pthread_mutex_unlock(&bw_fin_mu);
		while (GC_should_invoke_finalizers())
			GC_invoke_finalizers();
		pthread_mutex_lock(&bw_fin_mu);
		bw_fin_busy = 0;
		pthread_cond_broadcast(&bw_fin_idle);
	}
	return NULL;
}

static void bw_init(void)
{
	GC_set_finalize_on_demand(1);
	GC_INIT();
	GC_set_finalizer_notifier(bw_fin_notify);
	pthread_t t; /* GC_THREADS: this is GC_pthread_create, so t is registered */
	int e = pthread_create(&t, NULL, bw_fin_thread, NULL);
	if (e != 0)
		bw_die("pthread_create: %s", strerror(e));
	pthread_detach(t);
}

static void *bw_new(void)
{
	void *p = GC_MALLOC(BW_OBJ_SIZE);
	if (!p)
		bw_die("GC_MALLOC(%d) failed", BW_OBJ_SIZE);
	return p;
}

static void **bw_roots(size_t n)
{
	void **a = GC_MALLOC_UNCOLLECTABLE(n * sizeof *a);
	if (!a)
		bw_die("GC_MALLOC_UNCOLLECTABLE(%zu pointers) failed", n);
	memset(a, 0, n * sizeof *a);
	return a;
}

static void bw_roots_free(void **a)
{
	GC_FREE(a);
}

static inline bw_weak bw_make(void *p)
{
	GC_hidden_pointer *cell = GC_MALLOC_ATOMIC(sizeof *cell);
	if (!cell)
		bw_die("GC_MALLOC_ATOMIC(%zu) failed", sizeof *cell);
	*cell = GC_HIDE_POINTER(p);
	if (GC_general_register_disappearing_link((void **)cell, p) != GC_SUCCESS)
		bw_die("GC_general_register_disappearing_link(%p) failed", p);
	return cell;
}

static void *GC_CALLBACK bw_read_cell(void *cell)
{
	GC_hidden_pointer h = *(GC_hidden_pointer *)cell;
	return h ? GC_REVEAL_POINTER(h) : NULL;
}

static inline void *bw_get(bw_weak w)
{
	return w ? GC_call_with_alloc_lock(bw_read_cell, w) : NULL;
}

static void bw_set_finalizer(void *p, bw_fin_fn fn, void *arg)
{
	GC_finalization_proc ofn = NULL;
	void *oarg = NULL;
	GC_REGISTER_FINALIZER(p, fn, arg, &ofn, &oarg);
	if (ofn)
		bw_die("object %p already had a finalizer", p);
}

static void bw_collect(void)
{
	GC_gcollect();
}

/* 0 once no finalizer is queued and the thread is idle; -1 with ETIMEDOUT
 * after timeout_ms. */
static int bw_finalizers_wait(unsigned timeout_ms)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	int r = 0;
	pthread_mutex_lock(&bw_fin_mu);
	for (;;) {
		if (!bw_fin_pending && !bw_fin_busy) {
			if (!GC_should_invoke_finalizers())
				break;
			/* queued, but the notifier has not come (or came once for a
			 * cycle whose queue the thread already took): wake it */
			bw_fin_pending = 1;
			pthread_cond_signal(&bw_fin_work);
		}
		if (pthread_cond_timedwait(&bw_fin_idle, &bw_fin_mu, &dl) == ETIMEDOUT) {
			r = -1;
			break;
		}
	}
	pthread_mutex_unlock(&bw_fin_mu);
	if (r)
		errno = ETIMEDOUT;
	return r;
}

static uint64_t bw_cycles(void)
{
	return (uint64_t)GC_get_gc_no();
}

#endif

/* ---- shared helpers ---------------------------------------------------- */

/* Wipes a stretch of the stack below the caller, so that stale copies of
 * object addresses left by earlier calls do not keep objects alive in a
 * conservative scan. */
static __attribute__((noinline)) void bw_scrub_stack(void)
{
	char buf[64 * 1024];
	memset(buf, 0, sizeof buf);
	__asm__ volatile("" : : "r"(buf) : "memory");
}

static __attribute__((noinline)) void bw_full_collect(void)
{
	bw_scrub_stack();
	bw_collect();
}

static void bw_print_head(const char *workload)
{
	printf("bench_weak workload=%s mode=%s", workload, bw_mode);
}

static double bw_mops(uint64_t ops, double s)
{
	return s > 0 ? (double)ops / s / 1e6 : 0.0;
}

/* ---- workload 1: weak make + get --------------------------------------- */

static __attribute__((noinline)) void make_alloc(void **objs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct bw_obj *o = bw_new();
		o->key = (uint64_t)i ^ BW_SALT;
		objs[i] = o;
	}
}

static __attribute__((noinline)) void make_first(void **objs, void **hs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bw_weak w = bw_make(objs[i]);
		if (!w)
			bw_die("weak make of object %zu (%p) returned NULL", i, objs[i]);
		hs[i] = w;
	}
}

static __attribute__((noinline)) uint64_t make_repeat(void **objs, void **hs, size_t n,
	unsigned k)
{
	uint64_t sink = 0;
	for (unsigned r = 0; r < k; r++) {
		for (size_t i = 0; i < n; i++) {
			bw_weak w = bw_make(objs[i]);
			if (!w)
				bw_die("repeated weak make of object %zu returned NULL", i);
#ifdef BW_MODE_GCM
			if (w != hs[i])
				bw_die("weak make of object %zu (%p) is not canonical: %p, then %p",
					i, objs[i], hs[i], w);
#else
			(void)hs;
#endif
			sink += (uintptr_t)w & 0xff;
		}
	}
	return sink;
}

static __attribute__((noinline)) void make_get(void **objs, void **hs, size_t n, unsigned m)
{
	for (unsigned r = 0; r < m; r++) {
		for (size_t i = 0; i < n; i++) {
			void *p = bw_get(hs[i]);
			if (p != objs[i])
				bw_die("weak get %u of object %zu returned %p, not %p", r, i, p, objs[i]);
		}
	}
}

static void run_make(double scale)
{
	size_t n = bench_scaled(1u << 19, scale);
	unsigned k = 2, m = 32;
	uint64_t c0 = bw_cycles();
	void **objs = bw_roots(n);
	void **hs = bw_roots(n);

	double t0 = bw_now();
	make_alloc(objs, n);
	double t1 = bw_now();
	make_first(objs, hs, n);
	double t2 = bw_now();
	uint64_t sink = make_repeat(objs, hs, n, k);
	double t3 = bw_now();
	make_get(objs, hs, n, m);
	double t4 = bw_now();

	/* the objects stay alive through a collection, and so do their handles */
	bw_full_collect();
	for (size_t i = 0; i < n; i++)
		if (bw_get(hs[i]) != objs[i])
			bw_die("live object %zu lost its weak handle in a collection", i);

	double first = t2 - t1, rep = t3 - t2, get = t4 - t3;
	uint64_t makes = (uint64_t)n * (1 + k), gets = (uint64_t)n * m;
	bw_print_head("make");
	printf(" n=%zu k=%u m=%u alloc_s=%.4f make_first_s=%.4f make_repeat_s=%.4f get_s=%.4f"
		" make_first_mops=%.3f make_repeat_mops=%.3f make_mops=%.3f get_mops=%.3f"
		" gc_cycles=%" PRIu64 " sink=%" PRIu64 "\n",
		n, k, m, t1 - t0, first, rep, get,
		bw_mops(n, first), bw_mops((uint64_t)n * k, rep), bw_mops(makes, first + rep),
		bw_mops(gets, get), bw_cycles() - c0, sink & 1);
	fflush(stdout);
	bw_roots_free(hs);
	bw_roots_free(objs);
}

/* ---- workload 2: finalizers -------------------------------------------- */

/* Objects of workloads 2 and 3 carry their round in the key's high half. */
static inline uint64_t bw_key(unsigned round, size_t i)
{
	return (((uint64_t)round << 32) | (uint64_t)i) ^ BW_SALT;
}

struct fin_ctx {
	unsigned char *seen; /* rounds x n bytes: finalizer ran */
	uint64_t *ran;       /* per round: finalizers run */
	size_t n;
	unsigned rounds;
	uint64_t bad;        /* runs for an unknown object or a second time */
};

static struct fin_ctx fin_ctx;

static void fin_fn(void *obj, void *arg)
{
	struct fin_ctx *c = arg;
	uint64_t key = ((struct bw_obj *)obj)->key ^ BW_SALT;
	uint64_t r = key >> 32, i = key & 0xffffffffu;
	if (r >= c->rounds || i >= c->n || c->seen[r * c->n + i]) {
		__atomic_fetch_add(&c->bad, 1, __ATOMIC_RELAXED);
		return;
	}
	c->seen[r * c->n + i] = 1;
	__atomic_fetch_add(&c->ran[r], 1, __ATOMIC_RELEASE);
}

static __attribute__((noinline)) void fin_alloc(void **objs, size_t n, unsigned r)
{
	for (size_t i = 0; i < n; i++) {
		struct bw_obj *o = bw_new();
		o->key = bw_key(r, i);
		bw_set_finalizer(o, fin_fn, &fin_ctx);
		objs[i] = o;
	}
}

static void run_fin(double scale)
{
	size_t n = bench_scaled(1u << 18, scale);
	unsigned rounds = 3;
	size_t allowed = BW_RETAIN_MAX(n);
	uint64_t c0 = bw_cycles();
	void **objs = bw_roots(n);
	fin_ctx.seen = calloc((size_t)rounds, n);
	fin_ctx.ran = calloc(rounds, sizeof *fin_ctx.ran);
	if (!fin_ctx.seen || !fin_ctx.ran)
		bw_die("out of memory");
	fin_ctx.n = n;
	fin_ctx.rounds = rounds;
	double reg_s = 0, collect_s = 0, run_s = 0;
	uint64_t late = 0;  /* not run after the timed cycle (retained) */
	unsigned extra = 0; /* collections beyond one per round */

	for (unsigned r = 0; r < rounds; r++) {
		double t0 = bw_now();
		fin_alloc(objs, n, r);
		double t1 = bw_now();
		memset(objs, 0, n * sizeof *objs);
		bw_full_collect();
		double t2 = bw_now();
		if (bw_finalizers_wait(60000) != 0)
			bw_die("round %u: finalizers still running after 60 s (%" PRIu64 " of %zu ran)",
				r, __atomic_load_n(&fin_ctx.ran[r], __ATOMIC_ACQUIRE), n);
		double t3 = bw_now();
		uint64_t ran = __atomic_load_n(&fin_ctx.ran[r], __ATOMIC_ACQUIRE);
		late += n - ran;
		/* a conservative scan may have kept a few alive; more cycles, not
		 * timed, look for them */
		for (unsigned a = 0; a < 3 && ran < n; a++) {
			extra++;
			bw_full_collect();
			bw_finalizers_wait(60000);
			ran = __atomic_load_n(&fin_ctx.ran[r], __ATOMIC_ACQUIRE);
		}
		uint64_t bad = __atomic_load_n(&fin_ctx.bad, __ATOMIC_RELAXED);
		if (bad)
			bw_die("round %u: %" PRIu64 " finalizers ran twice or for a foreign object",
				r, bad);
		if (n - ran > allowed)
			bw_die("round %u: only %" PRIu64 " of %zu finalizers ran after 4 collections"
				" (%zu may be kept by a conservative scan)", r, ran, n, allowed);
		reg_s += t1 - t0;
		collect_s += t2 - t1;
		run_s += t3 - t2;
	}

	uint64_t total = (uint64_t)n * rounds;
	double all = reg_s + collect_s + run_s;
	bw_print_head("fin");
	printf(" n=%zu rounds=%u register_s=%.4f collect_s=%.4f run_s=%.4f total_s=%.4f"
		" fin_mps=%.3f fin_after_drop_mps=%.3f register_mops=%.3f late=%" PRIu64
		" extra_collections=%u gc_cycles=%" PRIu64 "\n",
		n, rounds, reg_s, collect_s, run_s, all, bw_mops(total, all),
		bw_mops(total, collect_s + run_s), bw_mops(total, reg_s), late, extra,
		bw_cycles() - c0);
	fflush(stdout);
	bw_roots_free(objs);
	/* fin_ctx.seen and .ran stay: a retained object's finalizer may still
	 * run on the finalizer thread */
}

/* ---- workload 3: weak clearing ----------------------------------------- */

static __attribute__((noinline)) void clear_setup(void **objs, void **hs, size_t n,
	unsigned r)
{
	for (size_t i = 0; i < n; i++) {
		struct bw_obj *o = bw_new();
		o->key = bw_key(r, i);
		objs[i] = o;
		hs[i] = bw_make(o);
		if (!hs[i])
			bw_die("weak make of object %zu returned NULL", i);
	}
}

/* All live: every handle reads back its object. */
static __attribute__((noinline)) void clear_check_live(void **objs, void **hs, size_t n,
	unsigned r)
{
	for (size_t i = 0; i < n; i++) {
		void *p = bw_get(hs[i]);
		if (p != objs[i])
			bw_die("round %u: handle %zu reads %p before the drop, not %p",
				r, i, p, objs[i]);
	}
}

/* Handles still set; each must still read its own, intact object. */
static __attribute__((noinline)) size_t clear_count(void **hs, size_t n, unsigned r)
{
	size_t live = 0;
	for (size_t i = 0; i < n; i++) {
		struct bw_obj *o = bw_get(hs[i]);
		if (o == NULL)
			continue;
		if (o->key != bw_key(r, i))
			bw_die("round %u: handle %zu reads %p, which holds key %#" PRIx64
				", not its object's", r, i, (void *)o, (uint64_t)(o->key ^ BW_SALT));
		live++;
	}
	return live;
}

static void run_clear(double scale)
{
	size_t n = bench_scaled(1u << 18, scale);
	unsigned rounds = 4;
	size_t allowed = BW_RETAIN_MAX(n);
	uint64_t c0 = bw_cycles();
	void **objs = bw_roots(n);
	void **hs = bw_roots(n);
	double setup_s = 0, cycle_s = 0, cycle_min = 1e9, verify_s = 0;
	size_t survivors = 0; /* handles still set after the timed cycle */
	size_t retained = 0;  /* ... and after the extra ones */
	unsigned extra = 0;

	for (unsigned r = 0; r < rounds; r++) {
		double t0 = bw_now();
		clear_setup(objs, hs, n, r);
		double t1 = bw_now();
		clear_check_live(objs, hs, n, r);
		memset(objs, 0, n * sizeof *objs);
		bw_scrub_stack();
		double t2 = bw_now();
		bw_collect();
		double t3 = bw_now();
		size_t live = clear_count(hs, n, r);
		double t4 = bw_now();
		survivors += live;
		for (unsigned a = 0; a < 3 && live; a++) {
			extra++;
			bw_full_collect();
			live = clear_count(hs, n, r);
		}
		if (live > allowed)
			bw_die("round %u: %zu of %zu handles still set after 4 collections"
				" (%zu may be kept by a conservative scan)", r, live, n, allowed);
		retained += live;
		memset(hs, 0, n * sizeof *hs);
		setup_s += t1 - t0;
		cycle_s += t3 - t2;
		if (t3 - t2 < cycle_min)
			cycle_min = t3 - t2;
		verify_s += t4 - t3;
	}

	bw_print_head("clear");
	printf(" n=%zu rounds=%u setup_s=%.4f cycle_ms=%.3f cycle_min_ms=%.3f verify_ms=%.3f"
		" clear_mps=%.3f survivors=%zu retained=%zu extra_collections=%u"
		" gc_cycles=%" PRIu64 "\n",
		n, rounds, setup_s, cycle_s / rounds * 1e3, cycle_min * 1e3,
		verify_s / rounds * 1e3, bw_mops((uint64_t)n * rounds, cycle_s), survivors,
		retained, extra, bw_cycles() - c0);
	fflush(stdout);
	bw_roots_free(hs);
	bw_roots_free(objs);
}

int main(int argc, char **argv)
{
	const char *which = argc > 1 ? argv[1] : "all";
	double scale = argc > 2 ? bench_scale_arg(argv[2]) : 1.0;
	int all = strcmp(which, "all") == 0;
	if (argc > 3 || (!all && strcmp(which, "make") != 0 && strcmp(which, "fin") != 0 &&
		strcmp(which, "clear") != 0)) {
		fprintf(stderr, "usage: %s [make|fin|clear|all] [SCALE]\n", argv[0]);
		return 2;
	}
	bw_init();
	if (all || strcmp(which, "make") == 0)
		run_make(scale);
	if (all || strcmp(which, "fin") == 0)
		run_fin(scale);
	if (all || strcmp(which, "clear") == 0)
		run_clear(scale);
	return 0;
}

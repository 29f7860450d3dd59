/* weak_prog.c — weak handle semantics, one scenario per run, under the
 * preload (driven by ../test_weak.c):
 *
 *   weak_prog live        get(make(p)) == p while p is referenced, from
 *                         static data, a malloc block, a collectable object,
 *                         a local, thread-local storage and another thread's
 *                         stack, across collections
 *   weak_prog unref       handles of unreferenced objects read NULL after
 *                         one gcm_collect; leaked malloc blocks never clear
 *   weak_prog equality    canonical handles; distinct objects and fields
 *                         give distinct handles; unchanged by collections,
 *                         also while neighbours in the span die and their
 *                         slots are reused
 *   weak_prog race        two threads racing make on one new object (or one
 *                         static address) get the same handle, many times
 *   weak_prog resurrect   cleared before the finalizer runs (seen from the
 *                         finalizer), NULL for good after resurrection, a
 *                         new handle after it
 *   weak_prog free        free() clears the handles of every kind of block;
 *                         make on a freed heap pointer is NULL / EINVAL
 *   weak_prog free_large  the same for large blocks (their own page runs)
 *   weak_prog unref_near_stack
 *                         an object referenced only from foreign memory
 *                         mapped right above a thread's stack is collected
 *   weak_prog immortal    static data, stack, string literals, foreign
 *                         mappings: canonical, distinct, never cleared
 *
 * See wk.h for the reporting convention and the collector hygiene.
 */
#define _GNU_SOURCE
#include "wk.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define OBJ_MAGIC 0x6f626a5f6d616769ULL

struct obj {
	uint64_t magic;
	uint64_t a;
	uint64_t b;
	uint64_t c[5];
}; /* 64 bytes */

static void obj_init(struct obj *o)
{
	o->magic = OBJ_MAGIC;
	o->a = 1;
	o->b = 2;
}

/* ---- live ------------------------------------------------------------ */

/* Makes handles to p and to p + off, and checks them now and after a few
 * collections; p stays referenced by whatever the caller keeps it in (and
 * by this frame, which is one more root). */
static WK_NOINLINE void check_live(char *p, size_t off, const char *how)
{
	gcm_weak_t w = gcm_weak_make(p);
	gcm_weak_t wi = gcm_weak_make(p + off);
	WK_CHECK(w != NULL && wi != NULL, "%s: make failed: %s", how, wk_errno_name(errno));
	WK_CHECK(w != wi, "%s: object and interior address share a handle", how);
	for (int round = 0; round < 4; round++) {
		WK_CHECK(gcm_weak_get(w) == p, "%s: get after %d collections", how, round);
		WK_CHECK(gcm_weak_get(wi) == p + off, "%s: interior get after %d collections",
			 how, round);
		WK_CHECK(gcm_weak_make(p) == w, "%s: make not canonical after %d collections",
			 how, round);
		WK_CHECK(gcm_weak_make(p + off) == wi, "%s: interior make not canonical", how);
		wk_collect();
	}
}

static char *WK_ROOT g_static_ref;              /* referenced from static data */
static void **WK_ROOT g_malloc_box;             /* a malloc block holding the pointer */
static void **WK_ROOT g_gc_box;                 /* a collectable object holding it */
static __thread char *WK_ROOT t_tls_ref;        /* thread-local storage */

struct holder {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *volatile held;
	int ready, release;
};

/* A thread that keeps the object only in a local of its own stack while
 * it waits. */
static void *holder_main(void *arg)
{
	struct holder *h = arg;
	char *volatile mine = gcm_malloc(96);
	WK_CHECK(mine != NULL, "gcm_malloc failed");
	pthread_mutex_lock(&h->mu);
	h->held = (char *)~(uintptr_t)mine; /* hidden: only the local counts */
	h->ready = 1;
	pthread_cond_broadcast(&h->cv);
	while (!h->release)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	__asm__ volatile("" : : "r"(mine) : "memory");
	return NULL;
}

static void scenario_live(void)
{
	g_static_ref = gcm_malloc(64);
	WK_CHECK(g_static_ref != NULL, "gcm_malloc failed");
	check_live(g_static_ref, 24, "small gcm_malloc, from static data");

	char *atomic = gcm_malloc_atomic(200);
	WK_CHECK(atomic != NULL, "gcm_malloc_atomic failed");
	check_live(atomic, 100, "gcm_malloc_atomic, from a local");

	char *large = gcm_malloc(256 << 10);
	WK_CHECK(large != NULL, "gcm_malloc (large) failed");
	check_live(large, 200000, "large gcm_malloc, from a local");

	g_malloc_box = malloc(4 * sizeof(void *));
	WK_CHECK(g_malloc_box != NULL, "malloc failed");
	g_malloc_box[1] = gcm_malloc(48);
	check_live(g_malloc_box[1], 8, "gcm_malloc, from a malloc block");

	g_gc_box = gcm_malloc(4 * sizeof(void *));
	WK_CHECK(g_gc_box != NULL, "gcm_malloc failed");
	g_gc_box[2] = gcm_malloc(48);
	((void **)g_gc_box[2])[0] = gcm_malloc(32); /* two levels down */
	check_live(g_gc_box[2], 16, "gcm_malloc, from a collectable object");
	check_live(((void **)g_gc_box[2])[0], 8, "gcm_malloc, two objects down");

	t_tls_ref = gcm_malloc(80);
	check_live(t_tls_ref, 40, "gcm_malloc, from thread-local storage");

	char *m = malloc(100);
	WK_CHECK(m != NULL, "malloc failed");
	check_live(m, 50, "malloc block, from a local");
	free(m);

	char *big = malloc(1 << 20);
	WK_CHECK(big != NULL, "malloc failed");
	check_live(big, 4096, "large malloc block, from a local");
	free(big);

	struct holder h = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	pthread_t t;
	WK_CHECK(pthread_create(&t, NULL, holder_main, &h) == 0, "pthread_create failed");
	pthread_mutex_lock(&h.mu);
	while (!h.ready)
		pthread_cond_wait(&h.cv, &h.mu);
	pthread_mutex_unlock(&h.mu);
	char *theirs = wk_unhide((uintptr_t)h.held);
	check_live(theirs, 48, "gcm_malloc, from another thread's stack");
	theirs = NULL;
	pthread_mutex_lock(&h.mu);
	h.release = 1;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.mu);
	pthread_join(t, NULL);
}

/* ---- unref --------------------------------------------------------------- */

enum { N_UNREF = 8 };
static gcm_weak_t g_unref[N_UNREF];
static const char *const g_unref_what[N_UNREF] = {
	"small gcm_malloc",
	"gcm_malloc_atomic",
	"large gcm_malloc",
	"interior address of a gcm_malloc object",
	"object reachable only from a dropped object",
	"object in a dropped self-referencing cycle",
	"object reachable only from a freed malloc block",
	"handle made twice",
};

/* Allocates the objects, makes their handles and drops every pointer:
 * only the handles (in static data) survive this frame. */
static WK_NOINLINE void unref_make(void **box)
{
	char *p = gcm_malloc(64);
	g_unref[0] = gcm_weak_make(p);
	p = gcm_malloc_atomic(64);
	memset(p, 0x5a, 64);
	g_unref[1] = gcm_weak_make(p);
	p = gcm_malloc(1 << 20);
	g_unref[2] = gcm_weak_make(p);
	p = gcm_malloc(128);
	g_unref[3] = gcm_weak_make(p + 72);
	void **outer = gcm_malloc(32);
	outer[0] = gcm_malloc(32);
	g_unref[4] = gcm_weak_make(outer[0]);
	void **x = gcm_malloc(32), **y = gcm_malloc(32);
	x[0] = y;
	y[0] = x;
	g_unref[5] = gcm_weak_make(y);
	box[0] = gcm_malloc(40);
	g_unref[6] = gcm_weak_make(box[0]);
	p = gcm_malloc(56);
	g_unref[7] = gcm_weak_make(p);
	WK_CHECK(gcm_weak_make(p) == g_unref[7], "make not canonical");
	for (int i = 0; i < N_UNREF; i++)
		WK_CHECK(g_unref[i] != NULL && gcm_weak_get(g_unref[i]) != NULL,
			 "%s: make failed", g_unref_what[i]);
}

static gcm_weak_t g_leaked_malloc, g_leaked_gc_from_malloc;

static WK_NOINLINE void leak_malloc(void)
{
	void **m = malloc(64);
	WK_CHECK(m != NULL, "malloc failed");
	m[0] = gcm_malloc(24);
	g_leaked_malloc = gcm_weak_make(m);
	g_leaked_gc_from_malloc = gcm_weak_make(m[0]);
	WK_CHECK(g_leaked_malloc != NULL && g_leaked_gc_from_malloc != NULL, "make failed");
}

static void scenario_unref(void)
{
	void **box = malloc(sizeof(void *) * 2);
	WK_CHECK(box != NULL, "malloc failed");
	unref_make(box);
	leak_malloc();
	free(box); /* box[0] was its only reference */
	box = NULL;

	struct gcm_stats before, after;
	wk_stats(&before);
	wk_collect();
	wk_stats(&after);
	for (int i = 0; i < N_UNREF; i++)
		WK_CHECK(gcm_weak_get(g_unref[i]) == NULL,
			 "%s: handle still reads %p after one collection", g_unref_what[i],
			 gcm_weak_get(g_unref[i]));
	WK_CHECK(after.gc_freed_bytes - before.gc_freed_bytes >= (1 << 20),
		 "the cycle freed only %llu bytes",
		 (unsigned long long)(after.gc_freed_bytes - before.gc_freed_bytes));

	/* A leaked malloc block is never collected, and it is a root. */
	for (int i = 0; i < 3; i++) {
		WK_CHECK(gcm_weak_get(g_leaked_malloc) != NULL,
			 "a leaked malloc block's handle cleared");
		WK_CHECK(gcm_weak_get(g_leaked_gc_from_malloc) != NULL,
			 "an object referenced by a leaked malloc block was collected");
		wk_collect();
	}
	printf("# unref: %d handles cleared by one cycle\n", N_UNREF);
}

/* ---- equality -------------------------------------------------------- */

enum { N_FIELDS = 16, N_SPAN = 240 };

static char *WK_ROOT g_eq_p, *WK_ROOT g_eq_q, *WK_ROOT g_eq_atomic, *WK_ROOT g_eq_malloc;
static gcm_weak_t g_fields[4][N_FIELDS];

static char *WK_ROOT g_span_keep[N_SPAN];
static gcm_weak_t g_span_w[N_SPAN][2];
static gcm_weak_t g_span_new[N_SPAN][2];

static void make_fields(void)
{
	char *objs[4] = { g_eq_p, g_eq_q, g_eq_atomic, g_eq_malloc };
	for (int o = 0; o < 4; o++)
		for (int f = 0; f < N_FIELDS; f++) {
			g_fields[o][f] = gcm_weak_make(objs[o] + 8 * f);
			WK_CHECK(g_fields[o][f] != NULL, "make failed: %s", wk_errno_name(errno));
		}
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	return x < y ? -1 : x > y;
}

/* Every handle in g_fields is distinct, reads its own address and is
 * returned again by make. */
static void check_fields(const char *when)
{
	char *objs[4] = { g_eq_p, g_eq_q, g_eq_atomic, g_eq_malloc };
	gcm_weak_t all[4 * N_FIELDS];
	for (int o = 0; o < 4; o++)
		for (int f = 0; f < N_FIELDS; f++) {
			gcm_weak_t w = g_fields[o][f];
			all[o * N_FIELDS + f] = w;
			WK_CHECK(gcm_weak_get(w) == objs[o] + 8 * f,
				 "%s: object %d field %d reads %p", when, o, f, gcm_weak_get(w));
			WK_CHECK(gcm_weak_make(objs[o] + 8 * f) == w,
				 "%s: object %d field %d: make not canonical", when, o, f);
		}
	qsort(all, 4 * N_FIELDS, sizeof all[0], cmp_ptr);
	for (int i = 1; i < 4 * N_FIELDS; i++)
		WK_CHECK(all[i] != all[i - 1], "%s: two addresses share handle %p", when,
			 (void *)all[i]);
}

/* N_SPAN objects of one size class, probably in one or two spans, each with
 * handles at two addresses; every third one is kept, the others dropped.
 * The dropped ones lose their records on the next cycle, among records
 * that stay. */
static WK_NOINLINE void span_make(void)
{
	for (int i = 0; i < N_SPAN; i++) {
		char *p = gcm_malloc(48);
		WK_CHECK(p != NULL, "gcm_malloc failed");
		if (i % 3 == 0)
			g_span_keep[i] = p;
		g_span_w[i][0] = gcm_weak_make(p);
		g_span_w[i][1] = gcm_weak_make(p + 40);
		WK_CHECK(g_span_w[i][0] && g_span_w[i][1], "make failed");
	}
}

/* New objects of the same class (they may reuse the dropped slots): two
 * makes per address, which must agree and differ from every old handle. */
static WK_NOINLINE void span_refill(void)
{
	for (int i = 0; i < N_SPAN; i++) {
		if (i % 3 == 0)
			continue;
		char *p = gcm_malloc(48);
		WK_CHECK(p != NULL, "gcm_malloc failed");
		g_span_keep[i] = p;
		for (int k = 0; k < 2; k++) {
			char *a = p + 40 * k;
			gcm_weak_t w = gcm_weak_make(a);
			WK_CHECK(w != NULL && gcm_weak_get(w) == a, "make on a new object failed");
			WK_CHECK(gcm_weak_make(a) == w, "new object %d: make not canonical", i);
			WK_CHECK(w != g_span_w[i][0] && w != g_span_w[i][1],
				 "new object %d got a handle of a dead one", i);
			g_span_new[i][k] = w;
		}
	}
}

static void check_span(const char *when, bool refilled)
{
	for (int i = 0; i < N_SPAN; i++) {
		if (i % 3 == 0) {
			char *p = g_span_keep[i];
			WK_CHECK(gcm_weak_get(g_span_w[i][0]) == p &&
				 gcm_weak_get(g_span_w[i][1]) == p + 40,
				 "%s: kept object %d: handle does not read it", when, i);
			WK_CHECK(gcm_weak_make(p) == g_span_w[i][0] &&
				 gcm_weak_make(p + 40) == g_span_w[i][1],
				 "%s: kept object %d: make not canonical", when, i);
		} else {
			WK_CHECK(gcm_weak_get(g_span_w[i][0]) == NULL &&
				 gcm_weak_get(g_span_w[i][1]) == NULL,
				 "%s: dropped object %d: handle not cleared", when, i);
			if (refilled) {
				char *p = g_span_keep[i];
				WK_CHECK(gcm_weak_get(g_span_new[i][0]) == p &&
					 gcm_weak_get(g_span_new[i][1]) == p + 40,
					 "%s: new object %d: handle does not read it", when, i);
				WK_CHECK(gcm_weak_make(p) == g_span_new[i][0] &&
					 gcm_weak_make(p + 40) == g_span_new[i][1],
					 "%s: new object %d: make not canonical", when, i);
			}
		}
	}
}

static void scenario_equality(void)
{
	g_eq_p = gcm_malloc(8 * N_FIELDS);
	g_eq_q = gcm_malloc(8 * N_FIELDS);
	g_eq_atomic = gcm_malloc_atomic(8 * N_FIELDS);
	g_eq_malloc = malloc(8 * N_FIELDS);
	WK_CHECK(g_eq_p && g_eq_q && g_eq_atomic && g_eq_malloc, "allocation failed");

	gcm_weak_t wp = gcm_weak_make(g_eq_p);
	WK_CHECK(wp != NULL && gcm_weak_make(g_eq_p) == wp, "make(p) != make(p)");
	WK_CHECK(gcm_weak_make(g_eq_q) != wp, "two objects share a handle");

	make_fields();
	WK_CHECK(g_fields[0][0] == wp, "make(p) changed between calls");
	check_fields("before any collection");
	for (int i = 0; i < 3; i++) {
		wk_collect();
		check_fields("after collections");
	}

	span_make();
	wk_collect();
	check_span("after the first cycle", false);
	span_refill();
	check_span("after refilling", true);
	for (int i = 0; i < 2; i++) {
		wk_collect();
		check_span("after refilling and collecting", true);
	}
	check_fields("at the end");
	free(g_eq_malloc);
	g_eq_malloc = NULL;
}

/* ---- race ------------------------------------------------------------ */

enum { RACERS = 2 };

static struct {
	char *target;              /* Atomic: the address to make */
	unsigned gen;              /* Atomic: bumped once per round */
	unsigned done;             /* Atomic: racers finished this round */
	int stop;                  /* Atomic */
	gcm_weak_t got[RACERS];
} g_race;

static void *WK_ROOT g_race_obj;             /* keeps the round's object alive */
static char g_race_static[4096];

static void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static void *racer_main(void *arg)
{
	int me = (int)(intptr_t)arg;
	unsigned seen = 0;
	for (;;) {
		unsigned spins = 0, g;
		while ((g = __atomic_load_n(&g_race.gen, __ATOMIC_ACQUIRE)) == seen) {
			if (__atomic_load_n(&g_race.stop, __ATOMIC_ACQUIRE))
				return NULL;
			if (++spins > 2000)
				sched_yield();
			else
				cpu_relax();
		}
		seen = g;
		char *t = __atomic_load_n(&g_race.target, __ATOMIC_ACQUIRE);
		g_race.got[me] = gcm_weak_make(t);
		__atomic_fetch_add(&g_race.done, 1, __ATOMIC_ACQ_REL);
	}
}

/* One round: publish t, let both racers make it, compare. */
static void race_round(char *t, unsigned round, const char *what)
{
	__atomic_store_n(&g_race.done, 0, __ATOMIC_RELEASE);
	g_race.got[0] = g_race.got[1] = NULL;
	__atomic_store_n(&g_race.target, t, __ATOMIC_RELEASE);
	__atomic_fetch_add(&g_race.gen, 1, __ATOMIC_ACQ_REL);
	unsigned spins = 0;
	while (__atomic_load_n(&g_race.done, __ATOMIC_ACQUIRE) != RACERS)
		if (++spins > 200)
			sched_yield();
	gcm_weak_t a = g_race.got[0], b = g_race.got[1];
	WK_CHECK(a != NULL && b != NULL, "%s round %u: make failed", what, round);
	WK_CHECK(a == b, "%s round %u: racing makes gave %p and %p", what, round,
		 (void *)a, (void *)b);
	WK_CHECK(gcm_weak_get(a) == t, "%s round %u: handle reads %p, not %p", what, round,
		 gcm_weak_get(a), (void *)t);
	WK_CHECK(gcm_weak_make(t) == a, "%s round %u: a later make differs", what, round);
}

static WK_NOINLINE char *race_new_object(unsigned round)
{
	size_t sizes[] = { 16, 48, 64, 200, 1024, 40000 };
	char *p = gcm_malloc(sizes[round % 6]);
	WK_CHECK(p != NULL, "gcm_malloc failed");
	g_race_obj = p;
	return p + (round / 6 % 2) * 8;
}

static void scenario_race(void)
{
	pthread_t t[RACERS];
	for (int i = 0; i < RACERS; i++)
		WK_CHECK(pthread_create(&t[i], NULL, racer_main, (void *)(intptr_t)i) == 0,
			 "pthread_create failed");
	uint64_t end = wk_now_ns() + 1500000000ull;
	unsigned heap_rounds = 0, static_rounds = 0;
	while (heap_rounds < 200000 && (heap_rounds < 2000 || wk_now_ns() < end)) {
		race_round(race_new_object(heap_rounds), heap_rounds, "new object");
		heap_rounds++;
		if (heap_rounds % 512 == 0)
			gcm_collect();
		if (heap_rounds % 2 == 0 && static_rounds < sizeof g_race_static) {
			race_round(g_race_static + static_rounds, static_rounds, "static address");
			static_rounds++;
		}
	}
	__atomic_store_n(&g_race.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	g_race_obj = NULL;
	/* The static handles are still canonical. */
	for (unsigned i = 0; i < static_rounds; i++) {
		gcm_weak_t w = gcm_weak_make(g_race_static + i);
		WK_CHECK(w != NULL && gcm_weak_get(w) == g_race_static + i,
			 "static address %u: handle lost", i);
	}
	printf("# race: %u rounds on new objects, %u on static addresses\n", heap_rounds,
	       static_rounds);
}

/* ---- resurrect ----------------------------------------------------------- */

static int g_cookie;
static gcm_weak_t g_res_w, g_res_wi;
static uintptr_t g_res_hidden;             /* the object, hidden */
static struct obj *WK_ROOT g_resurrected;         /* set by the finalizer */
static int g_fin_runs;
static bool g_fin_args_ok, g_fin_saw_null, g_fin_saw_intact;

static void resurrecting_finalizer(void *obj, void *arg)
{
	g_fin_runs++;
	g_fin_args_ok = obj == wk_unhide(g_res_hidden) && arg == &g_cookie;
	g_fin_saw_null = gcm_weak_get(g_res_w) == NULL && gcm_weak_get(g_res_wi) == NULL;
	g_fin_saw_intact = ((struct obj *)obj)->magic == OBJ_MAGIC;
	g_resurrected = obj;
}

static WK_NOINLINE void resurrect_make(void)
{
	struct obj *o = gcm_malloc(sizeof *o);
	WK_CHECK(o != NULL, "gcm_malloc failed");
	obj_init(o);
	g_res_hidden = wk_hide(o);
	g_res_w = gcm_weak_make(o);
	g_res_wi = gcm_weak_make(&o->b);
	WK_CHECK(g_res_w && g_res_wi, "make failed");
	WK_CHECK(gcm_set_finalizer(o, resurrecting_finalizer, &g_cookie) == 0,
		 "set_finalizer failed: %s", wk_errno_name(errno));
}

static void scenario_resurrect(void)
{
	resurrect_make();
	wk_collect_and_wait();
	WK_CHECK(g_fin_runs == 1, "the finalizer ran %d times", g_fin_runs);
	WK_CHECK(g_fin_args_ok, "the finalizer did not get (obj, arg)");
	WK_CHECK(g_fin_saw_null, "the finalizer saw a handle that was not cleared yet");
	WK_CHECK(g_fin_saw_intact, "the finalizer saw a damaged object");
	WK_CHECK(g_resurrected == wk_unhide(g_res_hidden), "not resurrected");
	for (int i = 0; i < 3; i++) {
		WK_CHECK(gcm_weak_get(g_res_w) == NULL && gcm_weak_get(g_res_wi) == NULL,
			 "a handle reads the resurrected object (after %d more cycles)", i);
		WK_CHECK(g_resurrected->magic == OBJ_MAGIC, "the resurrected object was freed");
		wk_collect();
	}
	gcm_weak_t w2 = gcm_weak_make(g_resurrected);
	gcm_weak_t wi2 = gcm_weak_make(&g_resurrected->b);
	WK_CHECK(w2 != NULL && wi2 != NULL, "make after resurrection failed");
	WK_CHECK(w2 != g_res_w && wi2 != g_res_wi, "make after resurrection returned the old "
		 "handle");
	WK_CHECK(gcm_weak_get(w2) == g_resurrected && gcm_weak_get(wi2) == &g_resurrected->b,
		 "the new handle does not read the object");
	WK_CHECK(gcm_weak_make(g_resurrected) == w2, "the new handle is not canonical");
	WK_CHECK(gcm_weak_get(g_res_w) == NULL, "the old handle came back");

	/* Dropped again: no second finalizer run, and the new handle clears. */
	g_resurrected = NULL;
	wk_collect_and_wait();
	WK_CHECK(gcm_weak_get(w2) == NULL && gcm_weak_get(wi2) == NULL,
		 "the new handle survived the object");
	WK_CHECK(g_fin_runs == 1, "the finalizer ran again");
}

/* ---- free -------------------------------------------------------------- */

enum kind { K_GC, K_ATOMIC, K_GC_LARGE, K_MALLOC, K_MALLOC_LARGE, K_CALLOC, K_ALIGNED,
	    K_MEMALIGN, K_NKINDS };
static const char *const kind_name[K_NKINDS] = {
	"gcm_malloc", "gcm_malloc_atomic", "large gcm_malloc", "malloc", "large malloc",
	"calloc", "aligned_alloc", "posix_memalign",
};

static char *alloc_kind(enum kind k)
{
	void *p = NULL;
	switch (k) {
	case K_GC: p = gcm_malloc(96); break;
	case K_ATOMIC: p = gcm_malloc_atomic(96); break;
	case K_GC_LARGE: p = gcm_malloc(3 << 20); break;
	case K_MALLOC: p = malloc(96); break;
	case K_MALLOC_LARGE: p = malloc(3 << 20); break;
	case K_CALLOC: p = calloc(12, 8); break;
	case K_ALIGNED: p = aligned_alloc(256, 512); break;
	case K_MEMALIGN:
		if (posix_memalign(&p, 4096, 8192) != 0)
			p = NULL;
		break;
	case K_NKINDS: break;
	}
	WK_CHECK(p != NULL, "%s failed", kind_name[k]);
	return p;
}

static WK_NOINLINE void free_one(enum kind k, int round)
{
	char *p = alloc_kind(k);
	gcm_weak_t w = gcm_weak_make(p), wi = gcm_weak_make(p + 8);
	WK_CHECK(w != NULL && wi != NULL && gcm_weak_get(w) == p && gcm_weak_get(wi) == p + 8,
		 "%s: make failed", kind_name[k]);
	free(p);
	WK_CHECK(gcm_weak_get(w) == NULL && gcm_weak_get(wi) == NULL,
		 "%s (round %d): a handle still reads the block after free()", kind_name[k], round);
	errno = 0;
	gcm_weak_t again = gcm_weak_make(p);
	WK_CHECK_ERRNO(again == NULL, EINVAL, kind_name[k]);
	errno = 0;
	again = gcm_weak_make(p + 8);
	WK_CHECK_ERRNO(again == NULL, EINVAL, kind_name[k]);
	/* The old handles stay cleared when the memory is used again. */
	char *q = alloc_kind(k);
	WK_CHECK(gcm_weak_get(w) == NULL && gcm_weak_get(wi) == NULL,
		 "%s: a handle of a freed block came back", kind_name[k]);
	gcm_weak_t wq = gcm_weak_make(q);
	WK_CHECK(wq != NULL && wq != w && gcm_weak_get(wq) == q,
		 "%s: make on the next block", kind_name[k]);
	free(q);
	WK_CHECK(gcm_weak_get(wq) == NULL, "%s: handle not cleared by free()", kind_name[k]);
}

static WK_NOINLINE void free_realloc(bool gc)
{
	const char *what = gc ? "realloc of a gcm_malloc object" : "realloc of a malloc block";
	char *p = gc ? gcm_malloc(24) : malloc(24);
	WK_CHECK(p != NULL, "allocation failed");
	gcm_weak_t w = gcm_weak_make(p);
	WK_CHECK(w != NULL, "make failed");
	uintptr_t old = (uintptr_t)p;
	char *q = realloc(p, 5000);
	WK_CHECK(q != NULL, "realloc failed");
	if ((uintptr_t)q != old) {
		WK_CHECK(gcm_weak_get(w) == NULL, "%s moved it, but the old handle still reads it",
			 what);
		errno = 0;
		gcm_weak_t again = gcm_weak_make((void *)old);
		WK_CHECK_ERRNO(again == NULL, EINVAL, what);
	} else {
		WK_CHECK(gcm_weak_get(w) == q, "%s in place cleared the handle", what);
	}
	free(q);
}

static void scenario_free(void)
{
	for (int round = 0; round < 3; round++)
		for (int k = 0; k < K_NKINDS; k++)
			if (k != K_GC_LARGE && k != K_MALLOC_LARGE)
				free_one((enum kind)k, round);
	free_realloc(false);
	free_realloc(true);
	/* Nothing above disturbed the collector. */
	wk_collect();
	struct obj *o = gcm_malloc(sizeof *o);
	obj_init(o);
	gcm_weak_t w = gcm_weak_make(o);
	WK_CHECK(w != NULL && gcm_weak_get(w) == o, "make after the frees");
	free(o);
	WK_CHECK(gcm_weak_get(w) == NULL, "handle not cleared");
}

/* Large blocks (page runs of their own): their pages go back to the page
 * allocator on free(), which must not make the address look like memory
 * outside the heap. */
static void scenario_free_large(void)
{
	for (int round = 0; round < 3; round++) {
		free_one(K_GC_LARGE, round);
		free_one(K_MALLOC_LARGE, round);
	}
}

/* ---- unref_near_stack ------------------------------------------------ */

/* The only reference to an object sits in memory the program mapped itself
 * (not a root), right above a thread's stack, in the same mapping: the
 * kernel shows the two as one region, and a collector that scans "to the
 * end of the stack's mapping" would count the reference. In gcmalloc this
 * happens on its own when a metadata mapping lands right above the
 * finalizer thread's stack. */
#define NEAR_STACK (256u << 10)

static pthread_mutex_t g_near_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_near_cv = PTHREAD_COND_INITIALIZER;
static int g_near_state; /* 1: thread running, 2: may exit */

static void *near_thread_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g_near_mu);
	g_near_state = 1;
	pthread_cond_broadcast(&g_near_cv);
	while (g_near_state != 2)
		pthread_cond_wait(&g_near_cv, &g_near_mu);
	pthread_mutex_unlock(&g_near_mu);
	return NULL;
}

static WK_NOINLINE gcm_weak_t near_stash(void **slot)
{
	struct obj *o = gcm_malloc(sizeof *o);
	WK_CHECK(o != NULL, "gcm_malloc failed");
	obj_init(o);
	*slot = o;
	return gcm_weak_make(o);
}

static void scenario_unref_near_stack(void)
{
	/* One mapping: the thread's stack, then one more page of ours. */
	char *m = mmap(NULL, NEAR_STACK + 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	WK_CHECK(m != MAP_FAILED, "mmap failed");
	void **slot = (void **)(m + NEAR_STACK + 64);
	gcm_weak_t w = near_stash(slot);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	WK_CHECK(pthread_attr_setstack(&attr, m, NEAR_STACK) == 0, "setstack failed");
	pthread_t t;
	WK_CHECK(pthread_create(&t, &attr, near_thread_main, NULL) == 0, "pthread_create failed");
	pthread_attr_destroy(&attr);
	pthread_mutex_lock(&g_near_mu);
	while (g_near_state != 1)
		pthread_cond_wait(&g_near_cv, &g_near_mu);
	pthread_mutex_unlock(&g_near_mu);

	/* Control: the same memory with no thread stack below it is not a
	 * root either. */
	void *far = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	WK_CHECK(far != MAP_FAILED, "mmap failed");
	gcm_weak_t wfar = near_stash((void **)far);

	wk_collect();
	WK_CHECK(gcm_weak_get(wfar) == NULL, "an object referenced only from a foreign "
		 "mapping survived a collection");
	WK_CHECK(gcm_weak_get(w) == NULL, "an object referenced only from a foreign mapping "
		 "right above a thread's stack survived a collection (the stack scan went past "
		 "the stack)");

	pthread_mutex_lock(&g_near_mu);
	g_near_state = 2;
	pthread_cond_broadcast(&g_near_cv);
	pthread_mutex_unlock(&g_near_mu);
	pthread_join(t, NULL);
	munmap(far, 4096);
	munmap(m, NEAR_STACK + 4096);
}

/* ---- immortal -------------------------------------------------------- */

static struct {
	long a;
	long b;
	char c[16];
} g_imm;
static char g_imm_bytes[4096];
static const char g_imm_text[] = "an immortal string";

struct imm_case {
	const char *what;
	const void *addr;
	gcm_weak_t w;
};

static void scenario_immortal(void)
{
	int local = 7;
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	WK_CHECK(page != MAP_FAILED, "mmap failed");
	struct imm_case cases[] = {
		{ "static struct, first field", &g_imm.a, NULL },
		{ "static struct, second field", &g_imm.b, NULL },
		{ "static struct, inside an array field", &g_imm.c[3], NULL },
		{ "string literal", "a literal", NULL },
		{ "const static data", g_imm_text, NULL },
		{ "stack variable", &local, NULL },
		{ "foreign mmap", page, NULL },
		{ "foreign mmap, interior", (char *)page + 100, NULL },
		{ "function", (const void *)&scenario_immortal, NULL },
	};
	size_t n = sizeof cases / sizeof cases[0];
	for (size_t i = 0; i < n; i++) {
		cases[i].w = gcm_weak_make(cases[i].addr);
		WK_CHECK(cases[i].w != NULL, "%s: make failed: %s", cases[i].what,
			 wk_errno_name(errno));
		for (size_t j = 0; j < i; j++)
			WK_CHECK(cases[i].w != cases[j].w, "%s and %s share a handle",
				 cases[i].what, cases[j].what);
	}
	WK_CHECK(gcm_weak_make(&g_imm) == cases[0].w,
		 "the struct and its first field (one address) got two handles");

	gcm_weak_t *bytes = malloc(sizeof(gcm_weak_t) * sizeof g_imm_bytes);
	WK_CHECK(bytes != NULL, "malloc failed");
	for (size_t i = 0; i < sizeof g_imm_bytes; i++) {
		bytes[i] = gcm_weak_make(&g_imm_bytes[i]);
		WK_CHECK(bytes[i] != NULL, "make failed");
	}

	for (int cycle = 0; cycle <= 40; cycle++) {
		if (cycle % 10 == 0) {
			for (size_t i = 0; i < n; i++) {
				WK_CHECK(gcm_weak_get(cases[i].w) == cases[i].addr,
					 "%s: reads %p after %d collections", cases[i].what,
					 gcm_weak_get(cases[i].w), cycle);
				WK_CHECK(gcm_weak_make(cases[i].addr) == cases[i].w,
					 "%s: make not canonical after %d collections",
					 cases[i].what, cycle);
			}
			for (size_t i = 0; i < sizeof g_imm_bytes; i++) {
				WK_CHECK(gcm_weak_get(bytes[i]) == &g_imm_bytes[i] &&
					 gcm_weak_make(&g_imm_bytes[i]) == bytes[i],
					 "static byte %zu: handle changed after %d collections",
					 i, cycle);
			}
		}
		/* Garbage in between, so that the cycles have work. */
		for (int i = 0; i < 100; i++)
			(void)gcm_malloc(100);
		wk_collect();
	}
	qsort(bytes, sizeof g_imm_bytes, sizeof bytes[0], cmp_ptr);
	for (size_t i = 1; i < sizeof g_imm_bytes; i++)
		WK_CHECK(bytes[i] != bytes[i - 1], "two static bytes share a handle");
	free(bytes);
	munmap(page, 4096);
}

/* ---- main ---------------------------------------------------------------- */

struct scenario {
	const char *name;
	void (*run)(void);
};

static const struct scenario scenarios[] = {
	{ "live", scenario_live },
	{ "unref", scenario_unref },
	{ "equality", scenario_equality },
	{ "race", scenario_race },
	{ "resurrect", scenario_resurrect },
	{ "free", scenario_free },
	{ "free_large", scenario_free_large },
	{ "unref_near_stack", scenario_unref_near_stack },
	{ "immortal", scenario_immortal },
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: weak_prog <scenario>\n");
		return 2;
	}
	wk_require_preload();
	for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
		if (strcmp(argv[1], scenarios[i].name) == 0) {
			scenarios[i].run();
			wk_pass(scenarios[i].name);
			return 0;
		}
	}
	fprintf(stderr, "weak_prog: unknown scenario %s\n", argv[1]);
	return 2;
}

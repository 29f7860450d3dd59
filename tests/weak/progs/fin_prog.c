/* fin_prog.c — finalizers and cleanups, one scenario per run, under the
 * preload (driven by ../test_fin.c):
 *
 *   fin_prog errors        first byte only (EINVAL), one per object
 *                          (EEXIST), NULL removes, freed memory (EINVAL),
 *                          cancel(0) (EINVAL), unknown ids (ENOENT)
 *   fin_prog freed_large   the same errors on freed large blocks
 *   fin_prog args          fn gets exactly (obj, arg); an argument object is
 *                          kept alive by the record
 *   fin_prog keepalive     what a finalizable object references stays alive
 *                          for the cycle that finalizes it
 *   fin_prog order         A -> B -> C all finalizable: one per cycle, A first
 *   fin_prog cycles        finalizable cycles (and a self-reference) are
 *                          never collected
 *   fin_prog nonheap       finalizers and cleanups on static data, the stack
 *                          and foreign mappings: accepted, never run
 *   fin_prog cleanups      several per object, interior addresses, run after
 *                          the object is unreachable (handles cleared), never
 *                          resurrect it, cancel once then ENOENT
 *   fin_prog fin_cleanup   an object with both: finalizer first, cleanups once
 *                          it is unreachable again
 *   fin_prog thread        one finalizer thread, started on first use, one
 *                          entry at a time, asleep while the queue is empty
 *   fin_prog timeout       gcm_finalizers_wait: ETIMEDOUT while a finalizer
 *                          blocks, 0 once the queue drained
 *   fin_prog reentrant     finalizers calling malloc, free, gcm_malloc,
 *                          gcm_collect, set_finalizer, add_cleanup
 *   fin_prog free          free() drops the finalizer and cleanups unrun
 *   fin_prog specials_race threads adding and removing records while
 *                          another collects in a loop: no deadlock
 *
 * Scenarios that count cycles are run with GCMALLOC_GC=off, so that every
 * cycle is one of the program's gcm_collect calls. See wk.h for the
 * reporting convention and the collector hygiene.
 */
#define _GNU_SOURCE
#include "wk.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x66696e616c697a65ULL

struct node {
	uint64_t magic;
	struct node *next;
	uint64_t id;
	uint64_t pad;
};

static struct node *node_new(uint64_t id)
{
	struct node *n = gcm_malloc(sizeof *n);
	WK_CHECK(n != NULL, "gcm_malloc failed");
	n->magic = MAGIC;
	n->id = id;
	return n;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	nanosleep(&ts, NULL);
}

/* Counters the simple callbacks bump (only the finalizer thread writes). */
static int g_fin_count, g_cleanup_count;

static void count_finalizer(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
	__atomic_fetch_add(&g_fin_count, 1, __ATOMIC_RELAXED);
}

static void count_cleanup(void *arg)
{
	(void)arg;
	__atomic_fetch_add(&g_cleanup_count, 1, __ATOMIC_RELAXED);
}

/* ---- errors ---------------------------------------------------------- */

static void other_finalizer(void *obj, void *arg)
{
	count_finalizer(obj, arg);
}

static struct node *WK_ROOT g_err_obj;
static gcm_weak_t g_err_w;
static int g_token_a, g_token_b;

static WK_NOINLINE void errors_freed(void)
{
	struct node *q = node_new(1);
	free(q);
	errno = 0;
	int rc = gcm_set_finalizer(q, count_finalizer, NULL);
	WK_CHECK_ERRNO(rc == -1, EINVAL, "set_finalizer on a freed gcm_malloc object");
	errno = 0;
	gcm_cleanup_t c = gcm_add_cleanup(q, count_cleanup, NULL);
	WK_CHECK_ERRNO(c == 0, EINVAL, "add_cleanup on a freed gcm_malloc object");

	char *m = malloc(64);
	WK_CHECK(m != NULL, "malloc failed");
	free(m);
	errno = 0;
	rc = gcm_set_finalizer(m, count_finalizer, NULL);
	WK_CHECK_ERRNO(rc == -1, EINVAL, "set_finalizer on a freed malloc block");

}

/* Large objects are page runs of their own, given back to the page
 * allocator on free(): the address must still count as freed heap memory,
 * not as memory outside the heap. */
static void scenario_freed_large(void)
{
	for (int kind = 0; kind < 2; kind++) {
		const char *what = kind ? "a freed large malloc block"
					: "a freed large gcm_malloc object";
		char *large = kind ? malloc(2 << 20) : gcm_malloc(2 << 20);
		WK_CHECK(large != NULL, "allocation failed");
		free(large);
		errno = 0;
		int rc = gcm_set_finalizer(large, count_finalizer, NULL);
		WK_CHECK_ERRNO(rc == -1, EINVAL, what);
		errno = 0;
		gcm_cleanup_t c = gcm_add_cleanup(large + 64, count_cleanup, NULL);
		WK_CHECK_ERRNO(c == 0, EINVAL, what);
	}
}

static WK_NOINLINE void errors_malloc_block(void)
{
	char *m = malloc(64);
	WK_CHECK(m != NULL, "malloc failed");
	errno = 0;
	int rc = gcm_set_finalizer(m + 8, count_finalizer, NULL);
	WK_CHECK_ERRNO(rc == -1, EINVAL, "set_finalizer inside a malloc block");
	WK_CHECK(gcm_set_finalizer(m, count_finalizer, NULL) == 0,
		 "set_finalizer on a malloc block: %s", wk_errno_name(errno));
	errno = 0;
	rc = gcm_set_finalizer(m, count_finalizer, NULL);
	WK_CHECK_ERRNO(rc == -1, EEXIST, "second set_finalizer on a malloc block");
	/* Leaked: malloc blocks are never collected, so it never runs. */
}

static void errors_drop(void)
{
	g_err_obj = NULL;
}

static void scenario_errors(void)
{
	g_err_obj = node_new(0);
	void *p = g_err_obj;
	g_err_w = gcm_weak_make(p);

	errno = 0;
	int rc = gcm_set_finalizer((char *)p + 8, count_finalizer, NULL);
	WK_CHECK_ERRNO(rc == -1, EINVAL, "set_finalizer on an interior address");
	errno = 0;
	rc = gcm_set_finalizer((char *)p + sizeof(struct node) - 1, count_finalizer, NULL);
	WK_CHECK_ERRNO(rc == -1, EINVAL, "set_finalizer on the last byte");

	WK_CHECK(gcm_set_finalizer(p, count_finalizer, &g_token_a) == 0,
		 "set_finalizer: %s", wk_errno_name(errno));
	errno = 0;
	rc = gcm_set_finalizer(p, count_finalizer, &g_token_b);
	WK_CHECK_ERRNO(rc == -1, EEXIST, "second set_finalizer, same function");
	errno = 0;
	rc = gcm_set_finalizer(p, other_finalizer, NULL);
	WK_CHECK_ERRNO(rc == -1, EEXIST, "second set_finalizer, another function");

	WK_CHECK(gcm_set_finalizer(p, NULL, NULL) == 0, "removing the finalizer");
	WK_CHECK(gcm_set_finalizer(p, NULL, NULL) == 0, "removing when there is none");
	WK_CHECK(gcm_set_finalizer(p, count_finalizer, &g_token_b) == 0,
		 "setting again after removal: %s", wk_errno_name(errno));
	WK_CHECK(gcm_set_finalizer(p, NULL, NULL) == 0, "removing again");
	p = NULL;

	errno = 0;
	gcm_cleanup_t c = gcm_add_cleanup(g_err_obj, NULL, NULL);
	WK_CHECK_ERRNO(c == 0, EINVAL, "add_cleanup with a NULL function");
	errno = 0;
	rc = gcm_cleanup_cancel(0);
	WK_CHECK_ERRNO(rc == -1, EINVAL, "cancel(0)");
	errno = 0;
	rc = gcm_cleanup_cancel(0xfffffff000000001ULL);
	WK_CHECK_ERRNO(rc == -1, ENOENT, "cancel of an id never issued");
	errno = 0;
	rc = gcm_cleanup_cancel(1);
	WK_CHECK_ERRNO(rc == -1, ENOENT, "cancel of id 1 (never issued)");

	errors_freed();
	errors_malloc_block();

	/* The removed finalizer does not run when the object dies. */
	errors_drop();
	for (int i = 0; i < 3; i++)
		wk_collect_and_wait();
	WK_CHECK(gcm_weak_get(g_err_w) == NULL, "the object was not collected");
	WK_CHECK(g_fin_count == 0, "%d finalizers ran", g_fin_count);
	WK_CHECK(g_cleanup_count == 0, "%d cleanups ran", g_cleanup_count);
}

/* ---- args ------------------------------------------------------------ */

enum { N_ARGS = 4 };

struct arg_log {
	uintptr_t obj_hidden, arg_hidden;
	int runs;
	bool arg_intact;
};

static struct arg_log g_fin_log[N_ARGS], g_cleanup_log;
static uintptr_t g_expect_obj[N_ARGS], g_expect_arg[N_ARGS], g_expect_cleanup_arg;
static gcm_weak_t g_argobj_w, g_cleanup_argobj_w;
static struct node *WK_ROOT g_args_keep[N_ARGS];
static struct node *WK_ROOT g_cleanup_target;
static int g_static_token;

static void logging_finalizer(void *obj, void *arg)
{
	int i = (int)((struct node *)obj)->id;
	WK_CHECK(i >= 0 && i < N_ARGS, "finalizer got a strange object %p", obj);
	struct arg_log *l = &g_fin_log[i];
	l->runs++;
	l->obj_hidden = wk_hide(obj);
	l->arg_hidden = wk_hide(arg);
	l->arg_intact = i != 2 || ((struct node *)arg)->magic == MAGIC;
}

static void logging_cleanup(void *arg)
{
	g_cleanup_log.runs++;
	g_cleanup_log.arg_hidden = wk_hide(arg);
	g_cleanup_log.arg_intact = ((struct node *)arg)->magic == MAGIC &&
				   ((struct node *)arg)->id == 77;
}

static WK_NOINLINE void args_make(void)
{
	void *args[N_ARGS] = { &g_static_token, NULL, NULL, &g_fin_log[0] };
	args[2] = node_new(99); /* referenced only by the finalizer record */
	g_argobj_w = gcm_weak_make(args[2]);
	for (int i = 0; i < N_ARGS; i++) {
		struct node *n = node_new((uint64_t)i);
		g_args_keep[i] = n;
		g_expect_obj[i] = wk_hide(n);
		g_expect_arg[i] = wk_hide(args[i]);
		WK_CHECK(gcm_set_finalizer(n, logging_finalizer, args[i]) == 0,
			 "set_finalizer: %s", wk_errno_name(errno));
	}
	struct node *ca = node_new(77); /* referenced only by the cleanup record */
	g_cleanup_argobj_w = gcm_weak_make(ca);
	g_expect_cleanup_arg = wk_hide(ca);
	g_cleanup_target = node_new(5);
	WK_CHECK(gcm_add_cleanup(&g_cleanup_target->pad, logging_cleanup, ca) != 0,
		 "add_cleanup: %s", wk_errno_name(errno));
}

static void args_drop(void)
{
	for (int i = 0; i < N_ARGS; i++)
		g_args_keep[i] = NULL;
	g_cleanup_target = NULL;
}

static void scenario_args(void)
{
	args_make();
	for (int i = 0; i < 3; i++) {
		wk_collect_and_wait();
		WK_CHECK(gcm_weak_get(g_argobj_w) != NULL,
			 "a finalizer's argument was collected while its record waits");
		WK_CHECK(gcm_weak_get(g_cleanup_argobj_w) != NULL,
			 "a cleanup's argument was collected while its record waits");
		WK_CHECK(g_cleanup_log.runs == 0, "the cleanup ran while its object lives");
		for (int k = 0; k < N_ARGS; k++)
			WK_CHECK(g_fin_log[k].runs == 0, "finalizer %d ran while its object lives", k);
	}
	args_drop();
	wk_collect_and_wait();
	for (int i = 0; i < N_ARGS; i++) {
		WK_CHECK(g_fin_log[i].runs == 1, "finalizer %d ran %d times", i, g_fin_log[i].runs);
		WK_CHECK(g_fin_log[i].obj_hidden == g_expect_obj[i],
			 "finalizer %d got obj %p, expected %p", i,
			 wk_unhide(g_fin_log[i].obj_hidden), wk_unhide(g_expect_obj[i]));
		WK_CHECK(g_fin_log[i].arg_hidden == g_expect_arg[i],
			 "finalizer %d got arg %p, expected %p", i,
			 wk_unhide(g_fin_log[i].arg_hidden), wk_unhide(g_expect_arg[i]));
		WK_CHECK(g_fin_log[i].arg_intact, "finalizer %d: its argument object was damaged",
			 i);
	}
	WK_CHECK(g_cleanup_log.runs == 1, "the cleanup ran %d times", g_cleanup_log.runs);
	WK_CHECK(g_cleanup_log.arg_hidden == g_expect_cleanup_arg, "the cleanup got arg %p",
		 wk_unhide(g_cleanup_log.arg_hidden));
	WK_CHECK(g_cleanup_log.arg_intact, "the cleanup's argument object was damaged");
	/* Once run, the records let go of their arguments. */
	for (int i = 0; i < 3; i++)
		wk_collect_and_wait();
	WK_CHECK(gcm_weak_get(g_argobj_w) == NULL, "a finalizer's argument leaked");
	WK_CHECK(gcm_weak_get(g_cleanup_argobj_w) == NULL, "a cleanup's argument leaked");
}

/* ---- keepalive --------------------------------------------------------- */

static gcm_weak_t g_ka_wa, g_ka_wb, g_ka_wc;
static struct {
	int runs;
	bool a_cleared, b_readable, c_readable, b_intact, c_intact;
} g_ka;

static void keepalive_finalizer(void *obj, void *arg)
{
	(void)arg;
	struct node *a = obj;
	g_ka.runs++;
	g_ka.a_cleared = gcm_weak_get(g_ka_wa) == NULL;
	g_ka.b_intact = a->next != NULL && a->next->magic == MAGIC && a->next->id == 2;
	g_ka.c_intact = g_ka.b_intact && a->next->next != NULL &&
			a->next->next->magic == MAGIC && a->next->next->id == 3;
	g_ka.b_readable = g_ka.b_intact && gcm_weak_get(g_ka_wb) == a->next;
	g_ka.c_readable = g_ka.c_intact && gcm_weak_get(g_ka_wc) == a->next->next;
}

static WK_NOINLINE void keepalive_make(void)
{
	struct node *a = node_new(1), *b = node_new(2), *c = node_new(3);
	a->next = b;
	b->next = c;
	g_ka_wa = gcm_weak_make(a);
	g_ka_wb = gcm_weak_make(b);
	g_ka_wc = gcm_weak_make(c);
	WK_CHECK(gcm_set_finalizer(a, keepalive_finalizer, NULL) == 0, "set_finalizer");
}

static void scenario_keepalive(void)
{
	keepalive_make();
	wk_collect_and_wait();
	WK_CHECK(g_ka.runs == 1, "the finalizer ran %d times", g_ka.runs);
	WK_CHECK(g_ka.a_cleared, "the finalizer saw its object's handle not cleared");
	WK_CHECK(g_ka.b_intact && g_ka.c_intact, "objects referenced by the finalized one "
		 "were damaged");
	WK_CHECK(g_ka.b_readable && g_ka.c_readable, "handles of objects referenced by the "
		 "finalized one were cleared");
	WK_CHECK(gcm_weak_get(g_ka_wb) != NULL && gcm_weak_get(g_ka_wc) != NULL,
		 "referenced objects did not survive the finalizing cycle");
	wk_collect_and_wait();
	WK_CHECK(gcm_weak_get(g_ka_wb) == NULL && gcm_weak_get(g_ka_wc) == NULL,
		 "referenced objects survived the next cycle");
	WK_CHECK(g_ka.runs == 1, "the finalizer ran again");
}

/* ---- order ----------------------------------------------------------- */

enum { CHAIN = 4 };
static int g_order[CHAIN * 2], g_norder;
static gcm_weak_t g_chain_w[CHAIN];

static void order_finalizer(void *obj, void *arg)
{
	(void)arg;
	struct node *n = obj;
	if (g_norder < CHAIN * 2)
		g_order[g_norder] = (int)n->id;
	g_norder++;
}

static WK_NOINLINE void order_make(void)
{
	struct node *prev = NULL;
	/* Built from the tail: node 0 -> 1 -> 2 -> 3. */
	for (int i = CHAIN - 1; i >= 0; i--) {
		struct node *n = node_new((uint64_t)i);
		n->next = prev;
		g_chain_w[i] = gcm_weak_make(n);
		WK_CHECK(gcm_set_finalizer(n, order_finalizer, NULL) == 0, "set_finalizer");
		prev = n;
	}
}

static void scenario_order(void)
{
	order_make();
	for (int cycle = 1; cycle <= CHAIN; cycle++) {
		wk_collect_and_wait();
		WK_CHECK(g_norder == cycle, "after cycle %d, %d finalizers ran (expected %d)",
			 cycle, g_norder, cycle);
		WK_CHECK(g_order[cycle - 1] == cycle - 1,
			 "cycle %d finalized node %d; the chain is 0 -> 1 -> 2 -> 3", cycle,
			 g_order[cycle - 1]);
		for (int i = 0; i < CHAIN; i++)
			WK_CHECK((gcm_weak_get(g_chain_w[i]) == NULL) == (i < cycle),
				 "after cycle %d, node %d's handle reads %p", cycle, i,
				 gcm_weak_get(g_chain_w[i]));
	}
	wk_collect_and_wait();
	WK_CHECK(g_norder == CHAIN, "finalizers ran again");
}

/* ---- cycles ---------------------------------------------------------- */

enum { CY_A, CY_B, CY_SELF, CY_RING0, CY_CONTROL, CY_N };
static gcm_weak_t g_cy_w[CY_N];
static int g_cy_runs[CY_N];

static void cycle_finalizer(void *obj, void *arg)
{
	(void)obj;
	g_cy_runs[(intptr_t)arg]++;
}

static WK_NOINLINE void cycles_make(void)
{
	struct node *a = node_new(0), *b = node_new(1), *s = node_new(2), *ctl = node_new(3);
	a->next = b;
	b->next = a;
	s->next = s;
	/* A ring of three finalizable objects. */
	struct node *r[3] = { node_new(4), node_new(5), node_new(6) };
	for (int i = 0; i < 3; i++) {
		r[i]->next = r[(i + 1) % 3];
		WK_CHECK(gcm_set_finalizer(r[i], cycle_finalizer, (void *)(intptr_t)CY_RING0) == 0,
			 "set_finalizer");
	}
	struct node *objs[] = { a, b, s, r[0], ctl };
	for (int i = 0; i < CY_N; i++) {
		g_cy_w[i] = gcm_weak_make(objs[i]);
		if (i != CY_RING0)
			WK_CHECK(gcm_set_finalizer(objs[i], cycle_finalizer, (void *)(intptr_t)i) == 0,
				 "set_finalizer");
	}
}

static void scenario_cycles(void)
{
	cycles_make();
	for (int i = 0; i < 4; i++)
		wk_collect_and_wait();
	WK_CHECK(g_cy_runs[CY_CONTROL] == 1, "the control object's finalizer ran %d times",
		 g_cy_runs[CY_CONTROL]);
	WK_CHECK(gcm_weak_get(g_cy_w[CY_CONTROL]) == NULL, "the control object survived");
	const char *what[] = { "two-object cycle (A)", "two-object cycle (B)",
			       "self-referencing object", "three-object ring" };
	for (int i = 0; i < CY_CONTROL; i++) {
		WK_CHECK(g_cy_runs[i] == 0, "%s: a finalizer ran", what[i]);
		WK_CHECK(gcm_weak_get(g_cy_w[i]) != NULL, "%s: collected", what[i]);
		struct node *n = gcm_weak_get(g_cy_w[i]);
		WK_CHECK(n->magic == MAGIC, "%s: damaged", what[i]);
	}
}

/* ---- nonheap ---------------------------------------------------------- */

static struct {
	long a, b;
} g_nh;

static void scenario_nonheap(void)
{
	int local = 0;
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	WK_CHECK(page != MAP_FAILED, "mmap failed");
	void *addrs[] = { &g_nh.a, &g_nh.b, &local, page, (char *)page + 8, "literal" };
	const char *what[] = { "static data", "static data (second field)", "the stack",
			       "a foreign mmap", "inside a foreign mmap", "a string literal" };
	enum { N = sizeof addrs / sizeof addrs[0] };
	gcm_cleanup_t ids[N];
	for (int i = 0; i < N; i++) {
		WK_CHECK(gcm_set_finalizer(addrs[i], count_finalizer, NULL) == 0,
			 "set_finalizer on %s: %s", what[i], wk_errno_name(errno));
		ids[i] = gcm_add_cleanup(addrs[i], count_cleanup, NULL);
		WK_CHECK(ids[i] != 0, "add_cleanup on %s: %s", what[i], wk_errno_name(errno));
		for (int j = 0; j < i; j++)
			WK_CHECK(ids[i] != ids[j], "two cleanups got one id");
	}
	/* A second cleanup on the same address is accepted too. */
	gcm_cleanup_t extra = gcm_add_cleanup(&g_nh.a, count_cleanup, NULL);
	WK_CHECK(extra != 0, "second add_cleanup on static data");
	WK_CHECK(gcm_cleanup_cancel(extra) == 0, "cancel of a non-heap cleanup");
	errno = 0;
	int rc = gcm_cleanup_cancel(extra);
	WK_CHECK_ERRNO(rc == -1, ENOENT, "second cancel of a non-heap cleanup");

	for (int i = 0; i < 3; i++) {
		/* Some garbage so that the cycles do something. */
		for (int k = 0; k < 50; k++)
			(void)gcm_malloc(64);
		wk_collect_and_wait();
	}
	WK_CHECK(g_fin_count == 0, "%d non-heap finalizers ran", g_fin_count);
	WK_CHECK(g_cleanup_count == 0, "%d non-heap cleanups ran", g_cleanup_count);
	munmap(page, 4096);
}

/* ---- cleanups ---------------------------------------------------------- */

enum { N_TOK = 5 };
static int g_tok_runs[N_TOK];
static bool g_tok_saw_live_handle;
static gcm_weak_t g_cl_w;
static char *WK_ROOT g_cl_obj;
static gcm_cleanup_t g_cl_ids[N_TOK];
static int g_tokens[N_TOK];

#define CL_SIZE (1u << 20)

static void token_cleanup(void *arg)
{
	int i = (int)((int *)arg - g_tokens);
	WK_CHECK(i >= 0 && i < N_TOK, "a cleanup got a strange argument %p", arg);
	g_tok_runs[i]++;
	if (gcm_weak_get(g_cl_w) != NULL)
		g_tok_saw_live_handle = true;
}

static WK_NOINLINE void cleanups_make(void)
{
	char *o = gcm_malloc(CL_SIZE);
	WK_CHECK(o != NULL, "gcm_malloc failed");
	g_cl_obj = o;
	g_cl_w = gcm_weak_make(o);
	size_t offs[N_TOK] = { 0, 16, CL_SIZE - 1, 100, 0 };
	for (int i = 0; i < N_TOK; i++) {
		g_cl_ids[i] = gcm_add_cleanup(o + offs[i], token_cleanup, &g_tokens[i]);
		WK_CHECK(g_cl_ids[i] != 0, "add_cleanup %d: %s", i, wk_errno_name(errno));
		for (int j = 0; j < i; j++)
			WK_CHECK(g_cl_ids[i] != g_cl_ids[j], "two cleanups got one id");
	}
}

static void cleanups_drop(void)
{
	g_cl_obj = NULL;
}

static void scenario_cleanups(void)
{
	cleanups_make();
	/* Cleanup 3 is cancelled: 0 once, then ENOENT. */
	WK_CHECK(gcm_cleanup_cancel(g_cl_ids[3]) == 0, "cancel: %s", wk_errno_name(errno));
	errno = 0;
	int rc = gcm_cleanup_cancel(g_cl_ids[3]);
	WK_CHECK_ERRNO(rc == -1, ENOENT, "second cancel");

	for (int i = 0; i < 2; i++) {
		wk_collect_and_wait();
		for (int k = 0; k < N_TOK; k++)
			WK_CHECK(g_tok_runs[k] == 0, "cleanup %d ran while the object lives", k);
		WK_CHECK(gcm_weak_get(g_cl_w) == g_cl_obj, "the live object's handle changed");
	}

	cleanups_drop();
	struct gcm_stats before, after;
	wk_stats(&before);
	wk_collect();
	wk_stats(&after);
	wk_wait();
	WK_CHECK(gcm_weak_get(g_cl_w) == NULL, "the object's handle was not cleared");
	for (int k = 0; k < N_TOK; k++)
		WK_CHECK(g_tok_runs[k] == (k == 3 ? 0 : 1), "cleanup %d ran %d times", k,
			 g_tok_runs[k]);
	WK_CHECK(!g_tok_saw_live_handle, "a cleanup ran while the object's handle was set");
	/* The object was reclaimed by the cycle that queued its cleanups. */
	WK_CHECK(after.gc_freed_bytes - before.gc_freed_bytes >= CL_SIZE,
		 "the cycle that queued the cleanups freed only %llu bytes",
		 (unsigned long long)(after.gc_freed_bytes - before.gc_freed_bytes));
	/* Cancelling a cleanup that ran, or one cancelled long ago. */
	for (int k = 0; k < N_TOK; k++) {
		errno = 0;
		rc = gcm_cleanup_cancel(g_cl_ids[k]);
		WK_CHECK_ERRNO(rc == -1, ENOENT, "cancel after the object died");
	}
	/* New cleanups reuse the records: old ids still do not cancel them. */
	char *o2 = gcm_malloc(64);
	gcm_cleanup_t fresh[N_TOK];
	for (int k = 0; k < N_TOK; k++)
		fresh[k] = gcm_add_cleanup(o2, count_cleanup, NULL);
	for (int k = 0; k < N_TOK; k++) {
		errno = 0;
		rc = gcm_cleanup_cancel(g_cl_ids[k]);
		WK_CHECK_ERRNO(rc == -1, ENOENT, "a stale id cancelled a new cleanup");
	}
	for (int k = 0; k < N_TOK; k++)
		WK_CHECK(gcm_cleanup_cancel(fresh[k]) == 0, "cancel of a new cleanup");
	__asm__ volatile("" : : "r"(o2) : "memory");
	wk_collect_and_wait();
	WK_CHECK(g_cleanup_count == 0, "a cancelled cleanup ran");
}

/* ---- fin_cleanup ------------------------------------------------------ */

static int g_fc_seq, g_fc_fin_at, g_fc_cleanup_at;
static gcm_weak_t g_fc_w;

static void fc_finalizer(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
	g_fc_fin_at = ++g_fc_seq;
}

static void fc_cleanup(void *arg)
{
	(void)arg;
	g_fc_cleanup_at = ++g_fc_seq;
}

static WK_NOINLINE void fc_make(void)
{
	struct node *n = node_new(1);
	g_fc_w = gcm_weak_make(n);
	WK_CHECK(gcm_add_cleanup(&n->id, fc_cleanup, NULL) != 0, "add_cleanup");
	WK_CHECK(gcm_set_finalizer(n, fc_finalizer, NULL) == 0, "set_finalizer");
}

static void scenario_fin_cleanup(void)
{
	fc_make();
	wk_collect_and_wait();
	WK_CHECK(g_fc_fin_at == 1, "the finalizer did not run first");
	WK_CHECK(g_fc_cleanup_at == 0, "the cleanup ran in the finalizing cycle");
	WK_CHECK(gcm_weak_get(g_fc_w) == NULL, "the handle was not cleared");
	wk_collect_and_wait();
	WK_CHECK(g_fc_cleanup_at == 2, "the cleanup did not run in the next cycle");
}

/* ---- thread ---------------------------------------------------------- */

enum { N_THREAD_OBJS = 40, MAX_TASKS = 256 };
static int g_th_tids[2 * N_THREAD_OBJS + 1];
static int g_th_n;
static int g_th_inflight, g_th_max_inflight;

static void thread_record(void)
{
	int now = __atomic_add_fetch(&g_th_inflight, 1, __ATOMIC_ACQ_REL);
	if (now > __atomic_load_n(&g_th_max_inflight, __ATOMIC_RELAXED))
		__atomic_store_n(&g_th_max_inflight, now, __ATOMIC_RELAXED);
	int slot = __atomic_fetch_add(&g_th_n, 1, __ATOMIC_ACQ_REL);
	if (slot < (int)(sizeof g_th_tids / sizeof g_th_tids[0]))
		g_th_tids[slot] = wk_gettid();
	sleep_us(300);
	__atomic_sub_fetch(&g_th_inflight, 1, __ATOMIC_ACQ_REL);
}

static void thread_finalizer(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
	thread_record();
}

static void thread_cleanup(void *arg)
{
	(void)arg;
	thread_record();
}

static WK_NOINLINE void thread_make(int n)
{
	for (int i = 0; i < n; i++) {
		struct node *a = node_new((uint64_t)i), *b = node_new((uint64_t)i);
		WK_CHECK(gcm_set_finalizer(a, thread_finalizer, NULL) == 0, "set_finalizer");
		WK_CHECK(gcm_add_cleanup(b, thread_cleanup, NULL) != 0, "add_cleanup");
	}
}

static int list_tasks(int *tids, int max)
{
	DIR *d = opendir("/proc/self/task");
	WK_CHECK(d != NULL, "cannot open /proc/self/task");
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && n < max)
			tids[n++] = atoi(e->d_name);
	closedir(d);
	return n;
}

/* The state letter and utime + stime (clock ticks) of one thread. */
static void task_stat(int tid, char *state, unsigned long long *ticks)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
	FILE *f = fopen(path, "r");
	WK_CHECK(f != NULL, "cannot open %s (the finalizer thread is gone?)", path);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command may contain blanks and parentheses: fields start after
	 * the last ')'. */
	char *p = strrchr(buf, ')');
	WK_CHECK(p != NULL, "unexpected %s", path);
	unsigned long long utime = 0, stime = 0;
	int got = sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", state,
			 &utime, &stime);
	WK_CHECK(got == 3, "cannot parse %s", path);
	*ticks = utime + stime;
}

static void scenario_thread(void)
{
	int before[MAX_TASKS];
	int nbefore = list_tasks(before, MAX_TASKS);
	/* Collections alone, before any finalizer exists, start no thread. */
	for (int i = 0; i < 3; i++) {
		(void)gcm_malloc(1000);
		wk_collect();
	}
	WK_CHECK(gcm_finalizers_wait(1000) == 0, "wait with nothing queued");

	thread_make(N_THREAD_OBJS);
	/* Cleanups wait for the finalizers' cycle: three cycles run all. */
	for (int i = 0; i < 3; i++)
		wk_collect_and_wait();
	int total = __atomic_load_n(&g_th_n, __ATOMIC_ACQUIRE);
	WK_CHECK(total == 2 * N_THREAD_OBJS, "%d of %d finalizers and cleanups ran", total,
		 2 * N_THREAD_OBJS);
	WK_CHECK(g_th_max_inflight == 1, "%d finalizers ran at once", g_th_max_inflight);
	int tid = g_th_tids[0];
	for (int i = 1; i < total; i++)
		WK_CHECK(g_th_tids[i] == tid, "finalizers ran on threads %d and %d", tid,
			 g_th_tids[i]);
	WK_CHECK(tid != wk_gettid(), "finalizers ran on the main thread");
	for (int i = 0; i < nbefore; i++)
		WK_CHECK(before[i] != tid, "the finalizer thread existed before first use");

	/* Asleep: blocked, and no CPU time used while idle. */
	char state;
	unsigned long long t0, t1;
	task_stat(tid, &state, &t0);
	sleep_us(500000);
	task_stat(tid, &state, &t1);
	WK_CHECK(state == 'S', "the idle finalizer thread is in state %c", state);
	WK_CHECK(t1 - t0 <= 2, "the idle finalizer thread used %llu ticks in 0.5 s", t1 - t0);

	/* It wakes for more work, and it is still the same thread. */
	thread_make(1);
	for (int i = 0; i < 2; i++)
		wk_collect_and_wait();
	total = __atomic_load_n(&g_th_n, __ATOMIC_ACQUIRE);
	WK_CHECK(total == 2 * N_THREAD_OBJS + 2, "%d ran after waking", total);
	WK_CHECK(g_th_tids[2 * N_THREAD_OBJS] == tid, "a second finalizer thread appeared");
	int after[MAX_TASKS];
	int nafter = list_tasks(after, MAX_TASKS);
	int new_tasks = 0;
	for (int i = 0; i < nafter; i++) {
		bool old = false;
		for (int j = 0; j < nbefore; j++)
			old = old || after[i] == before[j];
		new_tasks += !old && after[i] != tid;
	}
	printf("# thread: finalizer thread %d; %d other new threads\n", tid, new_tasks);
}

/* ---- timeout ----------------------------------------------------------- */

static int g_block_pipe[2];
static int g_after_blocker;

static void blocking_finalizer(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
	char c;
	while (read(g_block_pipe[0], &c, 1) < 0)
		;
}

static WK_NOINLINE void timeout_make(void)
{
	struct node *b = node_new(1);
	WK_CHECK(gcm_set_finalizer(b, blocking_finalizer, NULL) == 0, "set_finalizer");
	struct node *later = node_new(2);
	WK_CHECK(gcm_set_finalizer(later, count_finalizer, &g_after_blocker) == 0,
		 "set_finalizer");
}

static void scenario_timeout(void)
{
	uint64_t t0 = wk_now_ns();
	WK_CHECK(gcm_finalizers_wait(5000) == 0, "wait before any use");
	WK_CHECK(wk_now_ns() - t0 < 1000000000ull, "wait before any use took %llu ms",
		 (unsigned long long)((wk_now_ns() - t0) / 1000000));

	WK_CHECK(pipe(g_block_pipe) == 0, "pipe failed");
	timeout_make();
	wk_collect();
	t0 = wk_now_ns();
	errno = 0;
	int rc = gcm_finalizers_wait(300);
	uint64_t ms = (wk_now_ns() - t0) / 1000000;
	WK_CHECK_ERRNO(rc == -1, ETIMEDOUT, "wait while a finalizer blocks");
	WK_CHECK(ms >= 290 && ms < 3000, "wait(300) returned after %llu ms",
		 (unsigned long long)ms);
	errno = 0;
	rc = gcm_finalizers_wait(0);
	WK_CHECK_ERRNO(rc == -1, ETIMEDOUT, "wait(0) while a finalizer blocks");
	WK_CHECK(g_fin_count == 0, "the finalizer queued after the blocked one ran");

	WK_CHECK(write(g_block_pipe[1], "x", 1) == 1, "write failed");
	t0 = wk_now_ns();
	WK_CHECK(gcm_finalizers_wait(10000) == 0, "wait after unblocking: %s",
		 wk_errno_name(errno));
	WK_CHECK(g_fin_count == 1, "the finalizer queued after the blocked one did not run");
	WK_CHECK(wk_now_ns() - t0 < 5000000000ull, "wait took too long");
}

/* ---- reentrant ------------------------------------------------------ */

enum { GENERATIONS = 6 };
static int g_re_runs[GENERATIONS + 1];
static int g_re_cleanups[GENERATIONS + 1];
static int g_re_order[GENERATIONS + 1], g_re_n;

static void reentrant_cleanup(void *arg)
{
	intptr_t gen = (intptr_t)arg;
	if (gen >= 0 && gen <= GENERATIONS)
		g_re_cleanups[gen]++;
	/* Cleanups may allocate and collect too. */
	void *m = malloc(300);
	WK_CHECK(m != NULL, "malloc in a cleanup");
	free(m);
	(void)gcm_malloc(300);
}

static void reentrant_finalizer(void *obj, void *arg)
{
	intptr_t gen = (intptr_t)arg;
	struct node *self = obj;
	WK_CHECK(self->magic == MAGIC && (intptr_t)self->id == gen,
		 "generation %ld: damaged object", (long)gen);
	if (gen < 0 || gen > GENERATIONS)
		return;
	g_re_runs[gen]++;
	g_re_order[g_re_n++] = (int)gen;

	/* The malloc family. */
	char *m = malloc(1000);
	WK_CHECK(m != NULL, "malloc in a finalizer");
	memset(m, 1, 1000);
	char *r = realloc(m, 100000);
	WK_CHECK(r != NULL, "realloc in a finalizer");
	free(r);
	void *c = calloc(10, 100);
	WK_CHECK(c != NULL, "calloc in a finalizer");
	free(c);

	/* The collector, from the finalizer thread. */
	char *g = gcm_malloc(5000);
	WK_CHECK(g != NULL, "gcm_malloc in a finalizer");
	gcm_weak_t wg = gcm_weak_make(g);
	gcm_collect();
	WK_CHECK(gcm_weak_get(wg) == g, "an object the finalizer holds was collected");
	WK_CHECK(gcm_weak_get(gcm_weak_make(self)) == self, "make on the finalized object");
	free(g);

	/* The finalized object itself may be freed by its finalizer. */
	if (gen % 2 == 1)
		free(self);

	/* The next generation: a finalizer and cleanups set from here. */
	if (gen < GENERATIONS) {
		struct node *next = node_new((uint64_t)gen + 1);
		WK_CHECK(gcm_set_finalizer(next, reentrant_finalizer, (void *)(gen + 1)) == 0,
			 "set_finalizer in a finalizer: %s", wk_errno_name(errno));
		gcm_cleanup_t keep = gcm_add_cleanup(next, reentrant_cleanup, (void *)(gen + 1));
		gcm_cleanup_t drop = gcm_add_cleanup(next, reentrant_cleanup, (void *)-1);
		WK_CHECK(keep != 0 && drop != 0, "add_cleanup in a finalizer");
		WK_CHECK(gcm_cleanup_cancel(drop) == 0, "cancel in a finalizer");
	}
}

static WK_NOINLINE void reentrant_make(void)
{
	struct node *n = node_new(0);
	WK_CHECK(gcm_set_finalizer(n, reentrant_finalizer, (void *)0) == 0, "set_finalizer");
}

static void scenario_reentrant(void)
{
	reentrant_make();
	int cycles = 0;
	while (cycles < 60 && (g_re_runs[GENERATIONS] == 0 || g_re_cleanups[GENERATIONS] == 0)) {
		wk_collect_and_wait();
		cycles++;
	}
	for (int gen = 0; gen <= GENERATIONS; gen++)
		WK_CHECK(g_re_runs[gen] == 1, "generation %d's finalizer ran %d times", gen,
			 g_re_runs[gen]);
	for (int i = 0; i <= GENERATIONS; i++)
		WK_CHECK(g_re_order[i] == i, "generations ran out of order");
	/* Generations 1..GENERATIONS have a cleanup: it ran once, after the
	 * finalizer, except where the finalizer freed its object (odd
	 * generations), which drops the cleanup. */
	for (int gen = 1; gen <= GENERATIONS; gen++) {
		int want = gen % 2 == 1 ? 0 : 1;
		WK_CHECK(g_re_cleanups[gen] == want, "generation %d's cleanup ran %d times "
			 "(expected %d)", gen, g_re_cleanups[gen], want);
	}
	printf("# reentrant: %d generations in %d cycles\n", GENERATIONS + 1, cycles);
}

/* ---- free -------------------------------------------------------------- */

static int g_free_control;
static gcm_weak_t g_free_control_w;

static WK_NOINLINE void free_one(void *p, const char *what)
{
	gcm_weak_t w = gcm_weak_make(p);
	WK_CHECK(w != NULL, "%s: make", what);
	WK_CHECK(gcm_set_finalizer(p, count_finalizer, NULL) == 0, "%s: set_finalizer: %s",
		 what, wk_errno_name(errno));
	gcm_cleanup_t c1 = gcm_add_cleanup(p, count_cleanup, NULL);
	gcm_cleanup_t c2 = gcm_add_cleanup((char *)p + 8, count_cleanup, NULL);
	WK_CHECK(c1 != 0 && c2 != 0, "%s: add_cleanup", what);
	free(p);
	WK_CHECK(gcm_weak_get(w) == NULL, "%s: handle not cleared by free()", what);
	errno = 0;
	int rc = gcm_cleanup_cancel(c1);
	WK_CHECK_ERRNO(rc == -1, ENOENT, "cancel of a cleanup dropped by free()");
	errno = 0;
	rc = gcm_cleanup_cancel(c2);
	WK_CHECK_ERRNO(rc == -1, ENOENT, "cancel of a cleanup dropped by free()");
}

static void control_finalizer(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
	g_free_control++;
}

static WK_NOINLINE void free_make(void)
{
	for (int round = 0; round < 3; round++) {
		free_one(gcm_malloc(64), "gcm_malloc");
		free_one(gcm_malloc_atomic(64), "gcm_malloc_atomic");
		free_one(malloc(64), "malloc");
		free_one(gcm_malloc(1 << 20), "large gcm_malloc");
		free_one(malloc(1 << 20), "large malloc");
		/* The slots are used again by objects without records. */
		for (int i = 0; i < 20; i++) {
			(void)gcm_malloc(64);
			(void)gcm_malloc_atomic(64);
		}
	}
	struct node *ctl = node_new(1);
	g_free_control_w = gcm_weak_make(ctl);
	WK_CHECK(gcm_set_finalizer(ctl, control_finalizer, NULL) == 0, "set_finalizer");
}

static void scenario_free(void)
{
	free_make();
	for (int i = 0; i < 3; i++)
		wk_collect_and_wait();
	WK_CHECK(g_free_control == 1, "the control finalizer ran %d times", g_free_control);
	WK_CHECK(g_fin_count == 0, "%d finalizers of freed objects ran", g_fin_count);
	WK_CHECK(g_cleanup_count == 0, "%d cleanups of freed objects ran", g_cleanup_count);
}

/* ---- specials_race ------------------------------------------------------- */

/* Threads that keep adding and removing records (weak handles,
 * finalizers, cleanups, cancels) while another thread collects in a loop:
 * a thread stopped for a collection must never hold a lock the collector
 * needs. A deadlock shows as the driver's time limit. */
static int g_sr_stop;
static uint64_t g_sr_ops[2];

static void *specials_racer(void *arg)
{
	int me = (int)(intptr_t)arg;
	uint64_t n = 0;
	while (!__atomic_load_n(&g_sr_stop, __ATOMIC_RELAXED)) {
		char *o = gcm_malloc(32);
		WK_CHECK(o != NULL, "gcm_malloc failed");
		WK_CHECK(gcm_weak_make(o) != NULL && gcm_weak_make(o + 8) != NULL, "make failed");
		WK_CHECK(gcm_set_finalizer(o, count_finalizer, NULL) == 0, "set_finalizer");
		gcm_cleanup_t c = gcm_add_cleanup(o + 16, count_cleanup, NULL);
		WK_CHECK(c != 0, "add_cleanup");
		if (n % 2 == 0)
			WK_CHECK(gcm_cleanup_cancel(c) == 0, "cancel");
		if (n % 5 == 0)
			WK_CHECK(gcm_set_finalizer(o, NULL, NULL) == 0, "removing a finalizer");
		if (n % 7 == 0)
			free(o);
		n++;
	}
	g_sr_ops[me] = n;
	return NULL;
}

static void scenario_specials_race(void)
{
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		WK_CHECK(pthread_create(&t[i], NULL, specials_racer, (void *)(intptr_t)i) == 0,
			 "pthread_create failed");
	uint64_t end = wk_now_ns() + 1500000000ull;
	unsigned cycles = 0;
	while (wk_now_ns() < end) {
		gcm_collect();
		cycles++;
	}
	__atomic_store_n(&g_sr_stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	wk_collect_and_wait();
	WK_CHECK(cycles >= 10 && g_sr_ops[0] > 100 && g_sr_ops[1] > 100,
		 "too little work: %u cycles, %llu and %llu operations", cycles,
		 (unsigned long long)g_sr_ops[0], (unsigned long long)g_sr_ops[1]);
	printf("# specials_race: %u cycles, %llu operations, %d finalizers, %d cleanups ran\n",
	       cycles, (unsigned long long)(g_sr_ops[0] + g_sr_ops[1]), g_fin_count,
	       g_cleanup_count);
}

/* ---- main ---------------------------------------------------------------- */

struct scenario {
	const char *name;
	void (*run)(void);
};

static const struct scenario scenarios[] = {
	{ "errors", scenario_errors },
	{ "freed_large", scenario_freed_large },
	{ "args", scenario_args },
	{ "keepalive", scenario_keepalive },
	{ "order", scenario_order },
	{ "cycles", scenario_cycles },
	{ "nonheap", scenario_nonheap },
	{ "cleanups", scenario_cleanups },
	{ "fin_cleanup", scenario_fin_cleanup },
	{ "thread", scenario_thread },
	{ "timeout", scenario_timeout },
	{ "reentrant", scenario_reentrant },
	{ "free", scenario_free },
	{ "specials_race", scenario_specials_race },
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fin_prog <scenario>\n");
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
	fprintf(stderr, "fin_prog: unknown scenario %s\n", argv[1]);
	return 2;
}

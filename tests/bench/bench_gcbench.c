/* bench_gcbench [SCALE] — a GCBench-shaped collector workload.
 *
 * The shape (after Ellis, Kovac and Boehm's GCBench): binary trees of
 * 24-byte nodes are built and dropped at depths 4, 6, ..., 16, each depth
 * both top-down (a root, then its children filled in) and bottom-up
 * (children first, then the node pointing at them), while a tree of depth
 * 16 and an array of 500,000 doubles stay alive for the whole run. Every
 * depth allocates about as many nodes as four trees of depth 18 (two per
 * direction); SCALE multiplies that.
 *
 * One source, three builds:
 *   GCB_MODE_GCM     gcm_malloc / gcm_malloc_atomic, found with dlsym at
 *                    start (run it under LD_PRELOAD=libgcmalloc.so; exits
 *                    77 when they are absent). Trees are simply dropped.
 *   GCB_MODE_BOEHM   the Boehm collector: GC_MALLOC / GC_MALLOC_ATOMIC.
 *   GCB_MODE_MALLOC  malloc, and every dropped tree freed node by node; it
 *                    measures whichever allocator is preloaded.
 *
 * Pauses. gcm: gcm_stats is read every GCB_POLL_EVERY node allocations and
 * at every phase boundary; a cycle seen there contributes gc_pause_last_ns
 * (the library's pause: world stopped, mark and sweep; the time to stop the
 * world is not in it). Two cycles between polls would hide one pause: it is
 * counted as "missed" (the maximum still comes from gc_pause_max_ns).
 * Boehm: an event callback times every collection from GC_EVENT_START to
 * GC_EVENT_END (what the single mutator thread waits; Boehm sweeps lazily
 * afterwards, during allocation), and separately the world-stopped part.
 *
 * Output on stdout: first the result line (bench.h; a pure function of
 * SCALE, identical in every mode), then one line of figures:
 *   gcbench-stats: mode=M time_s=T cycles=N skipped=S pauses=K missed=X
 *       pause_median_ms=A pause_max_ms=B pause_total_ms=C max_gap_ms=G
 *       max_cpu_gap_ms=U
 *       [Boehm: stw_max_ms=... stw_total_ms=... gc_no=... markers=... heap_mb=...]
 * skipped: cycles gcmalloc started and abandoned (they are in no pause
 * figure). max_gap_ms: the longest wall time between two checkpoints taken
 * every GCB_POLL_EVERY node allocations, in every mode: a pause as the
 * program sees it, whatever its cause (malloc mode: it includes freeing a
 * whole tree). max_cpu_gap_ms: the same in the thread's CPU time, which
 * other work on the machine does not stretch.
 * time_s is the workload alone (long-lived data, all depths, the check of
 * the long-lived data), without start-up and without the final check. The
 * final check (GC modes: a full collection, fresh trees over the memory it
 * freed, then a walk of the long-lived tree and array) runs after the
 * figures are taken.
 */
#define _GNU_SOURCE
#include "bench.h"

#include <stddef.h>
#include <sys/mman.h>
#include <time.h>

#if defined(GCB_MODE_GCM) + defined(GCB_MODE_BOEHM) + defined(GCB_MODE_MALLOC) != 1
#error "define exactly one of GCB_MODE_GCM, GCB_MODE_BOEHM, GCB_MODE_MALLOC"
#endif

enum {
	GCB_MIN_DEPTH = 4,
	GCB_MAX_DEPTH = 16,
	GCB_DEPTH_STEP = 2,
	GCB_LONG_DEPTH = 16,
	GCB_REF_DEPTH = 18, /* iterations: as many nodes as trees of this depth */
	GCB_ARRAY_LEN = 500000,
	GCB_POLL_EVERY = 4096,
	GCB_MAX_PAUSES = 1 << 16,
};

typedef struct gcb_node {
	struct gcb_node *left, *right;
	int i, j;
} gcb_node;

static uint64_t gcb_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Per-collection pauses, in ns. The array is mmap'd, not static: neither
 * collector scans anonymous mappings, so it adds nothing to their roots. */
static uint64_t *gcb_pauses;
static size_t gcb_npauses;
static uint64_t gcb_missed;      /* cycles whose own pause was not seen */
static uint64_t gcb_pause_max;   /* exact, from the collector where it can */
static uint64_t gcb_pause_total;
static uint64_t gcb_cycles;
static uint64_t gcb_skipped;     /* cycles the collector abandoned */

static void gcb_pauses_init(void)
{
	void *p = mmap(NULL, GCB_MAX_PAUSES * sizeof(uint64_t), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		perror("bench_gcbench: mmap");
		exit(1);
	}
	gcb_pauses = p;
}

static inline void gcb_record_pause(uint64_t ns)
{
	if (gcb_npauses < GCB_MAX_PAUSES)
		gcb_pauses[gcb_npauses++] = ns;
	else
		gcb_missed++;
	if (ns > gcb_pause_max)
		gcb_pause_max = ns;
	gcb_pause_total += ns;
	gcb_cycles++;
}

/* ---- the three ways to allocate ---------------------------------------- */

#if defined(GCB_MODE_GCM)
#include <dlfcn.h>

#include "gcmalloc.h"

#define GCB_MODE_NAME "gcm"
static void *(*gcb_gcm_malloc)(size_t);
static void *(*gcb_gcm_malloc_atomic)(size_t);
static void (*gcb_gcm_collect)(void);
static int (*gcb_gcm_stats)(struct gcm_stats *, size_t);
static uint64_t gcb_seen_cycles;

static void gcb_init(void)
{
	*(void **)&gcb_gcm_malloc = dlsym(RTLD_DEFAULT, "gcm_malloc");
	*(void **)&gcb_gcm_malloc_atomic = dlsym(RTLD_DEFAULT, "gcm_malloc_atomic");
	*(void **)&gcb_gcm_collect = dlsym(RTLD_DEFAULT, "gcm_collect");
	*(void **)&gcb_gcm_stats = dlsym(RTLD_DEFAULT, "gcm_stats");
	if (!gcb_gcm_malloc || !gcb_gcm_malloc_atomic || !gcb_gcm_collect || !gcb_gcm_stats) {
		fprintf(stderr, "bench_gcbench: gcm_malloc not found; run it with LD_PRELOAD=libgcmalloc.so\n");
		exit(77);
	}
}

/* Picks up the cycles completed since the last poll. */
static void gcb_poll(void)
{
	struct gcm_stats st;
	memset(&st, 0, sizeof(st));
	if (gcb_gcm_stats(&st, sizeof(st)) != 0)
		return;
	uint64_t n = st.gc_cycles - gcb_seen_cycles;
	if (st.size >= offsetof(struct gcm_stats, gc_cycles_skipped) + sizeof(uint64_t))
		gcb_skipped = st.gc_cycles_skipped;
	if (n >= 1) {
		/* the last one's own pause is known; earlier ones only in sum */
		gcb_record_pause(st.gc_pause_last_ns);
		gcb_missed += n - 1;
		gcb_cycles += n - 1;
	}
	gcb_seen_cycles = st.gc_cycles;
	gcb_pause_total = st.gc_pause_total_ns;
	gcb_pause_max = st.gc_pause_max_ns;
}

static void *gcb_alloc_node(void)
{
	return gcb_gcm_malloc(sizeof(gcb_node));
}

static double *gcb_alloc_array(size_t n)
{
	return gcb_gcm_malloc_atomic(n * sizeof(double));
}

static void gcb_collect(void)
{
	gcb_gcm_collect();
}

static void gcb_drop_tree(gcb_node *t)
{
	(void)t;
}

static void gcb_drop_array(double *a)
{
	(void)a;
}

static void gcb_print_extra(void)
{
}

#elif defined(GCB_MODE_BOEHM)
#include <gc/gc.h>

#define GCB_MODE_NAME "boehm"
static uint64_t gcb_gc_start, gcb_stw_start, gcb_stw_max, gcb_stw_total;

static void gcb_on_gc_event(GC_EventType e)
{
	switch (e) {
	case GC_EVENT_START:
		gcb_gc_start = gcb_now_ns();
		break;
	case GC_EVENT_END:
		gcb_record_pause(gcb_now_ns() - gcb_gc_start);
		break;
	case GC_EVENT_PRE_STOP_WORLD:
		gcb_stw_start = gcb_now_ns();
		break;
	case GC_EVENT_POST_START_WORLD: {
		uint64_t d = gcb_now_ns() - gcb_stw_start;
		gcb_stw_total += d;
		if (d > gcb_stw_max)
			gcb_stw_max = d;
		break;
	}
	default:
		break;
	}
}

static void gcb_init(void)
{
	GC_INIT();
	GC_set_on_collection_event(gcb_on_gc_event);
}

static void gcb_poll(void)
{
}

static void *gcb_alloc_node(void)
{
	return GC_MALLOC(sizeof(gcb_node));
}

static double *gcb_alloc_array(size_t n)
{
	return GC_MALLOC_ATOMIC(n * sizeof(double));
}

static void gcb_collect(void)
{
	GC_gcollect();
}

static void gcb_drop_tree(gcb_node *t)
{
	(void)t;
}

static void gcb_drop_array(double *a)
{
	(void)a;
}

static void gcb_print_extra(void)
{
	struct GC_prof_stats_s ps;
	memset(&ps, 0, sizeof(ps));
	GC_get_prof_stats(&ps, sizeof(ps));
	printf(" stw_max_ms=%.3f stw_total_ms=%.3f gc_no=%lu markers=%lu heap_mb=%.1f",
	       (double)gcb_stw_max / 1e6, (double)gcb_stw_total / 1e6,
	       (unsigned long)ps.gc_no, (unsigned long)ps.markers_m1 + 1,
	       (double)ps.heapsize_full / 1048576.0);
}

#else /* GCB_MODE_MALLOC */

#define GCB_MODE_NAME "malloc"

static void gcb_init(void)
{
}

static void gcb_poll(void)
{
}

static void *gcb_alloc_node(void)
{
	return malloc(sizeof(gcb_node));
}

static double *gcb_alloc_array(size_t n)
{
	return malloc(n * sizeof(double));
}

static void gcb_collect(void)
{
}

/* Frees a tree: children first, iteratively deep only as the tree is. */
static void gcb_drop_tree(gcb_node *t)
{
	if (t == NULL)
		return;
	gcb_drop_tree(t->left);
	gcb_drop_tree(t->right);
	free(t);
}

static void gcb_drop_array(double *a)
{
	free(a);
}

static void gcb_print_extra(void)
{
}

#endif

/* ---- the workload ------------------------------------------------------- */

static unsigned gcb_poll_budget = GCB_POLL_EVERY;
static uint64_t gcb_nodes; /* nodes allocated */
static uint64_t gcb_last_tick, gcb_max_gap;
static uint64_t gcb_last_cpu, gcb_max_cpu_gap;

static uint64_t gcb_thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Every GCB_POLL_EVERY allocations: the longest time between two of these
 * is a pause as the program sees it, whatever the collector's own figures
 * say (the time to stop the world, a cycle given up). In malloc mode it
 * also holds the freeing of whole trees. The same in this thread's CPU
 * time is what the machine's other work cannot stretch (both collectors
 * collect on the thread that allocates). */
static void gcb_tick(void)
{
	uint64_t now = gcb_now_ns(), cpu = gcb_thread_cpu_ns();
	if (gcb_last_tick != 0) {
		if (now - gcb_last_tick > gcb_max_gap)
			gcb_max_gap = now - gcb_last_tick;
		if (cpu - gcb_last_cpu > gcb_max_cpu_gap)
			gcb_max_cpu_gap = cpu - gcb_last_cpu;
	}
	gcb_last_tick = now;
	gcb_last_cpu = cpu;
	gcb_poll();
}

static gcb_node *gcb_node_new(gcb_node *l, gcb_node *r, int i)
{
	gcb_node *n = gcb_alloc_node();
	if (n == NULL) {
		fprintf(stderr, "bench_gcbench: out of memory after %" PRIu64 " nodes\n", gcb_nodes);
		abort();
	}
	n->left = l;
	n->right = r;
	n->i = i;
	n->j = (int)(gcb_nodes & 0xffff);
	gcb_nodes++;
	if (--gcb_poll_budget == 0) {
		gcb_poll_budget = GCB_POLL_EVERY;
		gcb_tick();
	}
	return n;
}

/* Nodes in a complete tree of this depth (a lone node has depth 0). */
static uint64_t gcb_tree_size(int depth)
{
	return ((uint64_t)1 << (depth + 1)) - 1;
}

/* Top-down: n exists (and is reachable) before its children are made. */
static void gcb_populate(int depth, gcb_node *n)
{
	if (depth <= 0)
		return;
	depth--;
	n->left = gcb_node_new(NULL, NULL, depth);
	n->right = gcb_node_new(NULL, NULL, depth);
	gcb_populate(depth, n->left);
	gcb_populate(depth, n->right);
}

/* Bottom-up: the children exist (held only in locals) before the node. */
static gcb_node *gcb_make_tree(int depth)
{
	if (depth <= 0)
		return gcb_node_new(NULL, NULL, 0);
	gcb_node *l = gcb_make_tree(depth - 1);
	gcb_node *r = gcb_make_tree(depth - 1);
	return gcb_node_new(l, r, depth);
}

/* Walks a tree built by either function (every node's i is its height:
 * 0 for a leaf) and returns a hash of it; aborts on a node that does not
 * fit. */
static uint64_t gcb_check_tree(const gcb_node *t, int depth, uint64_t *count)
{
	if (t == NULL || t->i != depth) {
		fprintf(stderr, "bench_gcbench: long-lived tree damaged at depth %d (%p)\n",
			depth, (const void *)t);
		abort();
	}
	(*count)++;
	uint64_t h = (uint64_t)t->i * 0x9e3779b97f4a7c15ull;
	if (depth == 0) {
		if (t->left != NULL || t->right != NULL) {
			fprintf(stderr, "bench_gcbench: long-lived leaf has children\n");
			abort();
		}
		return h;
	}
	uint64_t a = gcb_check_tree(t->left, depth - 1, count);
	uint64_t b = gcb_check_tree(t->right, depth - 1, count);
	return h ^ (a * 31 + (b << 1 | b >> 63));
}

static double gcb_array_value(size_t k)
{
	return 1.0 / (double)(k + 1);
}

static void gcb_check_array(const double *a, const char *when)
{
	/* a few probes, exact: the values are stored, not recomputed */
	static const size_t probe[] = { 0, 1, 1000, GCB_ARRAY_LEN / 2, GCB_ARRAY_LEN - 1 };
	for (size_t k = 0; k < sizeof(probe) / sizeof(probe[0]); k++) {
		if (a[probe[k]] != gcb_array_value(probe[k])) {
			fprintf(stderr, "bench_gcbench: long-lived array damaged (%s) at %zu\n",
				when, probe[k]);
			abort();
		}
	}
}

static int gcb_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double gcb_median_ms(void)
{
	if (gcb_npauses == 0)
		return 0.0;
	uint64_t *v = malloc(gcb_npauses * sizeof(*v));
	if (v == NULL)
		abort();
	memcpy(v, gcb_pauses, gcb_npauses * sizeof(*v));
	qsort(v, gcb_npauses, sizeof(*v), gcb_cmp_u64);
	size_t h = gcb_npauses / 2;
	double m = gcb_npauses % 2 ? (double)v[h] : ((double)v[h - 1] + (double)v[h]) / 2.0;
	free(v);
	return m / 1e6;
}

/* A stack slot that once held a tree is overwritten, so that a
 * conservative scan of this frame does not keep a dropped tree alive. */
static void gcb_clobber(gcb_node *volatile *slot)
{
	*slot = NULL;
}

int main(int argc, char **argv)
{
	if (argc > 2) {
		fprintf(stderr, "usage: bench_gcbench [SCALE]\n");
		return 2;
	}
	double scale = argc == 2 ? bench_scale_arg(argv[1]) : 1.0;
	gcb_pauses_init();
	gcb_init();

	uint64_t t0 = gcb_now_ns();
	uint64_t checksum = 0;

	/* Long-lived data first, as in the original. */
	gcb_node *volatile long_tree = gcb_node_new(NULL, NULL, GCB_LONG_DEPTH);
	gcb_populate(GCB_LONG_DEPTH, long_tree);
	double *volatile array = gcb_alloc_array(GCB_ARRAY_LEN);
	if (array == NULL) {
		fprintf(stderr, "bench_gcbench: cannot allocate the long-lived array\n");
		abort();
	}
	for (size_t k = 0; k < GCB_ARRAY_LEN; k++)
		array[k] = gcb_array_value(k);
	gcb_poll();

	for (int d = GCB_MIN_DEPTH; d <= GCB_MAX_DEPTH; d += GCB_DEPTH_STEP) {
		uint64_t iters = bench_scaled(2 * gcb_tree_size(GCB_REF_DEPTH) / gcb_tree_size(d), scale);
		uint64_t a = gcb_now_ns();
		for (uint64_t k = 0; k < iters; k++) {
			gcb_node *volatile t = gcb_node_new(NULL, NULL, d);
			gcb_populate(d, t);
			checksum += (uint64_t)t->left->i;
			gcb_drop_tree(t);
			gcb_clobber(&t);
		}
		uint64_t b = gcb_now_ns();
		for (uint64_t k = 0; k < iters; k++) {
			gcb_node *volatile t = gcb_make_tree(d);
			checksum += (uint64_t)t->right->i;
			gcb_drop_tree(t);
			gcb_clobber(&t);
		}
		uint64_t c = gcb_now_ns();
		gcb_poll();
		fprintf(stderr, "bench_gcbench: depth %2d: %7" PRIu64 " trees each way, top-down %.3f s, bottom-up %.3f s\n",
			d, iters, (double)(b - a) / 1e9, (double)(c - b) / 1e9);
	}

	/* The long-lived data must still be there (the original's check). */
	if (long_tree == NULL || long_tree->i != GCB_LONG_DEPTH)
		abort();
	gcb_check_array(array, "after the trees");
	uint64_t t1 = gcb_now_ns();
	gcb_poll();

	/* The figures, before the final check adds a collection. */
	double time_s = (double)(t1 - t0) / 1e9;
	double median_ms = gcb_median_ms();
	uint64_t cycles = gcb_cycles, missed = gcb_missed;
	uint64_t pmax = gcb_pause_max, ptotal = gcb_pause_total;
	uint64_t skipped = gcb_skipped, max_gap = gcb_max_gap, max_cpu_gap = gcb_max_cpu_gap;
	size_t npauses = gcb_npauses;

	/* Final check: collect, make the collector reuse what it freed, then
	 * walk everything that had to survive. */
	gcb_collect();
	for (int k = 0; k < 8; k++) {
		gcb_node *volatile t = gcb_make_tree(12);
		checksum += (uint64_t)t->left->i;
		gcb_drop_tree(t);
		gcb_clobber(&t);
	}
	uint64_t count = 0;
	checksum ^= gcb_check_tree(long_tree, GCB_LONG_DEPTH, &count);
	if (count != gcb_tree_size(GCB_LONG_DEPTH)) {
		fprintf(stderr, "bench_gcbench: long-lived tree has %" PRIu64 " nodes\n", count);
		abort();
	}
	gcb_check_array(array, "at the end");
	for (size_t k = 0; k < GCB_ARRAY_LEN; k += 997)
		checksum += (uint64_t)(array[k] * 1e9);

	char params[64];
	snprintf(params, sizeof(params), "depths=%d..%d long=%d array=%d scale=%g",
		 GCB_MIN_DEPTH, GCB_MAX_DEPTH, GCB_LONG_DEPTH, GCB_ARRAY_LEN, scale);
	bench_result("gcbench", params, gcb_nodes, checksum);
	printf("gcbench-stats: mode=%s time_s=%.4f cycles=%" PRIu64 " skipped=%" PRIu64
	       " pauses=%zu missed=%" PRIu64
	       " pause_median_ms=%.3f pause_max_ms=%.3f pause_total_ms=%.3f max_gap_ms=%.3f"
	       " max_cpu_gap_ms=%.3f",
	       GCB_MODE_NAME, time_s, cycles, skipped, npauses, missed, median_ms,
	       (double)pmax / 1e6, (double)ptotal / 1e6, (double)max_gap / 1e6,
	       (double)max_cpu_gap / 1e6);
	gcb_print_extra();
	printf("\n");

	gcb_drop_tree(long_tree);
	gcb_drop_array(array);
	return 0;
}

/* gc_stress.c — four threads build, check, change and drop pointer
 * structures made of malloc'd and collectable nodes while a fifth thread
 * calls gcm_collect in a loop.
 *
 * Usage: gc_stress SECONDS
 *
 * Each worker owns 64 root slots: 16 in a static array, 16 in a malloc'd
 * block, 16 in an array on its own stack and 16 in thread-local storage.
 * A slot holds the root of a structure: a tree of up to 300 nodes of three
 * kinds — gcm_malloc (scanned), malloc (scanned as a root, freed by the
 * worker when the structure goes) and gcm_malloc_atomic leaves (no
 * pointers) — of 32 bytes to 2000, now and then 40-200 KiB. Links point to
 * the start or to the ninth byte of a child (interior pointers), and every
 * collectable node also points back to its parent (cycles). Every node
 * carries a magic word, its id, its size and a checksum of its payload.
 *
 * A worker step picks a slot at random and either builds a structure into
 * it, verifies it (every node's magic, kind and checksum, and the node
 * count), drops it (frees its malloc nodes, and explicitly free()s some
 * collectable ones), or replaces one of its subtrees with a new one.
 * Fresh gcm_malloc memory must be zeroed. The fifth thread collects
 * without pause; none of its cycles may be skipped.
 *
 * At the end the workers verify and drop everything and exit; then, with
 * all roots gone, a cycle must leave nothing marked, and the heap in use
 * must come back to within 1 MiB of where it was before the threads
 * started (the program prints both figures).
 *
 * Deterministic in what each thread does (fixed seeds); the interleaving
 * is the scheduler's.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gcp.h"

#define NWORKERS 4
#define NSLOTS 64
#define MAX_NODES 300
#define MAGIC 0x8D15EA5E0000C0DEull

enum { K_GC = 0, K_MALLOC = 1, K_ATOMIC = 2 };

struct snode {
	uint64_t magic;         /* MAGIC ^ kind */
	uint32_t kind;
	uint32_t nkids;
	uint64_t id;
	uint64_t size;          /* bytes asked for */
	uint64_t sum;           /* of the payload words */
	struct snode *parent;   /* collectable nodes only; NULL otherwise */
	uintptr_t kids[];       /* nkids links (start or start + 8), then
	                           the payload up to size */
};

struct worker {
	int index;
	uint64_t rng;
	uint64_t next_id;
	void **heap_slots;                   /* slots 16..31, malloc'd */
	uint64_t nnodes[NSLOTS];             /* node count per slot */
	uint64_t builds, verifies, drops, replaces, nodes_made, freed_explicitly;
};

static void *static_slots[NWORKERS][16];
static __thread void *tls_slots[16];
static int stop;
static uint64_t collector_cycles;
static struct worker workers[NWORKERS];

static uint64_t rnd(struct worker *w)
{
	uint64_t x = w->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	w->rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static size_t payload_offset(const struct snode *n)
{
	return sizeof *n + n->nkids * sizeof(uintptr_t);
}

static uint64_t payload_sum(const struct snode *n)
{
	const uint64_t *p = (const uint64_t *)((const char *)n + payload_offset(n));
	size_t words = (n->size - payload_offset(n)) / 8;
	uint64_t s = n->id * 0x9E3779B97F4A7C15ull;
	for (size_t i = 0; i < words; i++)
		s = (s ^ p[i]) * 0x100000001B3ull;
	return s;
}

static struct snode *kid(const struct snode *n, uint32_t i)
{
	return (struct snode *)(n->kids[i] & ~(uintptr_t)15);
}

/* One node of the given kind with room for nkids links. */
static struct snode *new_node(struct worker *w, int kind, uint32_t nkids)
{
	size_t min = sizeof(struct snode) + nkids * sizeof(uintptr_t) + 8;
	size_t size;
	uint64_t r = rnd(w);
	if (r % 64 == 0)
		size = 40 * KiB + (size_t)((r >> 8) % (160 * KiB));
	else
		size = 32 + (size_t)((r >> 8) % 1968);
	if (size < min)
		size = min;
	size &= ~(size_t)7;
	struct snode *n;
	if (kind == K_MALLOC) {
		n = malloc(size);
		GCP_CHECK(n != NULL, "malloc(%zu)", size);
	} else {
		n = kind == K_GC ? gcp.malloc(size) : gcp.malloc_atomic(size);
		GCP_CHECK(n != NULL, "gcm_malloc(%zu)", size);
		if (kind == K_GC) {
			size_t check = size < 8192 ? size : 4096;
			GCP_CHECK(gcp_zero(n, check) && gcp_zero((char *)n + size - check, check),
				  "worker %d: gcm_malloc(%zu) returned memory that is not zeroed "
				  "(still in use by a live node?)",
				  w->index, size);
		}
	}
	n->magic = MAGIC ^ (uint64_t)kind;
	n->kind = (uint32_t)kind;
	n->nkids = nkids;
	n->id = w->next_id++;
	n->size = size;
	n->parent = NULL;
	for (uint32_t i = 0; i < nkids; i++)
		n->kids[i] = 0;
	uint64_t *p = (uint64_t *)((char *)n + payload_offset(n));
	size_t words = (size - payload_offset(n)) / 8;
	for (size_t i = 0; i < words; i++)
		p[i] = gcp_word(n->id, i);
	n->sum = payload_sum(n);
	w->nodes_made++;
	return n;
}

/* A random tree of at most *budget nodes. */
static struct snode *build(struct worker *w, int depth, uint64_t *budget, struct snode *parent)
{
	(*budget)--;
	uint64_t r = rnd(w);
	int kind;
	uint32_t nkids = 0;
	if (r % 10 == 0) {
		kind = K_ATOMIC;
	} else {
		kind = r % 10 < 4 ? K_MALLOC : K_GC;
		nkids = depth < 12 ? (uint32_t)((r >> 8) % 5) : 0;
	}
	struct snode *n = new_node(w, kind, nkids);
	if (kind == K_GC)
		n->parent = parent;
	for (uint32_t i = 0; i < nkids; i++) {
		if (*budget == 0)
			break;
		struct snode *k = build(w, depth + 1, budget, kind == K_GC ? n : NULL);
		n->kids[i] = (uintptr_t)k + ((rnd(w) & 1) ? 8 : 0);
	}
	return n;
}

/* Checks a tree; returns its node count. */
static uint64_t verify(struct worker *w, const struct snode *n, const struct snode *parent,
		       int depth)
{
	GCP_CHECK(n->magic == (MAGIC ^ (uint64_t)n->kind) && n->kind <= K_ATOMIC,
		  "worker %d: node at depth %d has a bad header (magic %llx, kind %u): "
		  "reclaimed while reachable?",
		  w->index, depth, (unsigned long long)n->magic, n->kind);
	GCP_CHECK(n->sum == payload_sum(n),
		  "worker %d: node %llu (kind %u, %llu bytes) fails its checksum: reclaimed while "
		  "reachable?",
		  w->index, (unsigned long long)n->id, n->kind, (unsigned long long)n->size);
	GCP_CHECK(n->kind == K_GC ? n->parent == parent : n->parent == NULL,
		  "worker %d: node %llu has a wrong parent link", w->index,
		  (unsigned long long)n->id);
	uint64_t count = 1;
	for (uint32_t i = 0; i < n->nkids; i++)
		if (n->kids[i])
			count += verify(w, kid(n, i), n->kind == K_GC ? n : NULL, depth + 1);
	return count;
}

/* Frees the malloc'd nodes of a tree that is being dropped, and now and
 * then a collectable one (free() of a collectable object is allowed). */
static void release(struct worker *w, struct snode *n)
{
	for (uint32_t i = 0; i < n->nkids; i++)
		if (n->kids[i])
			release(w, kid(n, i));
	if (n->kind == K_MALLOC) {
		n->magic = 0;
		free(n);
	} else if (rnd(w) % 16 == 0) {
		n->magic = 0;
		free(n);
		w->freed_explicitly++;
	}
}

static void **slot_ref(struct worker *w, void **stack_slots, unsigned s)
{
	switch (s / 16) {
	case 0: return &static_slots[w->index][s % 16];
	case 1: return &w->heap_slots[s % 16];
	case 2: return &stack_slots[s % 16];
	default: return &tls_slots[s % 16];
	}
}

static GCP_NOINLINE void step(struct worker *w, void **stack_slots)
{
	unsigned s = (unsigned)(rnd(w) % NSLOTS);
	void **ref = slot_ref(w, stack_slots, s);
	struct snode *root = *ref;
	if (root == NULL) {
		uint64_t budget = 1 + rnd(w) % MAX_NODES;
		uint64_t before = w->nodes_made;
		*(void *volatile *)ref = build(w, 0, &budget, NULL);
		w->nnodes[s] = w->nodes_made - before;
		w->builds++;
		return;
	}
	uint64_t r = rnd(w) % 10;
	if (r < 5) {
		uint64_t count = verify(w, root, NULL, 0);
		GCP_CHECK(count == w->nnodes[s], "worker %d slot %u: %llu nodes, expected %llu",
			  w->index, s, (unsigned long long)count, (unsigned long long)w->nnodes[s]);
		w->verifies++;
	} else if (r < 8) {
		*(void *volatile *)ref = NULL;
		release(w, root);
		w->nnodes[s] = 0;
		w->drops++;
	} else {
		/* Replace a child of the root (or of its first child). */
		struct snode *p = root;
		if (p->nkids > 0 && p->kids[0] && kid(p, 0)->nkids > 0 && (rnd(w) & 1))
			p = kid(p, 0);
		if (p->nkids == 0 || p->kind == K_ATOMIC)
			return;
		uint32_t i = (uint32_t)(rnd(w) % p->nkids);
		struct snode *old = p->kids[i] ? kid(p, i) : NULL;
		uint64_t budget = 1 + rnd(w) % 40;
		uint64_t before = w->nodes_made;
		struct snode *nk = build(w, 2, &budget, p->kind == K_GC ? p : NULL);
		uint64_t added = w->nodes_made - before;
		uint64_t removed = old ? verify(w, old, p->kind == K_GC ? p : NULL, 1) : 0;
		__atomic_store_n(&p->kids[i], (uintptr_t)nk, __ATOMIC_RELAXED);
		if (old)
			release(w, old);
		w->nnodes[s] += added - removed;
		w->replaces++;
	}
}

static GCP_NOINLINE void drop_all(struct worker *w, void **stack_slots)
{
	for (unsigned s = 0; s < NSLOTS; s++) {
		void **ref = slot_ref(w, stack_slots, s);
		struct snode *root = *ref;
		if (root == NULL)
			continue;
		uint64_t count = verify(w, root, NULL, 0);
		GCP_CHECK(count == w->nnodes[s], "worker %d slot %u at the end: %llu nodes, expected %llu",
			  w->index, s, (unsigned long long)count, (unsigned long long)w->nnodes[s]);
		*(void *volatile *)ref = NULL;
		release(w, root);
	}
}

static GCP_NOINLINE void work(struct worker *w, uint64_t deadline)
{
	void *stack_slots[16];
	memset(stack_slots, 0, sizeof stack_slots);
	__asm__ volatile("" : : "r"(stack_slots) : "memory");
	w->heap_slots = calloc(16, sizeof(void *));
	GCP_CHECK(w->heap_slots != NULL, "calloc");
	for (unsigned n = 0;; n++) {
		if ((n & 63) == 0 && gcp_now_ns() > deadline)
			break;
		step(w, stack_slots);
	}
	drop_all(w, stack_slots);
	free(w->heap_slots);
	w->heap_slots = NULL;
	__asm__ volatile("" : : "r"(stack_slots) : "memory");
}

static uint64_t g_deadline;

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	work(w, g_deadline);
	gcp_clear_stack();
	return NULL;
}

static void *collector_main(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		struct gcm_stats st;
		gcp_collect(&st, 0);
		__atomic_fetch_add(&collector_cycles, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	gcp_init();
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	GCP_CHECK(seconds > 0, "usage: gc_stress SECONDS");

	struct gcm_stats st0, st;
	gcp_collect(&st0, 1);
	GCP_CHECK(st0.gc_marked_bytes == 0, "%llu bytes marked before the test",
		  (unsigned long long)st0.gc_marked_bytes);
	uint64_t in_use0 = st0.heap_in_use_bytes;

	g_deadline = gcp_now_ns() + (uint64_t)(seconds * 1e9);
	pthread_t th[NWORKERS], coll;
	GCP_CHECK(pthread_create(&coll, NULL, collector_main, NULL) == 0, "pthread_create");
	for (int i = 0; i < NWORKERS; i++) {
		workers[i].index = i;
		workers[i].rng = 0x1234567ull * (uint64_t)(i + 1) + 99;
		workers[i].next_id = (uint64_t)i << 40;
		GCP_CHECK(pthread_create(&th[i], NULL, worker_main, &workers[i]) == 0,
			  "pthread_create");
	}
	uint64_t peak_in_use = 0, peak_marked = 0;
	while (gcp_now_ns() < g_deadline) {
		gcp_sleep_ms(100);
		gcp_stats(&st);
		if (st.heap_in_use_bytes > peak_in_use)
			peak_in_use = st.heap_in_use_bytes;
		if (st.gc_marked_bytes > peak_marked)
			peak_marked = st.gc_marked_bytes;
	}
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(th[i], NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(coll, NULL);

	gcp_collect(&st, 1);
	gcp_collect(&st, 1);
	GCP_CHECK(st.gc_cycles_skipped == 0, "%llu cycles skipped",
		  (unsigned long long)st.gc_cycles_skipped);
	GCP_CHECK(st.gc_marked_bytes == 0,
		  "every root dropped, yet %llu bytes are still marked (leak)",
		  (unsigned long long)st.gc_marked_bytes);
	malloc_trim(0);
	gcp_stats(&st);
	GCP_CHECK(st.heap_in_use_bytes <= in_use0 + 1 * MiB,
		  "heap in use %llu bytes at the end, %llu at the start: it did not come back",
		  (unsigned long long)st.heap_in_use_bytes, (unsigned long long)in_use0);

	uint64_t b = 0, v = 0, d = 0, r = 0, n = 0, f = 0;
	for (int i = 0; i < NWORKERS; i++) {
		b += workers[i].builds;
		v += workers[i].verifies;
		d += workers[i].drops;
		r += workers[i].replaces;
		n += workers[i].nodes_made;
		f += workers[i].freed_explicitly;
	}
	gcp_say("ok stress %.0f s: %llu cycles (%llu by the collector thread), %llu structures built, "
		"%llu verified, %llu dropped, %llu subtrees replaced, %llu nodes made, %llu "
		"collectable nodes freed with free(); peak heap in use %llu MiB, peak marked %llu "
		"MiB; heap in use %llu KiB at the start, %llu KiB at the end",
		seconds, (unsigned long long)st.gc_cycles, (unsigned long long)collector_cycles,
		(unsigned long long)b, (unsigned long long)v, (unsigned long long)d,
		(unsigned long long)r, (unsigned long long)n, (unsigned long long)f,
		(unsigned long long)(peak_in_use >> 20), (unsigned long long)(peak_marked >> 20),
		(unsigned long long)(in_use0 >> 10), (unsigned long long)(st.heap_in_use_bytes >> 10));
	return 0;
}

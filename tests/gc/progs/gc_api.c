/* gc_api.c — the malloc family on collectable objects, and a program that
 * never calls gcm_malloc.
 *
 * Usage: gc_api SCENARIO
 *   free_small   free() of small collectable objects (gcm_malloc and
 *                gcm_malloc_atomic): what free() released is not counted
 *                again by the collector, what was kept stays marked, and
 *                memory handed out afterwards is distinct from every live
 *                object (a slot freed twice, by free() and by the sweep,
 *                would be handed out twice) and zeroed by gcm_malloc
 *   free_large   free() of a 1 MiB collectable object
 *   usable       malloc_usable_size() of collectable objects of many sizes
 *                is at least the size asked for, and all of it is usable
 *                (neighbours keep their contents); objects of 17..24 bytes
 *                are 24 bytes and 8-byte aligned, all others 16-byte aligned
 *   node24       100,000 24-byte objects, each pointing to the next from its
 *                last word, reachable only through the first: all kept with
 *                their contents (marked bytes exactly 24 each), then all
 *                reclaimed once the first is dropped
 *   realloc      realloc() keeps a collectable object collectable and
 *                scanned: small -> bigger small -> large -> small, contents
 *                kept, the object it points to kept alive through it, and
 *                both reclaimed once dropped; realloc(p, 0) frees
 *   realloc_atomic
 *                realloc() of a gcm_malloc_atomic object keeps it atomic
 *                (its contents are still not scanned)
 *   nogc         never calls gcm_malloc: 2 threads malloc and free ~500 MiB
 *                in all, and no cycle ever runs (gc_cycles == 0)
 *
 * Prints "ok SCENARIO ..." and exits 0; FAIL lines on stderr and exit 1
 * otherwise; exits 77 without the preload.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gcp.h"

#define HIDE_MASK ((uintptr_t)0x6969696969696969ull)

static struct gcm_stats st;

static uint64_t marked(void)
{
	return st.gc_marked_bytes;
}

/* ---- free_small ------------------------------------------------------------ */

#define NSMALL 1000
#define SMALL 40
static void *volatile *kept;  /* a malloc'd table: a root */
static size_t small_usable;

static GCP_NOINLINE void make_small(void)
{
	void **t = calloc(NSMALL, sizeof(void *));
	GCP_CHECK(t != NULL, "calloc");
	for (size_t i = 0; i < NSMALL; i++) {
		t[i] = gcp_new(SMALL, i, i % 2);
		if (i == 0)
			small_usable = gcp_usable(t[i]);
		GCP_CHECK(gcp_usable(t[i]) == small_usable && small_usable >= SMALL,
			  "usable size %zu for a %d-byte object", gcp_usable(t[i]), SMALL);
	}
	kept = (void *volatile *)t;
}

/* Frees every other object (half of them gcm_malloc, half atomic). */
static GCP_NOINLINE void free_half(void)
{
	for (size_t i = 0; i < NSMALL; i += 2) {
		free(kept[i]);
		kept[i] = NULL;
	}
	for (size_t i = 1; i < NSMALL; i += 4) {
		free(kept[i]);
		kept[i] = NULL;
	}
}

static GCP_NOINLINE void verify_kept(void)
{
	for (size_t i = 0; i < NSMALL; i++)
		if (kept[i])
			GCP_CHECK(gcp_intact(kept[i], SMALL & ~7u, i), "kept object %zu spoilt", i);
}

/* New objects of the same size: none may be a live one, each is zeroed
 * (gcm_malloc), and stamping them leaves the kept ones intact. */
static GCP_NOINLINE void allocate_again(void)
{
	enum { NNEW = 3 * NSMALL };
	void **fresh = malloc(NNEW * sizeof(void *));
	GCP_CHECK(fresh != NULL, "malloc");
	for (size_t i = 0; i < NNEW; i++) {
		int kind = (int)(i % 3);
		void *p = kind == 0 ? gcp.malloc(SMALL) : kind == 1 ? gcp.malloc_atomic(SMALL)
								 : malloc(SMALL);
		GCP_CHECK(p != NULL, "allocation failed");
		if (kind == 0)
			GCP_CHECK(gcp_zero(p, SMALL), "gcm_malloc(%d) after free(): not zeroed", SMALL);
		for (size_t k = 0; k < NSMALL; k++)
			GCP_CHECK(p != kept[k], "new object %zu is live object %zu", i, k);
		gcp_fill(p, SMALL & ~7u, 5000 + i);
		fresh[i] = p;
	}
	for (size_t i = 0; i < NNEW; i++)
		GCP_CHECK(gcp_intact(fresh[i], SMALL & ~7u, 5000 + i),
			  "new object %zu overwritten: handed out twice", i);
	verify_kept();
	for (size_t i = 0; i < NNEW; i++)
		if (i % 3 == 2)
			free(fresh[i]);
	free(fresh);
}

static void scenario_free_small(void)
{
	gcp_collect(&st, 1);
	make_small();
	gcp_collect(&st, 1);
	GCP_CHECK(marked() == NSMALL * small_usable, "%llu marked, expected %zu",
		  (unsigned long long)marked(), NSMALL * small_usable);
	free_half();
	size_t live = 0;
	for (size_t i = 0; i < NSMALL; i++)
		live += kept[i] ? small_usable : 0;
	for (int c = 0; c < 3; c++) {
		gcp_collect(&st, 1);
		GCP_CHECK(marked() == live, "after free(): %llu marked, expected %zu",
			  (unsigned long long)marked(), live);
		GCP_CHECK(st.gc_freed_bytes == 0,
			  "after free(): the collector reports %llu bytes freed; free() had "
			  "released them already",
			  (unsigned long long)st.gc_freed_bytes);
		verify_kept();
	}
	allocate_again();
	allocate_again();
	gcp_collect(&st, 1);
	verify_kept();
	GCP_CHECK(marked() == live, "after reallocation: %llu marked, expected %zu",
		  (unsigned long long)marked(), live);
	gcp_say("ok free_small: %zu of %d objects freed with free(), %zu bytes live", (NSMALL - live / small_usable),
		NSMALL, live);
}

/* ---- free_large ----------------------------------------------------------------- */

static GCP_NOINLINE void make_and_free_large(void)
{
	void *p = gcp_new(MiB, 9, 0);
	GCP_CHECK(gcp_usable(p) == MiB, "usable size %zu", gcp_usable(p));
	free(p);
}

static void scenario_free_large(void)
{
	gcp_collect(&st, 1);
	uint64_t in_use = st.heap_in_use_bytes;
	make_and_free_large();
	gcp_collect(&st, 1);
	GCP_CHECK(marked() == 0 && st.gc_freed_bytes == 0,
		  "after free(): %llu marked, %llu freed by the collector",
		  (unsigned long long)marked(), (unsigned long long)st.gc_freed_bytes);
	GCP_CHECK(st.heap_in_use_bytes < in_use + 256 * KiB,
		  "heap in use grew from %llu to %llu after a free()d 1 MiB object",
		  (unsigned long long)in_use, (unsigned long long)st.heap_in_use_bytes);
	/* The pages can be reused at once. */
	make_and_free_large();
	gcp_collect(&st, 1);
	GCP_CHECK(marked() == 0 && st.gc_freed_bytes == 0, "second round: %llu marked, %llu freed",
		  (unsigned long long)marked(), (unsigned long long)st.gc_freed_bytes);
	gcp_say("ok free_large");
}

/* ---- usable --------------------------------------------------------------------- */

static void scenario_usable(void)
{
	static const size_t sizes[] = { 0, 1, 7, 8, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65,
					100, 127, 128, 129, 255, 256, 257, 500, 1000, 1024, 1025,
					2047, 2048, 4095, 4096, 4097, 8192, 10000, 16384, 20000,
					32767, 32768, 32769, 40000, 65536, 100000, 1000000 };
	enum { N = sizeof sizes / sizeof sizes[0] };
	void *p[2][N];
	size_t u[2][N];
	for (int atomic = 0; atomic < 2; atomic++) {
		for (size_t i = 0; i < N; i++) {
			p[atomic][i] = atomic ? gcp.malloc_atomic(sizes[i]) : gcp.malloc(sizes[i]);
			GCP_CHECK(p[atomic][i] != NULL, "gcm_malloc%s(%zu) = NULL", atomic ? "_atomic" : "",
				  sizes[i]);
			u[atomic][i] = malloc_usable_size(p[atomic][i]);
			size_t want = sizes[i] ? sizes[i] : 1;
			uintptr_t addr = (uintptr_t)p[atomic][i];
			if (want >= 17 && want <= 24)
				GCP_CHECK(u[atomic][i] == 24 && addr % 8 == 0,
					  "gcm_malloc%s(%zu) = %p, usable %zu: want 24 bytes, 8-aligned",
					  atomic ? "_atomic" : "", sizes[i], p[atomic][i], u[atomic][i]);
			else
				GCP_CHECK(addr % 16 == 0, "gcm_malloc%s(%zu) = %p: not 16-aligned",
					  atomic ? "_atomic" : "", sizes[i], p[atomic][i]);
			GCP_CHECK(u[atomic][i] >= want,
				  "malloc_usable_size(gcm_malloc%s(%zu)) = %zu", atomic ? "_atomic" : "",
				  sizes[i], u[atomic][i]);
			GCP_CHECK(u[atomic][i] <= want + want / 4 + 4096,
				  "malloc_usable_size(gcm_malloc%s(%zu)) = %zu: far too big",
				  atomic ? "_atomic" : "", sizes[i], u[atomic][i]);
			if (!atomic)
				GCP_CHECK(gcp_zero(p[atomic][i], u[atomic][i]),
					  "gcm_malloc(%zu): usable part not zeroed", sizes[i]);
			memset(p[atomic][i], 0x40 + (int)(i % 32), u[atomic][i]);
		}
	}
	for (int atomic = 0; atomic < 2; atomic++)
		for (size_t i = 0; i < N; i++) {
			unsigned char *c = p[atomic][i];
			for (size_t k = 0; k < u[atomic][i]; k++)
				GCP_CHECK(c[k] == 0x40 + (i % 32),
					  "object of %zu bytes: byte %zu of its usable %zu overwritten",
					  sizes[i], k, u[atomic][i]);
		}
	gcp_collect(&st, 1);
	for (int atomic = 0; atomic < 2; atomic++)
		for (size_t i = 0; i < N; i++)
			free(p[atomic][i]);
	gcp_say("ok usable: %d sizes, scanned and atomic", (int)N);
}

/* ---- node24 --------------------------------------------------------------------- */

#define NNODE24 100000
struct node24 {
	uint64_t stamp, check;
	struct node24 *next; /* the last word: scanning 16 bytes would miss it */
};
static struct node24 *volatile head24;

static GCP_NOINLINE void make_nodes24(void)
{
	struct node24 *first = NULL;
	for (size_t i = NNODE24; i-- > 0;) {
		struct node24 *n = gcp.malloc(sizeof(*n));
		GCP_CHECK(n != NULL && gcp_usable(n) == 24, "gcm_malloc(24): %p", (void *)n);
		n->stamp = i;
		n->check = gcp_word(i, 1);
		n->next = first;
		first = n;
	}
	head24 = first;
}

static GCP_NOINLINE size_t walk_nodes24(void)
{
	size_t i = 0;
	for (struct node24 *n = head24; n != NULL; n = n->next, i++)
		GCP_CHECK(n->stamp == i && n->check == gcp_word(i, 1), "node %zu spoilt", i);
	return i;
}

static void scenario_node24(void)
{
	make_nodes24();
	for (int round = 0; round < 3; round++) {
		gcp_collect(&st, 1);
		GCP_CHECK(marked() == (uint64_t)NNODE24 * 24, "round %d: %llu marked, expected %zu",
			  round, (unsigned long long)marked(), (size_t)NNODE24 * 24);
		GCP_CHECK(walk_nodes24() == NNODE24, "the list lost nodes");
	}
	head24 = NULL;
	gcp_collect(&st, 1);
	GCP_CHECK(marked() == 0, "dropped list: %llu bytes still marked", (unsigned long long)marked());
	GCP_CHECK(st.gc_freed_bytes >= (uint64_t)NNODE24 * 24, "freed %llu bytes, expected >= %zu",
		  (unsigned long long)st.gc_freed_bytes, (size_t)NNODE24 * 24);
	gcp_say("ok node24: %d nodes of 24 bytes kept, then reclaimed", NNODE24);
}

/* ---- realloc -------------------------------------------------------------------- */

static void *volatile robj;        /* the reallocated object */
static uintptr_t target_hidden;    /* the object it points to */
static size_t target_usable;

static GCP_NOINLINE void realloc_start(int atomic)
{
	void **p = gcp_new(40, 1, atomic);
	void *t = gcp_new(100, 2, 0);
	target_hidden = (uintptr_t)t ^ HIDE_MASK;
	target_usable = gcp_usable(t);
	p[2] = t;
	robj = p;
}

/* realloc to n bytes; checks words 0, 1 and the pointer in word 2. */
static GCP_NOINLINE size_t realloc_to(size_t n)
{
	void **p = robj;
	void **q = realloc(p, n);
	GCP_CHECK(q != NULL, "realloc(%zu) = NULL", n);
	GCP_CHECK(((uint64_t *)q)[0] == gcp_word(1, 0) && ((uint64_t *)q)[1] == gcp_word(1, 1),
		  "realloc(%zu) lost the contents", n);
	GCP_CHECK(((uintptr_t)q[2] ^ HIDE_MASK) == target_hidden, "realloc(%zu) lost the pointer", n);
	GCP_CHECK(gcp_usable(q) >= n, "usable %zu after realloc(%zu)", gcp_usable(q), n);
	robj = q;
	return gcp_usable(q);
}

static GCP_NOINLINE void verify_target(void)
{
	GCP_CHECK(gcp_intact((void *)(target_hidden ^ HIDE_MASK), 96, 2),
		  "the object pointed to from the reallocated one was spoilt");
}

static void scenario_realloc(int atomic)
{
	gcp_collect(&st, 1);
	realloc_start(atomic);
	static const size_t steps[] = { 40, 5000, 2 * MiB, 3 * MiB, 64, 30000 };
	uint64_t freed = 0;
	for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
		size_t u = realloc_to(steps[s]);
		gcp_collect(&st, 1);
		if (!atomic) {
			GCP_CHECK(marked() == u + target_usable,
				  "after realloc to %zu: %llu marked, expected %zu (it, %zu, and the "
				  "object it points to, %zu)",
				  steps[s], (unsigned long long)marked(), u + target_usable, u,
				  target_usable);
			verify_target();
		} else {
			GCP_CHECK(marked() == u,
				  "atomic, after realloc to %zu: %llu marked, expected %zu: its "
				  "contents were scanned",
				  steps[s], (unsigned long long)marked(), u);
			if (s == 0)
				freed = target_usable;
		}
		GCP_CHECK(st.gc_freed_bytes == freed,
			  "after realloc to %zu: the collector freed %llu bytes, expected %llu",
			  steps[s], (unsigned long long)st.gc_freed_bytes, (unsigned long long)freed);
	}
	size_t last = gcp_usable((void *)robj);
	robj = NULL;
	gcp_collect(&st, 1);
	uint64_t expect = freed + last + (atomic ? 0 : target_usable);
	GCP_CHECK(marked() == 0 && st.gc_freed_bytes == expect,
		  "dropped: %llu marked, %llu freed in all, expected 0 and %llu: the "
		  "reallocated object is not collectable",
		  (unsigned long long)marked(), (unsigned long long)st.gc_freed_bytes,
		  (unsigned long long)expect);

	/* realloc(p, 0) frees a collectable object, as glibc's does. */
	void *volatile z = gcp_new(64, 3, atomic);
	errno = 0;
	void *r = realloc(z, 0);
	GCP_CHECK(r == NULL, "realloc(collectable, 0) = %p, expected NULL", r);
	z = NULL;
	gcp_collect(&st, 1);
	GCP_CHECK(marked() == 0 && st.gc_freed_bytes == expect,
		  "after realloc(p, 0): %llu marked, %llu freed", (unsigned long long)marked(),
		  (unsigned long long)st.gc_freed_bytes);
	gcp_say("ok realloc%s", atomic ? "_atomic" : "");
}

/* ---- nogc ----------------------------------------------------------------------- */

static void *nogc_worker(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg;
	void *slots[64] = { 0 };
	for (int i = 0; i < 200000; i++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		unsigned k = (unsigned)(rng >> 58);
		free(slots[k]);
		size_t n = (rng >> 20) % 256 == 0 ? 100000 + (size_t)((rng >> 8) % 500000)
						 : 16 + (size_t)((rng >> 8) % 1000);
		slots[k] = i % 5 == 0 ? calloc(1, n) : malloc(n);
		GCP_CHECK(slots[k] != NULL, "malloc(%zu)", n);
		memset(slots[k], 1, n < 64 ? n : 64);
		if (i % 1000 == 0) {
			void *r = realloc(slots[k], n * 2);
			GCP_CHECK(r != NULL, "realloc");
			slots[k] = r;
		}
	}
	for (int k = 0; k < 64; k++)
		free(slots[k]);
	return NULL;
}

static void scenario_nogc(void)
{
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		GCP_CHECK(pthread_create(&t[i], NULL, nogc_worker, (void *)(uintptr_t)(i + 1)) == 0,
			  "pthread_create");
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	gcp_stats(&st);
	GCP_CHECK(st.gc_cycles == 0 && st.gc_cycles_skipped == 0,
		  "a program that never called gcm_malloc ran %llu cycles (%llu skipped)",
		  (unsigned long long)st.gc_cycles, (unsigned long long)st.gc_cycles_skipped);
	GCP_CHECK(st.gc_heap_bytes == 0 && st.gc_marked_bytes == 0 && st.gc_freed_bytes == 0,
		  "a program that never called gcm_malloc has collectable figures: heap %llu, "
		  "marked %llu, freed %llu",
		  (unsigned long long)st.gc_heap_bytes, (unsigned long long)st.gc_marked_bytes,
		  (unsigned long long)st.gc_freed_bytes);
	GCP_CHECK(st.heap_mapped_bytes > 0, "heap_mapped_bytes is 0: is the preload active?");
	gcp_say("ok nogc: 0 cycles");
}

int main(int argc, char **argv)
{
	gcp_init();
	GCP_CHECK(argc == 2, "usage: gc_api SCENARIO");
	const char *s = argv[1];
	if (strcmp(s, "free_small") == 0)
		scenario_free_small();
	else if (strcmp(s, "free_large") == 0)
		scenario_free_large();
	else if (strcmp(s, "usable") == 0)
		scenario_usable();
	else if (strcmp(s, "node24") == 0)
		scenario_node24();
	else if (strcmp(s, "realloc") == 0)
		scenario_realloc(0);
	else if (strcmp(s, "realloc_atomic") == 0)
		scenario_realloc(1);
	else if (strcmp(s, "nogc") == 0)
		scenario_nogc();
	else
		GCP_CHECK(0, "unknown scenario '%s'", s);
	return 0;
}

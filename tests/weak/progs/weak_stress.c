/* weak_stress.c — weak handles under concurrent churn, under the preload
 * (driven by ../test_weak_stress.c):
 *
 *   weak_stress <seconds>
 *
 * Four worker threads allocate collectable objects, make weak handles to
 * them (at their start and at an interior field), keep some objects in a
 * small ring of strong references, drop the others (or free() them), and
 * all the while read handles: their own, and those other workers publish in
 * a shared table. A fifth thread runs gcm_collect in a loop, and the
 * automatic pacing starts more cycles. Every non-NULL result of
 * gcm_weak_get is validated before use: the object's magic words, its
 * back-references to the very handle that was read, an id-derived check
 * word, and gcm_weak_make on the address read, which must give back that
 * same handle. A reused slot has another handle and other words; a dead
 * object whose memory is untouched is caught by make, which fails on freed
 * memory. For objects a worker still holds, get must return exactly the
 * object and make the very same handle.
 *
 * Ownership rules that keep the checks sound: only the owner frees an
 * object, and only objects that were never published, never linked from
 * another object and never read by another thread are freed. Published
 * objects are only dropped.
 *
 * On success it prints "key=value" totals and "ok stress"; any failed check
 * prints one FAIL line and exits with status 1.
 */
#define _GNU_SOURCE
#include "wk.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAGIC_HEAD 0x73747265735f6f62ULL
#define MAGIC_TAIL 0x5f7461696c5f7374ULL

enum {
	WORKERS = 4,
	RING = 32,
	LOCAL = 256,
	SHARED = 1024,
};

struct sobj {
	uint64_t magic;           /* MAGIC_HEAD */
	uint64_t spare;           /* the allocator may use words 0 and 1 when free */
	gcm_weak_t w;             /* the handle of the object */
	gcm_weak_t wi;            /* the handle of &mid */
	uint64_t id;
	uint64_t mid;             /* id * 3: the interior handle's target */
	struct sobj *child;       /* another published object, or NULL */
	uint64_t check;           /* id ^ MAGIC_TAIL */
	/* payload follows (the object's size varies) */
};

static gcm_weak_t g_shared[SHARED]; /* Atomic: handles of published objects */
static int g_stop;                  /* Atomic */

struct worker_stats {
	uint64_t ops, created, freed, dropped, gets, hits, nulls, shared_hits;
};

static struct worker_stats g_stats[WORKERS];
static uint64_t g_cycles;

/* Checks that p, read from handle w (interior or not), is a live object of
 * this program that owns w. Returns the object. */
static struct sobj *validate(void *p, gcm_weak_t w, bool interior, const char *where)
{
	struct sobj *o = interior ? (struct sobj *)((char *)p - offsetof(struct sobj, mid))
				  : (struct sobj *)p;
	WK_CHECK(o->magic == MAGIC_HEAD, "%s: handle %p read %p, whose magic word is %#llx "
		 "(dead or reused object)", where, (void *)w, p, (unsigned long long)o->magic);
	WK_CHECK(o->check == (o->id ^ MAGIC_TAIL), "%s: object %p has a broken check word",
		 where, (void *)o);
	WK_CHECK((interior ? o->wi : o->w) == w, "%s: handle %p read %p, which belongs to "
		 "handle %p (reused memory)", where, (void *)w, p,
		 (void *)(interior ? o->wi : o->w));
	WK_CHECK(o->mid == o->id * 3, "%s: object %p damaged", where, (void *)o);
	/* A dead object whose memory was not written yet passes the checks
	 * above; make tells: on freed memory it fails, on a live object it
	 * returns the handle we hold (which keeps its record). */
	errno = 0;
	gcm_weak_t again = gcm_weak_make(p);
	WK_CHECK(again == w, "%s: handle %p read %p, but make on that address returns %p "
		 "(errno %s): the object is dead", where, (void *)w, p, (void *)again,
		 wk_errno_name(errno));
	if (o->child != NULL)
		WK_CHECK(o->child->magic == MAGIC_HEAD &&
			 o->child->check == (o->child->id ^ MAGIC_TAIL),
			 "%s: object %p references a dead object %p", where, (void *)o,
			 (void *)o->child);
	return o;
}

struct slot {
	gcm_weak_t w;
	bool interior;
};

struct held {
	struct sobj *o;
	bool freeable;
};

static size_t pick_size(uint64_t r)
{
	unsigned k = (unsigned)(r % 1000);
	if (k < 5)
		return 40000 + (size_t)(r >> 20) % 160000; /* large objects */
	if (k < 100)
		return 1024 + (size_t)(r >> 20) % 4096;
	return sizeof(struct sobj) + (size_t)(r >> 20) % 400;
}

static struct sobj *create(uint64_t *rng, uint64_t id, struct held *ring, bool freeable)
{
	uint64_t r = wk_rand(rng);
	size_t size = pick_size(r);
	struct sobj *o = gcm_malloc(size);
	WK_CHECK(o != NULL, "gcm_malloc(%zu) failed", size);
	o->magic = MAGIC_HEAD;
	o->id = id;
	o->mid = id * 3;
	o->check = id ^ MAGIC_TAIL;
	gcm_weak_t w = gcm_weak_make(o);
	gcm_weak_t wi = gcm_weak_make(&o->mid);
	WK_CHECK(w != NULL && wi != NULL && w != wi, "make failed");
	WK_CHECK(gcm_weak_make(o) == w, "make on a new object is not canonical");
	o->w = w;
	o->wi = wi;
	WK_CHECK(gcm_weak_get(w) == o && gcm_weak_get(wi) == &o->mid,
		 "a new object's handle does not read it");
	if (!freeable) {
		/* Link to another published object the ring holds, sometimes. */
		struct held *h = &ring[(r >> 8) % RING];
		if ((r & 3) == 0 && h->o != NULL && !h->freeable)
			o->child = h->o;
	}
	return o;
}

static void *worker_main(void *arg)
{
	int me = (int)(intptr_t)arg;
	struct worker_stats *st = &g_stats[me];
	uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(me + 1);
	struct held ring[RING];
	struct slot local[LOCAL];
	memset(ring, 0, sizeof ring);
	memset(local, 0, sizeof local);
	uint64_t next_id = (uint64_t)me << 48;

	while (!__atomic_load_n(&g_stop, __ATOMIC_RELAXED)) {
		uint64_t r = wk_rand(&rng);
		unsigned op = (unsigned)(r % 100);
		st->ops++;
		if (op < 25) {
			/* Create, replacing a ring entry. */
			bool freeable = (r >> 40) % 4 == 0;
			struct sobj *o = create(&rng, ++next_id, ring, freeable);
			st->created++;
			struct held *h = &ring[(r >> 8) % RING];
			if (h->o != NULL) {
				struct sobj *old = h->o;
				gcm_weak_t ow = old->w, owi = old->wi;
				WK_CHECK(gcm_weak_get(ow) == old && gcm_weak_get(owi) == &old->mid,
					 "a held object's handle does not read it");
				if (h->freeable) {
					free(old);
					WK_CHECK(gcm_weak_get(ow) == NULL && gcm_weak_get(owi) == NULL,
						 "a handle reads a freed object");
					st->freed++;
				} else {
					st->dropped++;
				}
				old = NULL;
			}
			h->o = o;
			h->freeable = freeable;
			struct slot *s = &local[(r >> 16) % LOCAL];
			s->interior = (r >> 24) & 1;
			s->w = s->interior ? o->wi : o->w;
			if (!freeable)
				__atomic_store_n(&g_shared[(r >> 32) % SHARED],
						 (r >> 25) & 1 ? o->wi : o->w, __ATOMIC_RELEASE);
		} else if (op < 55) {
			/* Read one of this worker's handles. */
			struct slot *s = &local[(r >> 8) % LOCAL];
			if (s->w == NULL)
				continue;
			st->gets++;
			void *p = gcm_weak_get(s->w);
			if (p == NULL) {
				st->nulls++;
				continue;
			}
			st->hits++;
			validate(p, s->w, s->interior, "own handle");
		} else if (op < 80) {
			/* Read a handle another worker published. */
			gcm_weak_t w = __atomic_load_n(&g_shared[(r >> 8) % SHARED], __ATOMIC_ACQUIRE);
			if (w == NULL)
				continue;
			st->gets++;
			void *p = gcm_weak_get(w);
			if (p == NULL) {
				st->nulls++;
				continue;
			}
			st->hits++;
			st->shared_hits++;
			/* Objects are 16-byte aligned; &mid is not. */
			bool interior = ((uintptr_t)p & 15) != 0;
			validate(p, w, interior, "published handle");
		} else if (op < 92) {
			/* Check a held object. */
			struct held *h = &ring[(r >> 8) % RING];
			if (h->o == NULL)
				continue;
			struct sobj *o = h->o;
			WK_CHECK(gcm_weak_get(o->w) == o && gcm_weak_get(o->wi) == &o->mid,
				 "a held object's handle does not read it");
			WK_CHECK(gcm_weak_make(o) == o->w && gcm_weak_make(&o->mid) == o->wi,
				 "make on a held object is not canonical");
			validate(o, o->w, false, "held object");
		} else {
			/* Drop a held object without freeing it. */
			struct held *h = &ring[(r >> 8) % RING];
			if (h->o == NULL)
				continue;
			if (h->freeable) {
				free(h->o);
				st->freed++;
			} else {
				st->dropped++;
			}
			h->o = NULL;
		}
	}
	return NULL;
}

static void *collector_main(void *arg)
{
	(void)arg;
	uint64_t rng = 12345;
	while (!__atomic_load_n(&g_stop, __ATOMIC_RELAXED)) {
		gcm_collect();
		g_cycles++;
		struct timespec ts = { 0, (long)(wk_rand(&rng) % 3000000) };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: weak_stress <seconds>\n");
		return 2;
	}
	wk_require_preload();
	double seconds = atof(argv[1]);
	WK_CHECK(seconds > 0 && seconds < 3600, "bad duration %s", argv[1]);

	struct gcm_stats before, after;
	wk_stats(&before);
	pthread_t workers[WORKERS], collector;
	for (int i = 0; i < WORKERS; i++)
		WK_CHECK(pthread_create(&workers[i], NULL, worker_main, (void *)(intptr_t)i) == 0,
			 "pthread_create failed");
	WK_CHECK(pthread_create(&collector, NULL, collector_main, NULL) == 0,
		 "pthread_create failed");

	/* An absolute deadline: the collections interrupt this sleep, and a
	 * relative one would not count the time spent stopped. */
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	uint64_t ns = (uint64_t)until.tv_nsec + (uint64_t)(seconds * 1e9);
	until.tv_sec += (time_t)(ns / 1000000000u);
	until.tv_nsec = (long)(ns % 1000000000u);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) != 0)
		;
	__atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(workers[i], NULL);
	pthread_join(collector, NULL);
	wk_stats(&after);

	struct worker_stats t = { 0 };
	for (int i = 0; i < WORKERS; i++) {
		t.ops += g_stats[i].ops;
		t.created += g_stats[i].created;
		t.freed += g_stats[i].freed;
		t.dropped += g_stats[i].dropped;
		t.gets += g_stats[i].gets;
		t.hits += g_stats[i].hits;
		t.nulls += g_stats[i].nulls;
		t.shared_hits += g_stats[i].shared_hits;
		WK_CHECK(g_stats[i].ops > 1000, "worker %d did only %llu operations", i,
			 (unsigned long long)g_stats[i].ops);
	}
	uint64_t cycles = after.gc_cycles - before.gc_cycles;
	printf("ops=%llu\ncreated=%llu\nfreed=%llu\ndropped=%llu\ngets=%llu\nhits=%llu\n"
	       "nulls=%llu\nshared_hits=%llu\nexplicit_cycles=%llu\ncycles=%llu\n"
	       "skipped_cycles=%llu\n",
	       (unsigned long long)t.ops, (unsigned long long)t.created,
	       (unsigned long long)t.freed, (unsigned long long)t.dropped,
	       (unsigned long long)t.gets, (unsigned long long)t.hits,
	       (unsigned long long)t.nulls, (unsigned long long)t.shared_hits,
	       (unsigned long long)g_cycles, (unsigned long long)cycles,
	       (unsigned long long)(after.gc_cycles_skipped - before.gc_cycles_skipped));
	/* Not vacuous: objects died under readers, and readers found live ones. */
	WK_CHECK(t.nulls > 0 && t.hits > 0 && t.shared_hits > 0,
		 "the run saw no cleared handles or no live ones");
	WK_CHECK(cycles >= 10, "only %llu cycles ran", (unsigned long long)cycles);
	wk_pass("stress");
	return 0;
}

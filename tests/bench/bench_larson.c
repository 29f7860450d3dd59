/* bench_larson [NTHREADS [SCALE]] — a server pattern: objects allocated by
 * one thread are freed by another.
 *
 * NTHREADS threads (default 4) stand in a ring. Each keeps a live set of
 * small objects and replaces a random one per operation; the object it
 * replaces is not freed there but put in a batch (a "request") for the next
 * thread in the ring, which checks and frees every object in it, and the
 * batch itself. The mailboxes are bounded, so a fast thread cannot run far
 * ahead and the memory in flight stays bounded.
 */
#include <pthread.h>

#include "bench.h"

#define LIVE 2048
#define OPS 12000000ull /* in total, split between the threads */
#define BATCH 128
#define MAXQ 8 /* batches waiting in one mailbox */

struct obj {
	void *p;
	uint32_t size;
	uint64_t key;
};

struct batch {
	struct batch *next;
	int n; /* -1: the sender has finished */
	struct obj o[BATCH];
};

struct mailbox {
	struct batch *head, *tail;
	int len;
	pthread_cond_t cond; /* this box's owner waits here */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct mailbox *boxes;
static int nthreads;

struct worker {
	pthread_t tid;
	int id;
	uint64_t ops, sum;
};

/* Takes the mailbox's batches; called with the lock held. */
static struct batch *take_all(struct mailbox *m)
{
	struct batch *b = m->head;
	m->head = m->tail = NULL;
	m->len = 0;
	return b;
}

/* Checks and frees every object of the batches; returns how many of them
 * were end markers. Called without the lock. */
static int consume(struct batch *b, uint64_t *sum)
{
	int done = 0;
	while (b) {
		struct batch *next = b->next;
		if (b->n < 0)
			done++;
		for (int i = 0; i < b->n; i++) {
			*sum += bench_check(b->o[i].p, b->o[i].size, b->o[i].key);
			free(b->o[i].p);
		}
		free(b);
		b = next;
	}
	return done;
}

/* Sends a batch to the next thread, draining our own mailbox while the next
 * one's is full. Returns how many end markers were drained meanwhile. */
static int post(int id, struct batch *b, uint64_t *sum)
{
	struct mailbox *me = &boxes[id];
	struct mailbox *to = &boxes[(id + 1) % nthreads];
	struct mailbox *pred = &boxes[(id + nthreads - 1) % nthreads];
	int done = 0;

	b->next = NULL;
	pthread_mutex_lock(&lock);
	while (to->len >= MAXQ) {
		if (me->len > 0) {
			struct batch *in = take_all(me);
			pthread_cond_signal(&pred->cond);
			pthread_mutex_unlock(&lock);
			done += consume(in, sum);
			pthread_mutex_lock(&lock);
		} else {
			pthread_cond_wait(&me->cond, &lock);
		}
	}
	if (to->tail)
		to->tail->next = b;
	else
		to->head = b;
	to->tail = b;
	to->len++;
	pthread_cond_signal(&to->cond);
	pthread_mutex_unlock(&lock);
	return done;
}

/* Takes what is in our mailbox; waits for something when WAIT is set. */
static struct batch *receive(int id, int wait)
{
	struct mailbox *me = &boxes[id];
	struct mailbox *pred = &boxes[(id + nthreads - 1) % nthreads];
	struct batch *in;

	pthread_mutex_lock(&lock);
	while (wait && me->len == 0)
		pthread_cond_wait(&me->cond, &lock);
	in = take_all(me);
	if (in)
		pthread_cond_signal(&pred->cond);
	pthread_mutex_unlock(&lock);
	return in;
}

static struct batch *new_batch(void)
{
	struct batch *b = bench_xmalloc(sizeof *b);
	b->next = NULL;
	b->n = 0;
	return b;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct obj *live = bench_xmalloc(LIVE * sizeof *live);
	struct batch *out = new_batch();
	uint64_t key = (uint64_t)w->id << 40;
	uint64_t sum = 0;
	int done = 0;
	bench_rng r;

	bench_rng_seed(&r, 1000 + (uint64_t)w->id);
	for (int i = 0; i < LIVE; i++) {
		size_t n = bench_small_size(&r);
		live[i] = (struct obj){ bench_xmalloc(n), (uint32_t)n, ++key };
		bench_fill(live[i].p, n, live[i].key);
	}
	for (uint64_t op = 0; op < w->ops; op++) {
		struct obj *s = &live[bench_rng_below(&r, LIVE)];
		size_t n = bench_small_size(&r);
		out->o[out->n++] = *s;
		*s = (struct obj){ bench_xmalloc(n), (uint32_t)n, ++key };
		bench_fill(s->p, n, s->key);
		if (out->n == BATCH) {
			done += post(w->id, out, &sum);
			out = new_batch();
			done += consume(receive(w->id, 0), &sum);
		}
	}
	/* The rest of the live set goes to the next thread too, then the end
	 * marker; then we free what the previous thread still sends us. */
	for (int i = 0; i < LIVE; i++) {
		out->o[out->n++] = live[i];
		if (out->n == BATCH) {
			done += post(w->id, out, &sum);
			out = new_batch();
		}
	}
	done += post(w->id, out, &sum);
	out = new_batch();
	out->n = -1;
	done += post(w->id, out, &sum);
	while (!done)
		done += consume(receive(w->id, 1), &sum);
	free(live);
	w->sum = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	nthreads = argc > 1 ? (int)bench_int_arg(argv[1], 2, 256, "thread count") : 4;
	double scale = argc > 2 ? bench_scale_arg(argv[2]) : 1.0;
	uint64_t total = bench_scaled(OPS, scale);
	struct worker *w = bench_xmalloc((size_t)nthreads * sizeof *w);
	uint64_t sum = 0, ops = 0;
	char params[64];

	boxes = bench_xmalloc((size_t)nthreads * sizeof *boxes);
	for (int i = 0; i < nthreads; i++) {
		boxes[i] = (struct mailbox){ NULL, NULL, 0, PTHREAD_COND_INITIALIZER };
	}
	for (int i = 0; i < nthreads; i++) {
		w[i].id = i;
		w[i].ops = total / (uint64_t)nthreads;
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(w[i].tid, NULL);
		sum += w[i].sum;
		ops += w[i].ops;
	}
	free(boxes);
	free(w);
	snprintf(params, sizeof params, "threads=%d live=%d batch=%d", nthreads, LIVE, BATCH);
	bench_result("larson", params, ops, sum);
	return 0;
}

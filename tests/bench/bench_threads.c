/* bench_threads NTHREADS [SCALE] — NTHREADS threads of churn at once.
 *
 * The total amount of work is fixed and split evenly between the threads;
 * each thread churns its own live set (see churn.h), so this measures how an
 * allocator's thread-local paths scale, with no memory passed between
 * threads. Even with one thread, the work runs in a created pthread.
 */
#include <pthread.h>

#include "churn.h"

#define LIVE 4096
#define OPS 16000000ull

struct worker {
	pthread_t tid;
	uint64_t seed, ops, sum;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	w->sum = churn_run(w->seed, LIVE, w->ops);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: bench_threads NTHREADS [SCALE]\n");
		return 2;
	}
	int nthreads = (int)bench_int_arg(argv[1], 1, 256, "thread count");
	double scale = argc > 2 ? bench_scale_arg(argv[2]) : 1.0;
	uint64_t total = bench_scaled(OPS, scale);
	struct worker *w = bench_xmalloc((size_t)nthreads * sizeof *w);
	uint64_t sum = 0, ops = 0;
	char params[64];

	for (int i = 0; i < nthreads; i++) {
		w[i].seed = 100 + (uint64_t)i;
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
	free(w);
	snprintf(params, sizeof params, "threads=%d live=%d", nthreads, LIVE);
	bench_result("threads", params, ops, sum);
	return 0;
}

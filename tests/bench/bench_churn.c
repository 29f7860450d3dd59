/* bench_churn [SCALE] — single-thread churn of mixed small sizes.
 *
 * One thread, and no pthread ever created, so an allocator's single-thread
 * fast paths count. See churn.h for the workload.
 */
#include "churn.h"

#define LIVE 8192
#define OPS 12000000ull

int main(int argc, char **argv)
{
	double scale = argc > 1 ? bench_scale_arg(argv[1]) : 1.0;
	uint64_t ops = bench_scaled(OPS, scale);
	char params[64];

	uint64_t sum = churn_run(1, LIVE, ops);
	snprintf(params, sizeof params, "live=%d", LIVE);
	bench_result("churn", params, ops, sum);
	return 0;
}

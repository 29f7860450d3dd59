/* bench_realloc [SCALE] — realloc growth.
 *
 * Three phases, each repeated:
 *  - many small strings (up to a few KiB) grown by small appends, in a random
 *    order, with realloc to the exact new length, as naive string building
 *    does;
 *  - a few big strings grown by small appends up to 1..4 MiB;
 *  - buffers that double from 64 bytes to 32 MiB, the new half written each
 *    time, as a growable array does.
 * Appended bytes are written one by one from a formula; the byte before
 * each append is checked (so a copy that lost data is caught) and every
 * string is checked along its whole length, sparsely, before it is freed.
 */
#include "bench.h"

#define SMALL_STRINGS 20000
#define SMALL_MAX 4096
#define SMALL_ROUNDS 2
#define BIG_STRINGS 12
#define BIG_ROUNDS 3
#define DOUBLING_MAX (32u << 20)
#define DOUBLING_ROUNDS 8

struct str {
	unsigned char *p;
	size_t len, target;
};

static inline unsigned char byte_at(size_t id, size_t i)
{
	return (unsigned char)(id * 7 + i * 13 + (i >> 8));
}

static uint64_t append(struct str *s, size_t id, size_t k)
{
	uint64_t sum = 0;
	if (s->len > 0) {
		unsigned char last = s->p[s->len - 1];
		if (last != byte_at(id, s->len - 1)) {
			fprintf(stderr, "string %zu lost its content at %zu\n", id, s->len - 1);
			abort();
		}
		sum = last;
	}
	unsigned char *q = realloc(s->p, s->len + k);
	if (!q) {
		fprintf(stderr, "realloc(%zu) failed\n", s->len + k);
		abort();
	}
	s->p = q;
	for (size_t i = s->len; i < s->len + k; i++)
		q[i] = byte_at(id, i);
	s->len += k;
	return sum;
}

static uint64_t check_free(struct str *s, size_t id, size_t stride)
{
	uint64_t sum = 0;
	for (size_t i = id % stride; i < s->len; i += stride) {
		if (s->p[i] != byte_at(id, i)) {
			fprintf(stderr, "string %zu corrupted at %zu\n", id, i);
			abort();
		}
		sum += s->p[i] * (i | 1);
	}
	free(s->p);
	s->p = NULL;
	s->len = 0;
	return sum;
}

/* Grows N strings to their targets by appends of 1..MAXSTEP bytes, picking
 * a random unfinished string each time. */
static uint64_t grow_strings(bench_rng *r, struct str *s, size_t n, size_t maxstep,
	uint64_t *ops)
{
	size_t *todo = bench_xmalloc(n * sizeof *todo);
	size_t left = n;
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		todo[i] = i;
	while (left > 0) {
		size_t j = bench_rng_below(r, left);
		size_t id = todo[j];
		size_t k = 1 + bench_rng_below(r, maxstep);
		if (k > s[id].target - s[id].len)
			k = s[id].target - s[id].len;
		sum += append(&s[id], id, k);
		++*ops;
		if (s[id].len == s[id].target)
			todo[j] = todo[--left];
	}
	free(todo);
	return sum;
}

int main(int argc, char **argv)
{
	double scale = argc > 1 ? bench_scale_arg(argv[1]) : 1.0;
	size_t nsmall = bench_scaled(SMALL_STRINGS, scale);
	uint64_t big_rounds = bench_scaled(BIG_ROUNDS, scale);
	uint64_t dbl_rounds = bench_scaled(DOUBLING_ROUNDS, scale);
	struct str *s = bench_xmalloc(nsmall * sizeof *s);
	uint64_t sum = 0, ops = 0;
	bench_rng r;
	char params[96];

	bench_rng_seed(&r, 7);
	for (int round = 0; round < SMALL_ROUNDS; round++) {
		for (size_t i = 0; i < nsmall; i++) {
			/* skewed: most strings stay short, a few reach 4 KiB */
			size_t a = 1 + bench_rng_below(&r, SMALL_MAX);
			size_t b = 1 + bench_rng_below(&r, SMALL_MAX);
			s[i] = (struct str){ NULL, 0, 8 + a * b / SMALL_MAX };
		}
		sum += grow_strings(&r, s, nsmall, 24, &ops);
		for (size_t i = 0; i < nsmall; i++)
			sum += check_free(&s[i], i, 13);
	}

	struct str big[BIG_STRINGS];
	for (uint64_t round = 0; round < big_rounds; round++) {
		for (size_t i = 0; i < BIG_STRINGS; i++)
			big[i] = (struct str){ NULL, 0, (1u << 20) + bench_rng_below(&r, 3u << 20) };
		sum += grow_strings(&r, big, BIG_STRINGS, 256, &ops);
		for (size_t i = 0; i < BIG_STRINGS; i++)
			sum += check_free(&big[i], i, 4093);
	}

	for (uint64_t round = 0; round < dbl_rounds; round++) {
		struct str d = { NULL, 0, 0 };
		size_t id = (size_t)round;
		for (size_t n = 64; n <= DOUBLING_MAX; n *= 2) {
			size_t k = n - d.len;
			sum += append(&d, id, k);
			ops++;
		}
		sum += check_free(&d, id, 4099);
	}
	free(s);

	snprintf(params, sizeof params, "small=%zu big_rounds=%" PRIu64 " doubling_rounds=%" PRIu64,
		nsmall, big_rounds, dbl_rounds);
	bench_result("realloc", params, ops, sum);
	return 0;
}

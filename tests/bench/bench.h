/* tests/bench/bench.h — what every benchmark program shares: a fixed-seed
 * PRNG, argument parsing, the object fill/verify helpers and the result line.
 *
 * The programs are plain C and use only the standard malloc family, so the
 * same binary measures whichever allocator is linked in or preloaded. Every
 * object a benchmark allocates is written, and read back before it is freed;
 * a corrupted object aborts the run. The result line printed at the end is a
 * pure function of the arguments (never of timing or of the allocator), so
 * the driver can check that all allocators did the same work.
 */
#ifndef GCM_BENCH_H
#define GCM_BENCH_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64: tiny, fast, good enough, and fully deterministic. */
typedef struct {
	uint64_t s;
} bench_rng;

static inline void bench_rng_seed(bench_rng *r, uint64_t seed)
{
	r->s = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
}

static inline uint64_t bench_rng_next(bench_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* uniform in [0, n) for n well below 2^32 */
static inline uint64_t bench_rng_below(bench_rng *r, uint64_t n)
{
	return ((bench_rng_next(r) >> 32) * n) >> 32;
}

/* A small-object size in [8, 1024], skewed towards small sizes: the product
 * of three uniforms puts about half of the objects under 64 bytes and a few
 * percent above 512, roughly what C and C++ programs allocate. */
static inline size_t bench_small_size(bench_rng *r)
{
	uint64_t x = bench_rng_next(r);
	uint64_t a = x & 1023, b = (x >> 10) & 1023, c = (x >> 20) & 1023;
	return 8 + (size_t)(a * b * c * 1016 / (1023ull * 1023 * 1023));
}

/* Reads "SCALE" (a positive multiplier of the default amount of work). */
static inline double bench_scale_arg(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (*end != '\0' || !(v > 0.0) || v > 1000.0) {
		fprintf(stderr, "bad scale '%s': expected a number in (0, 1000]\n", s);
		exit(2);
	}
	return v;
}

static inline long bench_int_arg(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "bad %s '%s': expected an integer in [%ld, %ld]\n", what, s, lo, hi);
		exit(2);
	}
	return v;
}

static inline uint64_t bench_scaled(uint64_t n, double scale)
{
	uint64_t v = (uint64_t)((double)n * scale);
	return v ? v : 1;
}

static inline void *bench_xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p) {
		fprintf(stderr, "malloc(%zu) failed\n", n);
		abort();
	}
	return p;
}

/* The tag an object of this size with this key is filled with. */
static inline uint64_t bench_tag(uint64_t key, size_t n)
{
	return (key * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)n << 40) ^ 0x5bd1e995ull;
}

/* Fills an object: its first word (when it has one) holds the tag, every
 * other byte a byte of the tag. Touches the whole object. */
static inline void bench_fill(void *p, size_t n, uint64_t key)
{
	uint64_t t = bench_tag(key, n);
	unsigned char *c = p;
	if (n >= 8) {
		memcpy(c, &t, 8);
		memset(c + 8, (int)(t & 0xff), n - 8);
	} else {
		memset(c, (int)(t & 0xff), n);
	}
}

/* Checks an object filled by bench_fill (its first word, its last byte and
 * one byte in the middle) and returns a value for the run's checksum. */
static inline uint64_t bench_check(const void *p, size_t n, uint64_t key)
{
	uint64_t t = bench_tag(key, n);
	const unsigned char *c = p;
	unsigned char b = (unsigned char)(t & 0xff);
	int ok = 1;
	if (n >= 8) {
		uint64_t head;
		memcpy(&head, c, 8);
		ok = head == t;
		if (n > 8)
			ok = ok && c[n - 1] == b && c[8 + (n - 8) / 2] == b;
	} else if (n > 0) {
		ok = c[0] == b && c[n - 1] == b;
	}
	if (!ok) {
		fprintf(stderr, "corrupted object %p (size %zu, key %" PRIu64 ")\n", p, n, key);
		abort();
	}
	return t ^ (t >> 29);
}

static inline void bench_result(const char *name, const char *params, uint64_t ops,
	uint64_t checksum)
{
	printf("%s %s ops=%" PRIu64 " checksum=%016" PRIx64 "\n", name, params, ops, checksum);
	fflush(stdout);
}

#endif

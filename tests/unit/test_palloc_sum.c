/*
 * test_palloc_sum.c — packing, unpacking and merging of page-allocator
 * summaries (core/palloc_sum.h).
 *
 * Merges are checked against a bit-by-bit reference written here, applied to
 * the concatenation of the children's bitmaps, so the test does not depend
 * on palloc_bits.c.
 */
#include <criterion/criterion.h>

#include "base.h"
#include "palloc_sum.h"

/* ---- deterministic PRNG (xorshift64*) ---------------------------------- */

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
	rng_state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static uint64_t rng_next(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform-ish in [0, n). n > 0. */
static unsigned rng_below(unsigned n)
{
	return (unsigned)(rng_next() % n);
}

/* ---- slow reference ---------------------------------------------------- */

struct sum3 {
	unsigned start, max, end;
};

static bool ref_bit(const uint64_t *w, unsigned i)
{
	return (w[i / 64] >> (i % 64)) & 1;
}

/* (start, max, end) of the clear bits of w[0 .. nbits), one bit at a time. */
static struct sum3 ref_summary(const uint64_t *w, unsigned nbits)
{
	struct sum3 r = { 0, 0, 0 };
	unsigned run = 0;
	unsigned i;

	for (i = 0; i < nbits && !ref_bit(w, i); i++)
		;
	r.start = i;
	for (i = nbits; i > 0 && !ref_bit(w, i - 1); i--)
		;
	r.end = nbits - i;
	for (i = 0; i < nbits; i++) {
		if (ref_bit(w, i)) {
			run = 0;
		} else {
			run++;
			if (run > r.max)
				r.max = run;
		}
	}
	return r;
}

static palloc_sum_t ref_pack(struct sum3 s)
{
	return palloc_sum_pack(s.start, s.max, s.end);
}

/* One 512-bit chunk of random contents, mixing several shapes. */
static void random_chunk(uint64_t w[8])
{
	unsigned mode = rng_below(8);

	for (unsigned k = 0; k < 8; k++) {
		switch (mode) {
		case 0: /* all free */
			w[k] = 0;
			break;
		case 1: /* all used */
			w[k] = ~(uint64_t)0;
			break;
		case 2: /* random words */
			w[k] = rng_next();
			break;
		case 3: /* sparse: few pages used */
			w[k] = rng_next() & rng_next() & rng_next() &
			       rng_next();
			break;
		case 4: /* dense: few pages free */
			w[k] = rng_next() | rng_next() | rng_next() |
			       rng_next();
			break;
		default: /* filled below */
			w[k] = (mode & 1) ? ~(uint64_t)0 : 0;
			break;
		}
	}
	if (mode >= 5) {
		/* Long runs: flip a few random ranges of the chunk. */
		unsigned nranges = 1 + rng_below(4);

		for (unsigned r = 0; r < nranges; r++) {
			unsigned a = rng_below(512);
			unsigned len = 1 + rng_below(512 - a);
			bool set = rng_below(2);

			for (unsigned i = a; i < a + len; i++) {
				if (set)
					w[i / 64] |= (uint64_t)1 << (i % 64);
				else
					w[i / 64] &= ~((uint64_t)1 << (i % 64));
			}
		}
	}
}

static void check_unpack(palloc_sum_t s, unsigned start, unsigned max,
			 unsigned end)
{
	unsigned a, b, c;

	palloc_sum_unpack(s, &a, &b, &c);
	cr_assert_eq(a, start, "start: got %u want %u (sum %#llx)", a, start,
		     (unsigned long long)s);
	cr_assert_eq(b, max, "max: got %u want %u (sum %#llx)", b, max,
		     (unsigned long long)s);
	cr_assert_eq(c, end, "end: got %u want %u (sum %#llx)", c, end,
		     (unsigned long long)s);
	cr_assert_eq(palloc_sum_start(s), start);
	cr_assert_eq(palloc_sum_max(s), max);
	cr_assert_eq(palloc_sum_end(s), end);
}

/* ---- pack / unpack ----------------------------------------------------- */

Test(palloc_sum, pack_unpack_table)
{
	static const struct sum3 cases[] = {
		{ 0, 0, 0 },
		{ 0, 1, 0 },
		{ 1, 1, 1 },
		{ 0, 1, 1 },
		{ 1, 1, 0 },
		{ 3, 10, 5 },
		{ 512, 512, 512 },
		{ 0, 512, 0 },
		{ 511, 511, 0 },
		{ 4096, 4096, 4096 },
		{ 100, 4000, 4000 },
		{ 0, (1u << 21) - 1, 0 },
		{ (1u << 21) - 1, (1u << 21) - 1, (1u << 21) - 1 },
		{ (1u << 21) - 1, (1u << 21) - 1, 0 },
		{ 0, (1u << 21) - 1, (1u << 21) - 1 },
		{ 1u << 18, 1u << 20, 1u << 19 },
	};

	for (size_t k = 0; k < GCM_ARRAY_LEN(cases); k++) {
		struct sum3 c = cases[k];
		palloc_sum_t s = palloc_sum_pack(c.start, c.max, c.end);

		cr_assert_eq(s & PALLOC_SUM_ALL_FREE, 0,
			     "case %zu set the all-free flag", k);
		cr_assert_eq(s,
			     (uint64_t)c.start | ((uint64_t)c.max << 21) |
				     ((uint64_t)c.end << 42),
			     "case %zu: layout", k);
		check_unpack(s, c.start, c.max, c.end);
	}
}

Test(palloc_sum, pack_unpack_random)
{
	rng_seed(0x5eed0001);
	for (unsigned k = 0; k < 4000; k++) {
		unsigned max, start, end;
		palloc_sum_t s;

		switch (rng_below(4)) {
		case 0:
			max = (1u << 21) - 1 - rng_below(4);
			break;
		case 1:
			max = rng_below(1024);
			break;
		default:
			max = rng_below(1u << 21);
			break;
		}
		start = rng_below(max + 1);
		end = rng_below(max + 1);
		if (rng_below(8) == 0)
			start = max;
		if (rng_below(8) == 0)
			end = max;

		s = palloc_sum_pack(start, max, end);
		cr_assert_eq(s >> 63, 0, "iteration %u", k);
		check_unpack(s, start, max, end);
	}
}

Test(palloc_sum, fully_allocated_packs_to_zero)
{
	cr_assert_eq(palloc_sum_pack(0, 0, 0), 0);
	check_unpack(0, 0, 0, 0);
	/* Anything with a free page is nonzero, so a search can skip 0s. */
	cr_assert_neq(palloc_sum_pack(0, 1, 0), 0);
	cr_assert_neq(palloc_sum_pack(1, 1, 0), 0);
	cr_assert_neq(palloc_sum_pack(0, 1, 1), 0);
}

Test(palloc_sum, all_free_root_is_flag_bit)
{
	palloc_sum_t s = palloc_sum_pack(PALLOC_SUM_MAX, PALLOC_SUM_MAX,
					 PALLOC_SUM_MAX);

	cr_assert_eq(s, (uint64_t)1 << 63, "got %#llx",
		     (unsigned long long)s);
	cr_assert_eq(s, PALLOC_SUM_ALL_FREE);
	check_unpack(s, 1u << 21, 1u << 21, 1u << 21);
	/* The flag wins over whatever the field bits hold. */
	check_unpack(PALLOC_SUM_ALL_FREE | 0x1234, 1u << 21, 1u << 21,
		     1u << 21);
}

/* ---- merge ------------------------------------------------------------- */

static void check_merge(const palloc_sum_t *child, unsigned n,
			unsigned log_child, unsigned start, unsigned max,
			unsigned end)
{
	palloc_sum_t s = palloc_sum_merge(child, n, log_child);

	check_unpack(s, start, max, end);
	cr_assert_eq(s, palloc_sum_pack(start, max, end));
}

Test(palloc_sum, merge_all_free_chunks)
{
	palloc_sum_t c[8];

	for (unsigned k = 0; k < 8; k++)
		c[k] = palloc_sum_pack(512, 512, 512);
	check_merge(c, 8, 9, 4096, 4096, 4096);
}

Test(palloc_sum, merge_all_full)
{
	palloc_sum_t c[8] = { 0 };

	check_merge(c, 8, 9, 0, 0, 0);
	cr_assert_eq(palloc_sum_merge(c, 8, 9), 0);
	cr_assert_eq(palloc_sum_merge(c, 8, 18), 0);
}

Test(palloc_sum, merge_single_child)
{
	palloc_sum_t c = palloc_sum_pack(3, 40, 7);

	check_merge(&c, 1, 9, 3, 40, 7);
}

Test(palloc_sum, merge_run_across_children)
{
	const palloc_sum_t free_chunk = palloc_sum_pack(512, 512, 512);
	palloc_sum_t c[4];

	/* end of child 0 + free child 1 + start of child 2. */
	c[0] = palloc_sum_pack(0, 10, 5);
	c[1] = free_chunk;
	c[2] = palloc_sum_pack(7, 20, 0);
	check_merge(c, 3, 9, 0, 5 + 512 + 7, 0);

	/* start keeps growing through free children. */
	c[0] = free_chunk;
	c[1] = free_chunk;
	c[2] = palloc_sum_pack(3, 50, 0);
	c[3] = 0;
	check_merge(c, 4, 9, 1027, 1027, 0);

	/* end keeps growing through free children. */
	c[0] = 0;
	c[1] = palloc_sum_pack(0, 100, 100);
	c[2] = free_chunk;
	c[3] = free_chunk;
	check_merge(c, 4, 9, 0, 1124, 1124);

	/* An inner max beats the crossing runs. */
	c[0] = palloc_sum_pack(1, 300, 2);
	c[1] = palloc_sum_pack(3, 3, 3);
	c[2] = palloc_sum_pack(0, 0, 0);
	c[3] = palloc_sum_pack(4, 4, 4);
	check_merge(c, 4, 9, 1, 300, 4);

	/* A fully used child breaks a run. */
	c[0] = palloc_sum_pack(0, 200, 200);
	c[1] = 0;
	c[2] = palloc_sum_pack(250, 250, 0);
	c[3] = free_chunk;
	check_merge(c, 4, 9, 0, 512, 512);
}

Test(palloc_sum, merge_all_free_root)
{
	const unsigned child = 1u << 18;
	palloc_sum_t c[8];
	palloc_sum_t s;

	for (unsigned k = 0; k < 8; k++)
		c[k] = palloc_sum_pack(child, child, child);
	s = palloc_sum_merge(c, 8, 18);
	cr_assert_eq(s, (uint64_t)1 << 63, "got %#llx",
		     (unsigned long long)s);
	check_unpack(s, 1u << 21, 1u << 21, 1u << 21);

	/* One page short of all free: fits the 21-bit fields. */
	c[7] = palloc_sum_pack(child - 1, child - 1, 0);
	s = palloc_sum_merge(c, 8, 18);
	cr_assert_eq(s & PALLOC_SUM_ALL_FREE, 0);
	check_unpack(s, (1u << 21) - 1, (1u << 21) - 1, 0);

	c[7] = palloc_sum_pack(child, child, child);
	c[0] = palloc_sum_pack(0, child - 1, child - 1);
	s = palloc_sum_merge(c, 8, 18);
	check_unpack(s, 0, (1u << 21) - 1, (1u << 21) - 1);
}

#define RAND_CHUNKS 64

Test(palloc_sum, merge_random_vs_reference)
{
	static uint64_t bits[RAND_CHUNKS * 8];

	rng_seed(0x5eed0002);
	for (unsigned it = 0; it < 400; it++) {
		palloc_sum_t leaf[RAND_CHUNKS], mid[RAND_CHUNKS / 8];
		palloc_sum_t got, want;
		unsigned n;

		for (unsigned k = 0; k < RAND_CHUNKS; k++) {
			random_chunk(&bits[k * 8]);
			leaf[k] = ref_pack(ref_summary(&bits[k * 8], 512));
		}

		/* Level 1: 8 chunks (2^12 pages) per parent. */
		for (unsigned p = 0; p < RAND_CHUNKS / 8; p++) {
			mid[p] = palloc_sum_merge(&leaf[p * 8], 8, 9);
			want = ref_pack(ref_summary(&bits[p * 64], 4096));
			cr_assert_eq(mid[p], want,
				     "iteration %u parent %u: got %#llx want %#llx",
				     it, p, (unsigned long long)mid[p],
				     (unsigned long long)want);
		}

		/* Level 2: 8 parents (2^15 pages). */
		got = palloc_sum_merge(mid, 8, 12);
		want = ref_pack(ref_summary(bits, RAND_CHUNKS * 512));
		cr_assert_eq(got, want,
			     "iteration %u top: got %#llx want %#llx", it,
			     (unsigned long long)got,
			     (unsigned long long)want);

		/* Fewer than 8 children. */
		n = 1 + rng_below(8);
		got = palloc_sum_merge(leaf, n, 9);
		want = ref_pack(ref_summary(bits, n * 512));
		cr_assert_eq(got, want,
			     "iteration %u n %u: got %#llx want %#llx", it,
			     n, (unsigned long long)got,
			     (unsigned long long)want);
	}
}

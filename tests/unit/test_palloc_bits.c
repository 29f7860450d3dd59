/*
 * test_palloc_bits.c — the per-chunk bitmap primitives (core/palloc_bits.c).
 *
 * Table tests follow the cases of Go's mpallocbits_test.go; every algorithm
 * is also run over thousands of seeded random bitmaps and compared with a
 * bit-by-bit reference written in this file.
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <string.h>

#include "base.h"
#include "palloc_bits.h"

#define NONE PALLOC_BITS_NONE
#define ONES (~(uint64_t)0)

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

/* In [0, n). n > 0. */
static unsigned rng_below(unsigned n)
{
	return (unsigned)(rng_next() % n);
}

/* ---- bit-by-bit reference ---------------------------------------------- */

struct range {
	unsigned i, n;
};

struct sum3 {
	unsigned start, max, end;
};

static bool ref_get(const palloc_bits_t *b, unsigned i)
{
	return (b->w[i / 64] >> (i % 64)) & 1;
}

static void ref_put(palloc_bits_t *b, unsigned i, bool v)
{
	if (v)
		b->w[i / 64] |= (uint64_t)1 << (i % 64);
	else
		b->w[i / 64] &= ~((uint64_t)1 << (i % 64));
}

static void ref_put_range(palloc_bits_t *b, unsigned i, unsigned n, bool v)
{
	for (unsigned k = i; k < i + n; k++)
		ref_put(b, k, v);
}

static unsigned ref_count(const palloc_bits_t *b, unsigned i, unsigned n)
{
	unsigned c = 0;

	for (unsigned k = i; k < i + n; k++)
		c += ref_get(b, k);
	return c;
}

static struct sum3 ref_summarize(const palloc_bits_t *b)
{
	struct sum3 r = { 0, 0, 0 };
	unsigned run = 0, i;

	for (i = 0; i < PALLOC_CHUNK_PAGES && !ref_get(b, i); i++)
		;
	r.start = i;
	for (i = PALLOC_CHUNK_PAGES; i > 0 && !ref_get(b, i - 1); i--)
		;
	r.end = PALLOC_CHUNK_PAGES - i;
	for (i = 0; i < PALLOC_CHUNK_PAGES; i++) {
		run = ref_get(b, i) ? 0 : run + 1;
		if (run > r.max)
			r.max = run;
	}
	return r;
}

/* First index of n consecutive ones in c, 64 if none. */
static unsigned ref_find_range64(uint64_t c, unsigned n)
{
	for (unsigned i = 0; i + n <= 64; i++) {
		unsigned k;

		for (k = 0; k < n && ((c >> (i + k)) & 1); k++)
			;
		if (k == n)
			return i;
	}
	return 64;
}

static unsigned ref_longest_ones(uint64_t c)
{
	unsigned best = 0, run = 0;

	for (unsigned i = 0; i < 64; i++) {
		run = ((c >> i) & 1) ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best;
}

static unsigned ref_find(const palloc_bits_t *b, unsigned npages,
			 unsigned search_idx, unsigned *first_free)
{
	unsigned run = 0;

	*first_free = NONE;
	for (unsigned i = search_idx; i < PALLOC_CHUNK_PAGES; i++) {
		if (!ref_get(b, i)) {
			*first_free = i;
			break;
		}
	}
	for (unsigned i = search_idx; i < PALLOC_CHUNK_PAGES; i++) {
		run = ref_get(b, i) ? 0 : run + 1;
		if (run == npages)
			return i + 1 - npages;
	}
	return NONE;
}

static void bits_fill(palloc_bits_t *b, uint64_t word)
{
	for (unsigned k = 0; k < PALLOC_CHUNK_WORDS; k++)
		b->w[k] = word;
}

static void check_bits_eq(const palloc_bits_t *got, const palloc_bits_t *want,
			  const char *what)
{
	for (unsigned k = 0; k < PALLOC_CHUNK_WORDS; k++)
		cr_assert_eq(got->w[k], want->w[k],
			     "%s: word %u is %#llx, want %#llx", what, k,
			     (unsigned long long)got->w[k],
			     (unsigned long long)want->w[k]);
}

/*
 * A random bitmap drawn from several shapes, so that short and long runs,
 * runs inside a word and runs across words all show up.
 */
static void random_bits(palloc_bits_t *b)
{
	unsigned mode = rng_below(9);

	switch (mode) {
	case 0: /* random words */
		for (unsigned k = 0; k < PALLOC_CHUNK_WORDS; k++)
			b->w[k] = rng_next();
		break;
	case 1: /* sparse: mostly free */
		for (unsigned k = 0; k < PALLOC_CHUNK_WORDS; k++)
			b->w[k] = rng_next() & rng_next() & rng_next();
		break;
	case 2: /* very sparse */
		for (unsigned k = 0; k < PALLOC_CHUNK_WORDS; k++)
			b->w[k] = rng_next() & rng_next() & rng_next() &
				  rng_next() & rng_next() & rng_next();
		break;
	case 3: /* dense: mostly used */
		for (unsigned k = 0; k < PALLOC_CHUNK_WORDS; k++)
			b->w[k] = rng_next() | rng_next() | rng_next();
		break;
	case 4: /* mix of full, empty and random words */
		for (unsigned k = 0; k < PALLOC_CHUNK_WORDS; k++) {
			switch (rng_below(4)) {
			case 0:
				b->w[k] = 0;
				break;
			case 1:
				b->w[k] = ONES;
				break;
			case 2:
				b->w[k] = rng_next() & rng_next() & rng_next() &
					  rng_next();
				break;
			default:
				b->w[k] = rng_next() | rng_next() | rng_next() |
					  rng_next();
				break;
			}
		}
		break;
	case 5:
	case 6: { /* alternating runs of random length */
		static const unsigned scale[] = { 3, 8, 24, 70, 200 };
		unsigned lim = scale[rng_below(GCM_ARRAY_LEN(scale))];
		bool v = rng_below(2);

		for (unsigned i = 0; i < PALLOC_CHUNK_PAGES;) {
			unsigned len = 1 + rng_below(lim);

			if (len > PALLOC_CHUNK_PAGES - i)
				len = PALLOC_CHUNK_PAGES - i;
			ref_put_range(b, i, len, v);
			i += len;
			v = !v;
		}
		break;
	}
	default: { /* a few long ranges flipped on a full or empty chunk */
		unsigned nr = 1 + rng_below(5);

		bits_fill(b, rng_below(2) ? ONES : 0);
		for (unsigned r = 0; r < nr; r++) {
			unsigned a = rng_below(PALLOC_CHUNK_PAGES);
			unsigned len = 1 + rng_below(PALLOC_CHUNK_PAGES - a);

			ref_put_range(b, a, len, rng_below(2));
		}
		break;
	}
	}
}

/* ---- set / clear / count ----------------------------------------------- */

struct range_case {
	const char *name;
	struct range r;
	uint64_t want[PALLOC_CHUNK_WORDS];
};

static const struct range_case range_cases[] = {
	{ "OneLow", { 0, 1 }, { 1 } },
	{ "OneHigh", { 511, 1 }, { [7] = (uint64_t)1 << 63 } },
	{ "Inner", { 129, 5 }, { [2] = 0x3e } },
	{ "Aligned", { 128, 128 }, { [2] = ONES, [3] = ONES } },
	{ "Begin", { 0, 321 }, { ONES, ONES, ONES, ONES, ONES, 1 } },
	{ "End", { 385, 127 }, { [6] = ONES << 1, [7] = ONES } },
	{ "All", { 0, 512 }, { ONES, ONES, ONES, ONES, ONES, ONES, ONES, ONES } },
	{ "Straddle", { 60, 8 }, { 0xfull << 60, 0xf } },
	{ "StraddleTwo", { 63, 2 }, { (uint64_t)1 << 63, 1 } },
	{ "Word", { 64, 64 }, { [1] = ONES } },
	{ "ThreeWords", { 100, 150 },
	  { [1] = ONES << 36, [2] = ONES, [3] = ONES >> 6 } },
};

Test(palloc_bits, set_range_table)
{
	for (size_t k = 0; k < GCM_ARRAY_LEN(range_cases); k++) {
		const struct range_case *c = &range_cases[k];
		palloc_bits_t b, want;

		memcpy(want.w, c->want, sizeof(want.w));
		bits_fill(&b, 0);
		palloc_bits_set_range(&b, c->r.i, c->r.n);
		check_bits_eq(&b, &want, c->name);

		/* Setting again changes nothing. */
		palloc_bits_set_range(&b, c->r.i, c->r.n);
		check_bits_eq(&b, &want, c->name);
	}
}

Test(palloc_bits, clear_range_table)
{
	for (size_t k = 0; k < GCM_ARRAY_LEN(range_cases); k++) {
		const struct range_case *c = &range_cases[k];
		palloc_bits_t b, want;

		for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++)
			want.w[w] = ~c->want[w];
		bits_fill(&b, ONES);
		palloc_bits_clear_range(&b, c->r.i, c->r.n);
		check_bits_eq(&b, &want, c->name);
	}
}

Test(palloc_bits, count_range_table_ranges)
{
	for (size_t k = 0; k < GCM_ARRAY_LEN(range_cases); k++) {
		const struct range_case *c = &range_cases[k];
		palloc_bits_t b;

		memcpy(b.w, c->want, sizeof(b.w));
		cr_assert_eq(palloc_bits_count_range(&b, c->r.i, c->r.n),
			     c->r.n, "%s", c->name);
		cr_assert_eq(palloc_bits_count_range(&b, 0, 512), c->r.n,
			     "%s", c->name);
	}
}

Test(palloc_bits, set_clear_range_keep_other_bits)
{
	rng_seed(0xb175001);
	for (unsigned it = 0; it < 20000; it++) {
		palloc_bits_t b, want;
		unsigned i, n;

		random_bits(&b);
		want = b;
		i = rng_below(PALLOC_CHUNK_PAGES);
		/* Mostly short ranges, sometimes up to the end. */
		n = PALLOC_CHUNK_PAGES - i;
		if (rng_below(4) != 0)
			n = GCM_MIN(n, 70u);
		n = 1 + rng_below(n);
		if (it & 1) {
			palloc_bits_set_range(&b, i, n);
			ref_put_range(&want, i, n, true);
		} else {
			palloc_bits_clear_range(&b, i, n);
			ref_put_range(&want, i, n, false);
		}
		for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++)
			cr_assert_eq(b.w[w], want.w[w],
				     "it %u %s(%u, %u): word %u is %#llx want %#llx",
				     it, (it & 1) ? "set" : "clear", i, n, w,
				     (unsigned long long)b.w[w],
				     (unsigned long long)want.w[w]);
	}
}

struct count_case {
	unsigned i, n, want;
};

static void check_counts(const char *name, const palloc_bits_t *b,
			 const struct count_case *cases, size_t ncases)
{
	for (size_t k = 0; k < ncases; k++) {
		const struct count_case *c = &cases[k];
		unsigned got = palloc_bits_count_range(b, c->i, c->n);

		cr_assert_eq(got, c->want, "%s: count(%u, %u) = %u, want %u",
			     name, c->i, c->n, got, c->want);
	}
}

Test(palloc_bits, count_range_none)
{
	static const struct count_case cases[] = {
		{ 0, 1, 0 },   { 5, 1, 0 },	{ 0, 64, 0 }, { 1, 128, 0 },
		{ 0, 512, 0 }, { 511, 1, 0 }, { 200, 0, 0 }, { 512, 0, 0 },
	};
	palloc_bits_t b;

	bits_fill(&b, 0);
	check_counts("None", &b, cases, GCM_ARRAY_LEN(cases));
}

Test(palloc_bits, count_range_all)
{
	static const struct count_case cases[] = {
		{ 0, 1, 1 },	 { 5, 1, 1 },	  { 0, 64, 64 },
		{ 1, 128, 128 }, { 0, 512, 512 }, { 511, 1, 1 },
		{ 63, 2, 2 },	 { 200, 0, 0 },	  { 100, 300, 300 },
		{ 448, 64, 64 },
	};
	palloc_bits_t b;

	bits_fill(&b, ONES);
	check_counts("All", &b, cases, GCM_ARRAY_LEN(cases));
}

Test(palloc_bits, count_range_half)
{
	/* Every even page in use. */
	static const struct count_case cases[] = {
		{ 0, 1, 1 },	 { 1, 1, 0 },	 { 0, 64, 32 },
		{ 1, 64, 32 },	 { 1, 63, 31 },	 { 0, 512, 256 },
		{ 3, 7, 3 },	 { 63, 2, 1 },	 { 62, 3, 2 },
		{ 500, 12, 6 },	 { 1, 511, 255 }, { 64, 128, 64 },
	};
	palloc_bits_t b;

	bits_fill(&b, 0x5555555555555555ull);
	check_counts("Half", &b, cases, GCM_ARRAY_LEN(cases));
}

Test(palloc_bits, count_range_odd_bound)
{
	static const struct count_case cases[] = {
		{ 0, 111, 111 }, { 0, 110, 110 }, { 1, 110, 110 },
		{ 1, 111, 110 }, { 110, 1, 1 },	  { 111, 1, 0 },
		{ 64, 64, 47 },	 { 100, 100, 11 }, { 0, 512, 111 },
		{ 105, 10, 6 },	 { 111, 401, 0 },  { 63, 1, 1 },
	};
	palloc_bits_t b;

	bits_fill(&b, 0);
	palloc_bits_set_range(&b, 0, 111);
	cr_assert_eq(ref_count(&b, 0, 512), 111);
	check_counts("OddBound", &b, cases, GCM_ARRAY_LEN(cases));
}

Test(palloc_bits, count_range_scattered)
{
	static const struct range used[] = {
		{ 1, 3 }, { 64, 1 }, { 100, 30 }, { 140, 1 }, { 200, 64 },
		{ 400, 112 },
	};
	static const struct count_case cases[] = {
		{ 0, 512, 211 }, { 0, 4, 3 },	 { 2, 63, 3 },
		{ 64, 1, 1 },	 { 65, 35, 0 },	 { 99, 2, 1 },
		{ 100, 41, 31 }, { 150, 50, 0 }, { 199, 66, 64 },
		{ 264, 136, 0 }, { 399, 113, 112 }, { 450, 62, 62 },
	};
	palloc_bits_t b;

	bits_fill(&b, 0);
	for (size_t k = 0; k < GCM_ARRAY_LEN(used); k++)
		ref_put_range(&b, used[k].i, used[k].n, true);
	check_counts("Scattered", &b, cases, GCM_ARRAY_LEN(cases));
}

Test(palloc_bits, count_range_random)
{
	rng_seed(0xb175002);
	for (unsigned it = 0; it < 20000; it++) {
		palloc_bits_t b;
		unsigned i, n;

		random_bits(&b);
		i = rng_below(PALLOC_CHUNK_PAGES + 1);
		n = rng_below(PALLOC_CHUNK_PAGES - i + 1);
		cr_assert_eq(palloc_bits_count_range(&b, i, n),
			     ref_count(&b, i, n), "it %u count(%u, %u)", it, i,
			     n);
	}
}

Test(palloc_bits, block64)
{
	palloc_bits_t b;

	for (unsigned k = 0; k < PALLOC_CHUNK_WORDS; k++)
		b.w[k] = 0x1111111111111111ull * (k + 1);
	for (unsigned i = 0; i < PALLOC_CHUNK_PAGES; i++)
		cr_assert_eq(palloc_bits_block64(&b, i), b.w[i / 64]);
}

/* ---- summarize --------------------------------------------------------- */

static void check_summary(const palloc_bits_t *b, unsigned start,
			  unsigned max, unsigned end, const char *what,
			  unsigned idx)
{
	palloc_sum_t s = palloc_bits_summarize(b);

	cr_assert_eq(s, palloc_sum_pack(start, max, end),
		     "%s %u: got (%u, %u, %u) want (%u, %u, %u)", what, idx,
		     palloc_sum_start(s), palloc_sum_max(s), palloc_sum_end(s),
		     start, max, end);
}

struct sum_case {
	const char *name;
	struct range free[4];
	struct sum3 want;
};

Test(palloc_bits, summarize_table)
{
	static const struct sum_case cases[] = {
		{ "NoneFree", { { 0, 0 } }, { 0, 0, 0 } },
		{ "OnlyStart", { { 0, 10 } }, { 10, 10, 0 } },
		{ "OnlyEnd", { { 502, 10 } }, { 0, 10, 10 } },
		{ "StartAndEnd", { { 0, 10 }, { 502, 10 } }, { 10, 10, 10 } },
		{ "StartMaxEnd",
		  { { 0, 10 }, { 100, 50 }, { 502, 10 } },
		  { 10, 50, 10 } },
		{ "OnlyMax",
		  { { 1, 20 }, { 35, 241 }, { 456, 50 } },
		  { 0, 241, 0 } },
		{ "MultiMax",
		  { { 35, 2 }, { 40, 5 }, { 100, 5 } },
		  { 0, 5, 0 } },
		{ "One", { { 2, 1 } }, { 0, 1, 0 } },
		{ "AllFree", { { 0, 512 } }, { 512, 512, 512 } },
		{ "InnerOnly", { { 3, 40 } }, { 0, 40, 0 } },
		{ "Inner62", { { 129, 62 } }, { 0, 62, 0 } },
		{ "Inner61AndSmall",
		  { { 65, 61 }, { 130, 5 }, { 500, 3 } },
		  { 0, 61, 0 } },
		{ "AcrossWord", { { 60, 10 } }, { 0, 10, 0 } },
		{ "InnerBeatsAcross",
		  { { 0, 3 }, { 60, 10 }, { 200, 30 }, { 509, 3 } },
		  { 3, 30, 3 } },
		{ "StartIs62", { { 0, 62 }, { 70, 61 } }, { 62, 62, 0 } },
		{ "Inner62BeatsAcross61",
		  { { 1, 62 }, { 200, 61 } },
		  { 0, 62, 0 } },
		{ "LastPage", { { 511, 1 } }, { 0, 1, 1 } },
		{ "FirstPage", { { 0, 1 } }, { 1, 1, 0 } },
	};

	for (size_t k = 0; k < GCM_ARRAY_LEN(cases); k++) {
		const struct sum_case *c = &cases[k];
		palloc_bits_t b;

		/* Build the map by inverting: start in use, free ranges. */
		bits_fill(&b, ONES);
		for (size_t r = 0; r < GCM_ARRAY_LEN(c->free); r++)
			if (c->free[r].n)
				palloc_bits_clear_range(&b, c->free[r].i,
							c->free[r].n);
		check_summary(&b, c->want.start, c->want.max, c->want.end,
			      c->name, 0);
	}
}

Test(palloc_bits, summarize_all_free_is_free_chunk)
{
	palloc_bits_t b;

	bits_fill(&b, 0);
	cr_assert_eq(palloc_bits_summarize(&b), palloc_sum_pack(512, 512, 512));
	bits_fill(&b, ONES);
	cr_assert_eq(palloc_bits_summarize(&b), 0);
}

/*
 * Every single zero run strictly inside a word, in every word; alone, and
 * next to a run one page shorter across a word boundary, so that pass 1
 * ends with max just below the answer.
 */
Test(palloc_bits, summarize_inner_runs)
{
	unsigned idx = 0;

	for (unsigned len = 1; len <= 62; len++) {
		for (unsigned off = 1; off + len <= 63; off++) {
			palloc_bits_t b;
			unsigned w = (len + off) % PALLOC_CHUNK_WORDS;
			unsigned k = (w + 4) % PALLOC_CHUNK_WORDS;

			bits_fill(&b, ONES);
			b.w[w] = ~((ONES >> (64 - len)) << off);
			check_summary(&b, 0, len, 0, "inner run", idx++);

			/* Words k-1 and k are both different from w. */
			if (k == 0)
				k = 2;
			if (len > 1)
				ref_put_range(&b, k * 64 - (len - 1) / 2,
					      len - 1, false);
			check_summary(&b, 0, len, 0, "inner run + across",
				      idx++);
		}
	}
}

/* Two runs inside one word plus one across a word boundary. */
Test(palloc_bits, summarize_inner_two_runs)
{
	static const unsigned across[] = { 0, 5, 17, 29 };
	unsigned idx = 0;

	for (unsigned a = 1; a <= 30; a++) {
		for (unsigned c = 1; c <= 30; c++) {
			for (size_t k = 0; k < GCM_ARRAY_LEN(across); k++) {
				unsigned x = across[k];
				unsigned want = GCM_MAX(x, GCM_MAX(a, c));
				palloc_bits_t b;

				bits_fill(&b, ONES);
				/* Word 6: 1, a zeros, 1, c zeros, ones. */
				ref_put_range(&b, 6 * 64 + 1, a, false);
				ref_put_range(&b, 6 * 64 + 2 + a, c, false);
				/* Around the word 2/3 boundary. */
				if (x)
					ref_put_range(&b, 3 * 64 - x / 2, x,
						      false);
				check_summary(&b, 0, want, 0, "two runs",
					      idx++);
			}
		}
	}
}

Test(palloc_bits, summarize_random_vs_reference)
{
	rng_seed(0xb175003);
	for (unsigned it = 0; it < 20000; it++) {
		palloc_bits_t b;
		struct sum3 want;

		random_bits(&b);
		want = ref_summarize(&b);
		check_summary(&b, want.start, want.max, want.end, "random",
			      it);
	}
}

/* ---- find_range64 ------------------------------------------------------ */

Test(palloc_bits, find_range64_all_ones)
{
	for (unsigned n = 1; n <= 64; n++)
		cr_assert_eq(palloc_bits_find_range64(ONES, n), 0, "n %u", n);
}

Test(palloc_bits, find_range64_zero_fails)
{
	for (unsigned n = 1; n <= 64; n++)
		cr_assert_geq(palloc_bits_find_range64(0, n), 64, "n %u", n);
}

Test(palloc_bits, find_range64_table)
{
	static const struct {
		uint64_t c;
		unsigned n, want; /* 64 means "none" */
	} cases[] = {
		{ 0xc000010001030000ull, 2, 16 },
		{ 0xffff03ff01070000ull, 16, 48 },
		{ 0xffff03ff01070000ull, 10, 32 },
		{ 0xffff03ff01070000ull, 3, 16 },
		{ 0xffff03ff01070000ull, 4, 32 },
		{ 0xffff03ff01070000ull, 17, 64 },
		{ (uint64_t)1 << 63, 1, 63 },
		{ (uint64_t)1 << 63, 2, 64 },
		{ 0x8000000000000001ull, 2, 64 },
		{ 0x8000000000000001ull, 1, 0 },
		{ ONES >> 1, 63, 0 },
		{ ONES >> 1, 64, 64 },
		{ ONES << 1, 63, 1 },
		{ 0x00ff00ff00ff00ffull, 8, 0 },
		{ 0x00ff00ff00ff00feull, 8, 16 },
		{ 0x00ff00ff00ff00feull, 9, 64 },
		{ 0xf0f0ull, 4, 4 },
		{ 0xaaaaaaaaaaaaaaaaull, 1, 1 },
		{ 0xaaaaaaaaaaaaaaaaull, 2, 64 },
	};

	for (size_t k = 0; k < GCM_ARRAY_LEN(cases); k++) {
		unsigned got = palloc_bits_find_range64(cases[k].c, cases[k].n);

		if (cases[k].want == 64)
			cr_assert_geq(got, 64, "case %zu: got %u", k, got);
		else
			cr_assert_eq(got, cases[k].want,
				     "case %zu: got %u want %u", k, got,
				     cases[k].want);
	}
}

static void check_range64(uint64_t c, unsigned n, unsigned it)
{
	unsigned got = palloc_bits_find_range64(c, n);
	unsigned want = ref_find_range64(c, n);

	if (want == 64)
		cr_assert_geq(got, 64, "it %u: (%#llx, %u) got %u, want none",
			      it, (unsigned long long)c, n, got);
	else
		cr_assert_eq(got, want, "it %u: (%#llx, %u) got %u, want %u",
			     it, (unsigned long long)c, n, got, want);
}

Test(palloc_bits, find_range64_random_vs_reference)
{
	rng_seed(0xb175004);
	for (unsigned it = 0; it < 20000; it++) {
		uint64_t c;
		unsigned longest;

		switch (it % 4) {
		case 0:
			c = rng_next();
			break;
		case 1:
			c = rng_next() | rng_next() | rng_next();
			break;
		case 2:
			c = rng_next() | rng_next() | rng_next() | rng_next() |
			    rng_next() | rng_next();
			break;
		default: {
			/* One or two runs of random length. */
			unsigned lo = rng_below(64);
			unsigned len = 1 + rng_below(64 - lo);

			c = (ONES >> (64 - len)) << lo;
			if (rng_below(2))
				c |= rng_next() & rng_next();
			break;
		}
		}
		longest = ref_longest_ones(c);
		check_range64(c, 1 + rng_below(64), it);
		if (longest >= 1)
			check_range64(c, longest, it);
		if (longest < 64)
			check_range64(c, longest + 1, it);
	}
}

/* ---- find -------------------------------------------------------------- */

struct step {
	unsigned npages, want;
};

/*
 * Go-style sequence: the chunk starts with `used` allocated, each step finds
 * npages from index 0 and, on success, allocates what it found.
 */
static void run_steps(const char *name, const struct range *used,
		      size_t nused, const struct step *steps, size_t nsteps)
{
	palloc_bits_t b;

	bits_fill(&b, 0);
	for (size_t k = 0; k < nused; k++)
		palloc_bits_set_range(&b, used[k].i, used[k].n);
	for (size_t k = 0; k < nsteps; k++) {
		unsigned ff, want_ff;
		unsigned got = palloc_bits_find(&b, steps[k].npages, 0, &ff);

		ref_find(&b, steps[k].npages, 0, &want_ff);
		cr_assert_eq(got, steps[k].want,
			     "%s step %zu: find(%u) = %u, want %u", name, k,
			     steps[k].npages, got, steps[k].want);
		cr_assert_eq(ff, want_ff,
			     "%s step %zu: first_free %u, want %u", name, k, ff,
			     want_ff);
		if (got != NONE) {
			cr_assert_eq(ref_count(&b, got, steps[k].npages), 0);
			palloc_bits_set_range(&b, got, steps[k].npages);
		}
	}
}

Test(palloc_bits, find_all_free)
{
	static const unsigned sizes[] = { 1, 2, 5, 64, 65 };

	for (size_t s = 0; s < GCM_ARRAY_LEN(sizes); s++) {
		struct step steps[PALLOC_CHUNK_PAGES + 1];
		unsigned n = sizes[s], k;

		for (k = 0; k < PALLOC_CHUNK_PAGES / n; k++)
			steps[k] = (struct step){ n, k * n };
		steps[k++] = (struct step){ n, NONE };
		run_steps("AllFree", NULL, 0, steps, k);
	}
}

Test(palloc_bits, find_all_free_mixed)
{
	static const struct step steps[] = {
		{ 1, 0 },  { 2, 1 },	 { 5, 3 },   { 64, 8 },
		{ 65, 72 }, { 1, 137 }, { 512, NONE }, { 374, 138 },
		{ 1, NONE },
	};

	run_steps("AllFreeMixed", NULL, 0, steps, GCM_ARRAY_LEN(steps));
}

Test(palloc_bits, find_some_free_64_fails)
{
	static const struct range used[] = {
		{ 0, 32 },   { 64, 32 },  { 128, 32 }, { 192, 32 },
		{ 256, 32 }, { 320, 32 }, { 384, 32 }, { 448, 32 },
	};
	static const struct step steps[] = {
		{ 64, NONE }, { 33, NONE }, { 65, NONE }, { 32, 32 },
		{ 32, 96 },   { 1, 160 },   { 31, 161 },  { 2, 224 },
	};

	run_steps("SomeFree64", used, GCM_ARRAY_LEN(used), steps,
		  GCM_ARRAY_LEN(steps));
}

Test(palloc_bits, find_none_free)
{
	static const struct range used[] = { { 0, 512 } };
	static const struct step steps[] = {
		{ 1, NONE }, { 2, NONE }, { 5, NONE }, { 64, NONE },
		{ 65, NONE }, { 512, NONE },
	};

	run_steps("NoneFree", used, 1, steps, GCM_ARRAY_LEN(steps));
}

Test(palloc_bits, find_exact_fit)
{
	static const unsigned sizes[] = { 1, 2, 5, 63, 64, 65, 200 };
	static const unsigned holes[] = { 0, 61, 130, 192 };

	for (size_t s = 0; s < GCM_ARRAY_LEN(sizes); s++) {
		for (size_t h = 0; h < GCM_ARRAY_LEN(holes); h++) {
			unsigned n = sizes[s], at = holes[h];
			struct range used[2];
			size_t nused = 0;
			struct step steps[3];

			if (at)
				used[nused++] = (struct range){ 0, at };
			used[nused++] = (struct range){ at + n, 512 - at - n };
			steps[0] = (struct step){ n + 1, NONE };
			steps[1] = (struct step){ n, at };
			steps[2] = (struct step){ n, NONE };
			run_steps("ExactFit", used, nused, steps, 3);
		}
	}
}

Test(palloc_bits, find_some_free_161)
{
	static const struct range used[] = { { 0, 185 }, { 347, 1 } };
	static const struct step steps[] = {
		{ 161, 185 }, { 161, 348 }, { 161, NONE }, { 1, 346 },
		{ 3, 509 },   { 1, NONE },
	};

	run_steps("SomeFree161", used, GCM_ARRAY_LEN(used), steps,
		  GCM_ARRAY_LEN(steps));
}

Test(palloc_bits, find_across_words)
{
	/* Holes [60, 69) and [130, 140): 10 pages only fit in the second. */
	static const struct range used[] = {
		{ 0, 60 }, { 69, 61 }, { 140, 372 },
	};
	static const struct step steps[] = {
		{ 10, 130 }, { 9, 60 }, { 1, NONE },
	};

	run_steps("AcrossWords", used, GCM_ARRAY_LEN(used), steps,
		  GCM_ARRAY_LEN(steps));
}

Test(palloc_bits, find_first_free_reported_on_miss)
{
	palloc_bits_t b;
	unsigned ff = 0;

	bits_fill(&b, ONES);
	b.w[1] &= ~((uint64_t)1 << 5);
	b.w[4] &= ~((uint64_t)0xff << 20);
	cr_assert_eq(palloc_bits_find(&b, 512, 0, &ff), NONE);
	cr_assert_eq(ff, 69);
	cr_assert_eq(palloc_bits_find(&b, 9, 0, &ff), NONE);
	cr_assert_eq(ff, 69);
	cr_assert_eq(palloc_bits_find(&b, 8, 0, &ff), 4 * 64 + 20);
	cr_assert_eq(ff, 69);
	cr_assert_eq(palloc_bits_find(&b, 1, 0, &ff), 69);
	cr_assert_eq(ff, 69);
	/* Starting at word 2 skips page 69. */
	cr_assert_eq(palloc_bits_find(&b, 2, 128, &ff), 4 * 64 + 20);
	cr_assert_eq(ff, 4 * 64 + 20);
	cr_assert_eq(palloc_bits_find(&b, 100, 320, &ff), NONE);
	cr_assert_eq(ff, NONE);
	cr_assert_eq(palloc_bits_find(&b, 1, 320, &ff), NONE);
	cr_assert_eq(ff, NONE);
}

static void check_find(const palloc_bits_t *b, unsigned npages,
		       unsigned search_idx, unsigned it)
{
	unsigned ff, want_ff;
	unsigned got = palloc_bits_find(b, npages, search_idx, &ff);
	unsigned want = ref_find(b, npages, search_idx, &want_ff);

	cr_assert_eq(got, want, "it %u: find(%u, %u) = %u, want %u", it,
		     npages, search_idx, got, want);
	cr_assert_eq(ff, want_ff,
		     "it %u: find(%u, %u) first_free %u, want %u", it, npages,
		     search_idx, ff, want_ff);
}

Test(palloc_bits, find_random_vs_reference)
{
	rng_seed(0xb175005);
	for (unsigned it = 0; it < 20000; it++) {
		palloc_bits_t b;
		unsigned search_idx, longest;

		random_bits(&b);
		search_idx = rng_below(4) ? 0 : rng_below(PALLOC_CHUNK_PAGES);
		/* Precondition: everything below search_idx is in use. */
		if (search_idx)
			ref_put_range(&b, 0, search_idx, true);
		longest = ref_summarize(&b).max;

		check_find(&b, 1 + rng_below(PALLOC_CHUNK_PAGES), search_idx,
			   it);
		check_find(&b, 1 + rng_below(64), search_idx, it);
		check_find(&b, 1 + rng_below(8), search_idx, it);
		if (longest >= 1)
			check_find(&b, longest, search_idx, it);
		if (longest < PALLOC_CHUNK_PAGES)
			check_find(&b, longest + 1, search_idx, it);
	}
}

/* ---- chunk alloc / free ------------------------------------------------ */

Test(palloc_bits, chunk_alloc_returns_and_clears_scavenged)
{
	palloc_chunk_t c;
	palloc_bits_t want_scav, want_alloc;

	memset(&c, 0, sizeof(c));
	ref_put_range(&c.scav, 10, 10, true);
	ref_put_range(&c.scav, 100, 200, true);

	cr_assert_eq(palloc_chunk_alloc_range(&c, 15, 100), 5 + 15);
	bits_fill(&want_alloc, 0);
	ref_put_range(&want_alloc, 15, 100, true);
	bits_fill(&want_scav, 0);
	ref_put_range(&want_scav, 10, 5, true);
	ref_put_range(&want_scav, 115, 185, true);
	check_bits_eq(&c.alloc, &want_alloc, "alloc");
	check_bits_eq(&c.scav, &want_scav, "scav");

	cr_assert_eq(palloc_chunk_alloc_range(&c, 0, 5), 0);
	cr_assert_eq(palloc_chunk_alloc_range(&c, 400, 112), 0);
	cr_assert_eq(palloc_chunk_alloc_range(&c, 299, 1), 1);
	cr_assert_eq(palloc_chunk_alloc_range(&c, 115, 184), 184);
	bits_fill(&want_scav, 0);
	ref_put_range(&want_scav, 10, 5, true);
	check_bits_eq(&c.scav, &want_scav, "scav after");
	cr_assert_eq(palloc_bits_count_range(&c.alloc, 0, 512),
		     5 + 100 + 184 + 1 + 112);
}

Test(palloc_bits, chunk_free_leaves_scavenged_alone)
{
	palloc_chunk_t c;
	palloc_bits_t scav_before;

	memset(&c, 0, sizeof(c));
	ref_put_range(&c.scav, 0, 40, true);
	ref_put_range(&c.scav, 300, 12, true);
	cr_assert_eq(palloc_chunk_alloc_range(&c, 50, 200), 0);
	cr_assert_eq(palloc_chunk_alloc_range(&c, 40, 1), 0);
	scav_before = c.scav;

	palloc_chunk_free_range(&c, 60, 100);
	palloc_chunk_free_range(&c, 40, 1);
	check_bits_eq(&c.scav, &scav_before, "scav");
	cr_assert_eq(palloc_bits_count_range(&c.alloc, 0, 512), 100);
	cr_assert_eq(palloc_bits_count_range(&c.alloc, 50, 10), 10);
	cr_assert_eq(palloc_bits_count_range(&c.alloc, 160, 90), 90);
}

/* Random sub-range of the run of pages equal to `used` containing p. */
static struct range pick_in_run(const palloc_bits_t *alloc, unsigned p)
{
	bool v = ref_get(alloc, p);
	unsigned lo = p, hi = p + 1, a, b;

	while (lo > 0 && ref_get(alloc, lo - 1) == v)
		lo--;
	while (hi < PALLOC_CHUNK_PAGES && ref_get(alloc, hi) == v)
		hi++;
	a = lo + rng_below(hi - lo);
	b = a + 1 + rng_below(hi - a);
	return (struct range){ a, b - a };
}

Test(palloc_bits, chunk_random_alloc_free_never_both)
{
	rng_seed(0xb175006);
	for (unsigned seq = 0; seq < 300; seq++) {
		palloc_chunk_t c;
		palloc_bits_t m_alloc, m_scav;

		memset(&c, 0, sizeof(c));
		bits_fill(&m_alloc, 0);
		bits_fill(&m_scav, 0);
		if (seq & 1) {
			/* Start fully scavenged, as fresh memory would be. */
			bits_fill(&c.scav, ONES);
			bits_fill(&m_scav, ONES);
		}

		for (unsigned op = 0; op < 200; op++) {
			unsigned p = rng_below(PALLOC_CHUNK_PAGES);
			struct range r = pick_in_run(&m_alloc, p);
			bool used = ref_get(&m_alloc, p);

			if (!used && rng_below(3) == 0) {
				/* The scavenger releases free pages. */
				palloc_bits_set_range(&c.scav, r.i, r.n);
				ref_put_range(&m_scav, r.i, r.n, true);
			} else if (!used) {
				unsigned want = ref_count(&m_scav, r.i, r.n);

				cr_assert_eq(palloc_chunk_alloc_range(&c, r.i,
								      r.n),
					     want, "seq %u op %u alloc(%u, %u)",
					     seq, op, r.i, r.n);
				ref_put_range(&m_alloc, r.i, r.n, true);
				ref_put_range(&m_scav, r.i, r.n, false);
			} else {
				palloc_chunk_free_range(&c, r.i, r.n);
				ref_put_range(&m_alloc, r.i, r.n, false);
			}

			for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++) {
				cr_assert_eq(c.alloc.w[w] & c.scav.w[w], 0,
					     "seq %u op %u word %u both set",
					     seq, op, w);
				cr_assert_eq(c.alloc.w[w], m_alloc.w[w],
					     "seq %u op %u alloc word %u", seq,
					     op, w);
				cr_assert_eq(c.scav.w[w], m_scav.w[w],
					     "seq %u op %u scav word %u", seq,
					     op, w);
			}
		}
	}
}

#if GCM_ASSERTIONS
Test(palloc_bits, chunk_alloc_of_used_range_aborts, .signal = SIGABRT)
{
	palloc_chunk_t c;

	memset(&c, 0, sizeof(c));
	palloc_chunk_alloc_range(&c, 10, 10);
	palloc_chunk_alloc_range(&c, 19, 2);
}

Test(palloc_bits, chunk_free_of_free_range_aborts, .signal = SIGABRT)
{
	palloc_chunk_t c;

	memset(&c, 0, sizeof(c));
	palloc_chunk_alloc_range(&c, 10, 10);
	palloc_chunk_free_range(&c, 5, 10);
}

Test(palloc_bits, find_with_free_page_below_hint_aborts, .signal = SIGABRT)
{
	palloc_bits_t b;
	unsigned ff;

	bits_fill(&b, 0);
	palloc_bits_find(&b, 1, 3, &ff);
}
#endif

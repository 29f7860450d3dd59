/*
 * test_addrrange.c — the sorted, coalesced range set (core/addrrange.c).
 *
 * Cases after Go's mranges_test.go: adding ranges that coalesce with the
 * range below, above, both or neither; the lookups find_succ, contains and
 * find_addr_ge at every edge; growth of the array past its initial 16
 * entries; and a randomised comparison with a slot bitmap.
 */
#include "gcm_config.h"
#include "palloc_model.h"
#include "addrrange.h"

#include <criterion/redirect.h>
#include <signal.h>

#define K4 ((uintptr_t)0x1000)

struct rng {
	uintptr_t base, limit;
};

static void expect_ranges(const addrrange_set_t *s, const struct rng *want, unsigned n)
{
	size_t total = 0;

	cr_assert_eq(s->n, n, "%zu ranges, want %u", s->n, n);
	cr_assert_geq(s->cap, s->n);
	for (unsigned k = 0; k < n; k++) {
		cr_assert_eq(s->ranges[k].base, want[k].base, "range %u: base %#lx, want %#lx",
			     k, (unsigned long)s->ranges[k].base, (unsigned long)want[k].base);
		cr_assert_eq(s->ranges[k].limit, want[k].limit, "range %u: limit %#lx, want %#lx",
			     k, (unsigned long)s->ranges[k].limit, (unsigned long)want[k].limit);
		total += want[k].limit - want[k].base;
	}
	cr_assert_eq(s->total_bytes, total, "total_bytes %zu, want %zu", s->total_bytes, total);
}

#define EXPECT_RANGES(s, ...)                                           \
	do {                                                            \
		const struct rng w_[] = { __VA_ARGS__ };                \
		expect_ranges(s, w_, NELEM(w_));                        \
	} while (0)

Test(addrrange, empty_set)
{
	addrrange_set_t s = { 0 };
	uintptr_t out = 7;

	cr_expect_eq(addrrange_find_succ(&s, 0), 0);
	cr_expect_eq(addrrange_find_succ(&s, UINTPTR_MAX), 0);
	cr_expect(!addrrange_contains(&s, 0));
	cr_expect(!addrrange_contains(&s, 0x5000));
	cr_expect(!addrrange_find_addr_ge(&s, 0, &out));
	cr_expect_eq(out, 7, "find_addr_ge wrote its result on failure");
	addrrange_destroy(&s);
}

Test(addrrange, add_none_keeps_ranges_apart)
{
	addrrange_set_t s = { 0 };

	cr_assert(addrrange_add(&s, 0x10 * K4, 0x20 * K4));
	EXPECT_RANGES(&s, { 0x10 * K4, 0x20 * K4 });
	cr_assert(addrrange_add(&s, 0x30 * K4, 0x40 * K4));     /* above, gap */
	cr_assert(addrrange_add(&s, 0x1 * K4, 0x2 * K4));       /* below, gap */
	cr_assert(addrrange_add(&s, 0x21 * K4, 0x22 * K4));     /* middle, gaps */
	EXPECT_RANGES(&s, { 0x1 * K4, 0x2 * K4 }, { 0x10 * K4, 0x20 * K4 },
		      { 0x21 * K4, 0x22 * K4 }, { 0x30 * K4, 0x40 * K4 });
	addrrange_destroy(&s);
	cr_expect_eq(s.n, 0);
	cr_expect_eq(s.ranges, NULL);
}

/* The new range starts where an existing one ends: it extends it. */
Test(addrrange, add_coalesces_with_range_below)
{
	addrrange_set_t s = { 0 };

	cr_assert(addrrange_add(&s, 0x10 * K4, 0x20 * K4));
	cr_assert(addrrange_add(&s, 0x40 * K4, 0x50 * K4));
	cr_assert(addrrange_add(&s, 0x20 * K4, 0x28 * K4));
	EXPECT_RANGES(&s, { 0x10 * K4, 0x28 * K4 }, { 0x40 * K4, 0x50 * K4 });
	cr_assert(addrrange_add(&s, 0x50 * K4, 0x51 * K4));
	EXPECT_RANGES(&s, { 0x10 * K4, 0x28 * K4 }, { 0x40 * K4, 0x51 * K4 });
	addrrange_destroy(&s);
}

/* The new range ends where an existing one starts: it extends it down. */
Test(addrrange, add_coalesces_with_range_above)
{
	addrrange_set_t s = { 0 };

	cr_assert(addrrange_add(&s, 0x10 * K4, 0x20 * K4));
	cr_assert(addrrange_add(&s, 0x40 * K4, 0x50 * K4));
	cr_assert(addrrange_add(&s, 0x30 * K4, 0x40 * K4));
	EXPECT_RANGES(&s, { 0x10 * K4, 0x20 * K4 }, { 0x30 * K4, 0x50 * K4 });
	cr_assert(addrrange_add(&s, 0x8 * K4, 0x10 * K4));
	EXPECT_RANGES(&s, { 0x8 * K4, 0x20 * K4 }, { 0x30 * K4, 0x50 * K4 });
	addrrange_destroy(&s);
}

/* The new range exactly fills a gap: three ranges become one. */
Test(addrrange, add_coalesces_with_both)
{
	addrrange_set_t s = { 0 };

	cr_assert(addrrange_add(&s, 0x10 * K4, 0x20 * K4));
	cr_assert(addrrange_add(&s, 0x30 * K4, 0x40 * K4));
	cr_assert(addrrange_add(&s, 0x50 * K4, 0x60 * K4));
	cr_assert(addrrange_add(&s, 0x70 * K4, 0x80 * K4));
	cr_assert(addrrange_add(&s, 0x20 * K4, 0x30 * K4));
	EXPECT_RANGES(&s, { 0x10 * K4, 0x40 * K4 }, { 0x50 * K4, 0x60 * K4 },
		      { 0x70 * K4, 0x80 * K4 });
	cr_assert(addrrange_add(&s, 0x60 * K4, 0x70 * K4));
	EXPECT_RANGES(&s, { 0x10 * K4, 0x40 * K4 }, { 0x50 * K4, 0x80 * K4 });
	cr_assert(addrrange_add(&s, 0x40 * K4, 0x50 * K4));
	EXPECT_RANGES(&s, { 0x10 * K4, 0x80 * K4 });
	addrrange_destroy(&s);
}

static void make_three(addrrange_set_t *s)
{
	cr_assert(addrrange_add(s, 0x5 * K4, 0x6 * K4));
	cr_assert(addrrange_add(s, 0x1 * K4, 0x2 * K4));
	cr_assert(addrrange_add(s, 0x9 * K4, 0xa * K4));
}

Test(addrrange, find_succ)
{
	addrrange_set_t s = { 0 };
	make_three(&s);
	const struct {
		uintptr_t addr;
		size_t want;
	} cases[] = {
		{ 0, 0 }, { 0x1 * K4 - 1, 0 }, { 0x1 * K4, 1 }, { 0x2 * K4 - 1, 1 },
		{ 0x2 * K4, 1 }, { 0x5 * K4 - 1, 1 }, { 0x5 * K4, 2 }, { 0x6 * K4, 2 },
		{ 0x9 * K4 - 1, 2 }, { 0x9 * K4, 3 }, { 0xa * K4, 3 }, { UINTPTR_MAX, 3 },
	};
	for (unsigned k = 0; k < NELEM(cases); k++)
		cr_expect_eq(addrrange_find_succ(&s, cases[k].addr), cases[k].want,
			     "find_succ(%#lx)", (unsigned long)cases[k].addr);
	addrrange_destroy(&s);
}

Test(addrrange, contains)
{
	addrrange_set_t s = { 0 };
	make_three(&s);
	const struct {
		uintptr_t addr;
		bool want;
	} cases[] = {
		{ 0, false }, { 0x1 * K4 - 1, false }, { 0x1 * K4, true },
		{ 0x2 * K4 - 1, true }, { 0x2 * K4, false }, { 0x5 * K4 + 0x800, true },
		{ 0x6 * K4, false }, { 0x9 * K4, true }, { 0xa * K4 - 1, true },
		{ 0xa * K4, false }, { UINTPTR_MAX, false },
	};
	for (unsigned k = 0; k < NELEM(cases); k++)
		cr_expect_eq(addrrange_contains(&s, cases[k].addr), cases[k].want,
			     "contains(%#lx)", (unsigned long)cases[k].addr);
	addrrange_destroy(&s);
}

Test(addrrange, find_addr_ge)
{
	addrrange_set_t s = { 0 };
	make_three(&s);
	const struct {
		uintptr_t addr;
		bool found;
		uintptr_t want;
	} cases[] = {
		{ 0, true, 0x1 * K4 },
		{ 0x1 * K4, true, 0x1 * K4 },
		{ 0x1 * K4 + 0x123, true, 0x1 * K4 + 0x123 },
		{ 0x2 * K4 - 1, true, 0x2 * K4 - 1 },
		{ 0x2 * K4, true, 0x5 * K4 },          /* the limit is outside */
		{ 0x4 * K4, true, 0x5 * K4 },
		{ 0x6 * K4, true, 0x9 * K4 },
		{ 0xa * K4 - 1, true, 0xa * K4 - 1 },
		{ 0xa * K4, false, 0 },
		{ UINTPTR_MAX, false, 0 },
	};
	for (unsigned k = 0; k < NELEM(cases); k++) {
		uintptr_t out = 0;
		bool found = addrrange_find_addr_ge(&s, cases[k].addr, &out);
		cr_expect_eq(found, cases[k].found, "find_addr_ge(%#lx) found", (unsigned long)cases[k].addr);
		if (found && cases[k].found)
			cr_expect_eq(out, cases[k].want, "find_addr_ge(%#lx) = %#lx, want %#lx",
				     (unsigned long)cases[k].addr, (unsigned long)out,
				     (unsigned long)cases[k].want);
	}
	addrrange_destroy(&s);
}

/* 40 separate ranges in a shuffled order: the array grows twice (16, 32,
 * 64) and stays sorted; then filling the gaps merges everything. */
Test(addrrange, growth_past_16_entries)
{
	addrrange_set_t s = { 0 };
	unsigned order[40];
	pm_rng_t r;

	pm_rng_seed(&r, 40);
	for (unsigned i = 0; i < 40; i++)
		order[i] = i;
	for (unsigned i = 39; i > 0; i--) {
		unsigned j = (unsigned)pm_rng_below(&r, i + 1), tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	for (unsigned i = 0; i < 40; i++) {
		uintptr_t b = (uintptr_t)(4 * order[i] + 1) * K4;
		cr_assert(addrrange_add(&s, b, b + 2 * K4));
		cr_assert_eq(s.n, i + 1);
	}
	cr_assert_geq(s.cap, 40);
	struct rng want[40];
	for (unsigned i = 0; i < 40; i++)
		want[i] = (struct rng){ (4 * i + 1) * K4, (4 * i + 3) * K4 };
	expect_ranges(&s, want, 40);
	for (unsigned i = 0; i < 40; i++) {
		cr_expect(addrrange_contains(&s, (4 * i + 2) * K4));
		cr_expect(!addrrange_contains(&s, (4 * i + 3) * K4));
		uintptr_t out;
		cr_expect(addrrange_find_addr_ge(&s, (4 * i) * K4, &out));
		cr_expect_eq(out, (4 * i + 1) * K4);
	}
	/* Fill the gaps from the top down. */
	for (unsigned i = 39; i > 0; i--)
		cr_assert(addrrange_add(&s, (4 * i - 1) * K4, (4 * i + 1) * K4));
	EXPECT_RANGES(&s, { K4, (4 * 39 + 3) * K4 });
	addrrange_destroy(&s);
}

/* Random disjoint adds over 1024 slots of 4 KiB, compared with a bitmap
 * after every add: the ranges are exactly the maximal runs of set slots,
 * and every lookup agrees. */
Test(addrrange, random_against_bitmap)
{
	enum { SLOTS = 1024 };
	const uintptr_t origin = (uintptr_t)0x7f0000000000;
	pm_rng_t r;

	pm_rng_seed(&r, 0xadd);
	for (unsigned round = 0; round < 20; round++) {
		addrrange_set_t s = { 0 };
		bool used[SLOTS] = { false };
		unsigned nused = 0;
		while (nused < SLOTS) {
			unsigned at = (unsigned)pm_rng_below(&r, SLOTS);
			if (used[at])
				continue;
			unsigned len = 1;
			unsigned maxlen = 1 + (unsigned)pm_rng_below(&r, 8);
			while (len < maxlen && at + len < SLOTS && !used[at + len])
				len++;
			cr_assert(addrrange_add(&s, origin + at * K4, origin + (at + len) * K4));
			for (unsigned i = at; i < at + len; i++)
				used[i] = true;
			nused += len;

			/* Maximal runs of the bitmap. */
			struct rng want[SLOTS / 2 + 1];
			unsigned nw = 0;
			for (unsigned i = 0; i < SLOTS;) {
				if (!used[i]) {
					i++;
					continue;
				}
				unsigned j = i;
				while (j < SLOTS && used[j])
					j++;
				want[nw++] = (struct rng){ origin + i * K4, origin + j * K4 };
				i = j;
			}
			expect_ranges(&s, want, nw);

			for (unsigned q = 0; q < 16; q++) {
				unsigned slot = (unsigned)pm_rng_below(&r, SLOTS + 2);
				uintptr_t a = origin + slot * K4 - 1 + pm_rng_below(&r, 3) * 0x800;
				bool in = a >= origin && (a - origin) / K4 < SLOTS &&
					  used[(a - origin) / K4];
				cr_assert_eq(addrrange_contains(&s, a), in, "contains(%#lx)", (unsigned long)a);
				size_t succ = 0;
				while (succ < nw && want[succ].base <= a)
					succ++;
				cr_assert_eq(addrrange_find_succ(&s, a), succ, "find_succ(%#lx)", (unsigned long)a);
				uintptr_t out, want_out = 0;
				bool want_found = false;
				if (in) {
					want_found = true;
					want_out = a;
				} else if (succ < nw) {
					want_found = true;
					want_out = want[succ].base;
				}
				bool found = addrrange_find_addr_ge(&s, a, &out);
				cr_assert_eq(found, want_found, "find_addr_ge(%#lx) found", (unsigned long)a);
				if (found)
					cr_assert_eq(out, want_out, "find_addr_ge(%#lx)", (unsigned long)a);
			}
		}
		EXPECT_RANGES(&s, { origin, origin + SLOTS * K4 });
		addrrange_destroy(&s);
	}
}

#if GCM_ASSERTIONS
static void redirect_stderr(void)
{
	cr_redirect_stderr();
}

/* Ranges given to add must not overlap the set. */
Test(addrrange, overlapping_add_aborts, .signal = SIGABRT, .init = redirect_stderr)
{
	addrrange_set_t s = { 0 };
	cr_assert(addrrange_add(&s, 0x10 * K4, 0x20 * K4));
	addrrange_add(&s, 0x18 * K4, 0x28 * K4);
}
#endif

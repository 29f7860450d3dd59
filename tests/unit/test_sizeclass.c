/*
 * test_sizeclass.c — properties of the generated size-class table.
 */
#include "palloc.h"
#include "sizeclass.h"
#include "span.h"

#include <criterion/criterion.h>

static void setup(void)
{
	sizeclass_init();
}

TestSuite(sizeclass, .init = setup);

Test(sizeclass, sizes_are_increasing_multiples_of_16)
{
	cr_expect_eq(sizeclass_table[1].size, 16u);
	cr_expect_eq(sizeclass_table[SIZECLASS_SMALL_COUNT - 1].size, SIZECLASS_MAX_SIZE);
	for (unsigned c = 1; c < SIZECLASS_SMALL_COUNT; c++) {
		cr_expect_eq(sizeclass_table[c].size % 16, 0u, "class %u", c);
		if (c > 1)
			cr_expect_gt(sizeclass_table[c].size, sizeclass_table[c - 1].size);
	}
}

Test(sizeclass, rounding_waste_below_one_eighth_from_128_bytes)
{
	for (unsigned c = 2; c < SIZECLASS_SMALL_COUNT; c++) {
		uint32_t size = sizeclass_table[c].size;
		uint32_t smallest = sizeclass_table[c - 1].size + 1;
		if (size <= 128)
			continue;
		/* The worst request in this class is one byte above the
		 * previous class. */
		cr_expect_lt((size - smallest) * 8, size, "class %u (%u bytes)", c, size);
	}
}

Test(sizeclass, span_tail_waste_at_most_one_eighth)
{
	for (unsigned c = 1; c < SIZECLASS_COUNT; c++) {
		const sizeclass_info_t *ci = &sizeclass_table[c];
		size_t span = ci->npages * PALLOC_PAGE_SIZE;
		cr_expect_eq(ci->nelems, span / ci->size);
		cr_expect_geq(ci->nelems, 1u);
		cr_expect_leq(ci->nelems, (unsigned)SIZECLASS_MAX_NELEMS);
		cr_expect_leq((span - (size_t)ci->nelems * ci->size) * 8, span,
			      "class %u (%u bytes, %u pages)", c, ci->size, ci->npages);
	}
}

Test(sizeclass, lookup_gives_smallest_fitting_class)
{
	for (size_t n = 1; n <= SIZECLASS_MAX_SIZE; n++) {
		unsigned c = sizeclass_of(n);
		cr_assert(c >= 1 && c < SIZECLASS_SMALL_COUNT, "n=%zu", n);
		cr_assert_geq(sizeclass_table[c].size, n, "n=%zu", n);
		if (c > 1)
			cr_assert_lt(sizeclass_table[c - 1].size, n, "n=%zu", n);
	}
	cr_expect_eq(sizeclass_of(0), 1u);
}

/* The collectable kinds: 17..24 bytes go to the 24-byte class, every other
 * size to the class malloc uses. */
Test(sizeclass, gc_lookup_uses_the_24_byte_class)
{
	cr_expect_eq(sizeclass_table[SIZECLASS_24].size, 24u);
	cr_expect_eq(sizeclass_table[SIZECLASS_24].npages, (uint32_t)SIZECLASS_SPAN_UNIT);
	for (size_t n = 1; n <= SIZECLASS_MAX_SIZE; n++) {
		unsigned c = sizeclass_gc_of(n);
		if (n >= 17 && n <= 24)
			cr_assert_eq(c, (unsigned)SIZECLASS_24, "n=%zu", n);
		else
			cr_assert_eq(c, sizeclass_of(n), "n=%zu", n);
	}
	for (size_t n = 1; n <= SIZECLASS_MAX_SIZE; n++)
		cr_assert_neq(sizeclass_of(n), (unsigned)SIZECLASS_24, "n=%zu", n);
}

Test(sizeclass, reciprocal_gives_object_index_for_every_offset)
{
	for (unsigned c = 1; c < SIZECLASS_COUNT; c++) {
		const sizeclass_info_t *ci = &sizeclass_table[c];
		span_t s = { .base = 0x100000, .elem_size = ci->size, .recip = ci->recip };
		for (uint32_t off = 0; off < ci->nelems * ci->size; off++) {
			uint32_t idx = span_object_index(&s, s.base + off);
			cr_assert_eq(idx, off / ci->size, "class %u offset %u", c, off);
		}
	}
}

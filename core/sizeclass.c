/*
 * sizeclass.c — computes the size-class table (see sizeclass.h).
 */
#include "base.h"
#include "sizeclass.h"
#include "debug.h"
#include "palloc.h"

sizeclass_info_t sizeclass_table[SIZECLASS_COUNT];
uint8_t sizeclass_small_lookup[SIZECLASS_MAX_SIZE / 16 + 1];

/*
 * Span size for objects of `size` bytes: the smallest multiple of
 * SIZECLASS_SPAN_UNIT pages whose unusable tail is at most 1/8 of the span.
 * Every small span being a multiple of one unit means a span freed by one
 * class leaves a hole any other class can use: with spans of 1, 2, 3 ...
 * pages mixed in the heap, the holes left by a workload whose objects move
 * between classes are too short for the next spans and the heap grows.
 */
static uint32_t sizeclass_span_pages(uint32_t size)
{
	uint32_t npages = SIZECLASS_SPAN_UNIT;
	for (;;) {
		size_t span = npages * PALLOC_PAGE_SIZE;
		size_t nelems = span / size;
		size_t tail = span - nelems * size;
		if (nelems >= 1 && tail * 8 <= span)
			return npages;
		npages += SIZECLASS_SPAN_UNIT;
	}
}

void sizeclass_init(void)
{
	unsigned c = 1;
	for (uint32_t size = 16; size <= 128; size += 16)
		sizeclass_table[c++].size = size;
	for (uint32_t base = 128; base < SIZECLASS_MAX_SIZE; base *= 2)
		for (uint32_t k = 1; k <= 8; k++)
			sizeclass_table[c++].size = base + k * (base / 8);
	if (c != SIZECLASS_SMALL_COUNT)
		gcm_throw("size classes: built %u, expected %u", c, SIZECLASS_SMALL_COUNT);
	sizeclass_table[SIZECLASS_24].size = 24;

	for (c = 1; c < SIZECLASS_COUNT; c++) {
		sizeclass_info_t *ci = &sizeclass_table[c];
		ci->npages = sizeclass_span_pages(ci->size);
		ci->nelems = (uint32_t)(ci->npages * PALLOC_PAGE_SIZE / ci->size);
		ci->recip = (uint32_t)((((uint64_t)1 << 32) + ci->size - 1) / ci->size);
	}
	c = 1;
	for (size_t i = 0; i <= SIZECLASS_MAX_SIZE / 16; i++) {
		size_t n = i * 16;
		while (c < SIZECLASS_SMALL_COUNT - 1 && sizeclass_table[c].size < n)
			c++;
		sizeclass_small_lookup[i] = (uint8_t)c;
	}
	sizeclass_small_lookup[0] = 1;
}

/* introspection.c — the glibc statistics and tuning API answered by the
 * preloaded allocator itself. Run only preloaded: under glibc these calls
 * describe glibc's heap, which is the point of the check.
 *
 * Checks (exit 1 with a FAIL line on stderr at the first failure):
 *   - mallinfo2()/mallinfo() report non-zero arena and uordblks after 10 MiB
 *     were allocated, and uordblks + hblkhd covers those 10 MiB;
 *   - malloc_info(0, fp) writes XML that starts with "<malloc", mentions
 *     "gcmalloc", ends with "</malloc>" and has balanced tags;
 *   - malloc_info(1, fp) fails with EINVAL (returned, as glibc 2.36 does, or
 *     -1 with errno EINVAL, as its manual page says);
 *   - malloc_trim(0) returns 0 or 1;
 *   - mallopt(M_ARENA_MAX, 2) == 1, mallopt(M_MMAP_THRESHOLD, 1 MiB) == 1,
 *     mallopt(-12345, 1) == 0.
 * malloc_stats() is called once; its output goes to stderr between the
 * marker lines "--- malloc_stats begin ---" and "--- malloc_stats end ---"
 * and the driver checks that it mentions "gcmalloc". Nothing goes to stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define MiB ((size_t)1 << 20)

/* Checks that every <tag ...> has its </tag>, in order; <?...?>, <!...>
 * and <tag .../> are accepted. Enough to catch truncated or interleaved
 * output, not a full XML parser. */
static int tags_balanced(const char *s)
{
	enum { DEPTH = 64, NAMELEN = 64 };
	char stack[DEPTH][NAMELEN];
	int depth = 0;
	int seen = 0;
	for (const char *p = strchr(s, '<'); p; p = strchr(p, '<')) {
		const char *end = strchr(p, '>');
		if (!end)
			return 0;
		if (p[1] == '?' || p[1] == '!') {
			p = end + 1;
			continue;
		}
		int closing = p[1] == '/';
		const char *name = p + 1 + closing;
		size_t n = strcspn(name, " \t\r\n/>");
		if (n == 0 || n >= NAMELEN)
			return 0;
		if (closing) {
			if (depth == 0 || strlen(stack[depth - 1]) != n ||
			    memcmp(stack[depth - 1], name, n) != 0)
				return 0;
			depth--;
		} else if (end[-1] != '/') {
			if (depth == DEPTH)
				return 0;
			memcpy(stack[depth], name, n);
			stack[depth][n] = '\0';
			depth++;
		}
		seen++;
		p = end + 1;
	}
	return depth == 0 && seen > 0;
}

int main(void)
{
	/* 10 MiB in 1 KiB blocks, kept alive while the statistics are read. */
	enum { N = 10240 };
	static void *blocks[N];
	for (int i = 0; i < N; i++) {
		blocks[i] = malloc(1024);
		CHECK(blocks[i]);
		memset(blocks[i], i, 1024);
	}

	struct mallinfo2 m2 = mallinfo2();
	CHECKF(m2.arena != 0, "mallinfo2().arena is 0 with 10 MiB allocated");
	CHECKF(m2.uordblks != 0, "mallinfo2().uordblks is 0 with 10 MiB allocated");
	CHECKF(m2.uordblks + m2.hblkhd >= 10 * MiB,
	       "mallinfo2(): uordblks %zu + hblkhd %zu < 10 MiB allocated",
	       m2.uordblks, m2.hblkhd);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	struct mallinfo m1 = mallinfo();
#pragma GCC diagnostic pop
	CHECKF(m1.arena != 0 && m1.uordblks != 0,
	       "mallinfo(): arena %d uordblks %d", m1.arena, m1.uordblks);

	char *xml = NULL;
	size_t xml_len = 0;
	FILE *f = open_memstream(&xml, &xml_len);
	CHECK(f);
	int r = malloc_info(0, f);
	CHECK(fclose(f) == 0);
	CHECKF(r == 0, "malloc_info(0) returned %d", r);
	CHECKF(xml && xml_len > 0, "malloc_info(0) wrote nothing");
	CHECKF(strncmp(xml, "<malloc", 7) == 0,
	       "malloc_info output does not start with <malloc: %.60s", xml);
	CHECKF(strstr(xml, "gcmalloc") != NULL,
	       "malloc_info output does not mention gcmalloc: %.200s", xml);
	size_t tail = xml_len;
	while (tail > 0 && (xml[tail - 1] == '\n' || xml[tail - 1] == ' '))
		tail--;
	CHECKF(tail >= 9 && memcmp(xml + tail - 9, "</malloc>", 9) == 0,
	       "malloc_info output does not end with </malloc>");
	CHECKF(tags_balanced(xml), "malloc_info output has unbalanced tags");
	free(xml);

	f = fopen("/dev/null", "w");
	CHECK(f);
	errno = 0;
	r = malloc_info(1, f);
	int e = errno;
	fclose(f);
	CHECKF(r == EINVAL || (r == -1 && e == EINVAL),
	       "malloc_info(1) returned %d (errno %d), not EINVAL or -1/EINVAL", r, e);

	for (int i = 0; i < N; i++)
		free(blocks[i]);
	r = malloc_trim(0);
	CHECKF(r == 0 || r == 1, "malloc_trim(0) returned %d", r);

	r = mallopt(M_ARENA_MAX, 2);
	CHECKF(r == 1, "mallopt(M_ARENA_MAX, 2) returned %d", r);
	r = mallopt(M_MMAP_THRESHOLD, 1 << 20);
	CHECKF(r == 1, "mallopt(M_MMAP_THRESHOLD, 1 MiB) returned %d", r);
	r = mallopt(-12345, 1);
	CHECKF(r == 0, "mallopt(-12345, 1) returned %d", r);

	fflush(stderr);
	static const char begin[] = "--- malloc_stats begin ---\n";
	static const char end[] = "--- malloc_stats end ---\n";
	CHECK(write(2, begin, sizeof begin - 1) == (ssize_t)sizeof begin - 1);
	malloc_stats();
	fflush(stderr);
	CHECK(write(2, end, sizeof end - 1) == (ssize_t)sizeof end - 1);
	return 0;
}

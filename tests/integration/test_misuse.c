/* test_misuse.c — death tests: bad pointers given to the preloaded allocator.
 *
 * progs/misuse.c hands free, realloc or malloc_usable_size a pointer the
 * allocator did not hand out (or no longer owns). Expected, for every case:
 *   - the process is killed by SIGABRT;
 *   - stderr consists of exactly one line, and it matches
 *       ^gcmalloc: (free|realloc|malloc_usable_size)\(\): .*0x[0-9a-f]+
 *     with the name of the call that was made and, among its hexadecimal
 *     numbers, the pointer that was passed (misuse prints it on stdout as
 *     "ptr=0x..." just before the call).
 * A correct run of the same program under the preload prints nothing.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <regex.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "it_common.h"

#define MESSAGE_RE "^gcmalloc: (free|realloc|malloc_usable_size)\\(\\): .*0x[0-9a-f]+"

/* 1 when some "0x<hex>" in s has the value want. */
static int mentions_pointer(const char *s, uintptr_t want)
{
	for (const char *p = strstr(s, "0x"); p; p = strstr(p + 2, "0x")) {
		char *end;
		unsigned long long v = strtoull(p + 2, &end, 16);
		if (end != p + 2 && (uintptr_t)v == want)
			return 1;
	}
	return 0;
}

static void expect_abort(const char *which, const char *call)
{
	const char *argv[] = { it_prog("misuse"), which, NULL };
	struct gcm_child r;
	it_run(&r, it_lib(), 20, argv);

	cr_assert(strstr(r.out, "survived") == NULL,
	          "%s(): the bad call returned instead of aborting: %s", call,
	          it_describe(&r));
	const char *ann = strstr(r.out, "ptr=0x");
	cr_assert_not_null(ann, "misuse did not reach the bad call: %s",
	                   it_describe(&r));
	uintptr_t ptr = (uintptr_t)strtoull(ann + 6, NULL, 16);

	cr_assert(gcm_child_killed_by(&r, SIGABRT),
	          "%s(): expected SIGABRT, got: %s", call, it_describe(&r));

	char **lines;
	size_t n = it_lines(r.err, &lines);
	size_t nonempty = 0;
	for (size_t i = 0; i < n; i++)
		if (lines[i][0])
			nonempty++;
	cr_assert(nonempty == 1,
	          "%s(): stderr must hold exactly one line, it holds %zu: %s", call,
	          nonempty, it_describe(&r));

	regex_t re;
	cr_assert(regcomp(&re, MESSAGE_RE, REG_EXTENDED) == 0);
	regmatch_t m[2];
	const char *line = NULL;
	for (size_t i = 0; i < n && !line; i++)
		if (lines[i][0] && regexec(&re, lines[i], 2, m, 0) == 0)
			line = lines[i];
	regfree(&re);
	cr_assert_not_null(line, "%s(): the message does not match /%s/: %s", call,
	                   MESSAGE_RE, it_describe(&r));
	size_t len = (size_t)(m[1].rm_eo - m[1].rm_so);
	cr_assert(len == strlen(call) && strncmp(line + m[1].rm_so, call, len) == 0,
	          "the message names the wrong call (expected %s()): %s", call, line);
	cr_assert(mentions_pointer(line, ptr),
	          "the message does not name the pointer %#lx: %s",
	          (unsigned long)ptr, line);
}

Test(misuse, double_free, .timeout = 30)
{
	expect_abort("double_free", "free");
}

Test(misuse, free_stack, .timeout = 30)
{
	expect_abort("free_stack", "free");
}

Test(misuse, free_static, .timeout = 30)
{
	expect_abort("free_static", "free");
}

Test(misuse, free_mmap, .timeout = 30)
{
	expect_abort("free_mmap", "free");
}

Test(misuse, free_interior, .timeout = 30)
{
	expect_abort("free_interior", "free");
}

Test(misuse, realloc_foreign, .timeout = 30)
{
	expect_abort("realloc_foreign", "realloc");
}

Test(misuse, usable_size_foreign, .timeout = 30)
{
	expect_abort("usable_size_foreign", "malloc_usable_size");
}

Test(misuse, valid_use_is_silent, .timeout = 30)
{
	const char *argv[] = { it_prog("misuse"), "valid", NULL };
	struct gcm_child r;
	it_run(&r, it_lib(), 20, argv);
	it_expect_clean(&r, "preloaded", "");
}

/* test_weak_stress.c — progs/weak_stress.c (four threads making, reading
 * and dropping weak handles while collections run; every non-NULL read is
 * validated) in a child process with libgcmalloc.so preloaded.
 *
 *   weak_stress/five_seconds   suite 'weak'
 *   weak_full/twenty_seconds   suite 'full' (GCMALLOC_WEAK_FULL=1, set by
 *                              meson.build for that suite only)
 *
 * Meant for assertion builds (-Dassertions=true), where the allocator
 * checks its locks and invariants as it goes; it runs in any build.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "wk_driver.h"

static void stress(unsigned seconds)
{
	struct gcm_child r;
	char secs[16];
	snprintf(secs, sizeof secs, "%u", seconds);
	const char *args[] = { secs, NULL };
	/* The run stops after `seconds` whatever the build's speed; starting
	 * and joining get a margin. A deadlock shows as a timeout. */
	wk_run(&r, wk_prog("weak_stress"), args, true, NULL, seconds * 2 + 15);
	wk_expect_ok(&r, "preloaded", "stress");
	cr_log_info("weak_stress %us: %s", seconds, r.out);
	cr_assert(wk_value(r.out, "hits") > 0 && wk_value(r.out, "nulls") > 0,
	          "the run was vacuous: %s", r.out);
}

Test(weak_stress, five_seconds, .timeout = 120)
{
	stress(5);
}

Test(weak_full, twenty_seconds, .timeout = 300)
{
	const char *full = getenv("GCMALLOC_WEAK_FULL");
	if (full == NULL || full[0] != '1')
		cr_skip_test("long test: suite 'full' runs it (GCMALLOC_WEAK_FULL=1)");
	stress(20);
}

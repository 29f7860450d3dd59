/* test_gc_full.c — the long collector stress run (suite 'full').
 *
 * progs/gc_stress.c for 30 s: four threads build, verify, change and drop
 * structures of malloc'd and collectable nodes while a fifth calls
 * gcm_collect in a loop; checksums in every live node, nothing live freed,
 * nothing left marked and the heap back to its start size at the end. The
 * 5 s version is in test_gc.c (suite 'gc'). Meant for the assertion build
 * (meson setup -Dassertions=true); both runs set GCMALLOC_DEBUG=assert=1,
 * which turns on the expensive checks where the build has them.
 */
#include "gcm_config.h"

#include <criterion/criterion.h>
#include <stdio.h>

#include "gc_driver.h"

Test(stress_full, stress_30s, .timeout = 200,
     .description = "4 threads building and dropping structures while a 5th collects, 30 s")
{
	const char *argv[] = { gd_prog("gc_stress"), "30", NULL };
	/* assert=1 (expensive checks) exists only where the build has
	 * assertions; elsewhere it would print a warning. */
	const char *env[] = { GCM_ASSERTIONS ? "GCMALLOC_DEBUG=assert=1" : "GCMALLOC_DEBUG=", NULL };
	struct gcm_child r;
	gd_run(&r, 1, env, 180, argv);
	gd_expect_ok(&r, 1);
	cr_log_info("%s", r.out);
}

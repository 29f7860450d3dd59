/* test_shim.c — the loader (libgcmalloc-shim) from an aware program's
 * point of view, and the string-interning example.
 *
 * Test suite "shim": shim_prog (this directory) runs without the preload, with
 *           libgcmalloc.so preloaded, and with a library that defines only
 *           some gcm_ symbols; its whole output is compared with what each
 *           mode must print (shim_prog.c explains the lines).
 * Test suite "intern": examples/intern runs without and with the preload; its report
 *           is compared with the expected one for each mode.
 *
 * Every run is a child process (../support/gcm_child.h) whose environment
 * is this driver's minus LD_PRELOAD and GCMALLOC_* (../weak/wk_driver.h).
 * Environment read (set by meson.build):
 *   GCMALLOC_LIB          libgcmalloc.so
 *   GCMALLOC_WEAK_PROGS   the directory of shim_prog
 *   GCMALLOC_PARTIAL_LIB  the partial stand-in library
 *   GCMALLOC_VERSION      the version libgcmalloc.so reports
 *   GCMALLOC_INTERN       the intern example (suite "intern" only)
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wk_driver.h"

/* ---- shim_prog -------------------------------------------------------- */

/* Lines that are the same in every mode. */
#define COMMON_HEAD                      \
	"malloc_zeroed=1\n"              \
	"malloc_0_non_null=1\n"          \
	"malloc_atomic_non_null=1\n"     \
	"weak_make_non_null=1\n"         \
	"weak_canonical=1\n"             \
	"weak_fields_distinct=1\n"       \
	"weak_get_exact=1\n"             \
	"weak_static=1\n"                \
	"weak_get_null=1\n"

#define STATS_TAIL                                                       \
	"stats_larger=0 size_ok=1 tail_untouched=1\n"                     \
	"stats_8=0 size=8 tail_untouched=1\n"                             \
	"stats_16=0 size=16 tail_untouched=1\n"                           \
	"stats_24=0 size=24 tail_untouched=1\n"                           \
	"stats_4=-1/EINVAL\n"                                             \
	"stats_null=-1/EINVAL\n"

/* The documented fallback (gcmalloc.h, "The loader"). */
static const char fallback_out[] =
	"active=0\n"
	"version=none\n"
	COMMON_HEAD
	"weak_after_drop=kept\n"               /* strong boxes never clear */
	"weak_live_after_collect=1\n"
	"cleanup_ids=distinct\n"
	"cleanup_null_fn=0/EINVAL\n"
	"cancel_first=0\n"
	"cancel_again=-1/ENOENT\n"
	"cancel_zero=-1/EINVAL\n"
	"cancel_unknown=-1/ENOENT\n"
	"finalizer_interior=0\n"               /* accepted, never run */
	"cleanup_on_dropped=accepted\n"
	"cleanup_runs=0\n"
	"finalizer_runs=0\n"
	"cancel_after_collect=0\n"             /* never queued: still cancellable */
	"cancel_live=0\n"
	"finalizers_wait=0\n"
	"stats_full=0 size_ok=1\n"
	"stats_cycles=zero\n"
	"stats_other_fields=all zero\n"
	STATS_TAIL
	"active_again=0\n";

/* The library's behaviour, seen through the loader. */
static const char *active_out(void)
{
	const char *version = getenv("GCMALLOC_VERSION");
	cr_assert(version != NULL, "GCMALLOC_VERSION is not set");
	char *s = NULL;
	int n = asprintf(&s,
		"active=1\n"
		"version=%s\n"
		COMMON_HEAD
		"weak_after_drop=cleared\n"
		"weak_live_after_collect=1\n"
		"cleanup_ids=distinct\n"
		"cleanup_null_fn=0/EINVAL\n"
		"cancel_first=0\n"
		"cancel_again=-1/ENOENT\n"
		"cancel_zero=-1/EINVAL\n"
		"cancel_unknown=-1/ENOENT\n"
		"finalizer_interior=-1/EINVAL\n"
		"cleanup_on_dropped=accepted\n"
		"cleanup_runs=1\n"
		"finalizer_runs=1\n"
		"cancel_after_collect=-1/ENOENT\n"
		"cancel_live=0\n"
		"finalizers_wait=0\n"
		"stats_full=0 size_ok=1\n"
		"stats_cycles=positive\n"
		"stats_other_fields=some set\n"
		STATS_TAIL
		"active_again=1\n", version);
	cr_assert(n > 0);
	return s;
}

static void expect_output(const struct gcm_child *r, const char *label, const char *want)
{
	cr_assert(gcm_child_ok(r), "%s run failed: %s", label, wk_describe(r));
	cr_assert(r->err_len == 0, "%s run wrote to stderr: %s", label, wk_describe(r));
	cr_assert(strcmp(r->out, want) == 0, "%s run: unexpected output\n--- expected ---\n%s%s",
	          label, want, wk_describe(r));
}

Test(shim, without_the_preload_falls_back, .timeout = 60)
{
	struct gcm_child r;
	wk_run(&r, wk_prog("shim_prog"), NULL, false, NULL, 30);
	expect_output(&r, "not preloaded", fallback_out);
}

Test(shim, preloaded_uses_the_library, .timeout = 60)
{
	struct gcm_child r;
	wk_run(&r, wk_prog("shim_prog"), NULL, true, NULL, 30);
	expect_output(&r, "preloaded", active_out());
}

/* A library with only some of the gcm_* symbols: the loader must not mix
 * the two worlds (partial_lib.c aborts if any of its functions is
 * called). */
Test(shim, partial_library_falls_back_entirely, .timeout = 60)
{
	struct gcm_child r;
	char *preload = NULL;
	cr_assert(asprintf(&preload, "LD_PRELOAD=%s",
	                   wk_prog_from_env("GCMALLOC_PARTIAL_LIB")) > 0);
	const char *env[] = { preload, NULL };
	wk_run(&r, wk_prog("shim_prog"), NULL, false, env, 30);
	expect_output(&r, "partial library preloaded", fallback_out);
}

/* ---- the intern example ------------------------------------------------- */

static const char intern_fallback[] =
	"intern: no collector (fallback: every string is kept)\n"
	"document A: 9 words, document B: 10 words\n"
	"table: 15 strings\n"
	"intern(\"fox\") is document A's \"fox\": yes\n"
	"document A's \"the\" is document B's \"the\": yes\n"
	"dropped document B and collected\n"
	"table: 15 strings\n"
	"  still interned: and brown dog fox gnu graze jumps lazy over quick quiet the with yak zebra\n"
	"intern(\"zebra\") again: ok, table: 15 strings\n"
	"document A still reads: quick brown fox\n";

static const char intern_active[] =
	"intern: collector active (unused strings are reclaimed)\n"
	"document A: 9 words, document B: 10 words\n"
	"table: 15 strings\n"
	"intern(\"fox\") is document A's \"fox\": yes\n"
	"document A's \"the\" is document B's \"the\": yes\n"
	"dropped document B and collected\n"
	"table: 8 strings\n"
	"  still interned: brown dog fox jumps lazy over quick the\n"
	"intern(\"zebra\") again: ok, table: 9 strings\n"
	"document A still reads: quick brown fox\n";

Test(intern, without_the_preload_keeps_every_entry, .timeout = 60)
{
	struct gcm_child r;
	wk_run(&r, wk_prog_from_env("GCMALLOC_INTERN"), NULL, false, NULL, 30);
	expect_output(&r, "not preloaded", intern_fallback);
}

Test(intern, preloaded_drops_unreferenced_entries, .timeout = 60)
{
	struct gcm_child r;
	wk_run(&r, wk_prog_from_env("GCMALLOC_INTERN"), NULL, true, NULL, 30);
	expect_output(&r, "preloaded", intern_active);
}

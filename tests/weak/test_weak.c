/* test_weak.c — weak handles, finalizers and cleanups, seen from outside.
 *
 * Each test runs one scenario of a helper program (progs/weak_prog.c,
 * progs/fin_prog.c; the scenarios are described at the top of those files)
 * in a child process with libgcmalloc.so preloaded in the child's
 * environment only, and passes when the child exits with status 0, writes
 * nothing on stderr and ends its output with "ok <scenario>". A helper
 * reports a failed check as "FAIL file:line: ..." on stderr, which the
 * failure message shows.
 *
 * Scenarios that count cycles or measure one cycle's effect run with
 * GCMALLOC_GC=off, so that the helper's gcm_collect calls are the only
 * cycles.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "wk_driver.h"

static const char *const gc_off[] = { "GCMALLOC_GC=off", NULL };

/* The helper's own time limit; Criterion's .timeout is a little longer. */
#define LIMIT 40

static void weak_prog(const char *scenario, const char *const *env)
{
	wk_scenario(wk_prog("weak_prog"), scenario, env, LIMIT);
}

static void fin_prog(const char *scenario, const char *const *env)
{
	wk_scenario(wk_prog("fin_prog"), scenario, env, LIMIT);
}

/* ---- weak handles ------------------------------------------------------ */

Test(weak, live_object_reads_itself_across_collections, .timeout = LIMIT + 10)
{
	weak_prog("live", NULL);
}

Test(weak, unreferenced_object_reads_null_after_one_collection, .timeout = LIMIT + 10)
{
	weak_prog("unref", gc_off);
}

Test(weak, handles_are_canonical_and_distinct, .timeout = LIMIT + 10)
{
	weak_prog("equality", NULL);
}

Test(weak, racing_makes_get_one_handle, .timeout = LIMIT + 10)
{
	weak_prog("race", NULL);
}

Test(weak, cleared_before_finalizer_and_stays_cleared, .timeout = LIMIT + 10)
{
	weak_prog("resurrect", NULL);
}

Test(weak, free_clears_handles_and_make_on_freed_is_einval, .timeout = LIMIT + 10)
{
	weak_prog("free", NULL);
}

Test(weak, free_of_large_blocks_clears_handles_and_make_is_einval, .timeout = LIMIT + 10)
{
	weak_prog("free_large", NULL);
}

Test(weak, reference_from_foreign_memory_above_a_stack_does_not_count,
     .timeout = LIMIT + 10)
{
	weak_prog("unref_near_stack", gc_off);
}

Test(weak, immortal_handles_never_clear, .timeout = LIMIT + 10)
{
	weak_prog("immortal", NULL);
}

/* The helpers refuse to run without the preload: a scenario cannot pass
 * vacuously because the library was not loaded. */
Test(weak, helpers_fail_without_the_preload, .timeout = 30)
{
	struct gcm_child r;
	const char *args[] = { "live", NULL };
	wk_run(&r, wk_prog("weak_prog"), args, false, NULL, 20);
	cr_assert(!gcm_child_ok(&r), "weak_prog passed without the preload: %s",
	          wk_describe(&r));
	cr_assert(strstr(r.err, "not bound") != NULL, "unexpected failure: %s", wk_describe(&r));
}

/* ---- finalizers and cleanups ------------------------------------------- */

Test(fin, argument_errors, .timeout = LIMIT + 10)
{
	fin_prog("errors", NULL);
}

Test(fin, argument_errors_on_freed_large_blocks, .timeout = LIMIT + 10)
{
	fin_prog("freed_large", NULL);
}

Test(fin, receives_exactly_obj_and_arg, .timeout = LIMIT + 10)
{
	fin_prog("args", NULL);
}

Test(fin, referenced_objects_stay_alive_for_the_cycle, .timeout = LIMIT + 10)
{
	fin_prog("keepalive", gc_off);
}

Test(fin, dependency_order_one_per_cycle, .timeout = LIMIT + 10)
{
	fin_prog("order", gc_off);
}

Test(fin, finalizable_cycles_are_not_collected, .timeout = LIMIT + 10)
{
	fin_prog("cycles", NULL);
}

Test(fin, non_heap_pointers_accepted_never_run, .timeout = LIMIT + 10)
{
	fin_prog("nonheap", NULL);
}

Test(fin, cleanups_run_once_unreachable_and_cancel_once, .timeout = LIMIT + 10)
{
	fin_prog("cleanups", gc_off);
}

Test(fin, cleanups_wait_for_the_finalizer, .timeout = LIMIT + 10)
{
	fin_prog("fin_cleanup", gc_off);
}

Test(fin, one_sleeping_thread_started_on_first_use, .timeout = LIMIT + 10)
{
	fin_prog("thread", NULL);
}

Test(fin, wait_times_out_while_a_finalizer_blocks, .timeout = LIMIT + 10)
{
	fin_prog("timeout", NULL);
}

Test(fin, finalizers_may_allocate_collect_and_set_finalizers, .timeout = LIMIT + 10)
{
	fin_prog("reentrant", NULL);
}

Test(fin, free_drops_finalizer_and_cleanups, .timeout = LIMIT + 10)
{
	fin_prog("free", NULL);
}

/* 1.5 s of work; a deadlock shows as the 20 s limit. */
Test(fin, records_change_while_collections_run, .timeout = 30)
{
	wk_scenario(wk_prog("fin_prog"), "specials_race", NULL, 20);
}

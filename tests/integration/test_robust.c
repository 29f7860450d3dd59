/* test_robust.c — the allocator inside other people's processes.
 *
 * Each test runs one helper program (progs/) first without the preload, to
 * prove the program itself is right, then with it; both runs must exit 0,
 * print nothing on stderr and produce the same expected stdout. What each
 * program exercises is described at its top.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it_common.h"

/* Runs argv plainly (with extra_preload as the only preload, if any) and
 * then with the library under test preloaded (combined with extra_preload
 * in the given order). */
static void both_ways(const char *const argv[], const char *extra_preload,
                      int extra_first, unsigned limit_s, const char *expected_out)
{
	struct gcm_child plain, pre;
	it_run(&plain, extra_preload, limit_s, argv);
	it_expect_clean(&plain, "glibc (no preload)", expected_out);

	const char *lib = it_lib();
	char *preload;
	if (!extra_preload)
		preload = strdup(lib);
	else if (asprintf(&preload, "%s %s", extra_first ? extra_preload : lib,
	                  extra_first ? lib : extra_preload) < 0)
		preload = NULL;
	it_keep(preload);
	it_run(&pre, preload, limit_s, argv);
	it_expect_clean(&pre, "preloaded", expected_out);
}

/* A second preloaded library whose constructor allocates from several
 * threads, listed before the allocator. The dynamic linker initialises
 * preloaded objects in reverse order, so the allocator's constructor runs
 * first and its destructor last; the library's atexit handlers, registered
 * before the dynamic linker's finaliser, still run after it. */
Test(robust, ctor_alloc_listed_first, .timeout = 100)
{
	const char *argv[] = { it_prog("smoke"), NULL };
	both_ways(argv, it_prog("libctor_alloc.so"), 1, 45, "");
}

/* The same library listed after the allocator: its constructor and its
 * threads run before the allocator's constructor, and the threads keep
 * allocating while the allocator's destructor runs. */
Test(robust, ctor_alloc_listed_last, .timeout = 100)
{
	const char *argv[] = { it_prog("smoke"), NULL };
	both_ways(argv, it_prog("libctor_alloc.so"), 0, 45, "");
}

Test(robust, threads_before_allocator_init, .timeout = 100)
{
	const char *argv[] = { it_prog("early_threads"), NULL };
	both_ways(argv, NULL, 0, 45, "");
}

static const char exit_lines[] = "atexit ok\ndestructor ok\nlate destructor ok\n";

Test(robust, alloc_after_exit_from_main, .timeout = 100)
{
	const char *argv[] = { it_prog("exit_alloc"), "main", NULL };
	both_ways(argv, NULL, 0, 45, exit_lines);
}

Test(robust, alloc_after_exit_from_thread, .timeout = 100)
{
	const char *argv[] = { it_prog("exit_alloc"), "thread", NULL };
	both_ways(argv, NULL, 0, 45, exit_lines);
}

Test(robust, fork_from_multithreaded_parent, .timeout = 200)
{
	const char *argv[] = { it_prog("fork_mt"), NULL };
	both_ways(argv, NULL, 0, 90, "");
}

Test(robust, posix_spawn_while_allocating, .timeout = 100)
{
	const char *argv[] = { it_prog("spawn_mt"), "posix_spawn", NULL };
	both_ways(argv, NULL, 0, 45, "");
}

Test(robust, system_while_allocating, .timeout = 100)
{
	const char *argv[] = { it_prog("spawn_mt"), "system", NULL };
	both_ways(argv, NULL, 0, 45, "");
}

Test(robust, popen_while_allocating, .timeout = 100)
{
	const char *argv[] = { it_prog("spawn_mt"), "popen", NULL };
	both_ways(argv, NULL, 0, 45, "");
}

Test(robust, vfork_exec_while_allocating, .timeout = 100)
{
	const char *argv[] = { it_prog("spawn_mt"), "vfork", NULL };
	both_ways(argv, NULL, 0, 45, "");
}

Test(robust, dlopen_big_tls_from_8_threads, .timeout = 100)
{
	const char *argv[] = { it_prog("dlopen_tls"), it_prog("libtls_big.so"), NULL };
	both_ways(argv, NULL, 0, 45, "");
}

/* 10,000 threads; RSS after the last may exceed RSS after the first 1,000
 * by at most 16 MiB (the reasoning is in progs/thread_churn.c). */
Test(robust, thread_churn_rss_bounded, .timeout = 200)
{
	const char *argv[] = { it_prog("thread_churn"), "10000", NULL };
	both_ways(argv, NULL, 0, 90, "");
}

Test(robust, cxx_new_delete, .timeout = 60)
{
	if (!it_prog_exists("cxx_new"))
		cr_skip_test("no C++ compiler: cxx_new was not built");
	const char *argv[] = { it_prog("cxx_new"), NULL };
	both_ways(argv, NULL, 0, 25, "");
}

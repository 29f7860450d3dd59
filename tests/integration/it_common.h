/* it_common.h — shared plumbing of the integration drivers (the Criterion
 * tests in this directory).
 *
 * The drivers are never preloaded themselves. They run the helper programs
 * in child processes whose environment is the driver's own minus
 * LD_PRELOAD, every GCMALLOC_* variable and glibc's MALLOC_PERTURB_ and
 * MALLOC_CHECK_ (so a setting in the caller's shell, or meson's
 * MALLOC_PERTURB_, cannot change what the tests see), plus LD_PRELOAD when a
 * test asks for it.
 *
 * Environment read (set by meson.build):
 *   GCMALLOC_LIB         the library under test (libgcmalloc.so)
 *   GCMALLOC_TEST_PROGS  directory of the helper programs and libraries
 *   GCMALLOC_TEST_DATA   directory of the expected-output files
 */
#ifndef GCM_IT_COMMON_H
#define GCM_IT_COMMON_H

#include <stddef.h>

#include "gcm_child.h"

/* Path of the library under test; fails the test when unset or missing. */
const char *it_lib(void);

/* Path of a helper program or library; the string lives until the test
 * ends. Fails the test when GCMALLOC_TEST_PROGS is unset. */
const char *it_prog(const char *name);

/* 1 when the helper exists (optional helpers such as the C++ program). */
int it_prog_exists(const char *name);

/* Path of a file in the data directory. */
const char *it_data(const char *name);

/* Runs argv (argv[0] a path) with LD_PRELOAD=preload in the child's
 * environment only, or without LD_PRELOAD when preload is NULL. */
void it_run(struct gcm_child *r, const char *preload, unsigned timeout_s,
            const char *const argv[]);

/* "exit status 1", "killed by SIGSEGV", ... followed by the start of stderr
 * and stdout when they are not empty; for failure messages. The string
 * lives until the test ends. */
const char *it_describe(const struct gcm_child *r);

/* Asserts a clean run: exit status 0, nothing on stderr and, when
 * expected_out is not NULL, stdout exactly equal to it. label names the run
 * in the failure message ("glibc", "preloaded", ...). */
void it_expect_clean(const struct gcm_child *r, const char *label,
                     const char *expected_out);

/* Splits text into lines (without their '\n'); returns the count. The
 * array and the strings live until the test ends. */
size_t it_lines(const char *text, char ***lines);

/* Reads a whole file; NULL when it cannot be read. Lives until the test
 * ends. */
char *it_read_file(const char *path);

/* Remembers p so that it is released at the end of the test. */
void *it_keep(void *p);

#endif

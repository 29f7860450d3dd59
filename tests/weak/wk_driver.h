/* wk_driver.h — plumbing shared by the Criterion drivers of tests/weak and
 * tests/shim.
 *
 * The drivers are never preloaded themselves: they run helper programs in
 * child processes (tests/support/gcm_child.h). The child's environment is
 * the driver's own minus LD_PRELOAD, every GCMALLOC_* variable and glibc's
 * MALLOC_PERTURB_ / MALLOC_CHECK_, plus LD_PRELOAD=$GCMALLOC_LIB when the
 * test asks for the preload, plus the extra "NAME=value" entries a test
 * gives (GCMALLOC_GC=off for tests that count cycles).
 *
 * Environment read (set by meson.build):
 *   GCMALLOC_LIB         the library under test (libgcmalloc.so)
 *   GCMALLOC_WEAK_PROGS  directory of the helper programs
 *
 * The helper programs report success with a last stdout line
 * "ok <scenario>"; on failure they print one line naming the check to
 * stderr and exit with status 1 (or abort).
 */
#ifndef GCM_WK_DRIVER_H
#define GCM_WK_DRIVER_H

#include <stdbool.h>

#include "gcm_child.h"

/* The library under test; fails the test when GCMALLOC_LIB is unset. */
const char *wk_lib(void);

/* Path of a helper program: $GCMALLOC_WEAK_PROGS/name, or the value of the
 * environment variable var when var is not NULL. Lives until the test
 * ends. */
const char *wk_prog(const char *name);
const char *wk_prog_from_env(const char *var);

/* Runs prog with args (NULL-terminated, without argv[0]), preloaded or
 * not, with extra environment entries (NULL-terminated, may be NULL).
 * Fails the test when the program cannot be started. Output stays
 * allocated until the process of the test ends. */
void wk_run(struct gcm_child *r, const char *prog, const char *const *args,
            bool preload, const char *const *extra_env, unsigned timeout_s);

/* "exit status 1" etc. with the start of stderr and stdout; for messages.
 * Lives until the test ends. */
const char *wk_describe(const struct gcm_child *r);

/* Asserts exit status 0, an empty stderr and a last stdout line
 * "ok <scenario>". label names the run in the failure message. */
void wk_expect_ok(const struct gcm_child *r, const char *label, const char *scenario);

/* Runs `prog scenario [more args]` preloaded and expects it to pass. */
void wk_scenario(const char *prog, const char *scenario, const char *const *extra_env,
                 unsigned timeout_s);

/* The value of "key=<number>" anywhere in text (first occurrence, at the
 * start of a line or after a blank); fails the test when missing. */
long long wk_value(const char *text, const char *key);

#endif

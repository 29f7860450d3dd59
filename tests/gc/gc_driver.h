/* gc_driver.h — plumbing of the collector test drivers (test_gc.c,
 * test_gc_full.c).
 *
 * The drivers are never preloaded themselves. Each test runs one program
 * from progs/ in a child process (tests/support/gcm_child) whose
 * environment is the driver's own minus LD_PRELOAD, every GCMALLOC_*
 * variable and glibc's MALLOC_PERTURB_ and MALLOC_CHECK_, plus
 * LD_PRELOAD=$GCMALLOC_LIB and whatever GCMALLOC_* settings the test asks
 * for.
 *
 * Environment read (set by meson.build):
 *   GCMALLOC_LIB         the library under test (libgcmalloc.so)
 *   GCMALLOC_TEST_PROGS  directory of the programs and libgc_holder.so
 */
#ifndef GCM_GC_DRIVER_H
#define GCM_GC_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "gcm_child.h"

/* Exit status of a program that did not find the gcm_* functions (it ran
 * without the preload); see progs/gcp.h. */
#define GD_EXIT_NO_PRELOAD 77

/* Path of the library under test; fails the test when unset or missing. */
const char *gd_lib(void);

/* Path of a program (or library) in the programs' directory. */
const char *gd_prog(const char *name);

/* Runs argv (argv[0] a path) with env (NULL-terminated "NAME=value"
 * strings, may be NULL) added to the cleaned environment, and
 * LD_PRELOAD=gd_lib() when preload is non-zero. Waits at most timeout_s
 * seconds, then kills the child's process group. */
void gd_run(struct gcm_child *r, int preload, const char *const env[], unsigned timeout_s,
            const char *const argv[]);

/* How the run ended and the start of its stderr and stdout, for failure
 * messages. Lives until the test ends. */
const char *gd_describe(const struct gcm_child *r);

/* Asserts a run that exited 0; with quiet_stderr, also nothing on stderr.
 * Exit 77 is reported as "the preload was not active". */
void gd_expect_ok(const struct gcm_child *r, int quiet_stderr);

/* The value of "key=<number>" in text (the first occurrence of "key=" at
 * the start of a word); fails the test when absent. */
uint64_t gd_field(const char *text, const char *key);

/* Splits text into lines without their '\n'; returns the count. Lives
 * until the test ends. */
size_t gd_lines(const char *text, char ***lines);

/* Remembers p so that it is released at the end of the test. */
void *gd_keep(void *p);

/* One line of GCMALLOC_DEBUG=gctrace=1 output:
 *   gcmalloc: gc <N>: heap <X> -> <Y> (<Z> marked), pause <ms> ms (stop <ms>,
 *   mark <ms>, sweep <ms> ms), <T> threads stopped, <R> KiB roots
 * sizes "<n> KiB" or "<n> MiB", times "<int>.<3 digits>". */
struct gd_trace {
	uint64_t n;
	uint64_t heap_before, heap_after, marked; /* bytes, as printed */
	uint64_t unit_before, unit_after, unit_marked; /* 1 KiB or 1 MiB */
	uint64_t pause_us, stop_us, mark_us, sweep_us;
	uint64_t threads;
	uint64_t roots_kib;
};

/* Parses line strictly; 1 on success, 0 when it is not exactly in the
 * documented format. */
int gd_parse_trace(const char *line, struct gd_trace *t);

#endif

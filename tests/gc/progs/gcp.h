/* gcp.h — what the collector test programs share (gcp.c).
 *
 * The programs find the gcm_* functions with dlsym(RTLD_DEFAULT, ...), as an
 * aware program does; without the preload they print one line and exit with
 * GCP_EXIT_NO_PRELOAD, which the driver treats as a failure.
 *
 * Checks (GCP_CHECK) are always on: on failure one line goes to stderr with
 * write(2) and the process ends with _exit(1), from any thread or from a
 * forked child.
 *
 * Stale pointers. A conservative collector keeps an object alive as long as
 * any word that looks like a pointer to it is left anywhere it scans, and
 * the dead parts of a thread's stack are full of such words: the frames of
 * functions that have returned, spill slots, padding. A test that expects an
 * object to be reclaimed once its root is dropped must make sure no copy of
 * the pointer survives elsewhere, or it fails now and then for no fault of
 * the collector. The rules every program here follows:
 *
 *   - Test objects are created, filled and stored into their root by
 *     GCP_NOINLINE helpers (never inlined, never analysed across calls), so
 *     their address lives only in the helper's frame, which is dead once the
 *     helper returns. main() and the thread bodies never hold one in a local
 *     that outlives the step that needs it.
 *   - gcp_clear_stack() overwrites the 64 KiB below the caller's frame with
 *     zeros, wiping those dead frames before the next cycle can scan them:
 *     the collector's own frames are built over that region, and their
 *     uninitialised slots would otherwise show what an earlier call left.
 *     It also zeroes the scratch (caller-saved) registers, which a thread
 *     that blocks right after keeps, stale, for the collector to read.
 *     gcp_collect() always clears first; a thread about to block where
 *     another thread's cycle will scan it clears right before.
 *   - Canary contents never look like heap addresses: every pattern word
 *     has its top bit set (see gcp_word).
 *
 * The helpers below are also what make the "still alive" checks meaningful:
 * after each cycle the object's words are verified, and the collector's own
 * figures (gcm_stats) must show exactly the bytes the test holds.
 */
#ifndef GCM_GC_PROG_H
#define GCM_GC_PROG_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "gcmalloc.h"

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define GCP_NOINLINE __attribute__((noinline, noipa))
#else
#define GCP_NOINLINE __attribute__((noinline))
#endif

/* Exit code of a program that runs without the preload. */
#define GCP_EXIT_NO_PRELOAD 77

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

struct gcp_api {
	void *(*malloc)(size_t n);
	void *(*malloc_atomic)(size_t n);
	void (*collect)(void);
	int (*stats)(struct gcm_stats *out, size_t out_size);
	const char *(*version)(void);
};

extern struct gcp_api gcp;

/* Resolves gcp; exits with GCP_EXIT_NO_PRELOAD when a symbol is missing. */
void gcp_init(void);

__attribute__((noreturn, format(printf, 3, 4)))
void gcp_fail(const char *file, int line, const char *fmt, ...);

#define GCP_CHECK(cond, ...)                                              \
	do {                                                              \
		if (!(cond))                                              \
			gcp_fail(__FILE__, __LINE__, __VA_ARGS__);         \
	} while (0)

/* Prints one line to stdout with write(2) (safe after fork and from any
 * thread; no stdio buffer holds anything). */
__attribute__((format(printf, 1, 2)))
void gcp_say(const char *fmt, ...);

/* gcm_stats into *st; fails the test on error or a short structure. */
void gcp_stats(struct gcm_stats *st);

/* Overwrites the 64 KiB of stack below the caller's frame, and the
 * scratch registers. */
void gcp_clear_stack(void);

/* Clears the stack and runs one explicit cycle. Fails the test unless
 * exactly one more cycle completed and none was skipped, when only the
 * calling thread collects (exclusive); with concurrent collectors, only
 * checks that no cycle was skipped. *after receives the figures. */
void gcp_collect(struct gcm_stats *after, int exclusive);

/* The n-th word of the canary pattern of seed: top bit set, so it never
 * looks like a pointer into the heap. */
static inline uint64_t gcp_word(uint64_t seed, size_t i)
{
	uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ull + (uint64_t)i * 0xBF58476D1CE4E5B9ull;
	x ^= x >> 29;
	return x | 0x8000000000000000ull;
}

/* Fills the first n bytes (n a multiple of 8) with the pattern of seed. */
void gcp_fill(void *p, size_t n, uint64_t seed);

/* 1 when the first n bytes hold the pattern of seed. */
int gcp_intact(const void *p, size_t n, uint64_t seed);

/* 1 when the first n bytes are zero. */
int gcp_zero(const void *p, size_t n);

/* A collectable object of n bytes (gcm_malloc, or gcm_malloc_atomic when
 * atomic), filled with the pattern of seed. Fails the test on NULL. */
void *gcp_new(size_t n, uint64_t seed, int atomic);

/* Allocates n bytes with malloc, fills them with a pattern that differs
 * from every canary and frees them: if a held object had been reclaimed,
 * this is likely to land on its memory and spoil its canary. */
void gcp_scribble(size_t n);

/* The usable size of p (malloc_usable_size): what the collector counts as
 * marked or freed for it. */
size_t gcp_usable(void *p);

/* Blocks until thread tid sits in system call nr (read = 0), using
 * /proc/self/task/<tid>/syscall; falls back to waiting for state S in
 * /proc/self/task/<tid>/stat when the first is unreadable. Fails after 10 s. */
void gcp_wait_in_syscall(int tid, long nr);

int gcp_gettid(void);

/* Monotonic time in nanoseconds. */
uint64_t gcp_now_ns(void);

/* Sleeps for ms milliseconds. */
void gcp_sleep_ms(unsigned ms);

#endif

/* wk.h — what the helper programs of tests/weak share.
 *
 * The helpers run under LD_PRELOAD=libgcmalloc.so (started by the drivers
 * in ../, never by hand) and call the gcm_* functions directly. They are
 * not linked against the library: the declarations of gcmalloc.h are made
 * weak here, so the loader binds them to the preloaded library, and
 * wk_require_preload() fails cleanly when it is absent.
 *
 * Reporting: a check that fails prints one line "FAIL file:line: what" to
 * stderr and exits with status 1 (it may do so from any thread, including
 * the finalizer thread). A scenario that passes ends with wk_pass(), which
 * prints "ok <scenario>" as the last line of stdout.
 *
 * Conservative-collector hygiene, followed by every helper:
 *   - A pointer that must not keep its object alive is never kept in a
 *     local of a long-lived frame (main, a scenario function that collects)
 *     or in a static: objects are allocated and dropped inside noinline
 *     helper functions, which hand back only a weak handle (a handle is an
 *     atomic object: it does not keep its target alive) or a "hidden"
 *     address (wk_hide: the bitwise complement, which no scan can mistake
 *     for a pointer).
 *   - Before a collection whose outcome is checked, wk_collect() first
 *     overwrites a large part of the stack below the caller (a noinline
 *     function memsets a big volatile buffer), wiping the dead frames of
 *     the helpers that held the pointers, then calls gcm_collect().
 *   - A static that only keeps an object alive is WK_ROOT (volatile), or
 *     the compiler may drop the stores to it.
 *   - Effects of finalizers and cleanups are read only after
 *     gcm_finalizers_wait() returned 0.
 */
#ifndef GCM_WK_H
#define GCM_WK_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gcmalloc.h"

#pragma weak gcm_malloc
#pragma weak gcm_malloc_atomic
#pragma weak gcm_collect
#pragma weak gcm_weak_make
#pragma weak gcm_weak_get
#pragma weak gcm_set_finalizer
#pragma weak gcm_add_cleanup
#pragma weak gcm_cleanup_cancel
#pragma weak gcm_finalizers_wait
#pragma weak gcm_stats
#pragma weak gcm_version

#define WK_NOINLINE __attribute__((noinline, noclone))

/* A static (or thread-local) that exists only to keep an object alive is
 * declared `static T *WK_ROOT name`: the compiler deletes stores to a
 * static it never sees read, which would leave the object unreferenced. */
#define WK_ROOT volatile

/* Prints "FAIL file:line: <formatted message>" on stderr, flushes stdout,
 * and ends the process with status 1. */
void wk_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

#define WK_CHECK(cond, ...)                                             \
	do {                                                            \
		if (!(cond))                                            \
			wk_fail(__FILE__, __LINE__, "(" #cond ") " __VA_ARGS__); \
	} while (0)

/* Checks that a call failed with errno == e: `failed` is the failure test
 * of its result (e.g. `w == NULL`), evaluated once, right after the call
 * (errno is read first). */
#define WK_CHECK_ERRNO(failed, e, what)                                         \
	do {                                                                    \
		int wk_errno_ = errno;                                          \
		bool wk_failed_ = (failed);                                     \
		if (!wk_failed_ || wk_errno_ != (e))                            \
			wk_fail(__FILE__, __LINE__, "%s: expected failure with %s, " \
			        "got %s with errno %d (%s)", what, #e,           \
			        wk_failed_ ? "failure" : "success", wk_errno_,  \
			        wk_errno_name(wk_errno_));                      \
	} while (0)

const char *wk_errno_name(int e);

/* Fails unless libgcmalloc.so is preloaded (every gcm_* symbol bound). */
void wk_require_preload(void);

/* Prints "ok <scenario>" and flushes stdout. */
void wk_pass(const char *scenario);

/* Overwrites about 64 KiB of stack below the caller's frame. */
void wk_clear_stack(void);

/* wk_clear_stack() then gcm_collect(). */
void wk_collect(void);

/* wk_collect() then gcm_finalizers_wait(10 s), which must succeed. */
void wk_collect_and_wait(void);

/* gcm_finalizers_wait(10 s), which must succeed. */
void wk_wait(void);

/* An address stored so that no scan sees a pointer in it. */
static inline uintptr_t wk_hide(const void *p)
{
	return ~(uintptr_t)p;
}

static inline void *wk_unhide(uintptr_t h)
{
	return (void *)~h;
}

/* Monotonic time in nanoseconds. */
uint64_t wk_now_ns(void);

/* A small fast PRNG (xorshift64*), state must start non-zero. */
static inline uint64_t wk_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* The caller's kernel thread id. */
int wk_gettid(void);

/* gcm_stats() into *st; must succeed. */
void wk_stats(struct gcm_stats *st);

#endif

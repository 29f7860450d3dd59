/*
 * debug.h — assertions at three levels.
 *
 *   GCM_ASSERT(e)            cheap checks, compiled in when the build has
 *                            assertions (meson -Dassertions=true).
 *   GCM_ASSERT_EXPENSIVE(e)  O(n) validators (*_is_valid()), in builds with
 *                            assertions, when -Dexpensive_checks=true or
 *                            GCMALLOC_DEBUG=assert=1 turns them on.
 *   gcm_throw(fmt, ...)      always on: a state in which going on would
 *                            corrupt memory. Prints one line and aborts.
 *
 * The macros test a constant (GCM_ASSERTIONS), not #ifdef, so the checked
 * expression is always compiled and cannot rot; the optimiser drops it in
 * release builds. Failure output goes through log.h and never allocates.
 */
#ifndef GCM_DEBUG_H
#define GCM_DEBUG_H

#include "base.h"

/* Whether the O(n) validators run: GCM_EXPENSIVE_CHECKS by default, and
 * GCMALLOC_DEBUG=assert=1 turns them on in builds with assertions. */
extern bool debug_expensive;

GCM_NORETURN GCM_COLD void debug_assert_fail(const char *file, int line,
					      const char *func, const char *expr);
GCM_NORETURN GCM_COLD void gcm_throw(const char *fmt, ...) GCM_PRINTF(1, 2);

#define GCM_ASSERT(e)                                                        \
	do {                                                                 \
		if (GCM_ASSERTIONS && GCM_UNLIKELY(!(e)))                    \
			debug_assert_fail(__FILE__, __LINE__, __func__, #e); \
	} while (0)

#define GCM_ASSERT_EXPENSIVE(e)                                              \
	do {                                                                 \
		if (GCM_ASSERTIONS && debug_expensive && GCM_UNLIKELY(!(e))) \
			debug_assert_fail(__FILE__, __LINE__, __func__, #e); \
	} while (0)

#endif /* GCM_DEBUG_H */

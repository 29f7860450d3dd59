/*
 * log.h — the one way core/ writes text.
 *
 * A tiny printf-like formatter that writes into a caller-supplied or stack
 * buffer and emits each line with a single write(2). It never allocates, never
 * takes a lock and is async-signal-safe, so it may be used from inside
 * malloc, from a signal handler and from an abort path.
 *
 * Supported conversions: %s %c %d %i %u %x %p %% with the length modifiers
 * l, ll and z. Width and flags are limited to an optional '0' pad and a
 * decimal width (enough for tables).
 */
#ifndef GCM_LOG_H
#define GCM_LOG_H

#include "base.h"

#include <stdarg.h>

/* Formats into buf (always NUL-terminated when cap > 0). Returns the length
 * the full output would have had, like snprintf. */
size_t log_vformat(char *buf, size_t cap, const char *fmt, va_list ap);
size_t log_format(char *buf, size_t cap, const char *fmt, ...) GCM_PRINTF(3, 4);

/* Writes the formatted text to fd, retrying short writes and EINTR.
 * Lines longer than 1 KiB are truncated. errno is preserved. */
void log_fd(int fd, const char *fmt, ...) GCM_PRINTF(2, 3);

/* "gcmalloc: " + text + "\n" on stderr, one write(2). */
void log_line(const char *fmt, ...) GCM_PRINTF(1, 2);

#endif /* GCM_LOG_H */

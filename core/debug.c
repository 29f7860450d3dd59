/*
 * debug.c — the abort paths. Both print exactly one line on stderr through
 * the non-allocating logger and then abort(), which raises SIGABRT so that
 * death tests and core dumps see the real failure site.
 */
#include "base.h"
#include "debug.h"
#include "log.h"

#include <stdarg.h>
#include <stdlib.h>

bool debug_expensive = GCM_EXPENSIVE_CHECKS;

void debug_assert_fail(const char *file, int line, const char *func,
		       const char *expr)
{
	log_line("assertion failed: %s (%s:%d, in %s)", expr, file, line, func);
	abort();
}

void gcm_throw(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	log_vformat(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_line("fatal: %s", buf);
	abort();
}

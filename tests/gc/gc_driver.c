/* gc_driver.c — see gc_driver.h. */
#define _GNU_SOURCE
#include "gc_driver.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Each Criterion test runs in a process of its own: what is kept here is
 * released when it ends; gd_keep only keeps pointers reachable. */
enum { KEEP_MAX = 8192 };
static void *kept[KEEP_MAX];
static size_t nkept;

void *gd_keep(void *p)
{
	cr_assert_not_null(p, "out of memory in the test driver");
	if (nkept < KEEP_MAX)
		kept[nkept++] = p;
	return p;
}

static char *gd_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *gd_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0, "out of memory in the test driver");
	return gd_keep(s);
}

static const char *gd_env(const char *var)
{
	const char *v = getenv(var);
	cr_assert(v && *v, "%s is not set; run these tests through meson test (suite 'gc')", var);
	return v;
}

const char *gd_lib(void)
{
	const char *lib = gd_env("GCMALLOC_LIB");
	cr_assert(access(lib, R_OK) == 0, "GCMALLOC_LIB=%s cannot be read", lib);
	return lib;
}

const char *gd_prog(const char *name)
{
	return gd_printf("%s/%s", gd_env("GCMALLOC_TEST_PROGS"), name);
}

void gd_run(struct gcm_child *r, int preload, const char *const env[], unsigned timeout_s,
            const char *const argv[])
{
	const char **envp = gcm_child_env(preload ? gd_lib() : NULL, env);
	cr_assert_not_null(envp, "out of memory in the test driver");
	gcm_child_run(r, argv, envp, timeout_s * 1000u);
	gd_keep(r->out);
	gd_keep(r->err);
	cr_assert(r->start_errno == 0, "cannot run %s: %s", argv[0], strerror(r->start_errno));
}

static const char *gd_excerpt(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return s;
	char *c = gd_keep(strndup(s, max));
	return gd_printf("%s[... %zu more bytes]", c, len - max);
}

const char *gd_describe(const struct gcm_child *r)
{
	char how[128];
	gcm_child_describe(r, how, sizeof how);
	return gd_printf("%s%s%s%s%s", how, r->err_len ? "\n--- stderr ---\n" : "",
	                 r->err_len ? gd_excerpt(r->err, r->err_len, 4000) : "",
	                 r->out_len ? "\n--- stdout ---\n" : "",
	                 r->out_len ? gd_excerpt(r->out, r->out_len, 2000) : "");
}

void gd_expect_ok(const struct gcm_child *r, int quiet_stderr)
{
	cr_assert(!(!r->timed_out && WIFEXITED(r->status) &&
	            WEXITSTATUS(r->status) == GD_EXIT_NO_PRELOAD),
	          "the program did not find the gcm_* functions: the preload was not active "
	          "(LD_PRELOAD=%s)\n%s",
	          gd_lib(), gd_describe(r));
	cr_assert(gcm_child_ok(r), "the program failed: %s", gd_describe(r));
	if (quiet_stderr)
		cr_assert(r->err_len == 0, "the program wrote to stderr: %s", gd_describe(r));
}

uint64_t gd_field(const char *text, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = text; (p = strstr(p, key)) != NULL; p++) {
		if (p != text && !isspace((unsigned char)p[-1]))
			continue;
		if (p[kl] != '=')
			continue;
		char *end;
		unsigned long long v = strtoull(p + kl + 1, &end, 10);
		cr_assert(end != p + kl + 1, "'%s=' is not followed by a number in:\n%s", key, text);
		return v;
	}
	cr_assert_fail("no '%s=' in the program's output:\n%s", key, text);
	return 0;
}

size_t gd_lines(const char *text, char ***lines)
{
	size_t n = 1;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	char **v = gd_keep(calloc(n + 1, sizeof *v));
	size_t k = 0;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		v[k++] = gd_keep(strndup(p, len));
		p += len + (nl ? 1 : 0);
	}
	v[k] = NULL;
	*lines = v;
	return k;
}

/* ---- the trace line ------------------------------------------------------ */

static int lit(const char **p, const char *s)
{
	size_t n = strlen(s);
	if (strncmp(*p, s, n) != 0)
		return 0;
	*p += n;
	return 1;
}

static int num(const char **p, uint64_t *v)
{
	if (!isdigit((unsigned char)**p))
		return 0;
	uint64_t x = 0;
	while (isdigit((unsigned char)**p)) {
		x = x * 10 + (uint64_t)(**p - '0');
		(*p)++;
	}
	*v = x;
	return 1;
}

/* "<int>.<3 digits>" milliseconds, as microseconds. */
static int ms(const char **p, uint64_t *us)
{
	uint64_t whole, frac;
	const char *start;
	if (!num(p, &whole) || !lit(p, "."))
		return 0;
	start = *p;
	if (!num(p, &frac) || *p - start != 3)
		return 0;
	*us = whole * 1000 + frac;
	return 1;
}

static int size(const char **p, uint64_t *bytes, uint64_t *unit)
{
	uint64_t v;
	if (!num(p, &v))
		return 0;
	if (lit(p, " KiB"))
		*unit = 1024;
	else if (lit(p, " MiB"))
		*unit = 1024 * 1024;
	else
		return 0;
	*bytes = v * *unit;
	return 1;
}

int gd_parse_trace(const char *line, struct gd_trace *t)
{
	const char *p = line;
	memset(t, 0, sizeof *t);
	return lit(&p, "gcmalloc: gc ") && num(&p, &t->n) && lit(&p, ": heap ") &&
	       size(&p, &t->heap_before, &t->unit_before) && lit(&p, " -> ") &&
	       size(&p, &t->heap_after, &t->unit_after) && lit(&p, " (") &&
	       size(&p, &t->marked, &t->unit_marked) && lit(&p, " marked), pause ") &&
	       ms(&p, &t->pause_us) && lit(&p, " ms (stop ") && ms(&p, &t->stop_us) &&
	       lit(&p, ", mark ") && ms(&p, &t->mark_us) && lit(&p, ", sweep ") &&
	       ms(&p, &t->sweep_us) && lit(&p, " ms), ") && num(&p, &t->threads) &&
	       lit(&p, " threads stopped, ") && num(&p, &t->roots_kib) && lit(&p, " KiB roots") &&
	       *p == '\0';
}

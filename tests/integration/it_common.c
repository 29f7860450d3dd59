/* it_common.c — see it_common.h. */
#define _GNU_SOURCE
#include "it_common.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Each Criterion test runs in a process of its own, so memory handed out
 * here is released when the process ends; it_keep only keeps the pointers
 * reachable for leak checkers. */
enum { KEEP_MAX = 4096 };
static void *kept[KEEP_MAX];
static size_t nkept;

void *it_keep(void *p)
{
	cr_assert_not_null(p, "out of memory in the test driver");
	if (nkept < KEEP_MAX)
		kept[nkept++] = p;
	return p;
}

static char *keep_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *keep_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0, "out of memory in the test driver");
	return it_keep(s);
}

static const char *env_dir(const char *var)
{
	const char *v = getenv(var);
	cr_assert(v && *v,
	          "%s is not set; run the integration tests through meson test "
	          "(suite 'integration')", var);
	return v;
}

const char *it_lib(void)
{
	const char *lib = env_dir("GCMALLOC_LIB");
	cr_assert(access(lib, R_OK) == 0, "GCMALLOC_LIB=%s cannot be read", lib);
	return lib;
}

const char *it_prog(const char *name)
{
	return keep_printf("%s/%s", env_dir("GCMALLOC_TEST_PROGS"), name);
}

int it_prog_exists(const char *name)
{
	return access(it_prog(name), X_OK) == 0;
}

const char *it_data(const char *name)
{
	return keep_printf("%s/%s", env_dir("GCMALLOC_TEST_DATA"), name);
}

void it_run(struct gcm_child *r, const char *preload, unsigned timeout_s,
            const char *const argv[])
{
	const char **envp = gcm_child_env(preload, NULL);
	cr_assert_not_null(envp, "out of memory in the test driver");
	gcm_child_run(r, argv, envp, timeout_s * 1000u);
	it_keep(r->out);
	it_keep(r->err);
	cr_assert(r->start_errno == 0, "cannot run %s: %s", argv[0],
	          strerror(r->start_errno));
}

/* At most max bytes of s, cut at a line end when possible. */
static const char *excerpt(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return s;
	char *c = it_keep(strndup(s, max));
	char *nl = strrchr(c, '\n');
	if (nl && nl > c + max / 2)
		nl[1] = '\0';
	return keep_printf("%s[... %zu more bytes]", c, len - strlen(c));
}

const char *it_describe(const struct gcm_child *r)
{
	char how[128];
	gcm_child_describe(r, how, sizeof how);
	return keep_printf("%s%s%s%s%s", how,
	                   r->err_len ? "\n--- stderr ---\n" : "",
	                   r->err_len ? excerpt(r->err, r->err_len, 3000) : "",
	                   r->out_len ? "\n--- stdout ---\n" : "",
	                   r->out_len ? excerpt(r->out, r->out_len, 1500) : "");
}

void it_expect_clean(const struct gcm_child *r, const char *label,
                     const char *expected_out)
{
	cr_assert(gcm_child_ok(r), "%s run failed: %s", label, it_describe(r));
	cr_assert(r->err_len == 0, "%s run wrote to stderr: %s", label,
	          it_describe(r));
	if (expected_out)
		cr_assert(strcmp(r->out, expected_out) == 0,
		          "%s run: unexpected stdout\n--- expected ---\n%s%s", label,
		          expected_out, it_describe(r));
}

size_t it_lines(const char *text, char ***lines)
{
	size_t n = 0;
	for (const char *p = text; *p; p++)
		if (*p == '\n')
			n++;
	n++; /* a last line without '\n' */
	char **v = it_keep(calloc(n + 1, sizeof *v));
	size_t k = 0;
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		v[k++] = it_keep(strndup(p, len));
		p += len + (nl ? 1 : 0);
	}
	v[k] = NULL;
	*lines = v;
	return k;
}

char *it_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	size_t got;
	while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += got;
		if (cap - len - 1 == 0) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	buf[len] = '\0';
	return it_keep(buf);
}

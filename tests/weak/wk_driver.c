/* wk_driver.c — see wk_driver.h. */
#define _GNU_SOURCE
#include "wk_driver.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every Criterion test runs in a process of its own: what is allocated here
 * is released when that process ends. */
static char *keep_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *keep_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && s != NULL, "out of memory in the test driver");
	return s;
}

static const char *env_required(const char *var)
{
	const char *v = getenv(var);
	cr_assert(v != NULL && *v != '\0',
	          "%s is not set; run these tests through meson test", var);
	return v;
}

const char *wk_lib(void)
{
	const char *lib = env_required("GCMALLOC_LIB");
	cr_assert(access(lib, R_OK) == 0, "GCMALLOC_LIB=%s cannot be read", lib);
	return lib;
}

const char *wk_prog(const char *name)
{
	return keep_printf("%s/%s", env_required("GCMALLOC_WEAK_PROGS"), name);
}

const char *wk_prog_from_env(const char *var)
{
	return env_required(var);
}

void wk_run(struct gcm_child *r, const char *prog, const char *const *args,
            bool preload, const char *const *extra_env, unsigned timeout_s)
{
	size_t nargs = 0;
	while (args && args[nargs])
		nargs++;
	const char **envp = gcm_child_env(preload ? wk_lib() : NULL, extra_env);
	const char **argv = calloc(nargs + 2, sizeof *argv);
	cr_assert(envp != NULL && argv != NULL, "out of memory in the test driver");

	cr_assert(access(prog, X_OK) == 0, "helper program %s is missing", prog);
	argv[0] = prog;
	for (size_t i = 0; i < nargs; i++)
		argv[i + 1] = args[i];
	argv[nargs + 1] = NULL;

	gcm_child_run(r, argv, envp, timeout_s * 1000u);
	cr_assert(r->start_errno == 0, "cannot run %s: %s", prog, strerror(r->start_errno));
}

/* At most max bytes of the end of s: a failing check is reported last. */
static const char *tail(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return s;
	return keep_printf("[... %zu bytes before]%s", len - max, s + len - max);
}

const char *wk_describe(const struct gcm_child *r)
{
	char how[128];
	gcm_child_describe(r, how, sizeof how);
	return keep_printf("%s%s%s%s%s", how,
	                   r->err_len ? "\n--- stderr ---\n" : "",
	                   r->err_len ? tail(r->err, r->err_len, 3000) : "",
	                   r->out_len ? "\n--- stdout ---\n" : "",
	                   r->out_len ? tail(r->out, r->out_len, 2000) : "");
}

void wk_expect_ok(const struct gcm_child *r, const char *label, const char *scenario)
{
	cr_assert(gcm_child_ok(r), "%s: %s run failed: %s", scenario, label, wk_describe(r));
	cr_assert(r->err_len == 0, "%s: %s run wrote to stderr: %s", scenario, label,
	          wk_describe(r));
	const char *want = keep_printf("ok %s\n", scenario);
	size_t wl = strlen(want);
	cr_assert(r->out_len >= wl && strcmp(r->out + r->out_len - wl, want) == 0 &&
	              (r->out_len == wl || r->out[r->out_len - wl - 1] == '\n'),
	          "%s: %s run did not end with \"ok %s\": %s", scenario, label, scenario,
	          wk_describe(r));
}

void wk_scenario(const char *prog, const char *scenario, const char *const *extra_env,
                 unsigned timeout_s)
{
	struct gcm_child r;
	const char *args[] = { scenario, NULL };
	wk_run(&r, prog, args, true, extra_env, timeout_s);
	wk_expect_ok(&r, "preloaded", scenario);
}

long long wk_value(const char *text, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = text; (p = strstr(p, key)) != NULL; p += kl) {
		bool starts = p == text || p[-1] == '\n' || p[-1] == ' ';
		if (starts && p[kl] == '=')
			return strtoll(p + kl + 1, NULL, 10);
	}
	cr_assert_fail("no %s= in the program's output:\n%.3000s", key, text);
	return 0;
}

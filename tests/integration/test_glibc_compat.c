/* test_glibc_compat.c — the preloaded allocator behaves like glibc's.
 *
 * conformance (progs/conformance.c) prints one normalised line per edge case
 * of the malloc family. It is run without and with the preload, and the two
 * outputs must be identical, except for lines listed in
 * conformance-allow.txt (deliberate differences, each documented in the
 * README). The glibc run is also compared with conformance.expected, the
 * recorded output of glibc 2.36, so that a change of the baseline itself is
 * noticed instead of silently changing what is tested.
 *
 * The rest is checked only under the preload: that every malloc-family
 * symbol binds to the library, that mallinfo/malloc_info/malloc_stats/
 * malloc_trim/mallopt are answered by gcmalloc (introspection.c), and that
 * the allocator prints nothing during a healthy run.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it_common.h"

#define RUN_LIMIT 90

/* The case name of a conformance line: everything before the first ": ". */
static size_t case_len(const char *line)
{
	const char *sep = strstr(line, ": ");
	return sep ? (size_t)(sep - line) : strlen(line);
}

static const char *find_case(char **lines, size_t n, const char *line)
{
	size_t k = case_len(line);
	for (size_t i = 0; i < n; i++)
		if (case_len(lines[i]) == k && strncmp(lines[i], line, k) == 0)
			return lines[i];
	return NULL;
}

/* The allow-list: one accepted gcmalloc line per entry; '#' comments and
 * blank lines are ignored, as is trailing white space. */
static size_t load_allow_list(char ***entries)
{
	const char *path = it_data("conformance-allow.txt");
	char *text = it_read_file(path);
	cr_assert_not_null(text, "cannot read %s", path);
	char **raw;
	size_t n = it_lines(text, &raw);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		char *l = raw[i];
		size_t len = strlen(l);
		while (len > 0 && (l[len - 1] == ' ' || l[len - 1] == '\t' ||
		                   l[len - 1] == '\r'))
			l[--len] = '\0';
		if (len == 0 || l[0] == '#')
			continue;
		raw[k++] = l;
	}
	raw[k] = NULL;
	*entries = raw;
	return k;
}

static int allowed(char **allow, size_t nallow, const char *line)
{
	for (size_t i = 0; i < nallow; i++)
		if (strcmp(allow[i], line) == 0)
			return 1;
	return 0;
}

Test(glibc_compat, conformance_matches_glibc, .timeout = 2 * RUN_LIMIT + 20)
{
	const char *prog = it_prog("conformance");
	const char *argv[] = { prog, NULL };
	struct gcm_child plain, pre;
	it_run(&plain, NULL, RUN_LIMIT, argv);
	it_expect_clean(&plain, "glibc (no preload)", NULL);
	it_run(&pre, it_lib(), RUN_LIMIT, argv);

	char **pl, **gl, **allow;
	size_t npl = it_lines(plain.out, &pl);
	size_t ngl = it_lines(pre.out, &gl);
	size_t nallow = load_allow_list(&allow);
	cr_assert(npl > 0, "the glibc run printed nothing");

	size_t bad = 0;
	char *report = NULL;
	size_t report_len = 0;
	FILE *rep = open_memstream(&report, &report_len);
	cr_assert_not_null(rep);
	for (size_t i = 0; i < npl; i++) {
		const char *mine = find_case(gl, ngl, pl[i]);
		if (mine && strcmp(mine, pl[i]) == 0) {
			if (allowed(allow, nallow, mine))
				cr_log_warn("conformance-allow.txt lists '%s', which now "
				            "matches glibc: remove the entry", mine);
			continue;
		}
		if (mine && allowed(allow, nallow, mine))
			continue;
		bad++;
		fprintf(rep, "  glibc:    %s\n  gcmalloc: %s\n", pl[i],
		        mine ? mine : "(case missing)");
	}
	for (size_t i = 0; i < ngl; i++) {
		if (!find_case(pl, npl, gl[i])) {
			bad++;
			fprintf(rep, "  gcmalloc only: %s\n", gl[i]);
		}
	}
	fclose(rep);
	it_keep(report);

	cr_assert(gcm_child_ok(&pre), "conformance under the preload failed: %s",
	          it_describe(&pre));
	cr_assert(bad == 0,
	          "%zu conformance case(s) differ from glibc (accept deliberate "
	          "differences in tests/integration/conformance-allow.txt and "
	          "document them in README.md):\n%s",
	          bad, report);
	cr_assert(pre.err_len == 0,
	          "conformance under the preload wrote to stderr: %s",
	          it_describe(&pre));
}

Test(glibc_compat, conformance_glibc_baseline, .timeout = RUN_LIMIT + 10)
{
	const char *prog = it_prog("conformance");
	const char *argv[] = { prog, NULL };
	struct gcm_child plain;
	it_run(&plain, NULL, RUN_LIMIT, argv);
	it_expect_clean(&plain, "glibc (no preload)", NULL);

	const char *path = it_data("conformance.expected");
	char *expected = it_read_file(path);
	cr_assert_not_null(expected, "cannot read %s", path);
	char **want, **got;
	size_t nwant = it_lines(expected, &want);
	size_t ngot = it_lines(plain.out, &got);
	for (size_t i = 0; i < nwant || i < ngot; i++) {
		const char *w = i < nwant ? want[i] : "(end of file)";
		const char *g = i < ngot ? got[i] : "(end of output)";
		cr_assert(strcmp(w, g) == 0,
		          "glibc itself no longer behaves as recorded in %s (line %zu):\n"
		          "  recorded: %s\n  now:      %s\n"
		          "Check the change, then record the new output of "
		          "'conformance' run without preload.",
		          path, i + 1, w, g);
	}
}

Test(glibc_compat, every_symbol_interposed, .timeout = 30)
{
	const char *lib = it_lib();
	const char *argv[] = { it_prog("interposed"), lib, NULL };
	struct gcm_child r;
	it_run(&r, lib, 20, argv);
	it_expect_clean(&r, "preloaded", NULL);
	char **lines;
	size_t n = it_lines(r.out, &lines);
	cr_assert(n > 10, "interposed printed too little: %s", it_describe(&r));
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strstr(lines[i], ": preload")) {
			cr_log_error("not bound to %s: %s", lib, lines[i]);
			bad++;
		}
	}
	cr_assert(bad == 0, "%zu malloc-family symbol(s) are not defined by the "
	          "preloaded library:\n%s", bad, r.out);
}

Test(glibc_compat, introspection_reports_gcmalloc, .timeout = 30)
{
	const char *argv[] = { it_prog("introspection"), NULL };
	struct gcm_child r;
	it_run(&r, it_lib(), 20, argv);
	cr_assert(gcm_child_ok(&r), "introspection failed: %s", it_describe(&r));
	cr_assert(r.out_len == 0, "introspection wrote to stdout: %s",
	          it_describe(&r));
	const char *begin = strstr(r.err, "--- malloc_stats begin ---\n");
	const char *end = strstr(r.err, "--- malloc_stats end ---\n");
	cr_assert(begin && end && begin < end,
	          "malloc_stats markers missing: %s", it_describe(&r));
	cr_assert(begin == r.err,
	          "something was written to stderr before malloc_stats: %s",
	          it_describe(&r));
	size_t stats_len = (size_t)(end - begin);
	char *stats = it_keep(strndup(begin, stats_len));
	cr_assert(strstr(stats, "gcmalloc") != NULL,
	          "malloc_stats() output does not mention gcmalloc:\n%s", stats);
}

Test(glibc_compat, silent_when_healthy, .timeout = 60)
{
	const char *argv[] = { it_prog("smoke"), NULL };
	struct gcm_child plain, pre;
	it_run(&plain, NULL, 25, argv);
	it_expect_clean(&plain, "glibc (no preload)", "");
	it_run(&pre, it_lib(), 25, argv);
	it_expect_clean(&pre, "preloaded", "");
}

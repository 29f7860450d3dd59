/*
 * test_scav_it.c — the scavenger seen from outside: scav_prog (this
 * directory) runs in a child process with libgcmalloc.so in LD_PRELOAD (in
 * the child's environment only) and reports what it measured; the tests
 * here judge it. The driver itself is never preloaded.
 *
 * The child's environment is the driver's minus LD_PRELOAD, every
 * GCMALLOC_* variable, MALLOC_PERTURB_ and MALLOC_CHECK_, plus what a test
 * sets. Environment read (set by meson.build):
 *   GCMALLOC_LIB        the library under test
 *   GCMALLOC_SCAV_PROG  the scav_prog executable
 *   GCMALLOC_SCAV_FULL  1 to run the long tests (suite "full")
 *
 * Bounds, and why (KiB and seconds as scav_prog reports them; "base" is the
 * child's RSS before its workload allocates, "live" the bytes it keeps):
 *   - heap RSS vs the trace's "now": within 8 MiB + 5%. "now" is pages in
 *     use plus free resident ones; RSS also holds the allocator's metadata
 *     (summaries, page map, descriptors: a few MiB for a 300 MiB heap) and
 *     misses pages handed out but never written (a page cache, the unused
 *     tail of a span), and the line is read a few ms after it is written
 *     while the scavenger keeps working.
 *   - after malloc_trim(0) or background release: live + 10% (the goal's
 *     margin) + 16 MiB: metadata, partly used spans of ~60 size classes,
 *     the spans pinned by 64 scattered survivors, one spare span per class.
 *   - GCMALLOC_MEMLIMIT=256MiB: peak RSS (VmHWM) <= 256 MiB + 8 MiB. The
 *     limit is soft: the eager path releases after the allocation that
 *     crossed 95% of it, so one allocation (<= 4 MiB here) and a page cache
 *     may stand above it for a moment; the program and libc add ~2 MiB.
 *   - stress: after freeing everything and malloc_trim(0), the trace's
 *     "now" <= 4 MiB and mallinfo2().uordblks (bytes in spans) within
 *     1 MiB of the start.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gcm_child.h"


#define MIB_K 1024L /* KiB per MiB */

/* ---- plumbing ------------------------------------------------------------ */

static const char *env_path(const char *name)
{
	const char *v = getenv(name);
	cr_assert(v != NULL && *v != '\0', "%s is not set (meson sets it)", name);
	cr_assert(access(v, R_OK) == 0, "%s=%s does not exist", name, v);
	return v;
}

/* Tests that time the scavenger turn the O(heap) validators of assertion
 * builds off (assert=0): they check scavenging after every run, which makes
 * release too slow to time. The stress tests keep them on. */
#define SCAV_TIMED_DEBUG "GCMALLOC_DEBUG=scavtrace=1,assert=0"

/*
 * Runs scav_prog with args (NULL-terminated, without the program) under the
 * preload, with extra "NAME=value" entries (NULL-terminated, may be NULL).
 */
static void run_prog(struct gcm_child *r, const char *const *extra, unsigned timeout_s,
		     const char *const *args)
{
	const char **envp = gcm_child_env(env_path("GCMALLOC_LIB"), extra);
	cr_assert_not_null(envp, "out of memory in the test driver");

	const char *argv[32];
	size_t a = 0;
	argv[a++] = env_path("GCMALLOC_SCAV_PROG");
	for (size_t i = 0; args[i] && a < 31; i++)
		argv[a++] = args[i];
	argv[a] = NULL;
	cr_assert_eq(gcm_child_run(r, argv, envp, timeout_s * 1000u), 0,
		     "cannot start %s", argv[0]);
}

/* Fails unless the child exited with status 0; shows stderr. */
static void expect_ok(const struct gcm_child *r, const char *what)
{
	char buf[128];
	cr_assert(gcm_child_ok(r), "%s: %s\nstderr:\n%.3000s\nstdout:\n%.3000s", what,
		  gcm_child_describe(r, buf, sizeof(buf)), r->err, r->out);
}

/* The value of "key=" at the start of a line of text; fails if missing. */
static double kv(const char *text, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, key, kl) == 0 && p[kl] == '=')
			return strtod(p + kl + 1, NULL);
	cr_assert_fail("no %s= in the program's output:\n%.3000s", key, text);
	return 0;
}

/* ---- the trace line ------------------------------------------------------ */

struct trace_line {
	long bg, eager, now, util;
	bool forced;
};

/* Parses one scavtrace line; false if it does not have the format. */
static bool parse_trace(const char *line, struct trace_line *t)
{
	static regex_t re;
	static bool compiled;
	if (!compiled) {
		int rc = regcomp(&re,
				 "^gcmalloc: scav ([0-9]+) KiB work \\(bg\\), ([0-9]+) KiB work "
				 "\\(eager\\), ([0-9]+) KiB now, ([0-9]+)% util( \\(forced\\))?$",
				 REG_EXTENDED);
		cr_assert_eq(rc, 0);
		compiled = true;
	}
	regmatch_t m[6];
	if (regexec(&re, line, 6, m, 0) != 0)
		return false;
	long *f[] = { &t->bg, &t->eager, &t->now, &t->util };
	for (int i = 0; i < 4; i++)
		*f[i] = strtol(line + m[i + 1].rm_so, NULL, 10);
	t->forced = m[5].rm_so >= 0;
	return true;
}

/* Checks every line of stderr is a trace line; returns them. */
static size_t stderr_trace_lines(const struct gcm_child *r, struct trace_line *out, size_t cap)
{
	size_t n = 0;
	char *copy = strdup(r->err), *save = NULL;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		struct trace_line t;
		cr_assert(parse_trace(l, &t), "stderr line is not a scavtrace line: '%s'", l);
		if (n < cap)
			out[n++] = t;
	}
	free(copy);
	return n;
}

static long labs_(long x)
{
	return x < 0 ? -x : x;
}

/* How far a trace figure of kib KiB may be from the RSS: 8 MiB + 5%. */
static long trace_tol(long kib)
{
	return 8 * MIB_K + kib / 20;
}

/* ---- tests --------------------------------------------------------------- */

TestSuite(scav_it, .timeout = 120);

Test(scav_it, program_runs_preloaded)
{
	struct gcm_child r;
	run_prog(&r, NULL, 30, (const char *const[]){ "preloaded", NULL });
	expect_ok(&r, "preloaded");
	cr_assert_eq(kv(r.out, "preloaded"), 1, "malloc does not come from %s",
		     env_path("GCMALLOC_LIB"));
	gcm_child_free(&r);
}

/*
 * scavtrace=1: every line has Go 1.21's format; background lines come while
 * the program idles after freeing, the malloc_trim line is "(forced)" with
 * no background work, and the figures agree with the RSS the program reads
 * from /proc.
 *
 * The program samples its RSS when a line reaches its reader thread, which
 * is never before the line was written but may be well after it on a busy
 * machine: by then the scavenger may have released more, and the line of
 * a background call still running when malloc_trim starts comes after
 * malloc_trim's line. So while idling, each
 * line checks one side only: the heap's RSS is at most "now" (+ tolerance),
 * and RSS has fallen from the peak by at least the work reported so far
 * (- tolerance). Both sides are checked where the program knows the RSS
 * exactly: after malloc_trim(0), "now" matches the heap's RSS, and the
 * total work of every line matches the total fall of RSS.
 */
Test(scav_it, scavtrace_lines_match_rss)
{
	struct gcm_child r;
	run_prog(&r, (const char *const[]){ SCAV_TIMED_DEBUG, NULL }, 60,
		 (const char *const[]){ "trace", "8", NULL });
	expect_ok(&r, "trace");
	struct trace_line late[8];
	size_t nlate = stderr_trace_lines(&r, late, 8); /* lines after the pipe closed */

	long base = (long)kv(r.out, "base"), live = (long)kv(r.out, "live");
	long peak = (long)kv(r.out, "peak");
	long before_trim = (long)kv(r.out, "before_trim");
	long after_trim = (long)kv(r.out, "after_trim");
	cr_assert_eq(kv(r.out, "trim"), 1, "malloc_trim(0) released nothing");

	unsigned nbg = 0, nforced = 0;
	long total_work = 0;
	char *copy = strdup(r.out), *save = NULL;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		long rss;
		int off = 0;
		if (sscanf(l, "trace rss=%ld %n", &rss, &off) != 1 || off == 0)
			continue;
		const char *line = l + off;
		struct trace_line t;
		cr_assert(parse_trace(line, &t), "not a scavtrace line: '%s'", line);
		cr_log_info("rss %ld KiB: %s", rss, line);
		cr_assert_leq(t.util, 100, "util above 100%%: '%s'", line);
		long work = t.bg + t.eager;
		total_work += work;
		cr_assert_gt(work, 0, "'%s': a line without work", line);
		if (t.forced) {
			nforced++;
			cr_assert_eq(t.bg, 0, "a forced line has no background work: '%s'", line);
			long heap = after_trim - base;
			cr_assert_leq(labs_(heap - t.now), trace_tol(t.now),
				      "'%s': now %ld KiB, but after malloc_trim(0) the heap's RSS is "
				      "%ld KiB (RSS %ld - base %ld)",
				      line, t.now, heap, after_trim, base);
			cr_assert_leq(t.now, live + live / 10 + 16 * MIB_K,
				      "after malloc_trim(0) the heap retains %ld KiB, live %ld KiB",
				      t.now, live);
			/* The background thread may release a little more
			 * while malloc_trim runs: RSS falls at least by this
			 * line's work. */
			cr_assert_geq(before_trim - after_trim, work - trace_tol(work),
				      "'%s': malloc_trim(0) reported %ld KiB, RSS fell by %ld KiB",
				      line, work, before_trim - after_trim);
			continue;
		}
		nbg += t.bg > 0;
		long heap = rss - base;
		cr_assert_leq(heap, t.now + trace_tol(t.now),
			      "'%s': now %ld KiB, but the heap's RSS after it is %ld KiB (RSS %ld - "
			      "base %ld)",
			      line, t.now, heap, rss, base);
		cr_assert_geq(peak - rss, total_work - trace_tol(total_work),
			      "'%s': %ld KiB reported released so far, RSS fell by only %ld KiB",
			      line, total_work, peak - rss);
	}
	free(copy);
	for (size_t i = 0; i < nlate && i < 8; i++)
		total_work += late[i].bg + late[i].eager;
	cr_assert_leq(labs_(peak - after_trim - total_work), trace_tol(total_work),
		      "%ld KiB reported released in all, RSS fell by %ld KiB from the peak",
		      total_work, peak - after_trim);
	cr_assert_geq(nbg, 1, "no background line while the program idled with %ld KiB free",
		      peak - base - live);
	cr_assert_eq(nforced, 1, "want one (forced) line for one malloc_trim, got %u", nforced);
	gcm_child_free(&r);
}

/* malloc_trim(0) right after freeing: returns 1 and RSS falls to about what
 * is live; a second call has nothing left to release and returns 0. */
Test(scav_it, malloc_trim_releases_everything_free)
{
	struct gcm_child r;
	run_prog(&r, NULL, 60, (const char *const[]){ "trim", NULL });
	expect_ok(&r, "trim");
	cr_assert_str_empty(r.err);
	long base = (long)kv(r.out, "base"), live = (long)kv(r.out, "live");
	long before = (long)kv(r.out, "before"), after = (long)kv(r.out, "after");
	cr_log_info("base %ld, live %ld, before %ld, after trim %ld KiB", base, live, before,
		    after);
	cr_assert_eq(kv(r.out, "trim1"), 1, "malloc_trim(0) after freeing 240 MiB returned 0");
	cr_assert_geq(before - base, 250 * MIB_K, "the workload did not make RSS grow");
	cr_assert_leq(after, base + live + live / 10 + 16 * MIB_K,
		      "after malloc_trim(0): RSS %ld KiB, base %ld + live %ld", after, base, live);
	cr_assert_eq(kv(r.out, "trim2"), 0, "a second malloc_trim(0) found more to release");
	gcm_child_free(&r);
}

/*
 * Background release: ~300 MiB allocated (150 MiB in 1 MiB blocks, 150 MiB
 * in small objects), all but ~12 MiB freed, then the program only sleeps.
 * RSS must come down to live + 10% + 16 MiB within 10 s: the heap goal keeps
 * the peak of the last two one-second generations (about 2 s of nothing),
 * then the background thread, held at 1% of one CPU, releases on the order
 * of 50-100 MiB per second on this kind of machine. The program waits up to
 * 12 s so that the log shows when it got there.
 */
#define BG_DEADLINE_S 10.0

Test(scav_it, background_release_follows_live, .timeout = 60)
{
	char slack[32];
	snprintf(slack, sizeof(slack), "%ld", 16 * MIB_K);
	struct gcm_child r;
	run_prog(&r, (const char *const[]){ SCAV_TIMED_DEBUG, NULL }, 60,
		 (const char *const[]){ "background", "12", slack, NULL });
	expect_ok(&r, "background");
	struct trace_line lines[64];
	size_t n = stderr_trace_lines(&r, lines, 64);
	double reached = kv(r.out, "reached");
	long base = (long)kv(r.out, "base"), live = (long)kv(r.out, "live");
	long peak = (long)kv(r.out, "peak"), fin = (long)kv(r.out, "final");
	cr_log_info("base %ld, live %ld, peak %ld, final %ld KiB, bound reached at %.2f s, %zu trace lines",
		    base, live, peak, fin, reached, n);
	cr_assert_geq(peak - base, 280 * MIB_K);
	cr_assert(reached >= 0, "RSS never came down to %ld KiB in 12 s (final %ld KiB)\n%s",
		  (long)kv(r.out, "limit"), fin, r.out);
	cr_assert_leq(reached, BG_DEADLINE_S,
		      "RSS took %.2f s to come down to base + live + 10%% + 16 MiB (deadline %.0f s)\n%s%s",
		      reached, BG_DEADLINE_S, r.out, r.err);
	gcm_child_free(&r);
}

/*
 * Idle threads do not pin memory: a thread that allocated and freed
 * 100 MiB in small objects and then blocks forever has its cache flushed by
 * its own signal handler within the scavenger's window (the request goes
 * out once the thread has been idle for a whole one-second generation), RSS
 * drops back near where the program started, and the thread, once woken,
 * allocates and checks 16 MiB more without harm.
 */
static void check_idle(const char *mode)
{
	struct gcm_child r;
	run_prog(&r, NULL, 60, (const char *const[]){ mode, "6", NULL });
	expect_ok(&r, mode);
	long base = (long)kv(r.out, "base"), blocked = (long)kv(r.out, "blocked");
	long idle_end = (long)kv(r.out, "idle_end");
	const char *f = strstr(r.err, "idle caches flushed");
	long flushed = f ? strtol(f + strlen("idle caches flushed"), NULL, 10) : -1;
	cr_log_info("%s: base %ld, blocked %ld, idle end %ld KiB, %ld idle flushes", mode,
		    base, blocked, idle_end, flushed);
	cr_assert_eq(kv(r.out, "worker_ok"), 1, "the worker's data were corrupted after waking\n%s", r.out);
	cr_assert_geq(flushed, 1, "no idle cache was flushed\n%s", r.err);
	cr_assert_leq(idle_end, base + 8 * MIB_K,
		      "RSS %ld KiB at the end of the idle phase, base %ld KiB\n%s", idle_end, base, r.out);
	gcm_child_free(&r);
}

Test(scav_it, idle_thread_in_read_releases_its_cache, .timeout = 60)
{
	check_idle("idle-read");
}

Test(scav_it, idle_thread_in_cond_wait_releases_its_cache, .timeout = 60)
{
	check_idle("idle-cond");
}

/* GCMALLOC_MEMLIMIT=256MiB while 200 MiB of live data are cycled through
 * fragmenting phases: the peak RSS stays under the limit plus 8 MiB. The
 * same workload without a limit is logged for comparison. */
Test(scav_it, memlimit_holds_rss_under_the_limit, .timeout = 90)
{
	struct gcm_child r;
	run_prog(&r, NULL, 60, (const char *const[]){ "memlimit", NULL });
	expect_ok(&r, "memlimit without a limit");
	cr_log_info("without a limit: peak RSS %ld KiB for %ld KiB live",
		    (long)kv(r.out, "hwm"), (long)kv(r.out, "live"));
	gcm_child_free(&r);

	run_prog(&r, (const char *const[]){ "GCMALLOC_MEMLIMIT=256MiB", NULL }, 60,
		 (const char *const[]){ "memlimit", NULL });
	expect_ok(&r, "memlimit 256MiB");
	cr_assert_str_empty(r.err);
	long hwm = (long)kv(r.out, "hwm"), sampled = (long)kv(r.out, "peak_sampled");
	long live = (long)kv(r.out, "live");
	cr_log_info("GCMALLOC_MEMLIMIT=256MiB: peak RSS %ld KiB (sampled %ld), live %ld KiB", hwm,
		    sampled, live);
	cr_assert_geq(live, 200 * MIB_K);
	cr_assert_leq(hwm, 256 * MIB_K + 8 * MIB_K,
		      "peak RSS %ld KiB above 256 MiB + 8 MiB\n%s", hwm, r.out);
	gcm_child_free(&r);
}

/* A value that cannot be parsed: one line on stderr naming the variable and
 * the value, and the program runs as without a limit. */
Test(scav_it, bad_memlimit_warns_once_and_runs)
{
	static const char *const bad[] = { "12parsecs", "-5MiB", "MiB", "1.5GiB", "256 MiB",
					   "99999999999GiB", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char var[64];
		snprintf(var, sizeof(var), "GCMALLOC_MEMLIMIT=%s", bad[i]);
		struct gcm_child r;
		run_prog(&r, (const char *const[]){ var, NULL }, 30,
			 (const char *const[]){ "small", NULL });
		expect_ok(&r, var);
		cr_assert_eq(kv(r.out, "ok"), 1);
		size_t lines = 0;
		for (const char *p = r.err; *p; p++)
			lines += *p == '\n';
		cr_assert_eq(lines, 1, "%s: want exactly one line on stderr, got:\n%s", var, r.err);
		cr_assert(strncmp(r.err, "gcmalloc: GCMALLOC_MEMLIMIT", 27) == 0,
			  "%s: the warning does not name the variable: %s", var, r.err);
		char quoted[48];
		snprintf(quoted, sizeof(quoted), "'%s'", bad[i]);
		cr_assert(strstr(r.err, quoted) != NULL, "%s: the warning does not show the value: %s",
			  var, r.err);
		gcm_child_free(&r);
	}
	/* And a good value says nothing. */
	struct gcm_child r;
	run_prog(&r, (const char *const[]){ "GCMALLOC_MEMLIMIT=1GiB", NULL }, 30,
		 (const char *const[]){ "small", NULL });
	expect_ok(&r, "GCMALLOC_MEMLIMIT=1GiB");
	cr_assert_str_empty(r.err);
	gcm_child_free(&r);
}

/*
 * Stress: 8 threads alternate bursts, frees and sleeps, every object's
 * contents checksummed, with the background scavenger unpaced
 * (scavcpu=100). scav_prog aborts on the first corrupted object. At the
 * end everything is freed and malloc_trim(0) called: the bytes in spans
 * return to the start and the forced trace line retains next to nothing.
 */
static void stress(const char *secs, const char *memlimit)
{
	char tmo[16];
	unsigned timeout = (unsigned)atoi(secs) * 4 + 60;
	snprintf(tmo, sizeof(tmo), "%u", timeout);
	const char *env[] = { "GCMALLOC_DEBUG=scavcpu=100,scavtrace=1", memlimit, NULL };
	struct gcm_child r;
	run_prog(&r, env, timeout, (const char *const[]){ "stress", secs, NULL });
	expect_ok(&r, "stress");
	struct trace_line lines[256];
	size_t n = stderr_trace_lines(&r, lines, 256);
	cr_log_info("stress %s s%s%s: peak RSS %ld KiB, %ld MiB freed, %ld checks, %zu trace lines",
		    secs, memlimit ? ", " : "", memlimit ? memlimit : "", (long)kv(r.out, "peak"),
		    (long)kv(r.out, "freed_mib"), (long)kv(r.out, "checks"), n);
	cr_assert_gt(kv(r.out, "checks"), 1000);
	cr_assert_geq(n, 1);
	const struct trace_line *last = &lines[n - 1];
	cr_assert(last->forced, "the last trace line is not malloc_trim's");
	cr_assert_leq(last->now, 4 * MIB_K, "after freeing everything the heap retains %ld KiB",
		      last->now);
	long u0 = (long)kv(r.out, "uord_start"), u1 = (long)kv(r.out, "uord_end");
	cr_assert_leq(u1, u0 + MIB_K, "mallinfo2().uordblks %ld KiB at the end, %ld at the start",
		      u1, u0);
	long base = (long)kv(r.out, "base"), end = (long)kv(r.out, "end");
	cr_assert_leq(end, base + 16 * MIB_K, "RSS %ld KiB at the end, %ld at the start", end,
		      base);
	gcm_child_free(&r);
}

Test(scav_it, stress_5s, .timeout = 120)
{
	stress("5", NULL);
}

/* The same with a memory limit far below what the threads hold: the eager
 * path releases at nearly every allocation, racing the other threads. */
Test(scav_it, stress_5s_under_memlimit, .timeout = 120)
{
	stress("5", "GCMALLOC_MEMLIMIT=128MiB");
}

/* Suite "full" (GCMALLOC_SCAV_FULL=1): the 20 s version. */
Test(scav_full, stress_20s, .timeout = 300)
{
	const char *full = getenv("GCMALLOC_SCAV_FULL");
	if (full == NULL || strcmp(full, "1") != 0)
		cr_skip_test("long test: run with GCMALLOC_SCAV_FULL=1 (meson suite 'full')");
	stress("20", NULL);
}

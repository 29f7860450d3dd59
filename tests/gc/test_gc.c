/* test_gc.c — the conservative collector, seen from programs that run
 * under the preload (suite 'gc').
 *
 * Every test runs one program from progs/ in a child process of its own
 * with LD_PRELOAD=$GCMALLOC_LIB; what each program checks is described at
 * its top. The programs do the exact checks themselves (gcm_stats figures,
 * canaries) and exit 0 only when all hold; the tests here add what needs
 * several runs or the program's stderr: GCMALLOC_GC settings compared with
 * each other, gctrace lines matched against gcm_stats.
 *
 * Known limits of what can be seen: objects have no finalizers yet, so
 * "reclaimed" is observed through gc_marked_bytes and gc_freed_bytes, with
 * objects whose sizes make the expectation exact.
 */
#define _GNU_SOURCE
#include "gcm_config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "gc_driver.h"

/* ---- an object reachable only from one root -------------------------------- */

static void run_roots(const char *scenario, int remote)
{
	const char *argv[] = { gd_prog("gc_roots"), scenario, remote ? "remote" : NULL, NULL };
	struct gcm_child r;
	gd_run(&r, 1, NULL, 30, argv);
	gd_expect_ok(&r, 1);
	char *want = NULL;
	cr_assert(asprintf(&want, "ok %s", scenario) > 0);
	gd_keep(want);
	cr_assert(strncmp(r.out, want, strlen(want)) == 0, "unexpected output: %s", gd_describe(&r));
}

/* Each scenario twice: cycles run by the main thread itself, and by a
 * second thread while the main thread is blocked in read() (so the main
 * thread's registers, stack and TLS are read from a stopped thread). */
#define ROOT_TEST(name, what)                                                      \
	Test(roots, name, .timeout = 40, .description = what)                      \
	{                                                                          \
		run_roots(#name, 0);                                               \
	}                                                                          \
	Test(roots, name##_remote, .timeout = 40,                                   \
	     .description = what " (collected by another thread)")                \
	{                                                                          \
		run_roots(#name, 1);                                               \
	}

ROOT_TEST(exe_bss, "only from a static of the executable")
ROOT_TEST(dlopen_bss, "only from a .bss static of a dlopened library")
ROOT_TEST(dlopen_data, "only from a .data static of a dlopened library")
ROOT_TEST(dlopen_dlclose, "only from a static of a dlopened library, dropped by dlclose")
ROOT_TEST(thread_stack, "only from the stack of a thread blocked in read()")
ROOT_TEST(thread_register, "only from a register of a thread blocked in read()")
ROOT_TEST(main_tls, "only from the main thread's static TLS")
ROOT_TEST(main_dyntls, "only from the main thread's TLS block of a dlopened library")
ROOT_TEST(thread_tls, "only from a blocked thread's static TLS")
ROOT_TEST(thread_tls_exit, "only from a thread's static TLS, dropped by the thread's exit")
ROOT_TEST(thread_dyntls, "only from a blocked thread's TLS block of a dlopened library")
ROOT_TEST(malloc_small, "only from a small malloc'd block, itself unreachable")
ROOT_TEST(malloc_large, "only from a large malloc'd block, itself unreachable")
ROOT_TEST(malloc_realloc, "only from a malloc'd block moved by realloc")
ROOT_TEST(calloc, "only from a calloc'd block")
ROOT_TEST(chain, "only through a chain of 1000 collectable objects with interior links")
ROOT_TEST(interior_last, "only through a pointer to the last byte of a 1 MiB object")
ROOT_TEST(interior_middle, "only through a pointer into the middle of a 1 MiB object")
ROOT_TEST(interior_small, "only through a pointer to the last byte of a small object")
ROOT_TEST(atomic_small, "a pointer only in a small gcm_malloc_atomic object keeps nothing alive")
ROOT_TEST(atomic_large, "a pointer only in a large gcm_malloc_atomic object keeps nothing alive")
ROOT_TEST(scanned_small, "control: the same pointer in a gcm_malloc object keeps it alive")

static const char *const root_tests[] = {
	"exe_bss", "dlopen_bss", "dlopen_data", "dlopen_dlclose", "thread_stack",
	"thread_register", "main_tls", "main_dyntls", "thread_tls", "thread_tls_exit",
	"thread_dyntls", "malloc_small", "malloc_large", "malloc_realloc", "calloc", "chain",
	"interior_last", "interior_middle", "interior_small", "atomic_small", "atomic_large",
	"scanned_small",
};

Test(roots, every_scenario_has_a_test, .timeout = 30)
{
	const char *argv[] = { gd_prog("gc_roots"), "list", NULL };
	struct gcm_child r;
	gd_run(&r, 1, NULL, 20, argv);
	gd_expect_ok(&r, 1);
	char **lines;
	size_t n = gd_lines(r.out, &lines);
	cr_assert(n == sizeof root_tests / sizeof root_tests[0],
	          "gc_roots has %zu scenarios, this driver tests %zu", n,
	          sizeof root_tests / sizeof root_tests[0]);
	for (size_t i = 0; i < n; i++) {
		int found = 0;
		for (size_t k = 0; k < n; k++)
			found |= strcmp(lines[i], root_tests[k]) == 0;
		cr_assert(found, "gc_roots scenario '%s' has no test here", lines[i]);
	}
}

/* ---- threads and fork ------------------------------------------------------ */

Test(threads, collect_with_100_threads, .timeout = 90,
     .description = "100 threads blocked, sleeping, spinning, allocating and collecting")
{
	const char *argv[] = { gd_prog("gc_threads"), "20", NULL };
	const char *env[] = { "GCMALLOC_DEBUG=gctrace=1", NULL };
	struct gcm_child r;
	gd_run(&r, 1, env, 75, argv);
	gd_expect_ok(&r, 0);
	uint64_t first = gd_field(r.out, "window_first"), last = gd_field(r.out, "window_last");
	cr_assert(last >= first + 19, "only %llu cycles in the window", (unsigned long long)(last - first + 1));
	char **lines;
	size_t n = gd_lines(r.err, &lines);
	size_t in_window = 0;
	for (size_t i = 0; i < n; i++) {
		struct gd_trace t;
		cr_assert(gd_parse_trace(lines[i], &t), "stderr line %zu is not a gctrace line: %s\n%s",
		          i + 1, lines[i], gd_describe(&r));
		cr_assert(t.n == i + 1, "trace line %zu is for cycle %llu", i + 1, (unsigned long long)t.n);
		if (t.n >= first && t.n <= last) {
			in_window++;
			cr_assert(t.threads == 100,
			          "cycle %llu ran with all 101 threads alive but stopped %llu: %s",
			          (unsigned long long)t.n, (unsigned long long)t.threads, lines[i]);
		}
	}
	cr_assert(in_window == last - first + 1, "%zu trace lines for cycles %llu..%llu", in_window,
	          (unsigned long long)first, (unsigned long long)last);
}

Test(fork, fork_during_heavy_collection, .timeout = 120,
     .description = "fork while other threads collect; collection in the child")
{
	const char *argv[] = { gd_prog("gc_fork"), "40", NULL };
	struct gcm_child r;
	gd_run(&r, 1, NULL, 100, argv);
	gd_expect_ok(&r, 1);
}

/* ---- the malloc family on collectable objects ------------------------------- */

static void run_api(const char *scenario)
{
	const char *argv[] = { gd_prog("gc_api"), scenario, NULL };
	struct gcm_child r;
	gd_run(&r, 1, NULL, 30, argv);
	gd_expect_ok(&r, 1);
}

Test(api, free_small, .timeout = 40, .description = "free() of small collectable objects")
{
	run_api("free_small");
}

Test(api, free_large, .timeout = 40, .description = "free() of a large collectable object")
{
	run_api("free_large");
}

Test(api, malloc_usable_size, .timeout = 40,
     .description = "malloc_usable_size() of collectable objects")
{
	run_api("usable");
}

Test(api, nodes_of_24_bytes, .timeout = 40,
     .description = "24-byte collectable objects: kept through their last word, then reclaimed")
{
	run_api("node24");
}

Test(api, realloc_keeps_collectable, .timeout = 40,
     .description = "realloc() keeps an object collectable and scanned")
{
	run_api("realloc");
}

Test(api, realloc_keeps_atomic, .timeout = 40,
     .description = "realloc() keeps a gcm_malloc_atomic object unscanned")
{
	run_api("realloc_atomic");
}

Test(api, no_gcm_malloc_no_cycle, .timeout = 40,
     .description = "a program that never calls gcm_malloc runs no cycle")
{
	run_api("nogc");
}

/* ---- long lists --------------------------------------------------------------- */

static void run_list(const char *shape, const char *nodes)
{
	const char *argv[] = { gd_prog("gc_list"), shape, nodes, NULL };
	struct gcm_child r;
	gd_run(&r, 1, NULL, 60, argv);
	gd_expect_ok(&r, 1);
}

Test(list, ten_million_nodes_forward, .timeout = 75,
     .description = "a 10-million-node list reachable only through its head")
{
	run_list("forward", "10000000");
}

Test(list, ten_million_nodes_backward, .timeout = 75,
     .description = "the same, links pointing down in memory")
{
	run_list("backward", "10000000");
}

Test(list, four_million_from_one_array, .timeout = 75,
     .description = "4 million objects queued at once from one array")
{
	run_list("wide", "4000000");
}

/* ---- GCMALLOC_GC ---------------------------------------------------------------- */

struct pacing {
	uint64_t auto_before, marked, trigger, autos;
	const char *err;
};

static struct pacing run_pacing(const char *setting)
{
	const char *argv[] = { gd_prog("gc_pacing"), NULL };
	const char *env[] = { setting, NULL };
	struct gcm_child r;
	gd_run(&r, 1, setting ? env : NULL, 60, argv);
	gd_expect_ok(&r, 0);
	struct pacing p = {
		gd_field(r.out, "auto_before"), gd_field(r.out, "marked"),
		gd_field(r.out, "trigger"), gd_field(r.out, "auto"), r.err,
	};
	cr_assert(p.marked == 16u << 20, "%s: %llu bytes marked after the live set, expected 16 MiB",
	          setting ? setting : "default", (unsigned long long)p.marked);
	return p;
}

/* The trigger is marked x (1 + percent / 100), within 1%. */
static void expect_trigger(const struct pacing *p, unsigned percent, const char *what)
{
	double want = (double)p->marked * (1.0 + percent / 100.0);
	double got = (double)p->trigger;
	cr_assert(got > want * 0.99 && got < want * 1.01,
	          "%s: trigger %llu after %llu bytes marked; GCMALLOC_GC=%u should put it at "
	          "about %.0f",
	          what, (unsigned long long)p->trigger, (unsigned long long)p->marked, percent, want);
}

Test(pacing, off_runs_no_automatic_cycle, .timeout = 90,
     .description = "GCMALLOC_GC=off: only explicit cycles")
{
	struct pacing def = run_pacing(NULL);
	cr_assert(def.auto_before + def.autos > 0,
	          "the workload runs no automatic cycle even by default: the test proves nothing");
	cr_assert(strlen(def.err) == 0, "default run wrote to stderr: %s", def.err);
	struct pacing off = run_pacing("GCMALLOC_GC=off");
	cr_assert(off.auto_before == 0 && off.autos == 0,
	          "GCMALLOC_GC=off: %llu automatic cycles while building the live set and %llu "
	          "during 256 MiB of garbage",
	          (unsigned long long)off.auto_before, (unsigned long long)off.autos);
	cr_assert(strlen(off.err) == 0, "GCMALLOC_GC=off wrote to stderr: %s", off.err);
}

Test(pacing, percent_sets_the_pace, .timeout = 120,
     .description = "GCMALLOC_GC=50 runs more cycles than 100, and 100 more than 200")
{
	struct pacing p50 = run_pacing("GCMALLOC_GC=50");
	struct pacing p100 = run_pacing("GCMALLOC_GC=100");
	struct pacing p200 = run_pacing("GCMALLOC_GC=200");
	cr_assert(p50.autos > p100.autos && p100.autos > p200.autos && p200.autos > 0,
	          "automatic cycles for the same workload: %llu with 50, %llu with 100, %llu "
	          "with 200; expected strictly fewer as the percentage grows",
	          (unsigned long long)p50.autos, (unsigned long long)p100.autos,
	          (unsigned long long)p200.autos);
	expect_trigger(&p50, 50, "GCMALLOC_GC=50");
	expect_trigger(&p100, 100, "GCMALLOC_GC=100");
	expect_trigger(&p200, 200, "GCMALLOC_GC=200");
	cr_assert(strlen(p50.err) + strlen(p100.err) + strlen(p200.err) == 0,
	          "a valid GCMALLOC_GC produced output on stderr:\n%s%s%s", p50.err, p100.err,
	          p200.err);
}

Test(pacing, bad_value_warns_once_keeps_default, .timeout = 150,
     .description = "a bad GCMALLOC_GC prints one warning line and keeps 100")
{
	static const char *const bad[] = { "fast", "-5", "50%", "1e3", "99999999999999999999999" };
	struct pacing def = run_pacing(NULL);
	expect_trigger(&def, 100, "default");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *setting = NULL;
		cr_assert(asprintf(&setting, "GCMALLOC_GC=%s", bad[i]) > 0);
		gd_keep(setting);
		struct pacing p = run_pacing(setting);
		char **lines;
		size_t n = gd_lines(p.err, &lines);
		cr_assert(n == 1, "%s: %zu lines on stderr, expected exactly one warning:\n%s", setting,
		          n, p.err);
		cr_assert(strncmp(lines[0], "gcmalloc: ", 10) == 0 &&
		                  strstr(lines[0], "GCMALLOC_GC") != NULL &&
		                  strstr(lines[0], bad[i]) != NULL,
		          "%s: the warning does not name the variable and the value: %s", setting,
		          lines[0]);
		expect_trigger(&p, 100, setting);
		cr_assert(p.autos + 1 >= def.autos && p.autos <= def.autos + 1,
		          "%s: %llu automatic cycles, %llu with the default: the default was not kept",
		          setting, (unsigned long long)p.autos, (unsigned long long)def.autos);
	}
}

/* ---- gctrace ------------------------------------------------------------------------- */

struct stats_line {
	uint64_t cycle, marked, freed, heap, pause_ns, threads;
};

/* Bytes printed with unit u (rounded down) stand for x: x in [v, v + u). */
static int shows(uint64_t printed, uint64_t unit, uint64_t x)
{
	return printed <= x && x < printed + unit;
}

Test(trace, gctrace_lines_match_stats, .timeout = 60,
     .description = "GCMALLOC_DEBUG=gctrace=1: one line per cycle, in the documented format, "
                    "agreeing with gcm_stats")
{
	const char *argv[] = { gd_prog("gc_trace"), NULL };
	const char *env[] = { "GCMALLOC_DEBUG=gctrace=1", NULL };
	struct gcm_child r;
	gd_run(&r, 1, env, 45, argv);
	gd_expect_ok(&r, 0);

	char **tl;
	size_t nt = gd_lines(r.err, &tl);
	struct gd_trace *t = gd_keep(calloc(nt + 1, sizeof *t));
	for (size_t i = 0; i < nt; i++) {
		cr_assert(gd_parse_trace(tl[i], &t[i]),
		          "stderr line %zu is not in the documented gctrace format:\n%s", i + 1, tl[i]);
		cr_assert(t[i].n == i + 1, "line %zu reports cycle %llu", i + 1,
		          (unsigned long long)t[i].n);
		cr_assert(t[i].heap_after <= t[i].heap_before + t[i].unit_before,
		          "the heap grew over a cycle: %s", tl[i]);
		cr_assert(t[i].roots_kib > 0, "no roots: %s", tl[i]);
		cr_assert(t[i].mark_us + t[i].sweep_us <= t[i].pause_us + 2,
		          "mark + sweep exceed the pause: %s", tl[i]);
		cr_assert(t[i].pause_us <= t[i].stop_us + t[i].mark_us + t[i].sweep_us + 3,
		          "the pause exceeds stop + mark + sweep: %s", tl[i]);
	}

	char **sl;
	size_t ns = gd_lines(r.out, &sl);
	cr_assert(ns == 4, "expected 4 stats lines: %s", gd_describe(&r));
	struct stats_line s[4];
	for (size_t k = 0; k < ns; k++) {
		s[k] = (struct stats_line){ gd_field(sl[k], "cycle"), gd_field(sl[k], "marked"),
			                    gd_field(sl[k], "freed"), gd_field(sl[k], "heap"),
			                    gd_field(sl[k], "pause_ns"), gd_field(sl[k], "threads") };
		cr_assert(s[k].cycle >= 1 && s[k].cycle <= nt,
		          "gcm_stats reports cycle %llu, the trace has %zu lines",
		          (unsigned long long)s[k].cycle, nt);
		const struct gd_trace *c = &t[s[k].cycle - 1];
		const char *line = tl[s[k].cycle - 1];
		cr_assert(shows(c->marked, c->unit_marked, s[k].marked),
		          "cycle %llu: gcm_stats says %llu bytes marked, the trace: %s",
		          (unsigned long long)s[k].cycle, (unsigned long long)s[k].marked, line);
		cr_assert(c->pause_us + 1 >= s[k].pause_ns / 1000 && c->pause_us <= s[k].pause_ns / 1000 + 1,
		          "cycle %llu: gcm_stats says a pause of %llu ns, the trace: %s",
		          (unsigned long long)s[k].cycle, (unsigned long long)s[k].pause_ns, line);
		cr_assert(c->threads == s[k].threads,
		          "cycle %llu: %llu other threads were alive, the trace: %s",
		          (unsigned long long)s[k].cycle, (unsigned long long)s[k].threads, line);
		uint64_t slack = c->unit_after + (64u << 10);
		cr_assert(c->heap_after <= s[k].heap + slack && s[k].heap <= c->heap_after + slack,
		          "cycle %llu: gcm_stats says the heap is %llu bytes after it, the trace: %s",
		          (unsigned long long)s[k].cycle, (unsigned long long)s[k].heap, line);
		if (k > 0 && s[k - 1].cycle + 1 == s[k].cycle) {
			uint64_t freed = s[k].freed - s[k - 1].freed;
			uint64_t shown = c->heap_before - c->heap_after;
			uint64_t tol = c->unit_before + c->unit_after;
			cr_assert(shown <= freed + tol && freed <= shown + tol,
			          "cycle %llu freed %llu bytes by gcm_stats, the trace: %s",
			          (unsigned long long)s[k].cycle, (unsigned long long)freed, line);
		}
	}
	cr_assert(s[ns - 1].cycle == nt, "gcm_stats counts %llu cycles, the trace has %zu lines",
	          (unsigned long long)s[ns - 1].cycle, nt);
	cr_assert(s[0].threads == 3 && s[3].threads == 0);
	cr_assert(s[1].marked >= 10u << 20, "the workload never showed a heap of 10 MiB or more");
	for (size_t i = 0; i + 1 < nt; i++)
		cr_assert(t[i].threads == 3,
		          "cycle %llu ran while 3 other threads waited, but stopped %llu: %s",
		          (unsigned long long)t[i].n, (unsigned long long)t[i].threads, tl[i]);
}

/* ---- stress ----------------------------------------------------------------------------- */

Test(stress, stress_5s, .timeout = 90,
     .description = "4 threads building and dropping structures while a 5th collects, 5 s")
{
	const char *argv[] = { gd_prog("gc_stress"), "5", NULL };
	/* assert=1 (expensive checks) exists only where the build has
	 * assertions; elsewhere it would print a warning. */
	const char *env[] = { GCM_ASSERTIONS ? "GCMALLOC_DEBUG=assert=1" : "GCMALLOC_DEBUG=", NULL };
	struct gcm_child r;
	gd_run(&r, 1, env, 75, argv);
	gd_expect_ok(&r, 1);
	cr_log_info("%s", r.out);
}

/* ---- without the preload ------------------------------------------------------------------ */

Test(programs, exit_77_without_the_preload, .timeout = 60,
     .description = "each program says so, and exits 77, when gcm_* cannot be found")
{
	static const char *const runs[][3] = {
		{ "gc_roots", "exe_bss", NULL }, { "gc_threads", NULL, NULL },
		{ "gc_fork", NULL, NULL },       { "gc_api", "nogc", NULL },
		{ "gc_list", "forward", "10" },  { "gc_pacing", NULL, NULL },
		{ "gc_trace", NULL, NULL },      { "gc_stress", "1", NULL },
	};
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		const char *argv[] = { gd_prog(runs[i][0]), runs[i][1], runs[i][2], NULL };
		struct gcm_child r;
		gd_run(&r, 0, NULL, 20, argv);
		cr_assert(!r.timed_out && WIFEXITED(r.status) &&
		                  WEXITSTATUS(r.status) == GD_EXIT_NO_PRELOAD,
		          "%s without the preload: %s", runs[i][0], gd_describe(&r));
		cr_assert(strstr(r.out, "not found") != NULL, "%s without the preload said: %s",
		          runs[i][0], gd_describe(&r));
	}
}

/* tests/bench/bench_rss.c — RSS over time: how fast an allocator gives
 * memory back after a burst, what it keeps while the program idles, and
 * what that costs when the program allocates again.
 *
 *   bench_rss [--preload LIB] [--label NAME] [--period-ms MS]
 *             [--total-mib N] [--idle S] [--scale X]
 *
 * The process started by hand is the sampler: it runs a copy of itself (the
 * workload) with LD_PRELOAD=LIB in the child's environment only (none when
 * no --preload is given), samples the child's RSS from /proc/PID/statm
 * every MS milliseconds (default 50), and prints CSV on stdout:
 *
 *   allocator,t_s,rss_kib,event,value
 *
 * one row per sample (event empty), one per phase mark of the workload
 * (event = the mark's name, rss_kib = the child's own RSS at that moment,
 * value = what the mark carries, e.g. the live KiB), and at the end rows
 * "cpu" (user + system seconds of the child, from wait4), "wall" and
 * "status". t_s counts from the child's start. scripts/bench-rss runs it
 * under each allocator; scripts/plot_rss.py draws and summarises.
 *
 * The workload (marks in brackets):
 *   [start]        RSS before anything is allocated (value: 0);
 *   burst 1        allocates N MiB (default 1024, times --scale) in
 *                  groups, every byte written  [burst1_end];
 *   free 90%       frees 90% of the data in a fragmenting order, leaving
 *                  10% live  [freed, value: live KiB];
 *   idle           sleeps S seconds (default 5)  [idle_end];
 *   burst 2        [burst2_start] allocates back up to N MiB  [burst2_end];
 *   a 0.5 s tail, then exit.
 *
 * Why groups. A size-class allocator cannot give back a span, nor a page
 * heap a page, that still holds one live object. Freeing 90% of the
 * objects at random would leave every span and page partly used, and no
 * allocator could return anything: the benchmark would only measure that.
 * Real programs free data by structure (a request's buffers, a cache
 * generation, a parsed document): objects allocated together die together.
 * So the data are allocated in groups of about 1 MiB of consecutive
 * allocations (mixed sizes: 70% small 8..1024 B, 25% medium 1..32 KiB, 5%
 * large 64..512 KiB), and the free phase
 *   - frees 88% of the groups whole, the groups taken in a shuffled order
 *     (so the free space is scattered over the whole heap in holes of
 *     every size), each group's objects in a shuffled order;
 *   - in the surviving 12%, frees one object in six, scattered: these holes
 *     cannot be returned, and the spans they sit in stay;
 * leaving 10% of the data live, spread over the heap. The result line of
 * the workload (live bytes) depends only on the arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long statm_rss_kib(const char *path)
{
	char buf[128];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	long size, res;
	if (sscanf(buf, "%ld %ld", &size, &res) != 2)
		return -1;
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- the workload (child) ------------------------------------------------ */

struct obj {
	void *p;
	size_t n;
};

struct group {
	struct obj *o;
	size_t n;
};

static double work_t0;

/* A phase mark: "mark NAME T RSS VALUE" on stdout (a pipe to the sampler). */
static void mark(const char *name, double value)
{
	printf("mark %s %.4f %ld %.0f\n", name, now_s() - work_t0,
	       statm_rss_kib("/proc/self/statm"), value);
	fflush(stdout);
}

static size_t work_size(bench_rng *r)
{
	unsigned k = (unsigned)bench_rng_below(r, 100);
	if (k < 70)
		return bench_small_size(r);
	if (k < 95)
		return 1024 + (size_t)bench_rng_below(r, 31 * 1024 + 1);
	return 64 * KIB + (size_t)bench_rng_below(r, 448 * KIB + 1);
}

/* Allocates one group of about 1 MiB; returns its bytes. */
static size_t work_group(bench_rng *r, struct group *g)
{
	size_t cap = 64, bytes = 0;
	g->o = malloc(cap * sizeof(*g->o));
	g->n = 0;
	if (g->o == NULL)
		abort();
	while (bytes < MIB) {
		if (g->n == cap) {
			cap *= 2;
			g->o = realloc(g->o, cap * sizeof(*g->o));
			if (g->o == NULL)
				abort();
		}
		size_t n = work_size(r);
		unsigned char *p = malloc(n);
		if (p == NULL) {
			fprintf(stderr, "bench_rss: out of memory\n");
			exit(1);
		}
		memset(p, (int)(n & 0xff) | 1, n);
		g->o[g->n].p = p;
		g->o[g->n++].n = n;
		bytes += n;
	}
	return bytes;
}

static void work_free_obj(struct obj *o)
{
	unsigned char *p = o->p;
	/* Read back the first and last byte: the data must be intact. */
	if (p[0] != ((o->n & 0xff) | 1) || p[o->n - 1] != ((o->n & 0xff) | 1)) {
		fprintf(stderr, "bench_rss: object of %zu bytes corrupted\n", o->n);
		abort();
	}
	free(p);
	o->p = NULL;
}

static void shuffle_objs(bench_rng *r, struct obj *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)bench_rng_below(r, i);
		struct obj t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

static int work(size_t total_mib, double idle_s)
{
	bench_rng r;
	bench_rng_seed(&r, 20240501);
	size_t cap = total_mib + 16, ng = 0, bytes = 0;
	struct group *g = calloc(cap * 2, sizeof(*g));
	if (g == NULL)
		abort();
	work_t0 = now_s();
	mark("start", 0);

	while (bytes < total_mib * MIB && ng < cap)
		bytes += work_group(&r, &g[ng++]);
	mark("burst1_end", (double)(bytes / KIB));

	/* Free 88% of the groups whole, in a shuffled order. */
	size_t *order = malloc(ng * sizeof(*order));
	if (order == NULL)
		abort();
	for (size_t i = 0; i < ng; i++)
		order[i] = i;
	for (size_t i = ng; i > 1; i--) {
		size_t j = (size_t)bench_rng_below(&r, i);
		size_t t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	size_t nkeep = ng * 12 / 100;
	for (size_t k = nkeep; k < ng; k++) {
		struct group *x = &g[order[k]];
		shuffle_objs(&r, x->o, x->n);
		for (size_t i = 0; i < x->n; i++) {
			bytes -= x->o[i].n;
			work_free_obj(&x->o[i]);
		}
		free(x->o);
		x->o = NULL;
		x->n = 0;
	}
	/* One object in six of the survivors, scattered. */
	for (size_t k = 0; k < nkeep; k++) {
		struct group *x = &g[order[k]];
		for (size_t i = 0; i < x->n; i++)
			if (x->o[i].p != NULL && bench_rng_below(&r, 6) == 0) {
				bytes -= x->o[i].n;
				work_free_obj(&x->o[i]);
			}
	}
	free(order);
	mark("freed", (double)(bytes / KIB));

	double t = now_s();
	while (now_s() - t < idle_s) {
		double left = idle_s - (now_s() - t);
		struct timespec ts = { (time_t)left, (long)((left - (double)(time_t)left) * 1e9) };
		nanosleep(&ts, NULL);
	}
	mark("idle_end", (double)(bytes / KIB));

	mark("burst2_start", (double)(bytes / KIB));
	size_t ng2 = ng;
	while (bytes < total_mib * MIB && ng2 < 2 * cap)
		bytes += work_group(&r, &g[ng2++]);
	mark("burst2_end", (double)(bytes / KIB));

	struct timespec tail = { 0, 500000000 };
	nanosleep(&tail, NULL);
	mark("end", (double)(bytes / KIB));
	return 0;
}

/* ---- the sampler (parent) ------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr, "usage: bench_rss [--preload LIB] [--label NAME] [--period-ms MS] "
			"[--total-mib N] [--idle S] [--scale X]\n");
	exit(2);
}

/* Prints the complete "mark" lines among the have bytes of buf as CSV rows;
 * keeps the incomplete last line at the start of buf and returns its
 * length. */
static size_t print_marks(char *buf, size_t have, const char *label)
{
	buf[have] = '\0';
	char *line = buf, *nl;
	while ((nl = strchr(line, '\n')) != NULL) {
		*nl = '\0';
		char name[64];
		double t, v;
		long rss;
		if (sscanf(line, "mark %63s %lf %ld %lf", name, &t, &rss, &v) == 4)
			printf("%s,%.4f,%ld,%s,%.0f\n", label, t, rss, name, v);
		line = nl + 1;
	}
	have -= (size_t)(line - buf);
	memmove(buf, line, have);
	return have;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--work") == 0) {
		if (argc != 4)
			usage();
		return work((size_t)strtoul(argv[2], NULL, 10), strtod(argv[3], NULL));
	}

	const char *preload = NULL, *label = "default";
	long period_ms = 50;
	double total_mib = 1024, idle_s = 5, scale = 1;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--preload") == 0)
			preload = argv[++i];
		else if (strcmp(argv[i], "--label") == 0)
			label = argv[++i];
		else if (strcmp(argv[i], "--period-ms") == 0)
			period_ms = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--total-mib") == 0)
			total_mib = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--idle") == 0)
			idle_s = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--scale") == 0)
			scale = bench_scale_arg(argv[++i]);
		else
			usage();
	}
	if (period_ms < 1 || !(total_mib * scale >= 1) || !(idle_s >= 0))
		usage();

	/* The child's environment: ours without any preload or glibc malloc
	 * debugging, plus LD_PRELOAD=LIB when asked. */
	size_t ne = 0;
	for (char **e = environ; *e; e++)
		ne++;
	char **envp = calloc(ne + 2, sizeof(*envp));
	size_t k = 0;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) != 0 && strncmp(*e, "MALLOC_", 7) != 0 &&
		    strncmp(*e, "GLIBC_TUNABLES=", 15) != 0)
			envp[k++] = *e;
	static char pl[4096];
	if (preload && *preload) {
		snprintf(pl, sizeof(pl), "LD_PRELOAD=%s", preload);
		envp[k++] = pl;
	}
	envp[k] = NULL;

	char total_arg[32], idle_arg[32];
	snprintf(total_arg, sizeof(total_arg), "%zu", (size_t)(total_mib * scale));
	snprintf(idle_arg, sizeof(idle_arg), "%g", idle_s);
	int fds[2];
	if (pipe(fds) != 0) {
		perror("pipe");
		return 1;
	}
	double t0 = now_s();
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		char *args[] = { "/proc/self/exe", "--work", total_arg, idle_arg, NULL };
		execve("/proc/self/exe", args, envp);
		_exit(127);
	}
	close(fds[1]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);

	char statm[64];
	snprintf(statm, sizeof(statm), "/proc/%d/statm", (int)pid);
	printf("allocator,t_s,rss_kib,event,value\n");
	char buf[8192];
	size_t have = 0;
	bool done = false;
	int status = 0;
	struct rusage ru;
	memset(&ru, 0, sizeof(ru));
	double next = t0;
	while (!done) {
		/* Sample on a fixed grid, reading marks in between. */
		double now = now_s();
		if (now >= next) {
			long rss = statm_rss_kib(statm);
			if (rss > 0)
				printf("%s,%.4f,%ld,,\n", label, now - t0, rss);
			next += (double)period_ms / 1000.0;
			if (next < now)
				next = now + (double)period_ms / 1000.0;
		}
		struct pollfd p = { fds[0], POLLIN, 0 };
		int wait_ms = (int)((next - now_s()) * 1000.0);
		poll(&p, 1, wait_ms > 0 ? wait_ms : 0);
		ssize_t n = read(fds[0], buf + have, sizeof(buf) - 1 - have);
		if (n > 0)
			have = print_marks(buf, have + (size_t)n, label);
		pid_t w = wait4(pid, &status, WNOHANG, &ru);
		if (w == pid)
			done = true;
	}
	/* Marks written just before exit. */
	ssize_t n;
	while ((n = read(fds[0], buf + have, sizeof(buf) - 1 - have)) > 0)
		have = print_marks(buf, have + (size_t)n, label);
	double wall = now_s() - t0;
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	printf("%s,%.4f,,cpu,%.3f\n", label, wall, cpu);
	printf("%s,%.4f,,wall,%.3f\n", label, wall, wall);
	printf("%s,%.4f,,status,%d\n", label, wall, code);
	return code;
}

/* bench_run [--preload LIB] [--timeout SECONDS] -- PROGRAM [ARGS...]
 *
 * Runs PROGRAM once and reports, as the last line on stderr,
 *   bench_run: wall=SECONDS maxrss_kb=KIB user=SECONDS sys=SECONDS status=N
 * with wall time from a monotonic clock and the peak resident set size of
 * the program from wait4(). A program still running after the timeout is
 * killed (status 137, and "bench_run: timeout" on stderr before the report
 * line). LD_PRELOAD is set to LIB for the program only
 * (never for this process), or removed when no --preload is given; the glibc
 * malloc debugging variables are removed so every allocator runs plainly.
 * Exits with the program's status (128 + signal if it was killed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t timed_out;
static pid_t child;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
	kill(child, SIGKILL);
}

static double secs(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	const char *preload = NULL;
	unsigned timeout = 0;
	int i = 1;

	for (; i < argc; i++) {
		if (strcmp(argv[i], "--preload") == 0 && i + 1 < argc) {
			preload = argv[++i];
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			timeout = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else {
			break;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: bench_run [--preload LIB] [--timeout SECONDS] -- PROGRAM [ARGS...]\n");
		return 2;
	}

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = child = fork();
	if (pid < 0) {
		perror("bench_run: fork");
		return 2;
	}
	if (pid == 0) {
		if (preload && *preload)
			setenv("LD_PRELOAD", preload, 1);
		else
			unsetenv("LD_PRELOAD");
		unsetenv("MALLOC_PERTURB_");
		unsetenv("MALLOC_CHECK_");
		execvp(argv[i], &argv[i]);
		fprintf(stderr, "bench_run: cannot run %s: %s\n", argv[i], strerror(errno));
		_exit(127);
	}

	if (timeout) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_alarm;
		sigaction(SIGALRM, &sa, NULL);
		alarm(timeout);
	}

	int status;
	struct rusage ru;
	pid_t w;
	do {
		w = wait4(pid, &status, 0, &ru);
	} while (w < 0 && errno == EINTR);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (w < 0) {
		perror("bench_run: wait4");
		return 2;
	}
	alarm(0);
	if (timed_out)
		fprintf(stderr, "bench_run: timeout after %u s\n", timeout);

	int code = WIFEXITED(status) ? WEXITSTATUS(status)
		: WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;
	double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "bench_run: wall=%.4f maxrss_kb=%ld user=%.3f sys=%.3f status=%d\n",
		wall, ru.ru_maxrss, secs(ru.ru_utime), secs(ru.ru_stime), code);
	return code;
}

/* spawn_mt.c — starting processes while other threads allocate.
 *
 * Usage: spawn_mt posix_spawn|system|popen|vfork
 *
 * Three threads allocate and free without pause while the main thread
 * starts 40 child processes with the chosen mechanism. posix_spawn, system
 * and popen run no atfork handlers and, in glibc 2.36, share the parent's
 * memory until the child execs (CLONE_VM|CLONE_VFORK); vfork does the same
 * explicitly. The child is this program again ("child" mode: allocates, exits
 * 0) or, for popen, also a shell command; the child's environment is the
 * parent's, so a preload applies to it as well. Every child must succeed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

extern char **environ;

enum { WORKERS = 3, SPAWNS = 40 };

static atomic_int stop;
static char self[PATH_MAX];

static void *worker(void *arg)
{
	uint64_t seed = (uint64_t)(uintptr_t)arg * 31 + 7;
	enum { LIVE = 256 };
	void *live[LIVE] = { 0 };
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t x = rnd_next(&seed);
		size_t i = x % LIVE;
		free(live[i]);
		size_t n = 1 + (x >> 20) % ((x >> 58) == 0 ? 500000 : 1000);
		live[i] = malloc(n);
		CHECK(live[i]);
		memset(live[i], 7, n < 64 ? n : 64);
	}
	for (size_t i = 0; i < LIVE; i++)
		free(live[i]);
	return NULL;
}

static int child_mode(int echo)
{
	void *v[200];
	for (int i = 0; i < 200; i++) {
		v[i] = malloc((size_t)i * 97 + 1);
		CHECK(v[i]);
		memset(v[i], 1, (size_t)i * 97 + 1);
	}
	for (int i = 0; i < 200; i++)
		free(v[i]);
	if (echo)
		printf("hello from child\n");
	return 0;
}

static void check_status(const char *what, int st)
{
	CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: %s %d", what,
	       WIFSIGNALED(st) ? "killed by signal" : "exit status",
	       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static void via_posix_spawn(void)
{
	posix_spawn_file_actions_t fa;
	CHECK(posix_spawn_file_actions_init(&fa) == 0);
	CHECK(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) == 0);
	char *argv[] = { self, "child", NULL };
	pid_t pid;
	int r = posix_spawn(&pid, self, &fa, NULL, argv, environ);
	CHECKF(r == 0, "posix_spawn: %s", strerror(r));
	CHECK(posix_spawn_file_actions_destroy(&fa) == 0);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	check_status("posix_spawn child", st);
}

static void via_system(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "'%s' child", self);
	int st = system(cmd);
	CHECK(st != -1);
	check_status("system", st);
}

static void via_popen(int i)
{
	char cmd[PATH_MAX + 32];
	if (i % 2)
		snprintf(cmd, sizeof cmd, "'%s' child-echo", self);
	else
		snprintf(cmd, sizeof cmd, "echo hello from child");
	FILE *p = popen(cmd, "r");
	CHECK(p);
	char buf[64] = "";
	CHECK(fgets(buf, sizeof buf, p) != NULL);
	CHECKF(strcmp(buf, "hello from child\n") == 0, "popen read '%s'", buf);
	int st = pclose(p);
	CHECK(st != -1);
	check_status("popen", st);
}

static void via_vfork(void)
{
	char *argv[] = { self, "child", NULL };
	pid_t pid = vfork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execve(self, argv, environ);
		_exit(127);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	check_status("vfork child", st);
}

int main(int argc, char **argv)
{
	CHECK(argc == 2);
	if (strcmp(argv[1], "child") == 0)
		return child_mode(0);
	if (strcmp(argv[1], "child-echo") == 0)
		return child_mode(1);

	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	CHECK(n > 0);
	self[n] = '\0';

	int mode = strcmp(argv[1], "posix_spawn") == 0 ? 0
	         : strcmp(argv[1], "system") == 0      ? 1
	         : strcmp(argv[1], "popen") == 0       ? 2
	         : strcmp(argv[1], "vfork") == 0       ? 3 : -1;
	CHECKF(mode >= 0, "unknown mode %s", argv[1]);

	pthread_t t[WORKERS];
	for (uintptr_t i = 0; i < WORKERS; i++)
		CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
	for (int i = 0; i < SPAWNS; i++) {
		switch (mode) {
		case 0: via_posix_spawn(); break;
		case 1: via_system(); break;
		case 2: via_popen(i); break;
		default: via_vfork(); break;
		}
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < WORKERS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	return 0;
}

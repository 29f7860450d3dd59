/* gcm_child.c — see gcm_child.h. */
#define _GNU_SOURCE
#include "gcm_child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Output beyond this is dropped (the child keeps running; its pipe is still
 * drained so it never blocks). */
#define CAPTURE_MAX ((size_t)64 << 20)

struct sink {
	int fd;
	char *buf;
	size_t len, cap;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Reads what is available on s->fd; closes it on EOF or error. */
static void sink_read(struct sink *s)
{
	char tmp[8192];
	ssize_t n = read(s->fd, tmp, sizeof tmp);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(s->fd);
		s->fd = -1;
		return;
	}
	size_t take = (size_t)n;
	if (s->len + take > CAPTURE_MAX)
		take = CAPTURE_MAX - s->len;
	if (take == 0)
		return;
	if (s->len + take + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + take + 1)
			cap *= 2;
		char *nb = realloc(s->buf, cap);
		if (!nb)
			return;
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, tmp, take);
	s->len += take;
	s->buf[s->len] = '\0';
}

static char *sink_take(struct sink *s, size_t *len)
{
	if (!s->buf) {
		s->buf = malloc(1);
		if (s->buf)
			s->buf[0] = '\0';
	}
	*len = s->len;
	return s->buf;
}

/* In the forked child: only async-signal-safe calls until execve. */
static void child_exec(const char *const argv[], const char *const envp[],
                       int out_fd, int err_fd, int report_fd, pid_t parent)
{
	setpgid(0, 0);

	/* If the runner dies (its own time limit), do not leave the child. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);

	struct rlimit nocore = { 0, 0 };
	setrlimit(RLIMIT_CORE, &nocore);

	/* Dispositions that are "ignore" survive execve; start from defaults. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	int devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0 && devnull != 0) {
		dup2(devnull, 0);
		close(devnull);
	}
	if (dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		goto fail;

	execve(argv[0], (char *const *)argv, (char *const *)envp);
fail:;
	int e = errno;
	ssize_t w = write(report_fd, &e, sizeof e);
	(void)w;
	_exit(127);
}

int gcm_child_run(struct gcm_child *res, const char *const argv[],
                  const char *const envp[], unsigned timeout_ms)
{
	memset(res, 0, sizeof *res);

	int out_p[2], err_p[2], rep_p[2];
	if (pipe2(out_p, O_CLOEXEC) < 0)
		goto start_failed;
	if (pipe2(err_p, O_CLOEXEC) < 0) {
		close(out_p[0]);
		close(out_p[1]);
		goto start_failed;
	}
	if (pipe2(rep_p, O_CLOEXEC) < 0) {
		close(out_p[0]);
		close(out_p[1]);
		close(err_p[0]);
		close(err_p[1]);
		goto start_failed;
	}

	pid_t self = getpid();
	pid_t pid = fork();
	if (pid == 0)
		child_exec(argv, envp, out_p[1], err_p[1], rep_p[1], self);
	int fork_errno = errno;
	close(out_p[1]);
	close(err_p[1]);
	close(rep_p[1]);
	if (pid < 0) {
		close(out_p[0]);
		close(err_p[0]);
		close(rep_p[0]);
		errno = fork_errno;
		goto start_failed;
	}
	/* Both sides set the group so that a kill right after fork cannot miss. */
	setpgid(pid, pid);

	/* Blocks until execve succeeded (EOF) or failed (errno arrives). */
	int exec_errno = 0;
	ssize_t got;
	do
		got = read(rep_p[0], &exec_errno, sizeof exec_errno);
	while (got < 0 && errno == EINTR);
	close(rep_p[0]);
	if (got != (ssize_t)sizeof exec_errno)
		exec_errno = 0;

	struct sink sinks[2] = {
		{ .fd = out_p[0] },
		{ .fd = err_p[0] },
	};
	for (int i = 0; i < 2; i++)
		fcntl(sinks[i].fd, F_SETFL, fcntl(sinks[i].fd, F_GETFL) | O_NONBLOCK);

	uint64_t deadline = now_ms() + timeout_ms;
	uint64_t give_up = 0;
	int reaped = 0;
	for (;;) {
		if (!reaped) {
			siginfo_t si;
			memset(&si, 0, sizeof si);
			/* WNOWAIT keeps the zombie, so its pid (= the group id) cannot be
			 * reused before the stragglers of the group are killed. */
			if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
			    si.si_pid == pid) {
				kill(-pid, SIGKILL);
				int st;
				while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
					;
				res->status = st;
				reaped = 1;
				give_up = now_ms() + 5000;
			}
		}
		if (reaped && sinks[0].fd < 0 && sinks[1].fd < 0)
			break;

		uint64_t t = now_ms();
		if (!reaped && !res->timed_out && t >= deadline) {
			res->timed_out = 1;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
		}
		if (reaped && t >= give_up)
			break; /* something outside the group holds the pipes */

		struct pollfd pf[2];
		nfds_t n = 0;
		int which[2];
		for (int i = 0; i < 2; i++) {
			if (sinks[i].fd >= 0) {
				pf[n].fd = sinks[i].fd;
				pf[n].events = POLLIN;
				pf[n].revents = 0;
				which[n] = i;
				n++;
			}
		}
		if (n == 0) {
			struct timespec ts = { 0, 5 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			continue;
		}
		int r = poll(pf, n, 20);
		if (r > 0) {
			for (nfds_t i = 0; i < n; i++)
				if (pf[i].revents & (POLLIN | POLLHUP | POLLERR))
					sink_read(&sinks[which[i]]);
		}
	}
	for (int i = 0; i < 2; i++)
		if (sinks[i].fd >= 0)
			close(sinks[i].fd);

	res->out = sink_take(&sinks[0], &res->out_len);
	res->err = sink_take(&sinks[1], &res->err_len);
	if (exec_errno) {
		res->start_errno = exec_errno;
		return -1;
	}
	return 0;

start_failed:
	res->start_errno = errno ? errno : EIO;
	res->out = calloc(1, 1);
	res->err = calloc(1, 1);
	return -1;
}

void gcm_child_free(struct gcm_child *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
	res->out_len = res->err_len = 0;
}

int gcm_child_ok(const struct gcm_child *res)
{
	return !res->start_errno && !res->timed_out && WIFEXITED(res->status) &&
	       WEXITSTATUS(res->status) == 0;
}

int gcm_child_killed_by(const struct gcm_child *res, int sig)
{
	return !res->start_errno && !res->timed_out && WIFSIGNALED(res->status) &&
	       WTERMSIG(res->status) == sig;
}

const char *gcm_signal_name(int sig, char *buf, size_t n)
{
	const char *abbrev = sigabbrev_np(sig);
	if (abbrev)
		snprintf(buf, n, "SIG%s", abbrev);
	else
		snprintf(buf, n, "SIG%d", sig);
	return buf;
}

const char *gcm_child_describe(const struct gcm_child *res, char *buf, size_t n)
{
	char sb[32];
	if (res->start_errno)
		snprintf(buf, n, "could not start: %s", strerror(res->start_errno));
	else if (res->timed_out)
		snprintf(buf, n, "timed out");
	else if (WIFEXITED(res->status))
		snprintf(buf, n, "exit status %d", WEXITSTATUS(res->status));
	else if (WIFSIGNALED(res->status))
		snprintf(buf, n, "killed by %s",
		         gcm_signal_name(WTERMSIG(res->status), sb, sizeof sb));
	else
		snprintf(buf, n, "wait status 0x%x", (unsigned)res->status);
	return buf;
}

extern char **environ;

static int gcm_child_env_dropped(const char *kv)
{
	static const char *const drop[] = { "LD_PRELOAD=", "GCMALLOC_", "MALLOC_PERTURB_=",
					    "MALLOC_CHECK_=" };
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (strncmp(kv, drop[i], strlen(drop[i])) == 0)
			return 1;
	return 0;
}

const char **gcm_child_env(const char *preload, const char *const *extra)
{
	size_t n = 0, nextra = 0;
	for (char **e = environ; *e; e++)
		n++;
	while (extra && extra[nextra])
		nextra++;
	const char **envp = calloc(n + nextra + 2, sizeof(*envp));
	if (envp == NULL)
		return NULL;
	size_t k = 0;
	for (char **e = environ; *e; e++)
		if (!gcm_child_env_dropped(*e))
			envp[k++] = *e;
	if (preload != NULL) {
		size_t len = strlen("LD_PRELOAD=") + strlen(preload) + 1;
		char *kv = malloc(len);
		if (kv == NULL)
			return NULL;
		snprintf(kv, len, "LD_PRELOAD=%s", preload);
		envp[k++] = kv;
	}
	for (size_t i = 0; i < nextra; i++)
		envp[k++] = extra[i];
	envp[k] = NULL;
	return envp;
}

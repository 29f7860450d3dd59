/* gcm_child.h — run a program in a child process with an explicit
 * environment, capture its stdout and stderr through pipes, and enforce a
 * wall-clock limit.
 *
 * The child is started with fork + execve in a process group of its own; on
 * timeout, and once the child itself has exited, the whole group is sent
 * SIGKILL so that grandchildren left behind cannot keep the pipes open. The
 * child also gets SIGKILL if the calling thread dies first. Core dumps are
 * disabled in the child (death tests abort on purpose).
 *
 * Nothing here touches the caller's own environment: the environment the
 * child sees is exactly the envp given.
 */
#ifndef GCM_TEST_CHILD_H
#define GCM_TEST_CHILD_H

#include <stddef.h>

struct gcm_child {
	int status;      /* wait status of the child (valid when !timed_out) */
	int timed_out;   /* 1 when the limit was reached and the group killed */
	int start_errno; /* non-zero when the program could not be started */
	char *out;       /* captured stdout, NUL-terminated */
	size_t out_len;
	char *err;       /* captured stderr, NUL-terminated */
	size_t err_len;
};

/* Runs argv[0] (a path, not searched in PATH) with argv and envp.
 * Returns 0 when the child was started and reaped (or killed on timeout),
 * -1 when it could not be started (start_errno says why). Either way *res is
 * filled and must be released with gcm_child_free. */
int gcm_child_run(struct gcm_child *res, const char *const argv[],
                  const char *const envp[], unsigned timeout_ms);

void gcm_child_free(struct gcm_child *res);

/* The environment a test child gets: the caller's, less LD_PRELOAD, every
 * GCMALLOC_* variable, MALLOC_PERTURB_ and MALLOC_CHECK_ (meson test sets
 * MALLOC_PERTURB_, which would change the glibc baseline), plus
 * LD_PRELOAD=preload when preload is not NULL, plus the extra "NAME=value"
 * entries (NULL-terminated, may be NULL). The array is allocated and never
 * freed (each test runs in a process of its own); NULL when out of memory. */
const char **gcm_child_env(const char *preload, const char *const *extra);

/* 1 when the child exited normally with status 0. */
int gcm_child_ok(const struct gcm_child *res);

/* 1 when the child was killed by signal sig. */
int gcm_child_killed_by(const struct gcm_child *res, int sig);

/* Writes a short description such as "exit status 1", "killed by SIGSEGV",
 * "timed out" or "could not start: No such file or directory" into buf. */
const char *gcm_child_describe(const struct gcm_child *res, char *buf, size_t n);

/* Name of a signal ("SIGSEGV"); "SIG<n>" for unknown ones. The returned
 * string is static or lives in buf. */
const char *gcm_signal_name(int sig, char *buf, size_t n);

#endif

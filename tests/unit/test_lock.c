/*
 * test_lock.c — named, ranked locks and their assertions.
 *
 * The death tests exist only in builds with assertions: in release builds
 * the checks compile to nothing, and those tests are not registered.
 */
#include "gcm_config.h"
#include "lock.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <signal.h>

static lock_t outer = LOCK_INITIALIZER(TEST_OUTER);
static lock_t inner = LOCK_INITIALIZER(TEST_INNER);

Test(lock, in_order_acquire_release)
{
	lock_acquire(&outer);
	lock_acquire(&inner);
	lock_assert_held(&outer);
	lock_assert_held(&inner);
	cr_expect_eq(lock_held_count(), GCM_ASSERTIONS ? 2u : 0u);
	lock_release(&outer); /* out-of-order release is allowed */
	lock_release(&inner);
	cr_expect_eq(lock_held_count(), 0u);
	lock_assert_not_held(&outer);
	lock_assert_none_held();
}

Test(lock, try_acquire_fails_when_taken)
{
	lock_acquire(&inner);
	/* A second thread would block; trylock from the owner must fail. */
	cr_expect(!lock_try_acquire(&inner));
	lock_release(&inner);
	cr_expect(lock_try_acquire(&inner));
	lock_release(&inner);
}

Test(lock, names_and_ranks_come_from_the_table)
{
	cr_expect_str_eq(outer.name, "TEST_OUTER");
	cr_expect_eq(outer.rank, (unsigned)LOCK_RANK_TEST_OUTER);
	cr_expect_lt(LOCK_RANK_SCAV, LOCK_RANK_HEAP);
	cr_expect_lt(LOCK_RANK_CENTRAL, LOCK_RANK_HEAP);
	cr_expect_lt(LOCK_RANK_HEAP, LOCK_RANK_META);
}

#if GCM_ASSERTIONS
static void redirect_stderr(void)
{
	cr_redirect_stderr();
}

Test(lock, out_of_rank_order_aborts_naming_both, .signal = SIGABRT,
     .init = redirect_stderr)
{
	lock_acquire(&inner);
	lock_acquire(&outer);
}

/* The same, checked from a parent so the message can be read: the child
 * aborts, the parent reads both names from the pipe. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

Test(lock, order_violation_message_names_both_locks)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		lock_acquire(&inner);
		lock_acquire(&outer);
		_exit(0);
	}
	close(fds[1]);
	char buf[4096];
	size_t n = 0;
	ssize_t r;
	while ((r = read(fds[0], buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	int status;
	waitpid(pid, &status, 0);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
		  "child did not abort");
	cr_expect(strstr(buf, "lock order violation") != NULL, "message: %s", buf);
	cr_expect(strstr(buf, "TEST_OUTER") != NULL, "message: %s", buf);
	cr_expect(strstr(buf, "TEST_INNER") != NULL, "message: %s", buf);
}

Test(lock, same_lock_twice_aborts, .signal = SIGABRT, .init = redirect_stderr)
{
	lock_acquire(&outer);
	lock_acquire(&outer);
}

Test(lock, assert_held_without_lock_aborts, .signal = SIGABRT,
     .init = redirect_stderr)
{
	lock_assert_held(&outer);
}

Test(lock, release_without_acquire_aborts, .signal = SIGABRT,
     .init = redirect_stderr)
{
	lock_release(&inner);
}

Test(lock, assert_none_held_aborts_when_holding, .signal = SIGABRT,
     .init = redirect_stderr)
{
	lock_acquire(&inner);
	lock_assert_none_held();
}
#endif

/* gc_fork.c — fork during heavy collection, and collection in the child.
 *
 * Usage: gc_fork [ROUNDS]   (default 40)
 * With GC_FORK_VERBOSE set in the environment, one line per round.
 *
 * The parent keeps a stable structure (a static root -> a table -> 512
 * nodes, all collectable, with canaries), while two threads build, verify
 * and drop lists of collectable nodes as fast as they can (automatic
 * cycles) and a third calls gcm_collect in a loop. The main thread forks
 * ROUNDS times at random moments, so forks land before, during and after
 * cycles. Each child, where only the forking thread exists, must:
 *   - find the stable structure intact, and stay so over two cycles;
 *   - run those cycles itself (one more cycle each, none skipped) and see
 *     at least the stable bytes marked;
 *   - hand out distinct memory afterwards: 20000 new objects of assorted
 *     sizes (collectable and ordinary) each get an id; every id must still
 *     be there after all are made (a block handed out twice, for example
 *     from a dead thread's cache, would be overwritten);
 *   - reclaim a 1 MiB object it drops, and keep one that a thread of its
 *     own holds on its stack while blocked in read() (marked, nothing
 *     freed, canary intact);
 *   - finish within 15 s (alarm): a child that deadlocks dies of SIGALRM.
 * The parent checks each child's exit status, that none of its own cycles
 * was skipped, and at the end, with the threads stopped, that exactly the
 * stable structure is marked.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gcp.h"

#define NSTABLE 512
#define STABLE_SIZE 256
#define HIDE_MASK ((uintptr_t)0x3C3C3C3C3C3C3C3Cull)

static void **volatile stable;
static size_t stable_bytes;
static int stop;
static uint64_t churn_rounds, bg_cycles;

static GCP_NOINLINE void make_stable(void)
{
	void **t = gcp_new(NSTABLE * sizeof(void *), 7, 0);
	stable_bytes = gcp_usable(t);
	for (size_t i = 0; i < NSTABLE; i++) {
		t[i] = gcp_new(STABLE_SIZE, 100 + i, 0);
		stable_bytes += gcp_usable(t[i]);
	}
	stable = t;
}

static GCP_NOINLINE void verify_stable(const char *who)
{
	void **t = stable;
	GCP_CHECK(t != NULL, "%s: stable root lost", who);
	for (size_t i = 0; i < NSTABLE; i++)
		GCP_CHECK(gcp_intact(t[i], STABLE_SIZE, 100 + i),
			  "%s: stable node %zu spoilt (reclaimed while reachable?)", who, i);
}

/* A list node: link, seed, size, then the canary. */
struct node {
	struct node *next;
	uint64_t seed;
	uint64_t size;
	uint64_t words[];
};

static GCP_NOINLINE struct node *build_list(uint64_t *rng, unsigned n)
{
	struct node *head = NULL;
	for (unsigned i = 0; i < n; i++) {
		*rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
		size_t size = 32 + (size_t)((*rng >> 33) % 2000);
		struct node *nd = gcp.malloc(size);
		GCP_CHECK(nd != NULL, "gcm_malloc(%zu)", size);
		GCP_CHECK(gcp_zero(nd, size), "gcm_malloc(%zu) not zeroed", size);
		nd->seed = *rng;
		nd->size = size;
		gcp_fill(nd->words, size - sizeof *nd, nd->seed);
		nd->next = head;
		head = nd;
	}
	return head;
}

static GCP_NOINLINE void verify_list(const struct node *nd, unsigned n)
{
	for (unsigned i = 0; i < n; i++, nd = nd->next) {
		GCP_CHECK(nd != NULL, "list cut short at node %u", i);
		GCP_CHECK(gcp_intact(nd->words, nd->size - sizeof *nd, nd->seed),
			  "list node %u spoilt (reclaimed while reachable?)", i);
	}
}

static void *churn_thread(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		struct node *volatile l = build_list(&rng, 200);
		verify_list(l, 200);
		l = NULL;
		__atomic_fetch_add(&churn_rounds, 1, __ATOMIC_RELAXED);
	}
	gcp_clear_stack();
	return NULL;
}

static void *collector_thread(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		struct gcm_stats st;
		gcp_collect(&st, 0);
		__atomic_fetch_add(&bg_cycles, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* ---- in the child -------------------------------------------------------- */

static int c_pipe[2];
static int c_tid;
static uintptr_t c_hidden;

static GCP_NOINLINE void child_hold(void)
{
	void *volatile o = gcp_new(MiB, 55, 0);
	c_hidden = (uintptr_t)o ^ HIDE_MASK;
	gcp_clear_stack();
	c_tid = gcp_gettid();
	char c;
	ssize_t n = read(c_pipe[0], &c, 1);
	GCP_CHECK(n == 1, "child thread: read() returned %zd", n);
	GCP_CHECK(gcp_intact(o, MiB, 55), "child thread: its object was spoilt");
	o = NULL;
}

static void *child_thread(void *arg)
{
	(void)arg;
	child_hold();
	gcp_clear_stack();
	return NULL;
}

static GCP_NOINLINE void child_garbage(void)
{
	gcp_new(MiB, 66, 0);
}

/* Many new objects, each stamped with its index; all must keep theirs. */
static GCP_NOINLINE void child_distinct(void)
{
	enum { N = 20000 };
	void **v = malloc(N * sizeof(void *));
	GCP_CHECK(v != NULL, "malloc");
	for (size_t i = 0; i < N; i++) {
		size_t size = 16 + (i * 37) % 700;
		uint64_t *p = i % 3 == 2 ? malloc(size) : i % 3 == 1 ? gcp.malloc_atomic(size)
								     : gcp.malloc(size);
		GCP_CHECK(p != NULL, "allocation %zu failed", i);
		p[0] = 0x8000000000000000ull | i;
		p[size / 8 - 1] = 0x8000000000000000ull | (i << 8);
		v[i] = p;
	}
	for (size_t i = 0; i < N; i++) {
		uint64_t *p = v[i];
		size_t size = 16 + (i * 37) % 700;
		GCP_CHECK(p[0] == (0x8000000000000000ull | i) &&
			  p[size / 8 - 1] == (0x8000000000000000ull | (i << 8)),
			  "child: object %zu was overwritten: the same memory was handed out twice", i);
	}
	for (size_t i = 0; i < N; i++)
		if (i % 3 == 2)
			free(v[i]);
	free(v);
}

static int child_main(void)
{
	alarm(15);
	verify_stable("child");
	struct gcm_stats st;
	gcp_collect(&st, 1);
	GCP_CHECK(st.gc_marked_bytes >= stable_bytes, "child: %llu bytes marked, stable part is %zu",
		  (unsigned long long)st.gc_marked_bytes, stable_bytes);
	verify_stable("child");
	gcp_collect(&st, 1);
	verify_stable("child");
	uint64_t marked = st.gc_marked_bytes;

	child_distinct();
	gcp_collect(&st, 1);
	verify_stable("child");
	marked = st.gc_marked_bytes;

	child_garbage();
	uint64_t freed = st.gc_freed_bytes;
	gcp_collect(&st, 1);
	GCP_CHECK(st.gc_freed_bytes - freed >= MiB, "child: a dropped 1 MiB object was not reclaimed");
	GCP_CHECK(st.gc_marked_bytes <= marked && st.gc_marked_bytes >= stable_bytes,
		  "child: %llu bytes marked, expected between %zu and %llu",
		  (unsigned long long)st.gc_marked_bytes, stable_bytes, (unsigned long long)marked);

	/* A thread of the child holds 1 MiB: it must be marked, and nothing
	 * may be freed (nothing collectable was dropped since the last
	 * cycle). */
	GCP_CHECK(pipe2(c_pipe, O_CLOEXEC) == 0, "pipe");
	pthread_t t;
	GCP_CHECK(pthread_create(&t, NULL, child_thread, NULL) == 0, "pthread_create in child");
	while (__atomic_load_n(&c_tid, __ATOMIC_ACQUIRE) == 0)
		gcp_sleep_ms(1);
	gcp_wait_in_syscall(c_tid, 0);
	freed = st.gc_freed_bytes;
	gcp_collect(&st, 1);
	GCP_CHECK(st.gc_marked_bytes >= stable_bytes + MiB && st.gc_freed_bytes == freed,
		  "child: with a thread holding 1 MiB, %llu bytes marked (stable part %zu) and "
		  "%llu freed",
		  (unsigned long long)st.gc_marked_bytes, stable_bytes,
		  (unsigned long long)(st.gc_freed_bytes - freed));
	GCP_CHECK(write(c_pipe[1], "x", 1) == 1, "write");
	pthread_join(t, NULL);
	verify_stable("child");
	return 0;
}

/* ---- in the parent --------------------------------------------------------- */

static void wait_child(pid_t pid, int round)
{
	uint64_t deadline = gcp_now_ns() + (uint64_t)20 * 1000000000u;
	int status;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		GCP_CHECK(r == 0 || errno == EINTR, "waitpid: %s", strerror(errno));
		if (gcp_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			GCP_CHECK(0, "round %d: the child hung for 20 s (deadlock after fork?)", round);
		}
		gcp_sleep_ms(1);
	}
	GCP_CHECK(!WIFSIGNALED(status),
		  "round %d: the child was killed by signal %d%s", round, WTERMSIG(status),
		  WTERMSIG(status) == SIGALRM ? " (SIGALRM: it did not finish in 15 s)" : "");
	GCP_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "round %d: the child exited with %d",
		  round, WEXITSTATUS(status));
}

int main(int argc, char **argv)
{
	gcp_init();
	int rounds = argc > 1 ? atoi(argv[1]) : 40;
	make_stable();
	gcp_clear_stack();

	pthread_t th[3];
	for (int i = 0; i < 2; i++)
		GCP_CHECK(pthread_create(&th[i], NULL, churn_thread, (void *)(uintptr_t)(i + 1)) == 0,
			  "pthread_create");
	GCP_CHECK(pthread_create(&th[2], NULL, collector_thread, NULL) == 0, "pthread_create");

	uint64_t rng = 12345;
	for (int r = 0; r < rounds; r++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		gcp_sleep_ms((unsigned)(rng >> 60));
		pid_t pid = fork();
		GCP_CHECK(pid >= 0, "fork: %s", strerror(errno));
		if (pid == 0)
			_exit(child_main());
		wait_child(pid, r);
		verify_stable("parent");
		if (getenv("GC_FORK_VERBOSE"))
			gcp_say("round %d done at %.0f ms", r, (double)gcp_now_ns() / 1e6);
	}

	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	verify_stable("parent");
	struct gcm_stats st;
	gcp_collect(&st, 1);
	GCP_CHECK(st.gc_cycles_skipped == 0, "%llu cycles skipped in the parent",
		  (unsigned long long)st.gc_cycles_skipped);
	GCP_CHECK(st.gc_marked_bytes == stable_bytes,
		  "parent, threads gone: %llu bytes marked, expected exactly the stable %zu",
		  (unsigned long long)st.gc_marked_bytes, stable_bytes);
	gcp_say("ok %d forks; parent: %llu cycles, %llu by the collector thread, %llu lists built",
		rounds, (unsigned long long)st.gc_cycles, (unsigned long long)bg_cycles,
		(unsigned long long)churn_rounds);
	return 0;
}

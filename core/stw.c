/*
 * stw.c — stop the world with a signal handshake.
 *
 * The collector lists the threads of the process from /proc/self/task (raw
 * system calls, nothing that allocates), records each in a table and sends
 * it the stop signal. The handler, running on that thread, either
 *
 *   - finds the thread at a safe point: it copies the registers the kernel
 *     saved for the interrupted code into the table, records the interrupted
 *     stack pointer and the thread pointer, publishes STW_STOPPED, and waits
 *     on a futex until the collector advances the restart epoch; or
 *   - finds it inside the allocator: it publishes STW_UNSAFE and returns at
 *     once, letting the thread finish its allocator operation; the collector
 *     signals it again a little later.
 *
 * Why a stopped thread is never seen half-way through an allocator
 * operation. Every allocator operation either runs entirely inside the
 * library's own code (the inlined malloc and free fast paths: they touch
 * only the thread's own cache) or raises the thread's busy counter for its
 * whole duration (every slow path, including the parts that run in libc:
 * lock waits, copies, system calls). tcache_at_safe_point checks both, with
 * the program counter the kernel saved for the interrupted code. So a thread
 * in STW_STOPPED holds no allocator lock and every one of its cache bins is
 * consistent: the collector may read its bins and take any allocator lock.
 * A thread that stays inside the allocator cannot be waiting for the
 * collector, which holds no allocator lock while stopping the world, so it
 * leaves soon; a thread waiting for an allocator lock held by another thread
 * that is not stopped yet is in the same situation.
 *
 * A thread found inside the allocator is also caught on its way out: while
 * a stop is requested, leaving the outermost busy section parks the thread
 * at once (stw_park_self), with its registers taken by getcontext, so a
 * thread that spends most of its time in slow paths does not hold the
 * collector up until a signal happens to land between them.
 *
 * Lost signals and new threads. A thread that has not answered within
 * STW_RESEND_NS is signalled again (the handler ignores a second signal for
 * the same cycle). After every listed thread has stopped, the task list is
 * read again: a thread created meanwhile (its creator was still running) is
 * added and stopped; the list is final when a pass finds nothing new, since
 * a stopped thread creates none. A thread that never reaches a safe point
 * within STW_GIVE_UP_NS (it blocks the signal, or loops in the allocator)
 * makes stw_stop give up: everyone is restarted and the caller skips the
 * cycle.
 */
#define _GNU_SOURCE
#include "base.h"
#include "stw.h"
#include "debug.h"
#include "sys.h"
#include "tcache.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define STW_MAX_THREADS 32768
#define STW_RESEND_NS ((uint64_t)20 * 1000000)
#define STW_UNSAFE_RETRY_NS ((uint64_t)20 * 1000)
#define STW_GIVE_UP_NS ((uint64_t)5 * 1000000000)

int stw_signal;
int stw_exempt_tid;
int stw_requested;
stw_thread_t *stw_threads;
size_t stw_nthreads;
/* Incremented to restart stopped threads (futex word). Atomic. */
static int stw_epoch;
/* Number of threads that published a state since the last wait (futex
 * word). Atomic. */
static int stw_answers;

/*
 * Publishes t as stopped at stack pointer sp and waits for the restart.
 * The epoch is read before the state changes, and the state changes only
 * by compare-and-swap from PENDING or UNSAFE: if the collector already
 * gave the cycle up (it marks every entry not stopped GONE before it
 * advances the epoch), the swap fails and the thread goes on; if the swap
 * wins, the collector sees STOPPED and the epoch it advances afterwards is
 * a new one, so the wait ends.
 */
static void stw_stop_here(stw_thread_t *t, uintptr_t sp)
{
	int epoch = __atomic_load_n(&stw_epoch, __ATOMIC_ACQUIRE);
	t->sp = sp;
	t->tp = (uintptr_t)__builtin_thread_pointer();
	int expected = STW_PENDING;
	if (!__atomic_compare_exchange_n(&t->state, &expected, STW_STOPPED, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		if (expected != STW_UNSAFE ||
		    !__atomic_compare_exchange_n(&t->state, &expected, STW_STOPPED, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return; /* the cycle is over (GONE) */
	}
	__atomic_fetch_add(&stw_answers, 1, __ATOMIC_RELEASE);
	sys_futex_wake(&stw_answers);
	while (__atomic_load_n(&stw_epoch, __ATOMIC_ACQUIRE) == epoch)
		sys_futex_wait(&stw_epoch, epoch, 0);
}

void stw_signal_handler(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	int saved = errno;
	int tid = sys_gettid();
	stw_thread_t *tab = __atomic_load_n(&stw_threads, __ATOMIC_ACQUIRE);
	size_t n = __atomic_load_n(&stw_nthreads, __ATOMIC_ACQUIRE);
	stw_thread_t *t = NULL;
	for (size_t i = 0; tab != NULL && i < n; i++) {
		if (tab[i].tid == tid) {
			t = &tab[i];
			break;
		}
	}
	/* Not asked (a stale or repeated signal): ignore. */
	if (t == NULL || __atomic_load_n(&t->state, __ATOMIC_ACQUIRE) != STW_PENDING) {
		errno = saved;
		return;
	}
	ucontext_t *uc = ucv;
	uintptr_t pc = 0, sp = 0;
#if defined(__x86_64__)
	pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
	_Static_assert(NGREG <= STW_NREGS, "register table too small");
	for (int i = 0; i < NGREG; i++)
		t->regs[i] = (uintptr_t)uc->uc_mcontext.gregs[i];
#elif defined(__aarch64__)
	pc = (uintptr_t)uc->uc_mcontext.pc;
	sp = (uintptr_t)uc->uc_mcontext.sp;
	for (int i = 0; i < 31 && i < STW_NREGS; i++)
		t->regs[i] = (uintptr_t)uc->uc_mcontext.regs[i];
#else
#error "stop-the-world needs the interrupted registers of this architecture"
#endif
	if (!tcache_at_safe_point(pc)) {
		int expected = STW_PENDING;
		__atomic_compare_exchange_n(&t->state, &expected, STW_UNSAFE, false,
					    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
		__atomic_fetch_add(&stw_answers, 1, __ATOMIC_RELEASE);
		sys_futex_wake(&stw_answers);
		errno = saved;
		return;
	}
	stw_stop_here(t, sp);
	errno = saved;
}

/* The calling thread's entry in the table, if it is being asked to stop. */
static stw_thread_t *stw_my_entry(void)
{
	int tid = sys_gettid();
	stw_thread_t *tab = __atomic_load_n(&stw_threads, __ATOMIC_ACQUIRE);
	size_t n = __atomic_load_n(&stw_nthreads, __ATOMIC_ACQUIRE);
	for (size_t i = 0; tab != NULL && i < n; i++)
		if (tab[i].tid == tid)
			return &tab[i];
	return NULL;
}

void stw_park_self(void)
{
	stw_thread_t *t = stw_my_entry();
	if (t == NULL)
		return;
	int st = __atomic_load_n(&t->state, __ATOMIC_ACQUIRE);
	if (st != STW_PENDING && st != STW_UNSAFE)
		return;
	int saved = errno;
	/* A safe point by construction (busy just dropped to zero, and this
	 * frame is the library's: the collector checks nothing here). The
	 * registers are saved into the table; the stack from here up is
	 * scanned, which holds the caller's frames. */
	ucontext_t uc;
	getcontext(&uc);
#if defined(__x86_64__)
	for (int i = 0; i < NGREG; i++)
		t->regs[i] = (uintptr_t)uc.uc_mcontext.gregs[i];
#elif defined(__aarch64__)
	for (int i = 0; i < 31 && i < STW_NREGS; i++)
		t->regs[i] = (uintptr_t)uc.uc_mcontext.regs[i];
#endif
	stw_stop_here(t, (uintptr_t)&uc);
	__asm__ volatile("" : : "r"(&uc) : "memory");
	errno = saved;
}

struct stw_dirent {
	uint64_t ino;
	int64_t off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

/* Adds every thread of the process not yet in the table (except the caller
 * and the exempt one) in state STW_PENDING. Returns how many were added, or
 * -1 if the task list could not be read or the table is full. */
static long stw_list_threads(int self)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/task",
			      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[4096] GCM_ALIGNED(8);
	long added = 0;
	for (;;) {
		long nread = syscall(SYS_getdents64, fd, buf, sizeof(buf));
		if (nread <= 0) {
			if (nread < 0)
				added = -1;
			break;
		}
		for (long off = 0; off < nread;) {
			struct stw_dirent *d = (struct stw_dirent *)(buf + off);
			off += d->reclen;
			int tid = 0;
			const char *c = d->name;
			if (*c < '0' || *c > '9')
				continue;
			for (; *c >= '0' && *c <= '9'; c++)
				tid = tid * 10 + (*c - '0');
			if (tid == self || tid == __atomic_load_n(&stw_exempt_tid, __ATOMIC_RELAXED))
				continue;
			bool known = false;
			for (size_t i = 0; i < stw_nthreads; i++)
				if (stw_threads[i].tid == tid)
					known = true;
			if (known)
				continue;
			if (stw_nthreads == STW_MAX_THREADS) {
				added = -1;
				goto out;
			}
			stw_thread_t *t = &stw_threads[stw_nthreads];
			t->tid = tid;
			t->state = STW_PENDING;
			/* Publish the entry before its thread can look for it. */
			__atomic_store_n(&stw_nthreads, stw_nthreads + 1, __ATOMIC_RELEASE);
			added++;
		}
	}
out:
	close(fd);
	return added;
}

/* Signals every thread in state PENDING (or UNSAFE, after a pause) whose
 * last signal is older than the resend interval; marks exited ones GONE.
 * Returns the number not stopped yet. */
static size_t stw_nudge(uint64_t *last_sent, uint64_t now, bool force)
{
	size_t waiting = 0;
	for (size_t i = 0; i < stw_nthreads; i++) {
		stw_thread_t *t = &stw_threads[i];
		int st = __atomic_load_n(&t->state, __ATOMIC_ACQUIRE);
		if (st == STW_STOPPED || st == STW_GONE)
			continue;
		/* The thread may change its own state concurrently (it stops
		 * itself on leaving the allocator): every change here is a
		 * compare-and-swap from the state just seen. */
		if (t->tid == __atomic_load_n(&stw_exempt_tid, __ATOMIC_ACQUIRE)) {
			/* Listed before it said it is exempt (the scavenger
			 * publishes its id when it starts): it never answers. */
			__atomic_compare_exchange_n(&t->state, &st, STW_GONE, false,
						    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
			continue;
		}
		waiting++;
		if (st == STW_UNSAFE) {
			/* Give it a moment to leave the allocator. */
			if (now - last_sent[i] < STW_UNSAFE_RETRY_NS)
				continue;
			if (!__atomic_compare_exchange_n(&t->state, &st, STW_PENDING, false,
							 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				continue; /* it stopped meanwhile */
		} else if (!force && now - last_sent[i] < STW_RESEND_NS) {
			continue;
		}
		last_sent[i] = now;
		if (!sys_tgkill(t->tid, stw_signal)) {
			int pending = STW_PENDING;
			if (__atomic_compare_exchange_n(&t->state, &pending, STW_GONE, false,
							__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				waiting--;
		}
	}
	return waiting;
}

bool stw_stop(void)
{
	if (stw_signal == 0)
		return false;
	if (stw_threads == NULL) {
		stw_threads = sys_alloc(STW_MAX_THREADS * sizeof(stw_thread_t));
		if (stw_threads == NULL)
			return false;
	}
	static uint64_t *last_sent;
	if (last_sent == NULL) {
		last_sent = sys_alloc(STW_MAX_THREADS * sizeof(uint64_t));
		if (last_sent == NULL)
			return false;
	}
	__atomic_store_n(&stw_nthreads, 0, __ATOMIC_RELEASE);
	int self = sys_gettid();
	uint64_t start = sys_nanotime();
	__atomic_store_n(&stw_requested, 1, __ATOMIC_RELEASE);

	for (;;) {
		long added = stw_list_threads(self);
		if (added < 0)
			goto give_up;
		if (added == 0 && stw_nudge(last_sent, sys_nanotime(), false) == 0) {
			__atomic_store_n(&stw_requested, 0, __ATOMIC_RELEASE);
			return true; /* everyone stopped, nobody new */
		}
		stw_nudge(last_sent, sys_nanotime(), added > 0);
		/* Wait for answers. */
		for (;;) {
			int answers = __atomic_load_n(&stw_answers, __ATOMIC_ACQUIRE);
			uint64_t now = sys_nanotime();
			if (now - start > STW_GIVE_UP_NS)
				goto give_up;
			size_t waiting = stw_nudge(last_sent, now, false);
			if (waiting == 0)
				break;
			sys_futex_wait(&stw_answers, answers, 20000);
		}
	}

give_up:
	stw_start();
	return false;
}

void stw_start(void)
{
	__atomic_store_n(&stw_requested, 0, __ATOMIC_RELEASE);
	/* Mark what did not stop as gone, so a late signal finds no pending
	 * entry, then release the stopped ones. */
	for (size_t i = 0; i < stw_nthreads; i++) {
		int st = __atomic_load_n(&stw_threads[i].state, __ATOMIC_ACQUIRE);
		/* A thread may be stopping itself right now: swap, do not store. */
		while (st != STW_STOPPED && st != STW_GONE &&
		       !__atomic_compare_exchange_n(&stw_threads[i].state, &st, STW_GONE, false,
						    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			;
	}
	__atomic_fetch_add(&stw_epoch, 1, __ATOMIC_ACQ_REL);
	sys_futex_wake_all(&stw_epoch);
}

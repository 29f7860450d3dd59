/*
 * init.c — bringing the allocator up inside someone else's process.
 *
 * malloc can be called long before this library's constructor runs (other
 * libraries' constructors, the dynamic loader itself), so every entry point
 * initialises the engine on demand (alloc_init: pure mmap work, no
 * allocation). The preload-specific registrations — the pthread key whose
 * destructor retires a thread's cache, and the fork handlers — may allocate
 * inside glibc, so they run after the engine is up, from the first thread
 * cache set-up or the constructor, whichever comes first, with a flag that
 * stops them from running twice.
 *
 * Thread exit. glibc runs pthread key destructors, then frees its own
 * per-thread state (with free). Our destructor returns the cache and points
 * the thread at the static dead cache, so any later call in that thread is
 * served without caching and leaks nothing.
 *
 * Fork. The prepare handler takes every allocator lock in rank order; the
 * parent handler releases them; the child handler re-initialises them (the
 * only thread left in the child is the one that forked, which held them).
 * Registered during initialisation, our prepare handler runs after the
 * handlers of libraries that registered later, which may still allocate.
 * vfork and posix_spawn run no handlers; their children only exec.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include "alloc.h"
#include "export.h"
#include "log.h"
#include "options.h"
#include "roots.h"
#include "stw.h"
#include "tcache.h"

#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <ucontext.h>

extern void (*tcache_on_new_thread)(tcache_t *tc);

static pthread_key_t preload_key;
/* 0 = not registered, 1 = registering, 2 = done. Atomic. */
static int preload_registered;

static void preload_thread_exit(void *arg)
{
	tcache_thread_exit((tcache_t *)arg);
}

/* The signals that ask a thread to flush its idle cache (tcache.c) and to
 * stop for a collection (stw.c): real-time signals near the top of the
 * range, away from SIGRTMIN+n, which programs pick first. */
#define PRELOAD_FLUSH_SIGNAL (SIGRTMAX - 2)
#define PRELOAD_STOP_SIGNAL (SIGRTMAX - 3)

static void preload_flush_handler(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	uintptr_t pc = 0;
#if defined(__x86_64__)
	pc = (uintptr_t)((ucontext_t *)ucv)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	pc = (uintptr_t)((ucontext_t *)ucv)->uc_mcontext.pc;
#else
	(void)ucv;
	return; /* no way to tell where the thread was: never flush */
#endif
	int saved = errno;
	tcache_flush_from_signal(pc);
	errno = saved;
}

/* Finds this library among the loaded objects: records its code range
 * (a thread interrupted there is inside the allocator) and keeps its
 * writable segments (the allocator's own metadata, such as the 16 MiB page
 * map root) out of the collector's roots. */
static int preload_find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	uintptr_t self = (uintptr_t)arg;
	bool mine = false;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		uintptr_t hi = lo + ph->p_memsz;
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && self >= lo && self < hi) {
			tcache_set_code_range(lo, hi);
			mine = true;
		}
	}
	if (!mine)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W))
			roots_exclude(info->dlpi_addr + ph->p_vaddr,
				      info->dlpi_addr + ph->p_vaddr + ph->p_memsz);
	}
	return 1;
}

/* Installs handler for sig if the program left sig at its default.
 * Returns whether it did. */
static bool preload_take_signal(int sig, void (*handler)(int, siginfo_t *, void *))
{
	struct sigaction old, sa;
	if (sigaction(sig, NULL, &old) != 0 ||
	    (!(old.sa_flags & SA_SIGINFO) && old.sa_handler != SIG_DFL))
		return false;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL) == 0;
}

/* Idle release and stopping the world need the library's code range and
 * signals nobody else uses; without them they stay off (collections are
 * then skipped with a warning). */
static void preload_setup_signals(void)
{
	if (dl_iterate_phdr(preload_find_self, (void *)(uintptr_t)&preload_flush_handler) != 1)
		return;
	if (preload_take_signal(PRELOAD_FLUSH_SIGNAL, preload_flush_handler)) {
		tcache_flush_handler = preload_flush_handler;
		__atomic_store_n(&tcache_flush_signal, PRELOAD_FLUSH_SIGNAL, __ATOMIC_RELEASE);
	}
	if (GCM_COLLECTOR && preload_take_signal(PRELOAD_STOP_SIGNAL, stw_signal_handler))
		__atomic_store_n(&stw_signal, PRELOAD_STOP_SIGNAL, __ATOMIC_RELEASE);
}

static void preload_prefork(void)
{
	alloc_prefork();
}

static void preload_postfork_parent(void)
{
	alloc_postfork_parent();
}

static void preload_postfork_child(void)
{
	alloc_postfork_child();
}

static void preload_register(void)
{
	int expected = 0;
	if (!__atomic_compare_exchange_n(&preload_registered, &expected, 1, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	if (pthread_key_create(&preload_key, preload_thread_exit) != 0)
		log_line("cannot create the thread-exit key; thread caches of exiting threads will not be returned");
	/* pthread_atfork allocates: the engine is up, and this thread's
	 * cache is either set up already or gets set up by that call. */
	pthread_atfork(preload_prefork, preload_postfork_parent,
		       preload_postfork_child);
	preload_setup_signals();
	__atomic_store_n(&preload_registered, 2, __ATOMIC_RELEASE);
}

/* Runs when a thread sets up its cache (tcache_tls already points at it). */
static void preload_on_new_thread(tcache_t *tc)
{
	if (__atomic_load_n(&preload_registered, __ATOMIC_ACQUIRE) != 2)
		preload_register();
	if (__atomic_load_n(&preload_registered, __ATOMIC_ACQUIRE) == 2)
		pthread_setspecific(preload_key, tc);
}

__attribute__((constructor(101))) static void preload_ctor(void)
{
	tcache_on_new_thread = preload_on_new_thread;
	alloc_init();
	/* Set up this thread's cache now; that registers the key and the
	 * fork handlers. */
	alloc_free(alloc_malloc(1));
	if (__atomic_load_n(&preload_registered, __ATOMIC_ACQUIRE) != 2)
		preload_register();
}

void preload_print_stats(void);

/* GCMALLOC_DEBUG=stats=1: a summary on stderr when the program ends. Runs
 * among the ELF destructors; other threads may still be allocating, so it
 * only reads counters and writes with write(2). */
__attribute__((destructor)) static void preload_dtor(void)
{
	if (opt.stats)
		preload_print_stats();
}

/*
 * sys.c — thin, errno-preserving wrappers over the Linux memory syscalls.
 *
 * Everything gcmalloc maps is private anonymous memory. Reservations use
 * PROT_NONE with MAP_NORESERVE so they cost neither RSS nor commit charge
 * until committed. Releases use MADV_DONTNEED, so released pages read back
 * as zero and RSS drops at once (MADV_FREE would leave them counted until
 * the kernel is under pressure).
 */
#define _GNU_SOURCE
#include "base.h"
#include "debug.h"
#include "sys.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void sys_init(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	if (ps != (long)SYS_PAGE_SIZE)
		gcm_throw("unsupported kernel page size %ld (gcmalloc needs %zu)",
			  ps, SYS_PAGE_SIZE);
}

/*
 * Metadata mappings carry MADV_NOHUGEPAGE: small, scattered structures gain
 * nothing from huge pages, and the distinct flag keeps the kernel from
 * merging them with a neighbouring anonymous mapping, such as a thread's
 * stack, which the collector scans up to the end of its mapping.
 */
static void sys_mark_metadata(void *p, size_t nbytes)
{
	madvise(p, nbytes, MADV_NOHUGEPAGE);
}

void *sys_reserve(size_t nbytes)
{
	int saved = errno;
	void *p = mmap(NULL, nbytes, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	errno = saved;
	return p == MAP_FAILED ? NULL : p;
}

/* Over-maps by align and trims both ends. */
static void *sys_map_aligned(size_t nbytes, size_t align, int prot, int flags)
{
	int saved = errno;
	size_t len = nbytes + align;
	if (len < nbytes) {
		errno = saved;
		return NULL;
	}
	char *p = mmap(NULL, len, prot, flags, -1, 0);
	if (p == MAP_FAILED) {
		errno = saved;
		return NULL;
	}
	char *a = (char *)align_up((uintptr_t)p, align);
	if (a > p)
		munmap(p, (size_t)(a - p));
	size_t tail = (size_t)((p + len) - (a + nbytes));
	if (tail > 0)
		munmap(a + nbytes, tail);
	errno = saved;
	return a;
}

void *sys_reserve_aligned(size_t nbytes, size_t align)
{
	return sys_map_aligned(nbytes, align, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
}

bool sys_commit(void *addr, size_t nbytes)
{
	int saved = errno;
	void *p = mmap(addr, nbytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	errno = saved;
	return p != MAP_FAILED;
}

void *sys_alloc(size_t nbytes)
{
	int saved = errno;
	void *p = mmap(NULL, nbytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED)
		sys_mark_metadata(p, nbytes);
	errno = saved;
	return p == MAP_FAILED ? NULL : p;
}

void *sys_alloc_at_hint(void *hint, size_t nbytes)
{
	int saved = errno;
	void *p = mmap(hint, nbytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			       MAP_FIXED_NOREPLACE,
		       -1, 0);
	if (p != MAP_FAILED && p != hint) {
		/* Kernels without MAP_FIXED_NOREPLACE treat it as a hint. */
		munmap(p, nbytes);
		p = MAP_FAILED;
	}
	errno = saved;
	return p == MAP_FAILED ? NULL : p;
}

void *sys_alloc_arena(size_t nbytes, size_t align)
{
	return sys_map_aligned(nbytes, align, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
}

void sys_free(void *addr, size_t nbytes)
{
	int saved = errno;
	munmap(addr, nbytes);
	errno = saved;
}

bool sys_unused(void *addr, size_t nbytes)
{
	GCM_ASSERT(((uintptr_t)addr & (SYS_PAGE_SIZE - 1)) == 0);
	GCM_ASSERT((nbytes & (SYS_PAGE_SIZE - 1)) == 0);
	int saved = errno;
	int rc = madvise(addr, nbytes, MADV_DONTNEED);
	errno = saved;
	return rc == 0;
}

bool sys_move_pages(void *dst, void *old, size_t nbytes)
{
	int saved = errno;
	void *p = mremap(old, nbytes, nbytes, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	bool ok = p != MAP_FAILED;
	if (ok) {
		/* The old range is now a hole; fill it again so the arena
		 * stays one mapping the page allocator can hand out. */
		void *q = mmap(old, nbytes, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
				       MAP_NORESERVE,
			       -1, 0);
		if (q == MAP_FAILED)
			gcm_throw("cannot re-map %zu bytes at %p after a move",
				  nbytes, old);
	}
	errno = saved;
	return ok;
}

void sys_nohugepage(void *addr, size_t nbytes)
{
	int saved = errno;
	madvise(addr, nbytes, MADV_NOHUGEPAGE);
	errno = saved;
}

uint64_t sys_nanotime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t sys_thread_cputime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void sys_futex_wait(int *addr, int val, uint64_t timeout_ns)
{
	int saved = errno;
	struct timespec ts, *tsp = NULL;
	if (timeout_ns != 0) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000u);
		ts.tv_nsec = (long)(timeout_ns % 1000000000u);
		tsp = &ts;
	}
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tsp, NULL, 0);
	errno = saved;
}

void sys_futex_wake(int *addr)
{
	int saved = errno;
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	errno = saved;
}

void sys_futex_wake_all(int *addr)
{
	int saved = errno;
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
	errno = saved;
}

void sys_sleep_ns(uint64_t ns)
{
	int saved = errno;
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	errno = saved;
}

bool sys_tgkill(int tid, int sig)
{
	int saved = errno;
	long rc = syscall(SYS_tgkill, getpid(), tid, sig);
	errno = saved;
	return rc == 0;
}

int sys_gettid(void)
{
	return (int)syscall(SYS_gettid);
}

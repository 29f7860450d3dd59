/*
 * sys.h — the OS memory layer. sys.c is the only file in gcmalloc that calls
 * mmap, munmap, mremap or madvise.
 *
 * Three kinds of memory pass through here:
 *   - reservations: address space mapped PROT_NONE, committed piece by piece
 *     with sys_commit (the page allocator's summary arrays);
 *   - fresh read/write anonymous mappings (metadata, arenas);
 *   - heap ranges handed back to the kernel with sys_unused (scavenging).
 *
 * Every function preserves errno, because it runs inside free() and glibc
 * promises free() does not change errno.
 */
#ifndef GCM_SYS_H
#define GCM_SYS_H

#include "base.h"

/* The kernel's page size. Fixed at 4 KiB on the platforms gcmalloc runs on;
 * sys_init checks it. */
#define SYS_PAGE_SIZE ((size_t)4096)

void sys_init(void);

/* Reserves nbytes of address space (PROT_NONE, no swap reservation).
 * Returns NULL on failure. */
void *sys_reserve(size_t nbytes);
/* Reserves nbytes aligned to align (a power of two). */
void *sys_reserve_aligned(size_t nbytes, size_t align);
/* Makes [addr, addr+nbytes) inside a reservation readable and writable.
 * The pages read as zero until written. Returns true on success. */
bool sys_commit(void *addr, size_t nbytes);
/* A fresh zeroed read/write mapping of nbytes, or NULL. */
void *sys_alloc(size_t nbytes);
/* Address space for the heap itself: read/write, aligned, no swap
 * reservation, and not marked as metadata. */
void *sys_alloc_arena(size_t nbytes, size_t align);
/* A fresh read/write mapping of nbytes at exactly hint, or NULL if that
 * address range is taken. */
void *sys_alloc_at_hint(void *hint, size_t nbytes);
void sys_free(void *addr, size_t nbytes);
/* Releases the physical pages of [addr, addr+nbytes) (page-aligned); the
 * range stays mapped and reads back as zero. Returns true on success. */
bool sys_unused(void *addr, size_t nbytes);
/* Moves the pages of [old, old+nbytes) to [dst, dst+nbytes), which must be
 * mapped; old is left mapped with fresh zero pages. Returns true on success. */
bool sys_move_pages(void *dst, void *old, size_t nbytes);
/* Asks the kernel not to back [addr, addr+nbytes) with huge pages. */
void sys_nohugepage(void *addr, size_t nbytes);

/* Blocks while *addr == val, at most timeout_ns (0 = no timeout), or until
 * sys_futex_wake. May return early (spuriously); callers re-check. */
void sys_futex_wait(int *addr, int val, uint64_t timeout_ns);
void sys_futex_wake(int *addr);
void sys_futex_wake_all(int *addr);
void sys_sleep_ns(uint64_t ns);
/* Sends signal sig to thread tid of this process. */
bool sys_tgkill(int tid, int sig);
int sys_gettid(void);

/* Monotonic clock in nanoseconds. */
uint64_t sys_nanotime(void);
/* CPU time of the calling thread in nanoseconds. */
uint64_t sys_thread_cputime(void);

#endif /* GCM_SYS_H */

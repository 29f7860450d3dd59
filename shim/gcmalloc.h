/*
 * gcmalloc.h — the public interface of gcmalloc's collector.
 *
 * libgcmalloc.so, loaded with LD_PRELOAD, exports these functions besides
 * the malloc family. A program that wants to run with and without the
 * preload finds them with dlsym(RTLD_DEFAULT, "gcm_malloc") and friends.
 *
 * Collectable objects
 *   Objects from gcm_malloc and gcm_malloc_atomic are reclaimed by the
 *   collector once nothing reachable points to them: no free() is needed
 *   (free() of one is allowed). Everything else is a root, scanned
 *   conservatively on every cycle: the data and bss of the executable and of
 *   every loaded library, every thread's registers, stack and thread-local
 *   storage, and every live block of the malloc family. A pointer to any
 *   byte of an object (an interior pointer) keeps it alive. Pointers must be
 *   stored whole and aligned; hidden pointers (xor-ed, compressed, written
 *   to files) do not count.
 *
 * Threads
 *   Every thread is stopped during a cycle with a signal (SIGRTMAX-3). A
 *   thread that blocks that signal prevents collection: the cycle is skipped
 *   and one warning is printed.
 *
 * All functions are thread-safe. None of them may be called from a signal
 * handler.
 */
#ifndef GCMALLOC_H
#define GCMALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A collectable object of n bytes (at least 1), zeroed, 16-byte aligned,
 * scanned for pointers. NULL with errno = ENOMEM on failure. */
void *gcm_malloc(size_t n);

/* A collectable object of n bytes whose contents are never scanned (it
 * must hold no pointers that keep other objects alive). Not zeroed. NULL
 * with errno = ENOMEM on failure. */
void *gcm_malloc_atomic(size_t n);

/* Runs a full collection and returns when it is done: every object found
 * unreachable has been reclaimed. A cycle that cannot stop every thread is
 * skipped. */
void gcm_collect(void);

/* Weak handles (Go's weak.Pointer). */
typedef struct gcm_weak *gcm_weak_t;

/* The canonical handle for exactly the address p: while p's object lives,
 * every call returns the same handle; two different addresses (two fields
 * of one object) give two different handles. Addresses outside the heap
 * (static data, stacks, foreign mappings) get handles that never clear.
 * NULL with errno = EINVAL if p points into the heap but not into a live
 * object (freed memory), ENOMEM when out of memory. Handles are themselves
 * collectable: a handle the program no longer references is reclaimed. Do
 * not free() a handle. */
gcm_weak_t gcm_weak_make(const void *p);

/* The address given to gcm_weak_make while its object lives; NULL once a
 * collection found the object unreachable (before any finalizer of it
 * runs, and for good even if the finalizer resurrects it) or once it was
 * free()d. NULL for a NULL handle. */
void *gcm_weak_get(gcm_weak_t w);

/* Sets fn(obj, arg) to run once p's object is found unreachable (Go's
 * runtime.SetFinalizer). p must be the object's first byte. Everything the
 * object references stays alive for that cycle; the object survives it and
 * is reclaimed by a later cycle if still unreachable. If A references B and
 * both have finalizers, A's runs first. Objects whose finalizers form a
 * cycle (including an object that points to itself) are never collected.
 * fn == NULL removes the finalizer. Returns 0, or -1 with errno = EINVAL
 * (not the first byte of a live object), EEXIST (it already has one),
 * ENOMEM. Addresses outside the heap are accepted and never finalized.
 * free() of the object drops the finalizer without running it. */
int gcm_set_finalizer(void *p, void (*fn)(void *obj, void *arg), void *arg);

/* Cleanups (Go's runtime.AddCleanup). */
typedef uint64_t gcm_cleanup_t;

/* Arranges for fn(arg) to run once the object containing p (any byte of
 * it) is unreachable; any number per object. A cleanup never resurrects the
 * object. arg is kept alive: an arg that points into the object keeps it
 * alive forever. An object that also has a finalizer has its cleanups run
 * once it is unreachable again after the finalizer ran. Returns an id for
 * gcm_cleanup_cancel, or 0 with errno = EINVAL (freed heap memory, fn NULL)
 * or ENOMEM. Addresses outside the heap are accepted and never cleaned up.
 * free() of the object drops its cleanups without running them. */
gcm_cleanup_t gcm_add_cleanup(void *p, void (*fn)(void *arg), void *arg);

/* Cancels a cleanup that has not been queued yet. Returns 0, or -1 with
 * errno = ENOENT (already queued, run or cancelled) or EINVAL (0). */
int gcm_cleanup_cancel(gcm_cleanup_t c);

/* Finalizers and cleanups run one at a time, in queue order, on one
 * finalizer thread started on first use. Waits until the queue is empty and
 * that thread is asleep: returns 0, or -1 with errno = ETIMEDOUT after
 * timeout_ms milliseconds. A finalizer may call malloc, free, gcm_malloc,
 * gcm_collect and set new finalizers, but must not call this function. */
int gcm_finalizers_wait(unsigned timeout_ms);

/* Figures about the heap and the collector. The structure only grows, at
 * its end; pass sizeof(struct gcm_stats) as out_size, and read `size` for
 * how many bytes the library filled in (older libraries fill less). */
struct gcm_stats {
	uint64_t size;                /* bytes of this structure filled in */
	uint64_t gc_cycles;           /* collections completed */
	uint64_t gc_cycles_skipped;   /* collections abandoned */
	uint64_t gc_heap_bytes;       /* collectable bytes: live at the last
	                                 cycle plus allocated since */
	uint64_t gc_marked_bytes;     /* live collectable bytes at the last cycle */
	uint64_t gc_trigger_bytes;    /* the next automatic cycle starts here */
	uint64_t gc_freed_bytes;      /* total collectable bytes reclaimed */
	uint64_t gc_pause_total_ns;   /* pauses (stopping the threads to
	                                 restarting them), all cycles */
	uint64_t gc_pause_last_ns;
	uint64_t gc_pause_max_ns;
	uint64_t heap_mapped_bytes;   /* address space in the heap's arenas */
	uint64_t heap_in_use_bytes;   /* bytes in spans and large objects */
	uint64_t heap_free_bytes;     /* free pages still resident */
	uint64_t heap_released_bytes; /* free pages returned to the kernel */
	uint64_t heap_metadata_bytes; /* the allocator's own metadata */
	uint64_t finalizers_run;      /* finalizers and cleanups run */
	uint64_t finalizers_queued;   /* waiting to run now */
};

/* Fills *out with up to out_size bytes. Returns 0, or -1 with errno =
 * EINVAL when out is NULL or out_size is smaller than 8. */
int gcm_stats(struct gcm_stats *out, size_t out_size);

/* The library's version, e.g. "0.1.0". */
const char *gcm_version(void);

/*
 * The loader (libgcmalloc-shim, pkg-config gcmalloc): the same functions
 * under gcm_shim_* names, for a program that must also run without the
 * preload. The first call resolves the gcm_* symbols once with
 * dlsym(RTLD_DEFAULT, ...); when libgcmalloc.so is not loaded they fall
 * back to plain behaviour:
 *   gcm_shim_malloc          calloc(1, n)
 *   gcm_shim_malloc_atomic   malloc(n)
 *   gcm_shim_collect         nothing
 *   gcm_shim_weak_make       a canonical strong box per address (never
 *                            clears; kept for the life of the process)
 *   gcm_shim_weak_get        the boxed address
 *   gcm_shim_set_finalizer, gcm_shim_add_cleanup
 *                            accepted, never run (ids are still unique)
 *   gcm_shim_cleanup_cancel  0 for a live id, else -1 / ENOENT
 *   gcm_shim_finalizers_wait 0
 *   gcm_shim_stats           all zero but `size`
 *   gcm_shim_version         "none"
 * The shim defines no gcm_* symbol, so it never shadows the library.
 */
int gcm_shim_active(void); /* 1 when libgcmalloc.so provides the functions */
void *gcm_shim_malloc(size_t n);
void *gcm_shim_malloc_atomic(size_t n);
void gcm_shim_collect(void);
gcm_weak_t gcm_shim_weak_make(const void *p);
void *gcm_shim_weak_get(gcm_weak_t w);
int gcm_shim_set_finalizer(void *p, void (*fn)(void *obj, void *arg), void *arg);
gcm_cleanup_t gcm_shim_add_cleanup(void *p, void (*fn)(void *arg), void *arg);
int gcm_shim_cleanup_cancel(gcm_cleanup_t c);
int gcm_shim_finalizers_wait(unsigned timeout_ms);
int gcm_shim_stats(struct gcm_stats *out, size_t out_size);
const char *gcm_shim_version(void);

#ifdef __cplusplus
}
#endif

#endif /* GCMALLOC_H */

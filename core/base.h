/*
 * base.h — included first by every file in core/.
 *
 * It pulls in the build configuration (gcm_config.h, every macro defined
 * as 0 or 1 so that -Wundef catches typos), the attribute macros the rest of
 * the engine uses, byte-size constants and alignment helpers.
 *
 * Conventions that hold throughout core/:
 *   - An internal function returning bool returns true on success.
 *   - Address ranges are half-open: [base, limit).
 *   - Names carry their unit: npages, nbytes, _ns, _ms.
 *   - Nothing in core/ calls into libc in a way that can allocate: no stdio,
 *     no getenv, no dlsym. Output goes through log.h, the OS through sys.h.
 */
#ifndef GCM_BASE_H
#define GCM_BASE_H

#include "gcm_config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GCM_LIKELY(x)   __builtin_expect(!!(x), 1)
#define GCM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GCM_INLINE      static inline __attribute__((always_inline))
#define GCM_NOINLINE    __attribute__((noinline))
#define GCM_COLD        __attribute__((cold))
#define GCM_NORETURN    __attribute__((noreturn))
#define GCM_UNUSED      __attribute__((unused))
#define GCM_PRINTF(f, a) __attribute__((format(printf, f, a)))
/* Thread-local storage for the allocator: initial-exec, so an access is one
 * load off the thread pointer and can never call __tls_get_addr (which
 * allocates) from inside malloc. */
#define GCM_TLS         __thread __attribute__((tls_model("initial-exec")))
#define GCM_CACHELINE   64
#define GCM_ALIGNED(n)  __attribute__((aligned(n)))

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

#define GCM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GCM_MAX(a, b) ((a) > (b) ? (a) : (b))
#define GCM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* align must be a power of two. */
GCM_INLINE uintptr_t align_up(uintptr_t x, uintptr_t align)
{
	return (x + align - 1) & ~(align - 1);
}

GCM_INLINE uintptr_t align_down(uintptr_t x, uintptr_t align)
{
	return x & ~(align - 1);
}

GCM_INLINE bool is_pow2(uintptr_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

#endif /* GCM_BASE_H */

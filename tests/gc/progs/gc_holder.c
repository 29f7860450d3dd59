/* gc_holder.c — libgc_holder.so, a library that gc_roots dlopens to hold a
 * pointer in places only the library owns: a variable in its .bss, one in
 * its .data, and a thread-local variable (dynamic TLS: glibc allocates a
 * dlopened library's TLS block for a thread on that thread's first access,
 * with malloc).
 *
 * The setters are the only way the program reaches the slots, so the
 * pointer is not left in the program's own data.
 */
#include <stdint.h>

#define HOLDER_API __attribute__((visibility("default"), noinline))

static void *holder_bss;
/* Non-zero initialiser: lives in .data, not .bss. */
static void *holder_data = (void *)(uintptr_t)1;
static __thread void *holder_tls;

HOLDER_API void holder_set_bss(void *p)
{
	*(void *volatile *)&holder_bss = p;
}

HOLDER_API void holder_set_data(void *p)
{
	*(void *volatile *)&holder_data = p;
}

HOLDER_API void holder_set_tls(void *p)
{
	*(void *volatile *)&holder_tls = p;
}

HOLDER_API void *holder_get_bss(void)
{
	return *(void *volatile *)&holder_bss;
}

HOLDER_API void *holder_get_data(void)
{
	return *(void *volatile *)&holder_data;
}

HOLDER_API void *holder_get_tls(void)
{
	return *(void *volatile *)&holder_tls;
}

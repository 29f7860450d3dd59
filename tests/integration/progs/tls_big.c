/* tls_big.c — libtls_big.so, loaded with dlopen by dlopen_tls. Its
 * thread-local data is too large for the static TLS surplus, so every thread
 * that touches it gets a dynamically allocated TLS block (allocated by the
 * dynamic linker through the global malloc), and one variable needs page
 * alignment.
 */
#include <stddef.h>
#include <stdint.h>

#define BIG_TLS_BYTES (256 * 1024)

static __thread unsigned char big[BIG_TLS_BYTES];
static __thread _Alignas(4096) unsigned char paged[4096];
static __thread uint64_t uses;

/* Fills this thread's blocks from seed and returns a checksum of what it
 * reads back; verifies alignment and that the block was zero the first time
 * this thread used it. Returns 0 on any failure (never 0 otherwise). */
uint64_t tls_big_touch(uint64_t seed)
{
	if (((uintptr_t)paged & 4095) != 0)
		return 0;
	if (uses == 0) {
		for (size_t i = 0; i < BIG_TLS_BYTES; i += 509)
			if (big[i] != 0)
				return 0;
	}
	uses++;
	uint64_t sum = 1;
	for (size_t i = 0; i < BIG_TLS_BYTES; i += 64)
		big[i] = (unsigned char)(seed + i);
	for (size_t i = 0; i < sizeof paged; i += 64)
		paged[i] = (unsigned char)(seed ^ i);
	for (size_t i = 0; i < BIG_TLS_BYTES; i += 64)
		sum += big[i] == (unsigned char)(seed + i);
	for (size_t i = 0; i < sizeof paged; i += 64)
		sum += paged[i] == (unsigned char)(seed ^ i);
	return sum;
}

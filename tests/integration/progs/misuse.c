/* misuse.c — death-test subject: hands the allocator a pointer it must
 * reject.
 *
 * Usage: misuse CASE
 *
 * Before the bad call the program writes "ptr=0x<hex>\n" to stdout (with
 * write(2), unbuffered) so the driver can check that the allocator's message
 * names exactly that pointer. If the bad call returns, the program writes
 * "survived\n" and exits with status 3. The case "valid" does only correct
 * things and exits 0 (the driver checks it stays silent on stderr).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"

static void announce(const void *p)
{
	char buf[64];
	int n = snprintf(buf, sizeof buf, "ptr=%#lx\n", (unsigned long)(uintptr_t)p);
	CHECK(n > 0 && write(1, buf, (size_t)n) == n);
}

__attribute__((noreturn)) static void survived(void)
{
	static const char msg[] = "survived\n";
	ssize_t w = write(1, msg, sizeof msg - 1);
	(void)w;
	_exit(3);
}

static _Alignas(16) char static_buf[256];

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: misuse double_free|free_stack|free_static|"
		                "free_mmap|free_interior|realloc_foreign|"
		                "usable_size_foreign|valid\n");
		return 2;
	}
	const char *c = argv[1];
	/* Warm the allocator up so the bad call is not its first one. */
	void *warm[64];
	for (int i = 0; i < 64; i++) {
		warm[i] = malloc(opaque_size(16 + (size_t)i * 24));
		CHECK(warm[i]);
	}
	for (int i = 0; i < 64; i += 2)
		free(warm[i]);

	_Alignas(16) char stack_buf[256];
	memset(stack_buf, 0, sizeof stack_buf);

	if (strcmp(c, "double_free") == 0) {
		void *p = malloc(opaque_size(32));
		CHECK(p);
		memset(p, 1, 32);
		free(p);
		announce(p);
		free(opaque_ptr(p));
		survived();
	} else if (strcmp(c, "free_stack") == 0) {
		void *p = opaque_ptr(stack_buf + 16);
		announce(p);
		free(p);
		survived();
	} else if (strcmp(c, "free_static") == 0) {
		void *p = opaque_ptr(static_buf + 32);
		announce(p);
		free(p);
		survived();
	} else if (strcmp(c, "free_mmap") == 0) {
		char *m = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(m != MAP_FAILED);
		void *p = opaque_ptr(m + 4096);
		announce(p);
		free(p);
		survived();
	} else if (strcmp(c, "free_interior") == 0) {
		char *q = malloc(opaque_size(100));
		CHECK(q);
		memset(q, 2, 100);
		void *p = opaque_ptr(q + 8);
		announce(p);
		free(p);
		survived();
	} else if (strcmp(c, "realloc_foreign") == 0) {
		void *p = opaque_ptr(stack_buf + 32);
		announce(p);
		void *r = realloc(p, opaque_size(100));
		(void)r;
		survived();
	} else if (strcmp(c, "usable_size_foreign") == 0) {
		void *p = opaque_ptr(stack_buf + 48);
		announce(p);
		volatile size_t u = malloc_usable_size(p);
		(void)u;
		survived();
	} else if (strcmp(c, "valid") == 0) {
		void *p = malloc(opaque_size(32));
		CHECK(p);
		free(p);
		p = malloc(opaque_size(100));
		CHECK(p && malloc_usable_size(p) >= 100);
		p = realloc(p, opaque_size(5000));
		CHECK(p);
		free(p);
		for (int i = 1; i < 64; i += 2)
			free(warm[i]);
		return 0;
	}
	fprintf(stderr, "misuse: unknown case %s\n", c);
	return 2;
}

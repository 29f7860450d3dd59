/* exit_dep.c — libexit_dep.so, a DT_NEEDED library of exit_alloc. It is
 * initialised before a preloaded allocator and therefore finalised after
 * it: its destructor allocates and frees after the allocator's destructor
 * has run. It reports with write(2) on stdout so the driver sees it ran.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "exit_dep.h"

void exit_dep_churn(unsigned seed)
{
	enum { N = 500 };
	void *v[N];
	for (int i = 0; i < N; i++) {
		size_t n = (i % 50 == 0) ? 300000 : 64 + (size_t)(i * 37 % 2000);
		v[i] = malloc(n);
		CHECK(v[i]);
		fill_pattern(v[i], 64, seed + (unsigned)i);
	}
	for (int i = 0; i < N; i += 3) {
		v[i] = realloc(v[i], 5000);
		CHECK(v[i] && check_pattern(v[i], 64, seed + (unsigned)i));
	}
	for (int i = 0; i < N; i++) {
		CHECK(check_pattern(v[i], 64, seed + (unsigned)i));
		free(v[i]);
	}
	char *s = strdup("late");
	CHECK(s);
	free(s);
}

__attribute__((destructor)) static void exit_dep_fini(void)
{
	exit_dep_churn(900);
	static const char msg[] = "late destructor ok\n";
	CHECK(write(1, msg, sizeof msg - 1) == (ssize_t)sizeof msg - 1);
}

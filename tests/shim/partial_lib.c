/* partial_lib.c — a stand-in for an incomplete or foreign libgcmalloc.so:
 * it defines only some of the gcm_* symbols. Preloaded under shim_prog, it
 * checks the loader's all-or-nothing rule: with any symbol missing, every
 * gcm_shim_* call must take the fallback, so none of these may ever run. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gcmalloc.h"

static void must_not_be_called(const char *name)
{
	char msg[128];
	int n = snprintf(msg, sizeof msg, "partial_lib: %s was called\n", name);
	if (n > 0) {
		ssize_t w = write(2, msg, (size_t)n);
		(void)w;
	}
	abort();
}

void *gcm_malloc(size_t n)
{
	(void)n;
	must_not_be_called("gcm_malloc");
	return NULL;
}

void gcm_collect(void)
{
	must_not_be_called("gcm_collect");
}

gcm_weak_t gcm_weak_make(const void *p)
{
	(void)p;
	must_not_be_called("gcm_weak_make");
	return NULL;
}

const char *gcm_version(void)
{
	must_not_be_called("gcm_version");
	return NULL;
}

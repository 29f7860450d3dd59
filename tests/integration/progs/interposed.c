/* interposed.c — reports, for every symbol the preload must define, whether
 * the definition the dynamic linker binds is the one in the given library.
 *
 * Usage: interposed /path/to/libgcmalloc.so
 *
 * Prints one line per symbol: "NAME: preload", "NAME: other" (bound in
 * another object, e.g. glibc) or "NAME: missing" (no definition at all).
 * Exits 0 in every case; the driver decides.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <sys/stat.h>

#include "check.h"

static const char *const names[] = {
	"malloc", "free", "calloc", "realloc", "reallocarray",
	"posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc",
	"malloc_usable_size", "malloc_trim", "mallinfo", "mallinfo2", "mallopt",
	"malloc_stats", "malloc_info", "cfree",
	"__libc_malloc", "__libc_free", "__libc_calloc", "__libc_realloc",
	"__libc_memalign", "__libc_valloc", "__libc_pvalloc",
};

static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: interposed LIBRARY\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		void *sym = dlsym(RTLD_DEFAULT, names[i]);
		const char *where = "missing";
		Dl_info info;
		if (sym) {
			where = "other";
			if (dladdr(sym, &info) && info.dli_fname &&
			    same_file(info.dli_fname, argv[1]))
				where = "preload";
		}
		printf("%s: %s\n", names[i], where);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

/*
 * roots.c — enumerating root ranges.
 *
 * Data segments come from the dynamic loader's list of loaded objects
 * (dl_iterate_phdr): every PT_LOAD segment with write permission, re-read at
 * every cycle so objects loaded or unloaded since the last one are seen. The
 * loader's lock is held for the whole cycle (roots_with_loader_locked): a
 * thread stopped inside dlopen or dlclose would otherwise leave the list
 * half-updated, and a dlclose racing the scan would unmap a segment under
 * it. Ranges that hold the allocator's own metadata are cut out.
 *
 * Stacks are located through /proc/self/maps, read with raw system calls
 * into memory from sys_alloc: a stopped thread's stack is scanned from its
 * interrupted stack pointer to the end of the mapping that contains it, which
 * also covers the thread's static TLS block (glibc puts it at the top of the
 * thread's stack mapping). The main thread's TLS lives elsewhere and is
 * found from its thread pointer the same way.
 */
#define _GNU_SOURCE
#include "base.h"
#include "roots.h"
#include "sys.h"

#include <fcntl.h>
#include <link.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Read-only after start-up. */
static struct {
	uintptr_t lo, hi;
} roots_excluded[ROOTS_MAX_EXCLUDED];
static unsigned roots_nexcluded;

void roots_exclude(uintptr_t lo, uintptr_t hi)
{
	if (roots_nexcluded < ROOTS_MAX_EXCLUDED && lo < hi) {
		roots_excluded[roots_nexcluded].lo = lo;
		roots_excluded[roots_nexcluded].hi = hi;
		roots_nexcluded++;
	}
}

/* Reports [lo, hi) minus the excluded ranges. */
static void roots_report(uintptr_t lo, uintptr_t hi, roots_fn fn, void *arg, unsigned from)
{
	for (unsigned i = from; i < roots_nexcluded && lo < hi; i++) {
		uintptr_t elo = roots_excluded[i].lo, ehi = roots_excluded[i].hi;
		if (ehi <= lo || elo >= hi)
			continue;
		if (elo > lo)
			roots_report(lo, elo, fn, arg, i + 1);
		lo = ehi;
	}
	if (lo < hi)
		fn(lo, hi, arg);
}

struct roots_loader_call {
	void (*fn)(void *);
	void *arg;
	bool done;
};

static int roots_loader_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)info;
	(void)size;
	struct roots_loader_call *c = data;
	if (!c->done) {
		c->done = true;
		c->fn(c->arg);
	}
	return 1; /* stop iterating */
}

void roots_with_loader_locked(void (*fn)(void *), void *arg)
{
	struct roots_loader_call c = { fn, arg, false };
	dl_iterate_phdr(roots_loader_cb, &c);
	if (!c.done) /* no loaded object at all (cannot happen): run anyway */
		fn(arg);
}

struct roots_seg_call {
	roots_fn fn;
	void *arg;
};

static int roots_segment_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct roots_seg_call *c = data;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		uintptr_t hi = lo + ph->p_memsz;
		roots_report(align_up(lo, sizeof(void *)), hi, c->fn, c->arg, 0);
	}
	return 0;
}

void roots_for_each_segment(roots_fn fn, void *arg)
{
	struct roots_seg_call c = { fn, arg };
	dl_iterate_phdr(roots_segment_cb, &c);
}

static int roots_tls_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	size_t *total = data;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_TLS)
			*total += align_up(ph->p_memsz, ph->p_align ? ph->p_align : 16);
	}
	return 0;
}

size_t roots_static_tls_bytes(void)
{
	/* glibc keeps a surplus of static TLS for libraries loaded later
	 * (about 1.6 KiB plus what rtld.optional_static_tls adds); allow a
	 * few pages. */
	size_t total = 16384;
	dl_iterate_phdr(roots_tls_cb, &total);
	return total;
}

/* The memory map: sorted [lo, hi) pairs. */
static uintptr_t *roots_maps;
static size_t roots_nmaps, roots_maps_cap;
static char *roots_maps_text;
static size_t roots_maps_text_cap;

static uintptr_t roots_parse_hex(const char **p)
{
	uintptr_t v = 0;
	for (;;) {
		char c = **p;
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return v;
		v = v * 16 + d;
		(*p)++;
	}
}

bool roots_read_maps(void)
{
	if (roots_maps_text == NULL) {
		roots_maps_text_cap = 256 << 10;
		roots_maps_text = sys_alloc(roots_maps_text_cap);
		if (roots_maps_text == NULL)
			return false;
	}
	size_t len;
	for (;;) {
		int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		len = 0;
		for (;;) {
			long r = syscall(SYS_read, fd, roots_maps_text + len, roots_maps_text_cap - len);
			if (r <= 0)
				break;
			len += (size_t)r;
			if (len == roots_maps_text_cap)
				break;
		}
		close(fd);
		if (len < roots_maps_text_cap)
			break;
		/* Did not fit: grow and read again. */
		char *bigger = sys_alloc(roots_maps_text_cap * 2);
		if (bigger == NULL)
			return false;
		sys_free(roots_maps_text, roots_maps_text_cap);
		roots_maps_text = bigger;
		roots_maps_text_cap *= 2;
	}
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		if (roots_maps_text[i] == '\n')
			lines++;
	if (lines * 2 > roots_maps_cap) {
		size_t cap = align_up(lines * 2 * sizeof(uintptr_t) + 4096, SYS_PAGE_SIZE) / sizeof(uintptr_t);
		uintptr_t *m = sys_alloc(cap * sizeof(uintptr_t));
		if (m == NULL)
			return false;
		if (roots_maps != NULL)
			sys_free(roots_maps, roots_maps_cap * sizeof(uintptr_t));
		roots_maps = m;
		roots_maps_cap = cap;
	}
	roots_nmaps = 0;
	const char *p = roots_maps_text, *end = roots_maps_text + len;
	while (p < end) {
		uintptr_t lo = roots_parse_hex(&p);
		if (*p == '-')
			p++;
		uintptr_t hi = roots_parse_hex(&p);
		roots_maps[2 * roots_nmaps] = lo;
		roots_maps[2 * roots_nmaps + 1] = hi;
		roots_nmaps++;
		while (p < end && *p != '\n')
			p++;
		p++;
	}
	return true;
}

bool roots_mapping_of(uintptr_t addr, uintptr_t *lo, uintptr_t *hi)
{
	size_t a = 0, b = roots_nmaps;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (roots_maps[2 * m + 1] <= addr)
			a = m + 1;
		else
			b = m;
	}
	if (a < roots_nmaps && roots_maps[2 * a] <= addr) {
		*lo = roots_maps[2 * a];
		*hi = roots_maps[2 * a + 1];
		return true;
	}
	return false;
}

/* gc_roots.c — one kind of root per run: an object reachable only from it
 * survives repeated cycles, and is reclaimed by the first cycle after that
 * root is dropped.
 *
 * Usage: gc_roots SCENARIO [remote] [LIBDIR]
 *   SCENARIO  one of the names in the table at the end (gc_roots list
 *             prints them)
 *   remote    cycles are run by a second thread while the main thread
 *             sits blocked in read(), so the main thread is stopped and
 *             scanned like any other (its registers, stack and TLS)
 *   LIBDIR    where libgc_holder.so is (default: this program's directory)
 *
 * How "survives" and "reclaimed" are seen. Nothing else in the process is
 * collectable, so the collector's own figures are exact: after every cycle
 * while the root is held, gc_marked_bytes must equal the usable size of the
 * objects the scenario holds and gc_freed_bytes must not move; the objects'
 * canaries are verified, then memory of the same size is malloc'ed,
 * scribbled on and freed (it would land on a reclaimed object) and the
 * canaries are verified again. After the drop, one cycle must reclaim
 * exactly those bytes and leave gc_marked_bytes at 0. A root that is not
 * scanned shows up as marked bytes falling short or a spoilt canary; an
 * object kept alive by something else as marked bytes that stay.
 *
 * The test objects are made by noinline helpers and their addresses are
 * kept only in the root under test and, hidden (xor-ed with a mask, so not
 * a pointer), in g_hidden for the checks; see gcp.h for the stale-pointer
 * rules.
 *
 * Prints "ok SCENARIO ..." and exits 0; FAIL lines on stderr and exit 1
 * otherwise; exits 77 without the preload.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gcp.h"

#define OBJ_SIZE MiB
#define OBJ_SEED 0x1234u
#define HOLD_CYCLES 4
#define HIDE_MASK ((uintptr_t)0xA5A5A5A5A5A5A5A5ull)

/* What the scenario holds, hidden from the collector. */
static uintptr_t g_hidden;
/* Exact bytes marked while held, bytes reclaimed by the first held cycle
 * (garbage the scenario makes on purpose), bytes reclaimed by the drop. */
static size_t g_expect_live, g_expect_hold_garbage, g_expect_freed;

static const char *g_libdir;
static void *g_lib;

static uintptr_t hide(void *p)
{
	return (uintptr_t)p ^ HIDE_MASK;
}

static void *unhide(uintptr_t h)
{
	return (void *)(h ^ HIDE_MASK);
}

/* ---- the holder library ------------------------------------------------ */

static void (*holder_set_bss)(void *);
static void (*holder_set_data)(void *);
static void (*holder_set_tls)(void *);
static void *(*holder_get_bss)(void);
static void *(*holder_get_data)(void);
static void *(*holder_get_tls)(void);

static void *lib_sym(const char *name)
{
	void *f = dlsym(g_lib, name);
	GCP_CHECK(f != NULL, "dlsym(%s): %s", name, dlerror());
	return f;
}

static void open_holder(void)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/libgc_holder.so", g_libdir);
	g_lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	GCP_CHECK(g_lib != NULL, "dlopen(%s): %s", path, dlerror());
	*(void **)&holder_set_bss = lib_sym("holder_set_bss");
	*(void **)&holder_set_data = lib_sym("holder_set_data");
	*(void **)&holder_set_tls = lib_sym("holder_set_tls");
	*(void **)&holder_get_bss = lib_sym("holder_get_bss");
	*(void **)&holder_get_data = lib_sym("holder_get_data");
	*(void **)&holder_get_tls = lib_sym("holder_get_tls");
}

static void close_holder(void)
{
	GCP_CHECK(dlclose(g_lib) == 0, "dlclose: %s", dlerror());
	g_lib = NULL;
}

/* ---- the object --------------------------------------------------------- */

/* The 1 MiB test object; its address is returned and published hidden. */
static GCP_NOINLINE void *make_obj(void)
{
	void *o = gcp_new(OBJ_SIZE, OBJ_SEED, 0);
	GCP_CHECK(gcp_usable(o) == OBJ_SIZE, "usable size of a 1 MiB object is %zu",
		  gcp_usable(o));
	g_hidden = hide(o);
	g_expect_live = OBJ_SIZE;
	g_expect_freed = OBJ_SIZE;
	return o;
}

/* Verifies the object published in g_hidden. */
static GCP_NOINLINE void verify_obj(void)
{
	GCP_CHECK(gcp_intact(unhide(g_hidden), OBJ_SIZE, OBJ_SEED),
		  "the held object's contents changed: it was reclaimed while reachable");
}

/* ---- a thread that holds things while blocked -------------------------- */

static pthread_t t_thread;
static int t_tid;
static sem_t t_ready;
static int t_wake[2];   /* main -> thread: drop (first byte), exit (second) */
static int t_done[2];   /* thread -> main: dropped */
static void (*t_hold)(void);
static void **t_tls_addr;
static int t_exit_on_drop;

static void xpipe(int fds[2])
{
	GCP_CHECK(pipe2(fds, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
}

/* One byte from fd, blocking; the stop signal must never make it fail. */
static void read_byte(int fd)
{
	char c;
	ssize_t n = read(fd, &c, 1);
	GCP_CHECK(n == 1, "read() in a blocked thread returned %zd (%s)", n,
		  n < 0 ? strerror(errno) : "end of file");
}

static void write_byte(int fd)
{
	char c = 'x';
	GCP_CHECK(write(fd, &c, 1) == 1, "write: %s", strerror(errno));
}

static void *holder_thread(void *arg)
{
	(void)arg;
	t_tid = gcp_gettid();
	t_hold();
	gcp_clear_stack();
	write_byte(t_done[1]);
	if (t_exit_on_drop)
		return NULL;
	read_byte(t_wake[0]);
	return NULL;
}

/* Starts the holder thread running hold(), and waits until it is blocked in
 * read() holding its object. */
static void start_holder(void (*hold)(void), int exit_on_drop)
{
	xpipe(t_wake);
	xpipe(t_done);
	sem_init(&t_ready, 0, 0);
	t_hold = hold;
	t_exit_on_drop = exit_on_drop;
	GCP_CHECK(pthread_create(&t_thread, NULL, holder_thread, NULL) == 0, "pthread_create");
	while (sem_wait(&t_ready) != 0)
		;
	gcp_wait_in_syscall(t_tid, SYS_read);
}

/* Tells the holder thread to drop what it holds (it wakes from read()),
 * waits until it has, and until it is blocked again (or gone). */
static void holder_drop(void)
{
	write_byte(t_wake[1]);
	read_byte(t_done[0]);
	if (t_exit_on_drop) {
		pthread_join(t_thread, NULL);
		t_thread = 0;
	} else {
		gcp_wait_in_syscall(t_tid, SYS_read);
	}
}

static void holder_stop(void)
{
	if (t_thread) {
		write_byte(t_wake[1]);
		pthread_join(t_thread, NULL);
		t_thread = 0;
	}
}

/* The object lives in a stack slot of this frame while the thread sits in
 * read(); after the wake-up the canary is checked and the slot cleared. */
static GCP_NOINLINE void hold_on_stack(void)
{
	void *volatile slot = make_obj();
	gcp_clear_stack();
	sem_post(&t_ready);
	read_byte(t_wake[0]);
	GCP_CHECK(gcp_intact(slot, OBJ_SIZE, OBJ_SEED),
		  "object held on a blocked thread's stack was spoilt");
	slot = NULL;
}

/* The object lives only in r12 (callee-saved, kept by the kernel across
 * the system call) while the thread sits in a raw read() system call. */
static GCP_NOINLINE void hold_in_register(void)
{
#if defined(__x86_64__)
	register void *reg __asm__("r12") = make_obj();
	__asm__ volatile("" : "+r"(reg));
	gcp_clear_stack();
	sem_post(&t_ready);
	long fd = t_wake[0], ret;
	char c;
	__asm__ volatile("syscall"
			 : "=a"(ret), "+r"(reg)
			 : "0"((long)SYS_read), "D"(fd), "S"(&c), "d"(1L)
			 : "rcx", "r11", "memory");
	GCP_CHECK(ret == 1, "raw read() in a blocked thread returned %ld", ret);
	GCP_CHECK(gcp_intact(reg, OBJ_SIZE, OBJ_SEED),
		  "object held in a blocked thread's register was spoilt");
	reg = NULL;
	__asm__ volatile("" : "+r"(reg));
#else
	hold_on_stack();
#endif
}

static __thread void *tls_slot;

/* The object lives in this thread's static TLS; main can reach the slot
 * through t_tls_addr (the address of a TLS variable, not a heap pointer). */
static GCP_NOINLINE void hold_in_static_tls(void)
{
	*(void *volatile *)&tls_slot = make_obj();
	t_tls_addr = &tls_slot;
	gcp_clear_stack();
	sem_post(&t_ready);
	read_byte(t_wake[0]);
}

/* The same in the holder library's TLS: a dynamic TLS block of this
 * thread. The drop clears the slot: there is no "drop by exit" variant,
 * because glibc frees an exited thread's dynamic TLS blocks only when its
 * stack is reused or the stack cache is trimmed, so the block stays a live
 * malloc block, and a root, after pthread_join. */
static GCP_NOINLINE void hold_in_dynamic_tls(void)
{
	holder_set_tls(make_obj());
	gcp_clear_stack();
	sem_post(&t_ready);
	read_byte(t_wake[0]);
	holder_set_tls(NULL);
}

/* ---- remote collection --------------------------------------------------- */

static int g_remote;
static pthread_t c_thread;
static int c_cmd[2], c_reply[2];

static void *collector_thread(void *arg)
{
	(void)arg;
	for (;;) {
		char c;
		ssize_t n = read(c_cmd[0], &c, 1);
		GCP_CHECK(n == 1, "collector thread: read returned %zd", n);
		if (c == 'q')
			return NULL;
		struct gcm_stats st;
		gcp_collect(&st, 1);
		GCP_CHECK(write(c_reply[1], &st, sizeof st) == (ssize_t)sizeof st, "write");
	}
}

/* One cycle: run here, or by the collector thread while this thread waits
 * in read(). */
static GCP_NOINLINE void cycle(struct gcm_stats *st)
{
	if (!g_remote) {
		gcp_collect(st, 1);
		return;
	}
	gcp_clear_stack();
	write_byte(c_cmd[1]);
	size_t got = 0;
	while (got < sizeof *st) {
		ssize_t n = read(c_reply[0], (char *)st + got, sizeof *st - got);
		GCP_CHECK(n > 0, "main thread: read() of the reply returned %zd (%s)", n,
			  n < 0 ? strerror(errno) : "end of file");
		got += (size_t)n;
	}
}

/* ---- scenarios ------------------------------------------------------------ */

struct scenario {
	const char *name;
	void (*setup)(void);
	void (*hold)(void);   /* make the objects; only the root keeps them */
	void (*verify)(void); /* canaries, through g_hidden */
	void (*drop)(void);
	void (*teardown)(void);
};

static void nothing(void)
{
}

/* A static variable of the executable (.bss). */
static void *exe_bss;
static GCP_NOINLINE void hold_exe_bss(void)
{
	*(void *volatile *)&exe_bss = make_obj();
}
static GCP_NOINLINE void drop_exe_bss(void)
{
	*(void *volatile *)&exe_bss = NULL;
}

/* Statics of a dlopened library. */
static GCP_NOINLINE void hold_lib_bss(void)
{
	holder_set_bss(make_obj());
}
static GCP_NOINLINE void drop_lib_bss(void)
{
	holder_set_bss(NULL);
}
static GCP_NOINLINE void hold_lib_data(void)
{
	holder_set_data(make_obj());
}
static GCP_NOINLINE void drop_lib_data(void)
{
	holder_set_data(NULL);
}
static GCP_NOINLINE void verify_lib_bss(void)
{
	GCP_CHECK(hide(holder_get_bss()) == g_hidden, "library slot changed");
	verify_obj();
}
static GCP_NOINLINE void verify_lib_data(void)
{
	GCP_CHECK(hide(holder_get_data()) == g_hidden, "library slot changed");
	verify_obj();
}

/* Threads blocked in read(). */
static void setup_stack(void)
{
	start_holder(hold_on_stack, 0);
}
static void setup_register(void)
{
	start_holder(hold_in_register, 0);
}
static void setup_thread_tls(void)
{
	start_holder(hold_in_static_tls, 0);
}
static void setup_thread_tls_exit(void)
{
	start_holder(hold_in_static_tls, 1);
}
static void setup_thread_dyntls(void)
{
	open_holder();
	start_holder(hold_in_dynamic_tls, 0);
}
static GCP_NOINLINE void drop_thread_tls(void)
{
	*(void *volatile *)t_tls_addr = NULL;
	holder_drop();
}
static GCP_NOINLINE void verify_thread_tls(void)
{
	GCP_CHECK(hide(*(void *volatile *)t_tls_addr) == g_hidden, "TLS slot changed");
	verify_obj();
}
static void teardown_thread_dyntls(void)
{
	holder_stop();
	close_holder();
}

/* The main thread's TLS: static (the executable's) and dynamic (the
 * library's). */
static GCP_NOINLINE void hold_main_tls(void)
{
	*(void *volatile *)&tls_slot = make_obj();
}
static GCP_NOINLINE void drop_main_tls(void)
{
	*(void *volatile *)&tls_slot = NULL;
}
static GCP_NOINLINE void hold_main_dyntls(void)
{
	holder_set_tls(make_obj());
}
static GCP_NOINLINE void drop_main_dyntls(void)
{
	holder_set_tls(NULL);
}
static GCP_NOINLINE void verify_main_dyntls(void)
{
	GCP_CHECK(hide(holder_get_tls()) == g_hidden, "TLS slot changed");
	verify_obj();
}

/* Blocks of the malloc family: small, large, moved by realloc. Their own
 * addresses are kept hidden, so the blocks are unreachable leaks as far as
 * the collector can tell: every live malloc block is a root all the same.
 * The drop frees the block without clearing it: free memory is not
 * scanned. */
static uintptr_t g_block_hidden;
static size_t g_block_slot;
static GCP_NOINLINE void hold_block(size_t size, size_t slot)
{
	void **b = malloc(size);
	GCP_CHECK(b != NULL, "malloc(%zu)", size);
	memset(b, 0, size);
	b[slot] = make_obj();
	g_block_hidden = hide(b);
	g_block_slot = slot;
}
static GCP_NOINLINE void hold_malloc_small(void)
{
	hold_block(200, 5);
}
static GCP_NOINLINE void hold_malloc_large(void)
{
	hold_block(256 * KiB, 200 * KiB / sizeof(void *) + 1);
}
static GCP_NOINLINE void hold_malloc_realloc(void)
{
	void **b = malloc(100);
	GCP_CHECK(b != NULL, "malloc");
	memset(b, 0, 100);
	b[3] = make_obj();
	void **nb = realloc(b, 100 * KiB);
	GCP_CHECK(nb != NULL, "realloc");
	/* The old block is free now (or the same one); nothing scans it. */
	g_block_hidden = hide(nb);
	g_block_slot = 3;
}
static GCP_NOINLINE void hold_calloc(void)
{
	void **b = calloc(50, sizeof(void *));
	GCP_CHECK(b != NULL, "calloc");
	b[49] = make_obj();
	g_block_hidden = hide(b);
	g_block_slot = 49;
}
static GCP_NOINLINE void verify_block(void)
{
	void **b = unhide(g_block_hidden);
	GCP_CHECK(hide(b[g_block_slot]) == g_hidden, "malloc'd block changed");
	verify_obj();
}
static GCP_NOINLINE void drop_block(void)
{
	free(unhide(g_block_hidden));
	g_block_hidden = 0;
}

/* A chain of collectable objects of assorted sizes, small and large; the
 * links point to the start, the second word or the last byte of the next
 * node in turn; the last node is the 1 MiB object. Only the head is in a
 * static. */
#define CHAIN_NODES 1000
static const size_t chain_sizes[] = { 16, 48, 100, 256, 1000, 4000, 20000, 40000 };
#define NCHAIN_SIZES (sizeof chain_sizes / sizeof chain_sizes[0])
static void *chain_head;

static size_t chain_size(size_t i)
{
	return i == CHAIN_NODES - 1 ? OBJ_SIZE : chain_sizes[i % NCHAIN_SIZES];
}

/* Where the link to node i points, given node i's start. */
static uintptr_t chain_link(uintptr_t base, size_t i)
{
	switch (i % 3) {
	case 0: return base;
	case 1: return base + 8;
	default: return base + chain_size(i) - 1;
	}
}

static uintptr_t chain_base(uintptr_t link, size_t i)
{
	return link - chain_link(0, i);
}

static GCP_NOINLINE void hold_chain(void)
{
	size_t total = 0;
	uintptr_t next = 0;
	/* Built from the tail, so every node is allocated after the one it
	 * points to. */
	for (size_t k = CHAIN_NODES; k-- > 0;) {
		size_t n = chain_size(k);
		void **node = k == CHAIN_NODES - 1 ? make_obj() : gcp_new(n, OBJ_SEED + k, 0);
		if (k != CHAIN_NODES - 1)
			node[0] = (void *)next;
		total += gcp_usable(node);
		next = chain_link((uintptr_t)node, k);
	}
	*(void *volatile *)&chain_head = (void *)next;
	g_expect_live = total;
	g_expect_freed = total;
}

static GCP_NOINLINE void verify_chain(void)
{
	uintptr_t link = (uintptr_t)chain_head;
	for (size_t k = 0; k < CHAIN_NODES; k++) {
		GCP_CHECK(link != 0, "chain broken at node %zu", k);
		void **node = (void **)chain_base(link, k);
		size_t n = chain_size(k);
		if (k == CHAIN_NODES - 1) {
			GCP_CHECK(hide(node) == g_hidden, "chain tail moved");
			verify_obj();
		} else {
			/* Word 0 holds the link; the rest is the canary. */
			for (size_t w = 1; w < n / 8; w++)
				GCP_CHECK(((uint64_t *)node)[w] == gcp_word(OBJ_SEED + k, w),
					  "chain node %zu word %zu spoilt", k, w);
			link = (uintptr_t)node[0];
		}
	}
}

static GCP_NOINLINE void drop_chain(void)
{
	*(void *volatile *)&chain_head = NULL;
}

/* Interior pointers: the last byte of the 1 MiB object, the middle of it,
 * the last byte of a small object. */
static uintptr_t interior;
static size_t interior_off;
static size_t small_size;
static GCP_NOINLINE void hold_interior_last(void)
{
	interior_off = OBJ_SIZE - 1;
	*(volatile uintptr_t *)&interior = (uintptr_t)make_obj() + interior_off;
}
static GCP_NOINLINE void hold_interior_middle(void)
{
	interior_off = OBJ_SIZE / 2 + 24;
	*(volatile uintptr_t *)&interior = (uintptr_t)make_obj() + interior_off;
}
static GCP_NOINLINE void hold_interior_small(void)
{
	void *s = gcp_new(48, OBJ_SEED, 0);
	small_size = gcp_usable(s);
	interior_off = small_size - 1;
	g_hidden = hide(s);
	g_expect_live = g_expect_freed = small_size;
	*(volatile uintptr_t *)&interior = (uintptr_t)s + interior_off;
}
static GCP_NOINLINE void verify_interior(void)
{
	GCP_CHECK(hide((void *)(interior - interior_off)) == g_hidden, "interior pointer changed");
	verify_obj();
}
static GCP_NOINLINE void verify_interior_small(void)
{
	GCP_CHECK(hide((void *)(interior - interior_off)) == g_hidden, "interior pointer changed");
	GCP_CHECK(gcp_intact(unhide(g_hidden), 48, OBJ_SEED), "small object spoilt");
}
static GCP_NOINLINE void drop_interior(void)
{
	*(volatile uintptr_t *)&interior = 0;
}

/* gcm_malloc_atomic contents are not scanned: a pointer stored only in an
 * atomic object does not keep the 1 MiB object alive (it is reclaimed by
 * the first cycle), while the atomic object itself lives. The control case
 * stores the same pointer in a scanned object. */
static void *holder_obj;
static size_t holder_size;
static uintptr_t holder_hidden;
static GCP_NOINLINE void hold_in_object(size_t size, int atomic)
{
	void **h = gcp_new(size, OBJ_SEED + 1, atomic);
	h[size / 16] = make_obj();
	holder_size = size;
	holder_hidden = hide(h);
	size_t hu = gcp_usable(h);
	*(void *volatile *)&holder_obj = h;
	if (atomic) {
		g_expect_live = hu;
		g_expect_hold_garbage = OBJ_SIZE;
		g_expect_freed = hu;
	} else {
		g_expect_live = hu + OBJ_SIZE;
		g_expect_freed = hu + OBJ_SIZE;
	}
}
static GCP_NOINLINE void hold_atomic_small(void)
{
	hold_in_object(256, 1);
}
static GCP_NOINLINE void hold_atomic_large(void)
{
	hold_in_object(64 * KiB, 1);
}
static GCP_NOINLINE void hold_scanned_small(void)
{
	hold_in_object(256, 0);
}
static GCP_NOINLINE void verify_holder(int atomic)
{
	void **h = holder_obj;
	GCP_CHECK(hide(h) == holder_hidden, "holder slot changed");
	size_t slot = holder_size / 16;
	for (size_t w = 0; w < holder_size / 8; w++)
		if (w != slot)
			GCP_CHECK(((uint64_t *)h)[w] == gcp_word(OBJ_SEED + 1, w),
				  "holder object word %zu spoilt", w);
	/* Atomic: the pointer inside is stale once its object is gone, but
	 * the word itself is the program's and must be unchanged. */
	GCP_CHECK(hide(h[slot]) == g_hidden, "pointer inside the holder changed");
	if (!atomic)
		verify_obj();
}
static GCP_NOINLINE void verify_atomic(void)
{
	verify_holder(1);
}
static GCP_NOINLINE void verify_scanned(void)
{
	verify_holder(0);
}
static GCP_NOINLINE void drop_holder(void)
{
	*(void *volatile *)&holder_obj = NULL;
}

static void setup_lib(void)
{
	open_holder();
}

static const struct scenario scenarios[] = {
	{ "exe_bss", nothing, hold_exe_bss, verify_obj, drop_exe_bss, nothing },
	{ "dlopen_bss", setup_lib, hold_lib_bss, verify_lib_bss, drop_lib_bss, close_holder },
	{ "dlopen_data", setup_lib, hold_lib_data, verify_lib_data, drop_lib_data, close_holder },
	/* The drop is the dlclose itself: an unloaded library is no root. */
	{ "dlopen_dlclose", setup_lib, hold_lib_bss, verify_lib_bss, close_holder, nothing },
	{ "thread_stack", setup_stack, NULL, verify_obj, holder_drop, holder_stop },
	{ "thread_register", setup_register, NULL, verify_obj, holder_drop, holder_stop },
	{ "main_tls", nothing, hold_main_tls, verify_obj, drop_main_tls, nothing },
	{ "main_dyntls", setup_lib, hold_main_dyntls, verify_main_dyntls, drop_main_dyntls,
	  close_holder },
	{ "thread_tls", setup_thread_tls, NULL, verify_thread_tls, drop_thread_tls, holder_stop },
	/* The drop is the thread's exit. */
	{ "thread_tls_exit", setup_thread_tls_exit, NULL, verify_thread_tls, holder_drop, nothing },
	{ "thread_dyntls", setup_thread_dyntls, NULL, verify_obj, holder_drop,
	  teardown_thread_dyntls },
	{ "malloc_small", nothing, hold_malloc_small, verify_block, drop_block, nothing },
	{ "malloc_large", nothing, hold_malloc_large, verify_block, drop_block, nothing },
	{ "malloc_realloc", nothing, hold_malloc_realloc, verify_block, drop_block, nothing },
	{ "calloc", nothing, hold_calloc, verify_block, drop_block, nothing },
	{ "chain", nothing, hold_chain, verify_chain, drop_chain, nothing },
	{ "interior_last", nothing, hold_interior_last, verify_interior, drop_interior, nothing },
	{ "interior_middle", nothing, hold_interior_middle, verify_interior, drop_interior,
	  nothing },
	{ "interior_small", nothing, hold_interior_small, verify_interior_small, drop_interior,
	  nothing },
	{ "atomic_small", nothing, hold_atomic_small, verify_atomic, drop_holder, nothing },
	{ "atomic_large", nothing, hold_atomic_large, verify_atomic, drop_holder, nothing },
	{ "scanned_small", nothing, hold_scanned_small, verify_scanned, drop_holder, nothing },
};
#define NSCENARIOS (sizeof scenarios / sizeof scenarios[0])

static const char *dir_of(const char *path)
{
	static char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		return ".";
	*slash = '\0';
	return dir;
}

static void check_figures(const struct gcm_stats *st, size_t live, uint64_t freed,
			  const char *when, int cycle)
{
	GCP_CHECK(st->gc_marked_bytes == live,
		  "%s, cycle %d: %llu bytes marked, expected exactly %zu", when, cycle,
		  (unsigned long long)st->gc_marked_bytes, live);
	GCP_CHECK(st->gc_freed_bytes == freed,
		  "%s, cycle %d: %llu bytes freed in total, expected %llu", when, cycle,
		  (unsigned long long)st->gc_freed_bytes, (unsigned long long)freed);
}

int main(int argc, char **argv)
{
	gcp_init();
	if (argc >= 2 && strcmp(argv[1], "list") == 0) {
		for (size_t i = 0; i < NSCENARIOS; i++)
			gcp_say("%s", scenarios[i].name);
		return 0;
	}
	GCP_CHECK(argc >= 2, "usage: gc_roots SCENARIO [remote] [LIBDIR]");
	const struct scenario *sc = NULL;
	for (size_t i = 0; i < NSCENARIOS; i++)
		if (strcmp(argv[1], scenarios[i].name) == 0)
			sc = &scenarios[i];
	GCP_CHECK(sc != NULL, "unknown scenario '%s'", argv[1]);
	int a = 2;
	if (argc > a && strcmp(argv[a], "remote") == 0) {
		g_remote = 1;
		a++;
	}
	g_libdir = argc > a ? argv[a] : dir_of(argv[0]);

	if (g_remote) {
		xpipe(c_cmd);
		xpipe(c_reply);
		GCP_CHECK(pthread_create(&c_thread, NULL, collector_thread, NULL) == 0,
			  "pthread_create");
	}

	struct gcm_stats st;
	cycle(&st);
	GCP_CHECK(st.gc_marked_bytes == 0 && st.gc_freed_bytes == 0,
		  "before the test: %llu bytes marked, %llu freed; expected nothing collectable",
		  (unsigned long long)st.gc_marked_bytes, (unsigned long long)st.gc_freed_bytes);

	sc->setup();
	if (sc->hold)
		sc->hold();
	gcp_clear_stack();

	uint64_t freed = g_expect_hold_garbage;
	for (int c = 1; c <= HOLD_CYCLES; c++) {
		cycle(&st);
		check_figures(&st, g_expect_live, freed, "root held", c);
		sc->verify();
		gcp_scribble(OBJ_SIZE);
		gcp_scribble(256);
		sc->verify();
	}

	size_t live = g_expect_live;
	sc->drop();
	gcp_clear_stack();
	cycle(&st);
	freed += g_expect_freed;
	check_figures(&st, 0, freed, "root dropped", 1);
	cycle(&st);
	check_figures(&st, 0, freed, "root dropped", 2);

	sc->teardown();
	if (g_remote) {
		char q = 'q';
		GCP_CHECK(write(c_cmd[1], &q, 1) == 1, "write");
		pthread_join(c_thread, NULL);
	}
	gcp_say("ok %s%s: %zu bytes held over %d cycles, reclaimed after the drop", sc->name,
		g_remote ? " (remote)" : "", live, HOLD_CYCLES);
	return 0;
}

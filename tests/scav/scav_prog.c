/*
 * scav_prog.c — workloads for the scavenger's integration tests
 * (test_scav_it.c runs them with libgcmalloc.so preloaded in the child's
 * environment only).
 *
 *   scav_prog MODE [ARGS...]
 *
 * Every mode prints its measurements on stdout as "key=value" lines (sizes
 * in KiB, times in seconds) and leaves the judging to the driver, so the
 * bounds and their reasons live in one place. A mode exits 1 with a
 * message on stderr only when the program itself finds something wrong
 * (corrupted object contents, a failed allocation).
 *
 * RSS is read from /proc/self/statm. "base" is the RSS measured before the
 * workload allocates anything: the program, libc and the allocator's
 * start-up metadata; the heap's share of RSS is roughly rss - base.
 *
 * Modes:
 *   preloaded     prints preloaded=1 when malloc comes from libgcmalloc.
 *   trace SECS    run with GCMALLOC_DEBUG=scavtrace=1. Redirects its own
 *                 stderr into a pipe read by a thread, which stamps every
 *                 line with the RSS at the moment it arrives and prints
 *                 "trace rss=<KiB> <line>". Allocates 200 MiB, frees 95%,
 *                 waits up to SECS for a background trace line and for RSS
 *                 to fall, then calls malloc_trim(0) (a "(forced)" line).
 *   trim          allocates 256 MiB, frees all but LIVE (8 MiB), calls
 *                 malloc_trim(0) at once, then a second time.
 *   background SECS
 *                 allocates 150 MiB in 1 MiB blocks and 150 MiB in small
 *                 objects, frees all but LIVE, then polls RSS every 50 ms
 *                 for up to SECS; prints when (if ever) RSS came down to
 *                 base + live + 10% + SLACK (third argument, KiB).
 *   memlimit      cycles through 200 MiB of live data in fragmenting
 *                 patterns (below); prints the peak RSS seen (sampled and
 *                 VmHWM).
 *   stress SECS   8 threads alternate bursts, frees and sleeps for SECS
 *                 with checksummed contents; at the end everything is
 *                 freed, malloc_trim(0) is called and mallinfo2 figures
 *                 before and after are printed.
 *   small         allocates and frees a little and prints ok=1 (for the
 *                 bad-environment tests).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* ---- small helpers ------------------------------------------------------- */

static long rss_kib(void)
{
	char buf[128];
	int fd = open("/proc/self/statm", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	long size, res;
	if (sscanf(buf, "%ld %ld", &size, &res) != 2)
		return -1;
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static long hwm_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void die(const char *what)
{
	fprintf(stderr, "scav_prog: %s\n", what);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (p == NULL)
		die("out of memory");
	return p;
}

/* Writes to every page so the memory is resident. */
static void touch(void *p, size_t n, unsigned char v)
{
	memset(p, v, n);
}

/* xorshift64*: deterministic workloads. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static size_t rnd_below(uint64_t *s, size_t n)
{
	return (size_t)((rnd(s) >> 11) % n);
}

static void shuffle(void **a, size_t n, uint64_t *s)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd_below(s, i);
		void *t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

/* ---- the common "allocate a lot, keep a little" workload ----------------- */

/*
 * Allocates big_mib blocks of 1 MiB and small_mib MiB of small objects
 * (16..1024 bytes, drawn at random), all written to. Then frees everything
 * except:
 *   - keep_big of the 1 MiB blocks (spread over the heap: every k-th);
 *   - the small objects allocated first, up to keep_small_kib KiB: they
 *     were allocated consecutively, so they fill their spans;
 *   - 64 small objects scattered over the rest. Each pins the span it lives
 *     in, at most 64 spans: the driver's bound allows for them.
 * The frees go in a shuffled order. Returns the live bytes kept (requested
 * sizes).
 */
struct keep {
	void **big;
	size_t nbig;
	void **small;
	size_t nsmall;
};

static size_t alloc_then_keep_little(size_t big_mib, size_t small_mib, size_t keep_big,
				     size_t keep_small_kib, struct keep *kept)
{
	uint64_t seed = 12345;
	/* Count the small objects first (same seed, same sizes), so that the
	 * arrays below are exactly as long as needed: every byte the program
	 * allocates is written, and the allocator's "retained" figure can be
	 * compared with RSS. */
	uint64_t probe = seed;
	size_t small_cap = 0;
	for (size_t bytes = 0; bytes < small_mib * MiB; small_cap++)
		bytes += 16 + rnd_below(&probe, 1009);
	void **big = xmalloc((big_mib + 1) * sizeof(void *));
	void **small = xmalloc((small_cap + 1) * sizeof(void *));
	size_t *ssize = xmalloc((small_cap + 1) * sizeof(size_t));
	size_t nsmall = 0, small_bytes = 0;

	/* Interleave the two kinds so neither sits in one block of the heap. */
	size_t b = 0;
	while (b < big_mib || small_bytes < small_mib * MiB) {
		if (b < big_mib) {
			big[b] = xmalloc(MiB);
			touch(big[b], MiB, 1);
			b++;
		}
		size_t target = small_mib * MiB * b / (big_mib ? big_mib : 1);
		if (big_mib == 0 || b == big_mib)
			target = small_mib * MiB;
		while (small_bytes < target && nsmall < small_cap) {
			size_t n = 16 + rnd_below(&seed, 1009);
			small[nsmall] = xmalloc(n);
			touch(small[nsmall], n, 2);
			ssize[nsmall++] = n;
			small_bytes += n;
		}
	}

	size_t live = 0;
	size_t first = 0, first_bytes = 0;
	while (first < nsmall && first_bytes + ssize[first] <= keep_small_kib * KiB)
		first_bytes += ssize[first++];
	size_t scatter = nsmall > first ? (nsmall - first) / 64 + 1 : 1;
	kept->big = xmalloc((keep_big + 1) * sizeof(void *));
	kept->small = xmalloc((first + 66) * sizeof(void *));
	kept->nbig = kept->nsmall = 0;
	void **drop = xmalloc((big_mib + nsmall + 1) * sizeof(void *));
	size_t ndrop = 0;
	size_t step = keep_big ? big_mib / keep_big : 0;
	for (size_t i = 0; i < big_mib; i++) {
		if (step && i % step == 0 && kept->nbig < keep_big) {
			kept->big[kept->nbig++] = big[i];
			live += MiB;
		} else {
			drop[ndrop++] = big[i];
		}
	}
	for (size_t i = 0; i < nsmall; i++) {
		if (i < first || (i - first) % scatter == scatter / 2) {
			kept->small[kept->nsmall++] = small[i];
			live += ssize[i];
		} else {
			drop[ndrop++] = small[i];
		}
	}
	shuffle(drop, ndrop, &seed);
	for (size_t i = 0; i < ndrop; i++)
		free(drop[i]);
	free(drop);
	free(big);
	free(small);
	free(ssize);
	return live;
}

/* ---- modes --------------------------------------------------------------- */

static int mode_preloaded(void)
{
	Dl_info info;
	void *f = dlsym(RTLD_DEFAULT, "malloc");
	int yes = f && dladdr(f, &info) && info.dli_fname && strstr(info.dli_fname, "gcmalloc");
	printf("preloaded=%d\n", yes);
	return 0;
}

static int mode_small(void)
{
	void *p[100];
	for (int i = 0; i < 100; i++) {
		p[i] = xmalloc((size_t)(i + 1) * 1000);
		touch(p[i], (size_t)(i + 1) * 1000, 3);
	}
	for (int i = 0; i < 100; i++)
		free(p[i]);
	printf("ok=1\n");
	return 0;
}

/* trace: the reader thread owns the pipe's read end. */
static int trace_rfd;

static void *trace_reader(void *arg)
{
	(void)arg;
	char buf[4096];
	size_t have = 0;
	for (;;) {
		ssize_t n = read(trace_rfd, buf + have, sizeof(buf) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		long rss = rss_kib();
		char *start = buf, *nl;
		while ((nl = memchr(start, '\n', have - (size_t)(start - buf))) != NULL) {
			*nl = '\0';
			printf("trace rss=%ld %s\n", rss, start);
			fflush(stdout);
			start = nl + 1;
		}
		have -= (size_t)(start - buf);
		memmove(buf, start, have);
		if (have == sizeof(buf) - 1) {
			buf[have] = '\0';
			printf("trace rss=%ld %s\n", rss, buf);
			have = 0;
		}
	}
	if (have) {
		buf[have] = '\0';
		printf("trace rss=%ld %s\n", rss_kib(), buf);
	}
	fflush(stdout);
	return NULL;
}

static int mode_trace(double secs)
{
	int fds[2];
	int saved_err = dup(2);
	if (pipe(fds) != 0 || saved_err < 0)
		die("pipe");
	dup2(fds[1], 2);
	close(fds[1]);
	trace_rfd = fds[0];
	pthread_t th;
	if (pthread_create(&th, NULL, trace_reader, NULL) != 0)
		die("pthread_create");

	long base = rss_kib();
	printf("base=%ld\n", base);
	struct keep k;
	size_t live = alloc_then_keep_little(100, 100, 5, 4096, &k);
	printf("live=%zu\n", live / KiB);
	long peak = hwm_kib();
	printf("peak=%ld\n", peak);
	fflush(stdout);
	/* Wait for the background scavenger to report and RSS to come down
	 * below the middle of the way. */
	double t0 = now_s();
	long rss = rss_kib();
	while (now_s() - t0 < secs) {
		sleep_s(0.05);
		rss = rss_kib();
		if (rss < base + (long)(live / KiB) + (peak - base) / 2 && now_s() - t0 > 2.5)
			break;
	}
	printf("before_trim=%ld\nwaited=%.2f\n", rss_kib(), now_s() - t0);
	fflush(stdout);
	int r = malloc_trim(0);
	long after = rss_kib();
	printf("trim=%d\nafter_trim=%ld\n", r, after);
	fflush(stdout);
	/* Let the reader pass on the forced line, then close the pipe. */
	sleep_s(0.1);
	dup2(saved_err, 2);
	close(saved_err);
	pthread_join(th, NULL);
	return 0;
}

static int mode_trim(void)
{
	long base = rss_kib();
	struct keep k;
	size_t live = alloc_then_keep_little(128, 128, 4, 4096, &k);
	long before = rss_kib();
	int r1 = malloc_trim(0);
	long after = rss_kib();
	int r2 = malloc_trim(0);
	long after2 = rss_kib();
	printf("base=%ld\nlive=%zu\nbefore=%ld\ntrim1=%d\nafter=%ld\ntrim2=%d\nafter2=%ld\n",
	       base, live / KiB, before, r1, after, r2, after2);
	/* The kept objects are still intact and usable. */
	for (size_t i = 0; i < k.nbig; i++) {
		unsigned char *p = k.big[i];
		if (p[0] != 1 || p[MiB - 1] != 1)
			die("a kept block lost its contents");
	}
	return 0;
}

static int mode_background(double secs, long slack_kib)
{
	long base = rss_kib();
	struct keep k;
	size_t live = alloc_then_keep_little(150, 150, 8, 4096, &k);
	long peak = rss_kib();
	double t0 = now_s(), reached = -1;
	long rss = peak;
	long limit = base + (long)(live / KiB) + (long)(live / KiB) / 10 + slack_kib;
	printf("base=%ld\nlive=%zu\npeak=%ld\nlimit=%ld\n", base, live / KiB, peak, limit);
	/* One sample line every 250 ms, for the log. */
	int n = 0;
	while (now_s() - t0 < secs) {
		sleep_s(0.05);
		rss = rss_kib();
		if (++n % 5 == 0)
			printf("sample t=%.2f rss=%ld\n", now_s() - t0, rss);
		if (rss <= limit) {
			reached = now_s() - t0;
			break;
		}
	}
	printf("final=%ld\nreached=%.2f\n", rss, reached);
	return 0;
}

/*
 * memlimit: 200 MiB of live data, cycled through MEM_PHASES phases. The data are
 * page-level objects (64 KiB .. 2 MiB, sizes at random) and small objects
 * (32 .. 2048 B). Each phase frees half of the large objects, picked at
 * random (holes of every size all over the heap), and allocates new ones
 * with sizes drawn from a range that moves up from phase to phase, so the
 * new ones rarely fit the holes left by the old: the page heap fragments
 * and, without a limit, grows. Small objects are replaced a group at a time
 * (a group is 1 MiB allocated together), so their spans empty and return
 * to the page heap rather than staying pinned by one survivor. Live data
 * stay at 200 MiB (+- one object) throughout.
 */
struct obj {
	void *p;
	size_t n;
};

static size_t mem_large_size(uint64_t *s, unsigned phase)
{
	size_t lo = (64 * KiB) << (phase % 4), hi = lo * 8;
	if (hi > 2 * MiB)
		hi = 2 * MiB;
	return lo + rnd_below(s, hi - lo + 1);
}

#define MEM_PHASES 16

static int mode_memlimit(void)
{
	const size_t live_target = 200 * MiB, small_share = 64 * MiB;
	const size_t group_bytes = MiB;
	uint64_t seed = 777;
	long base = rss_kib();
	size_t cap = 8192, nl = 0, live = 0;
	struct obj *large = xmalloc(cap * sizeof(*large));
	size_t ngroups = small_share / group_bytes;
	void ***groups = xmalloc(ngroups * sizeof(void **));
	size_t *gcount = xmalloc(ngroups * sizeof(size_t));
	long peak_sampled = 0;
	unsigned long ops = 0;

#define SAMPLE()                                   \
	do {                                       \
		if (++ops % 256 == 0) {            \
			long r_ = rss_kib();        \
			if (r_ > peak_sampled)      \
				peak_sampled = r_;  \
		}                                  \
	} while (0)

	for (size_t g = 0; g < ngroups; g++) {
		groups[g] = xmalloc(group_bytes / 32 * sizeof(void *));
		size_t got = 0, c = 0;
		while (got < group_bytes) {
			size_t n = 32 + rnd_below(&seed, 2017);
			groups[g][c] = xmalloc(n);
			touch(groups[g][c++], n, 4);
			got += n;
			SAMPLE();
		}
		gcount[g] = c;
		live += got;
	}
	while (live < live_target) {
		size_t n = mem_large_size(&seed, 0);
		large[nl].p = xmalloc(n);
		touch(large[nl].p, n, 5);
		large[nl++].n = n;
		live += n;
		SAMPLE();
	}
	for (unsigned phase = 1; phase <= MEM_PHASES; phase++) {
		/* Free half of the large objects, at random. */
		for (size_t i = nl; i > 1; i--) {
			size_t j = rnd_below(&seed, i);
			struct obj t = large[i - 1];
			large[i - 1] = large[j];
			large[j] = t;
		}
		size_t keep = nl / 2;
		for (size_t i = keep; i < nl; i++) {
			free(large[i].p);
			live -= large[i].n;
			SAMPLE();
		}
		nl = keep;
		/* Replace a quarter of the small groups. */
		for (size_t q = 0; q < ngroups / 4; q++) {
			size_t g = rnd_below(&seed, ngroups);
			for (size_t c = 0; c < gcount[g]; c++)
				free(groups[g][c]);
			size_t got = 0, c = 0;
			while (got < group_bytes) {
				size_t n = 32 + rnd_below(&seed, 2017);
				groups[g][c] = xmalloc(n);
				touch(groups[g][c++], n, 4);
				got += n;
				SAMPLE();
			}
			gcount[g] = c;
		}
		/* Back up to the live target with the phase's sizes. */
		while (live < live_target && nl < cap) {
			size_t n = mem_large_size(&seed, phase);
			large[nl].p = xmalloc(n);
			touch(large[nl].p, n, 5);
			large[nl++].n = n;
			live += n;
			SAMPLE();
		}
		long r = rss_kib();
		if (r > peak_sampled)
			peak_sampled = r;
		printf("phase=%u rss=%ld live=%zu\n", phase, r, live / KiB);
		/* A pause: the background scavenger and the generations move
		 * on while the program holds its 200 MiB. */
		sleep_s(0.15);
	}
	printf("base=%ld\npeak_sampled=%ld\nhwm=%ld\nlive=%zu\n", base, peak_sampled,
	       hwm_kib(), live / KiB);
	return 0;
}

/* ---- stress -------------------------------------------------------------- */

/*
 * Each object starts with a header (its size and a seed) and is filled with
 * a pattern derived from the seed; its checksum is verified before it is
 * freed and in a full sweep after every burst. A page released while in use
 * reads back as zeros, and a page handed to two owners is overwritten by the
 * other: both fail the check.
 */
#define STRESS_THREADS 8
#define STRESS_SLOTS 4096

struct sobj {
	uint64_t n, seed;
};

static atomic_int stress_stop;
static atomic_ulong stress_bytes_freed, stress_checks;

static void fill(struct sobj *o, size_t n, uint64_t seed)
{
	o->n = n;
	o->seed = seed;
	unsigned char *b = (unsigned char *)(o + 1);
	size_t body = n - sizeof(*o);
	uint64_t s = seed | 1;
	/* Word-sized pattern for speed, then the tail. */
	size_t w = body / 8;
	for (size_t i = 0; i < w; i++) {
		uint64_t v = rnd(&s);
		memcpy(b + i * 8, &v, 8);
	}
	for (size_t i = w * 8; i < body; i++)
		b[i] = (unsigned char)(seed >> (i % 8 * 8));
}

static void check(const struct sobj *o, size_t n, uint64_t seed)
{
	if (o->n != n || o->seed != seed) {
		fprintf(stderr, "scav_prog: stress: header of a %zu-byte object at %p is corrupt\n", n,
			(const void *)o);
		abort();
	}
	const unsigned char *b = (const unsigned char *)(o + 1);
	size_t body = n - sizeof(*o);
	uint64_t s = seed | 1;
	size_t w = body / 8;
	for (size_t i = 0; i < w; i++) {
		uint64_t v = rnd(&s), got;
		memcpy(&got, b + i * 8, 8);
		if (got != v) {
			fprintf(stderr, "scav_prog: stress: %zu-byte object at %p differs at byte %zu\n",
				n, (const void *)o, i * 8 + sizeof(*o));
			abort();
		}
	}
	for (size_t i = w * 8; i < body; i++)
		if (b[i] != (unsigned char)(seed >> (i % 8 * 8))) {
			fprintf(stderr, "scav_prog: stress: %zu-byte object at %p differs at byte %zu\n",
				n, (const void *)o, i + sizeof(*o));
			abort();
		}
	atomic_fetch_add_explicit(&stress_checks, 1, memory_order_relaxed);
}

static size_t stress_size(uint64_t *s)
{
	unsigned r = (unsigned)rnd_below(s, 1000);
	if (r < 700)
		return sizeof(struct sobj) + rnd_below(s, 512);       /* small */
	if (r < 950)
		return sizeof(struct sobj) + rnd_below(s, 32 * KiB);  /* medium */
	if (r < 995)
		return 64 * KiB + rnd_below(s, 448 * KiB);            /* large */
	return MiB + rnd_below(s, 3 * MiB);                       /* huge */
}

static void *stress_thread(void *arg)
{
	uint64_t s = 0x1000 + (uintptr_t)arg * 7919;
	struct sobj **slot = calloc(STRESS_SLOTS, sizeof(*slot));
	size_t *len = calloc(STRESS_SLOTS, sizeof(*len));
	uint64_t *sd = calloc(STRESS_SLOTS, sizeof(*sd));
	if (!slot || !len || !sd)
		die("calloc");
	uint64_t serial = (uint64_t)(uintptr_t)arg << 48;

	while (!atomic_load_explicit(&stress_stop, memory_order_relaxed)) {
		/* Burst: fill up to a random number of slots. */
		size_t burst = 1 + rnd_below(&s, STRESS_SLOTS / 2);
		for (size_t k = 0; k < burst; k++) {
			size_t i = rnd_below(&s, STRESS_SLOTS);
			if (slot[i]) {
				check(slot[i], len[i], sd[i]);
				free(slot[i]);
			}
			size_t n = stress_size(&s);
			slot[i] = malloc(n);
			if (slot[i] == NULL)
				die("stress: out of memory");
			len[i] = n;
			sd[i] = ++serial * 0x9e3779b97f4a7c15ull;
			fill(slot[i], n, sd[i]);
		}
		/* Frees: a random share of the live slots, in slot order from
		 * a random start, so whole regions empty at once. */
		size_t start = rnd_below(&s, STRESS_SLOTS), share = rnd_below(&s, 101);
		for (size_t k = 0; k < STRESS_SLOTS; k++) {
			size_t i = (start + k) % STRESS_SLOTS;
			if (slot[i] && rnd_below(&s, 100) < share) {
				check(slot[i], len[i], sd[i]);
				free(slot[i]);
				atomic_fetch_add_explicit(&stress_bytes_freed, len[i],
							  memory_order_relaxed);
				slot[i] = NULL;
			}
		}
		/* Sweep: every survivor intact. */
		for (size_t i = 0; i < STRESS_SLOTS; i++)
			if (slot[i])
				check(slot[i], len[i], sd[i]);
		/* Sleep 0..30 ms, longer now and then: the scavenger works on
		 * what was just freed while this thread is idle. */
		unsigned ms = (unsigned)rnd_below(&s, 31);
		if (rnd_below(&s, 20) == 0)
			ms += 200;
		sleep_s(ms / 1000.0);
	}
	for (size_t i = 0; i < STRESS_SLOTS; i++)
		if (slot[i]) {
			check(slot[i], len[i], sd[i]);
			free(slot[i]);
		}
	free(slot);
	free(len);
	free(sd);
	return NULL;
}

static int mode_stress(double secs)
{
	/* The main thread's own start-up allocations come first, so the
	 * "start" figures include them. */
	malloc_trim(0);
	struct mallinfo2 m0 = mallinfo2();
	long base = rss_kib();
	pthread_t th[STRESS_THREADS];
	for (uintptr_t i = 0; i < STRESS_THREADS; i++)
		if (pthread_create(&th[i], NULL, stress_thread, (void *)i) != 0)
			die("pthread_create");
	double t0 = now_s();
	long peak = 0;
	while (now_s() - t0 < secs) {
		sleep_s(0.1);
		long r = rss_kib();
		if (r > peak)
			peak = r;
	}
	atomic_store(&stress_stop, 1);
	for (int i = 0; i < STRESS_THREADS; i++)
		pthread_join(th[i], NULL);
	int r = malloc_trim(0);
	struct mallinfo2 m1 = mallinfo2();
	printf("base=%ld\npeak=%ld\nend=%ld\ntrim=%d\n", base, peak, rss_kib(), r);
	printf("uord_start=%zu\nuord_end=%zu\nfree_start=%zu\nfree_end=%zu\n",
	       m0.uordblks / KiB, m1.uordblks / KiB, m0.fordblks / KiB, m1.fordblks / KiB);
	printf("freed_mib=%lu\nchecks=%lu\n",
	       (unsigned long)(atomic_load(&stress_bytes_freed) / MiB),
	       (unsigned long)atomic_load(&stress_checks));
	return 0;
}

/*
 * idle: a worker thread allocates and frees 100 MiB in small objects, then
 * blocks for good (in read() on a pipe, or in pthread_cond_wait). Its cache
 * still holds objects and pages; the scavenger must have the thread flush
 * it while it is blocked. The program samples RSS for `secs` seconds, then
 * wakes the worker, which allocates again and checks what it wrote (the
 * flush must not have raced its own use of its cache), and prints the
 * allocator's statistics with malloc_stats() (the driver reads "idle
 * caches flushed" from them).
 */
static int idle_pipe[2];
static pthread_mutex_t idle_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cv = PTHREAD_COND_INITIALIZER;
static int idle_go;
static atomic_int idle_blocked, idle_ok;

static int idle_round(size_t total, uint64_t seed)
{
	enum { BATCH = 4096 };
	static unsigned char *objs[BATCH];
	static size_t sizes[BATCH];
	uint64_t s = seed;
	size_t done = 0;
	while (done < total) {
		for (size_t i = 0; i < BATCH; i++) {
			sizes[i] = 64 + rnd_below(&s, 449);
			objs[i] = xmalloc(sizes[i]);
			for (size_t k = 0; k < sizes[i]; k++)
				objs[i][k] = (unsigned char)(i * 31 + k);
			done += sizes[i];
		}
		for (size_t i = 0; i < BATCH; i++) {
			for (size_t k = 0; k < sizes[i]; k += 37)
				if (objs[i][k] != (unsigned char)(i * 31 + k))
					return 0;
			free(objs[i]);
		}
	}
	return 1;
}

static void *idle_worker(void *arg)
{
	const char *how = arg;
	if (!idle_round((size_t)100 << 20, 1))
		die("idle: corrupted before blocking");
	atomic_store(&idle_blocked, 1);
	if (strcmp(how, "read") == 0) {
		char c;
		if (read(idle_pipe[0], &c, 1) != 1)
			die("idle: read");
	} else {
		pthread_mutex_lock(&idle_mu);
		while (!idle_go)
			pthread_cond_wait(&idle_cv, &idle_mu);
		pthread_mutex_unlock(&idle_mu);
	}
	atomic_store(&idle_ok, idle_round((size_t)16 << 20, 2));
	return NULL;
}

static int mode_idle(const char *how, double secs)
{
	if (pipe(idle_pipe) != 0)
		die("pipe");
	long base = rss_kib();
	pthread_t t;
	if (pthread_create(&t, NULL, idle_worker, (void *)how) != 0)
		die("pthread_create");
	while (!atomic_load(&idle_blocked))
		sleep_s(0.01);
	sleep_s(0.05);
	long blocked = rss_kib();
	double t0 = now_s();
	long rss = blocked;
	while (now_s() - t0 < secs) {
		sleep_s(0.1);
		rss = rss_kib();
	}
	if (strcmp(how, "read") == 0) {
		if (write(idle_pipe[1], "x", 1) != 1)
			die("write");
	} else {
		pthread_mutex_lock(&idle_mu);
		idle_go = 1;
		pthread_cond_signal(&idle_cv);
		pthread_mutex_unlock(&idle_mu);
	}
	pthread_join(t, NULL);
	printf("base=%ld\nblocked=%ld\nidle_end=%ld\nworker_ok=%d\n", base, blocked, rss,
	       atomic_load(&idle_ok));
	fflush(stdout);
	malloc_stats();
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		die("usage: scav_prog MODE [ARGS...]");
	const char *m = argv[1];
	double secs = argc > 2 ? atof(argv[2]) : 5.0;
	if (strcmp(m, "preloaded") == 0)
		return mode_preloaded();
	if (strcmp(m, "small") == 0)
		return mode_small();
	if (strcmp(m, "trace") == 0)
		return mode_trace(secs);
	if (strcmp(m, "trim") == 0)
		return mode_trim();
	if (strcmp(m, "background") == 0)
		return mode_background(secs, argc > 3 ? atol(argv[3]) : 32768);
	if (strcmp(m, "memlimit") == 0)
		return mode_memlimit();
	if (strcmp(m, "stress") == 0)
		return mode_stress(secs);
	if (strcmp(m, "idle-read") == 0)
		return mode_idle("read", secs);
	if (strcmp(m, "idle-cond") == 0)
		return mode_idle("cond", secs);
	die("unknown mode");
	return 1;
}

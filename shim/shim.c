/*
 * shim.c — the loader an aware program links: resolves libgcmalloc.so's
 * gcm_* functions once with dlsym(RTLD_DEFAULT, ...), or falls back to
 * plain behaviour when the preload is absent (see gcmalloc.h).
 *
 * Resolution happens once (pthread_once), on the first call. All-or-
 * nothing: if any function is missing, every call takes the fallback, so a
 * program never mixes the two worlds.
 *
 * Fallback weak handles are boxes holding the address, canonical per
 * address through a hash table under a mutex; they are never freed (like
 * the library's handles to non-heap memory, they never clear).
 */
#define _GNU_SOURCE
#include "gcmalloc.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct shim_api {
	void *(*malloc_)(size_t);
	void *(*malloc_atomic)(size_t);
	void (*collect)(void);
	gcm_weak_t (*weak_make)(const void *);
	void *(*weak_get)(gcm_weak_t);
	int (*set_finalizer)(void *, void (*)(void *, void *), void *);
	gcm_cleanup_t (*add_cleanup)(void *, void (*)(void *), void *);
	int (*cleanup_cancel)(gcm_cleanup_t);
	int (*finalizers_wait)(unsigned);
	int (*stats)(struct gcm_stats *, size_t);
	const char *(*version)(void);
};

static struct shim_api shim;
static int shim_is_active;
static pthread_once_t shim_once = PTHREAD_ONCE_INIT;

#define SHIM_RESOLVE(field, name)                                          \
	do {                                                               \
		*(void **)(&shim.field) = dlsym(RTLD_DEFAULT, name);       \
		ok = ok && shim.field != NULL;                             \
	} while (0)

static void shim_resolve(void)
{
	int ok = 1;
	SHIM_RESOLVE(malloc_, "gcm_malloc");
	SHIM_RESOLVE(malloc_atomic, "gcm_malloc_atomic");
	SHIM_RESOLVE(collect, "gcm_collect");
	SHIM_RESOLVE(weak_make, "gcm_weak_make");
	SHIM_RESOLVE(weak_get, "gcm_weak_get");
	SHIM_RESOLVE(set_finalizer, "gcm_set_finalizer");
	SHIM_RESOLVE(add_cleanup, "gcm_add_cleanup");
	SHIM_RESOLVE(cleanup_cancel, "gcm_cleanup_cancel");
	SHIM_RESOLVE(finalizers_wait, "gcm_finalizers_wait");
	SHIM_RESOLVE(stats, "gcm_stats");
	SHIM_RESOLVE(version, "gcm_version");
	shim_is_active = ok;
}

static int shim_active(void)
{
	pthread_once(&shim_once, shim_resolve);
	return shim_is_active;
}

int gcm_shim_active(void)
{
	return shim_active();
}

void *gcm_shim_malloc(size_t n)
{
	return shim_active() ? shim.malloc_(n) : calloc(1, n ? n : 1);
}

void *gcm_shim_malloc_atomic(size_t n)
{
	return shim_active() ? shim.malloc_atomic(n) : malloc(n ? n : 1);
}

void gcm_shim_collect(void)
{
	if (shim_active())
		shim.collect();
}

/* Fallback handles: strong boxes, one per address. */
struct gcm_weak {
	void *p;
};

static pthread_mutex_t shim_box_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gcm_weak **shim_boxes; /* open addressing by address */
static size_t shim_nboxes, shim_box_cap;

static size_t shim_hash(const void *p, size_t cap)
{
	uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ULL;
	return (size_t)(h >> 17) & (cap - 1);
}

static int shim_box_grow(void)
{
	size_t ncap = shim_box_cap ? shim_box_cap * 2 : 1024;
	struct gcm_weak **n = calloc(ncap, sizeof(*n));
	if (n == NULL)
		return 0;
	for (size_t i = 0; i < shim_box_cap; i++) {
		if (shim_boxes[i] == NULL)
			continue;
		size_t j = shim_hash(shim_boxes[i]->p, ncap);
		while (n[j] != NULL)
			j = (j + 1) & (ncap - 1);
		n[j] = shim_boxes[i];
	}
	free(shim_boxes);
	shim_boxes = n;
	shim_box_cap = ncap;
	return 1;
}

gcm_weak_t gcm_shim_weak_make(const void *p)
{
	if (shim_active())
		return shim.weak_make(p);
	pthread_mutex_lock(&shim_box_lock);
	struct gcm_weak *box = NULL;
	if ((shim_nboxes + 1) * 2 > shim_box_cap && !shim_box_grow()) {
		pthread_mutex_unlock(&shim_box_lock);
		errno = ENOMEM;
		return NULL;
	}
	size_t i = shim_hash(p, shim_box_cap);
	while (shim_boxes[i] != NULL && shim_boxes[i]->p != p)
		i = (i + 1) & (shim_box_cap - 1);
	if (shim_boxes[i] != NULL) {
		box = shim_boxes[i];
	} else if ((box = malloc(sizeof(*box))) != NULL) {
		box->p = (void *)p;
		shim_boxes[i] = box;
		shim_nboxes++;
	} else {
		errno = ENOMEM;
	}
	pthread_mutex_unlock(&shim_box_lock);
	return box;
}

void *gcm_shim_weak_get(gcm_weak_t w)
{
	if (shim_active())
		return shim.weak_get(w);
	return w != NULL ? w->p : NULL;
}

int gcm_shim_set_finalizer(void *p, void (*fn)(void *obj, void *arg), void *arg)
{
	if (shim_active())
		return shim.set_finalizer(p, fn, arg);
	return 0;
}

/* Fallback cleanup ids: a counter; cancelled ids are remembered in a set
 * only while live ones are counted, which is enough for "0 once, then
 * ENOENT". */
static pthread_mutex_t shim_id_lock = PTHREAD_MUTEX_INITIALIZER;
static gcm_cleanup_t shim_next_id = 1;
static gcm_cleanup_t *shim_cancelled;
static size_t shim_ncancelled, shim_cancelled_cap;

gcm_cleanup_t gcm_shim_add_cleanup(void *p, void (*fn)(void *arg), void *arg)
{
	if (shim_active())
		return shim.add_cleanup(p, fn, arg);
	if (fn == NULL) {
		errno = EINVAL;
		return 0;
	}
	pthread_mutex_lock(&shim_id_lock);
	gcm_cleanup_t id = shim_next_id++;
	pthread_mutex_unlock(&shim_id_lock);
	return id;
}

int gcm_shim_cleanup_cancel(gcm_cleanup_t c)
{
	if (shim_active())
		return shim.cleanup_cancel(c);
	if (c == 0) {
		errno = EINVAL;
		return -1;
	}
	int rc = 0;
	pthread_mutex_lock(&shim_id_lock);
	if (c >= shim_next_id) {
		rc = -1;
	} else {
		for (size_t i = 0; i < shim_ncancelled; i++)
			if (shim_cancelled[i] == c)
				rc = -1;
	}
	if (rc == 0) {
		if (shim_ncancelled == shim_cancelled_cap) {
			size_t ncap = shim_cancelled_cap ? shim_cancelled_cap * 2 : 64;
			gcm_cleanup_t *n = realloc(shim_cancelled, ncap * sizeof(*n));
			if (n != NULL) {
				shim_cancelled = n;
				shim_cancelled_cap = ncap;
			}
		}
		if (shim_ncancelled < shim_cancelled_cap)
			shim_cancelled[shim_ncancelled++] = c;
	}
	pthread_mutex_unlock(&shim_id_lock);
	if (rc != 0)
		errno = ENOENT;
	return rc;
}

int gcm_shim_finalizers_wait(unsigned timeout_ms)
{
	if (shim_active())
		return shim.finalizers_wait(timeout_ms);
	return 0;
}

int gcm_shim_stats(struct gcm_stats *out, size_t out_size)
{
	if (shim_active())
		return shim.stats(out, out_size);
	if (out == NULL || out_size < sizeof(uint64_t)) {
		errno = EINVAL;
		return -1;
	}
	size_t n = out_size < sizeof(struct gcm_stats) ? out_size : sizeof(struct gcm_stats);
	memset(out, 0, n);
	out->size = n;
	return 0;
}

const char *gcm_shim_version(void)
{
	return shim_active() ? shim.version() : "none";
}

/*
 * intern.c — a string-interning table whose entries disappear once nobody
 * uses their string any more. An example of a gcmalloc-aware program: it is
 * linked with the loader (libgcmalloc-shim) and runs the same way with and
 * without libgcmalloc.so preloaded.
 *
 * What interning is. intern("hello") returns one canonical copy of the
 * text "hello": every call with equal text returns the same pointer, so the
 * program can compare interned strings with == and store each text once. A
 * classic intern table keeps every string it ever saw. This one holds its
 * strings weakly: when the rest of the program drops its last pointer to an
 * interned string, the string is reclaimed and its entry leaves the table.
 *
 * How it works with libgcmalloc.so preloaded (gcm_shim_active() == 1):
 *   - The canonical copies come from gcm_shim_malloc_atomic: collectable
 *     objects the collector never scans (text holds no pointers).
 *   - The table lives in plain malloc memory. gcmalloc scans malloc memory
 *     for pointers, so an entry must not hold its string's address: it
 *     keeps the text's hash and length and a weak handle
 *     (gcm_shim_weak_make), which reads the address while the string lives
 *     and NULL from the moment a collection finds it unreachable.
 *   - Each string gets a cleanup (gcm_shim_add_cleanup) whose argument is
 *     its entry. After the collector reclaims the string, gcmalloc's
 *     finalizer thread calls it, and it unlinks and frees the entry. The
 *     table is shared with that thread, hence the mutex.
 *   - A lookup that meets an entry whose handle already reads NULL (the
 *     string is dead, its cleanup has not run yet) just skips it.
 *
 * How it works without the preload (the loader's fallback): the strings
 * come from calloc and are never reclaimed, the handles are strong boxes,
 * cleanups are accepted and never run, and gcm_shim_collect does nothing.
 * The table then keeps every entry, like a classic intern table. Nothing
 * in this file needs to know which case it is in; it asks only to say so
 * in its report.
 *
 * The demonstration interns two small "documents", checks that equal words
 * share one copy, drops the second document, runs a collection, waits for
 * the cleanups and prints what is left in the table.
 *
 * Build: meson (examples/intern/meson.build), or by hand:
 *   cc intern.c $(pkg-config --cflags --libs gcmalloc) -o intern
 * Run:   ./intern
 *        LD_PRELOAD=/path/to/libgcmalloc.so ./intern
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcmalloc.h"

/* ---- the table ----------------------------------------------------------- */

#define BUCKETS 64

struct entry {
	struct entry *next;
	uint64_t hash;
	size_t len;
	gcm_weak_t string;      /* weak: reads the canonical copy, or NULL */
};

static struct {
	pthread_mutex_t lock;
	struct entry *bucket[BUCKETS];
	size_t count;
} table = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t hash_text(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The cleanup of a canonical copy: runs on gcmalloc's finalizer thread
 * once the string has been reclaimed, and removes its entry. */
static void entry_died(void *arg)
{
	struct entry *dead = arg;
	pthread_mutex_lock(&table.lock);
	for (struct entry **pp = &table.bucket[dead->hash % BUCKETS]; *pp; pp = &(*pp)->next) {
		if (*pp == dead) {
			*pp = dead->next;
			table.count--;
			break;
		}
	}
	pthread_mutex_unlock(&table.lock);
	free(dead);
}

/* The canonical copy of s; NULL when out of memory. */
static const char *intern(const char *s)
{
	size_t len = strlen(s);
	uint64_t h = hash_text(s, len);
	pthread_mutex_lock(&table.lock);
	for (struct entry *e = table.bucket[h % BUCKETS]; e; e = e->next) {
		if (e->hash != h || e->len != len)
			continue;
		const char *copy = gcm_shim_weak_get(e->string);
		if (copy != NULL && memcmp(copy, s, len) == 0) {
			pthread_mutex_unlock(&table.lock);
			return copy;
		}
	}
	/* Not there (or only a dead entry): make a new canonical copy. */
	char *copy = gcm_shim_malloc_atomic(len + 1);
	struct entry *e = malloc(sizeof *e);
	gcm_weak_t w = copy ? gcm_shim_weak_make(copy) : NULL;
	if (copy == NULL || e == NULL || w == NULL) {
		pthread_mutex_unlock(&table.lock);
		free(e);
		return NULL;
	}
	memcpy(copy, s, len + 1);
	e->hash = h;
	e->len = len;
	e->string = w;
	/* The argument is the entry, never the string: an argument that
	 * points into the string would keep it alive forever. */
	if (gcm_shim_add_cleanup(copy, entry_died, e) == 0) {
		pthread_mutex_unlock(&table.lock);
		free(e);
		return copy; /* still canonical enough: just not in the table */
	}
	e->next = table.bucket[h % BUCKETS];
	table.bucket[h % BUCKETS] = e;
	table.count++;
	pthread_mutex_unlock(&table.lock);
	return copy;
}

static size_t table_size(void)
{
	pthread_mutex_lock(&table.lock);
	size_t n = table.count;
	pthread_mutex_unlock(&table.lock);
	return n;
}

static int compare_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints the texts still in the table, sorted. The copies printed are
 * plain malloc'd duplicates, so printing keeps no interned string alive. */
static void print_table(void)
{
	char *texts[BUCKETS * 4];
	size_t n = 0;
	pthread_mutex_lock(&table.lock);
	for (int b = 0; b < BUCKETS; b++)
		for (struct entry *e = table.bucket[b]; e && n < sizeof texts / sizeof texts[0];
		     e = e->next) {
			const char *copy = gcm_shim_weak_get(e->string);
			if (copy != NULL)
				texts[n++] = strdup(copy);
		}
	pthread_mutex_unlock(&table.lock);
	qsort(texts, n, sizeof texts[0], compare_text);
	printf("  still interned:");
	for (size_t i = 0; i < n; i++) {
		printf(" %s", texts[i]);
		free(texts[i]);
	}
	printf("\n");
}

/* ---- the demonstration ------------------------------------------------------ */

/* A document is a NULL-terminated array of interned words in malloc
 * memory: it is what keeps the words alive. */
static const char **make_document(const char *text)
{
	char *buf = strdup(text);
	size_t cap = 1;
	for (const char *c = text; *c; c++)
		cap += *c == ' ';
	const char **words = calloc(cap + 1, sizeof *words);
	if (buf == NULL || words == NULL) {
		perror("intern");
		exit(1);
	}
	size_t n = 0;
	for (char *save = NULL, *w = strtok_r(buf, " ", &save); w;
	     w = strtok_r(NULL, " ", &save))
		words[n++] = intern(w);
	free(buf);
	return words;
}

static size_t document_length(const char **doc)
{
	size_t n = 0;
	while (doc[n])
		n++;
	return n;
}

/* Where a word of doc occurs, or -1. */
static long find_word(const char **doc, const char *text)
{
	for (size_t i = 0; doc[i]; i++)
		if (strcmp(doc[i], text) == 0)
			return (long)i;
	return -1;
}

/* A conservative collector counts any stale copy of a pointer, in a dead
 * stack frame or a register, as a reference. The steps that handle the
 * second document run in their own functions (never inlined), and this one
 * overwrites the stack they used before collecting, so that dropping the
 * document really drops its words. */
static __attribute__((noinline)) void wipe_stack(void)
{
	volatile char junk[32 * 1024];
	memset((char *)junk, 0, sizeof junk);
	__asm__ volatile("" : : "r"(junk) : "memory");
}

static const char **doc_a, **doc_b;

static __attribute__((noinline)) void intern_documents(void)
{
	doc_a = make_document("the quick brown fox jumps over the lazy dog");
	doc_b = make_document("the zebra and the yak graze with the quiet gnu");
	printf("document A: %zu words, document B: %zu words\n", document_length(doc_a),
	       document_length(doc_b));
	printf("table: %zu strings\n", table_size());

	/* Equal text, one copy: within a document, across documents, and
	 * for a later call. */
	printf("intern(\"fox\") is document A's \"fox\": %s\n",
	       intern("fox") == doc_a[find_word(doc_a, "fox")] ? "yes" : "NO");
	printf("document A's \"the\" is document B's \"the\": %s\n",
	       doc_a[0] == doc_b[0] && doc_a[0] == doc_a[6] ? "yes" : "NO");
}

static __attribute__((noinline)) void drop_document_b(void)
{
	free(doc_b);
	doc_b = NULL;
}

static __attribute__((noinline)) void intern_again(const char *word)
{
	const char *w = intern(word);
	printf("intern(\"%s\") again: %s, table: %zu strings\n", word,
	       w != NULL && strcmp(w, word) == 0 ? "ok" : "FAILED", table_size());
}

int main(void)
{
	printf("intern: %s\n", gcm_shim_active()
		       ? "collector active (unused strings are reclaimed)"
		       : "no collector (fallback: every string is kept)");

	intern_documents();

	drop_document_b();
	wipe_stack();
	gcm_shim_collect();
	/* The cleanups run on the finalizer thread: wait until it is idle. */
	if (gcm_shim_finalizers_wait(10000) != 0) {
		fprintf(stderr, "intern: the cleanups did not finish\n");
		return 1;
	}
	printf("dropped document B and collected\n");
	printf("table: %zu strings\n", table_size());
	print_table();

	intern_again("zebra");
	printf("document A still reads: %s %s %s\n", doc_a[1], doc_a[2], doc_a[3]);
	return 0;
}

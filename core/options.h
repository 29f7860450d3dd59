/*
 * options.h — GCMALLOC_* environment variables, parsed once at start-up.
 *
 *   GCMALLOC_DEBUG     comma list of key=value: scavtrace, gctrace, stats,
 *                      assert (each 0 or 1; assert sets debug_expensive),
 *                      scavcpu (1..100: the background scavenger's share of
 *                      one CPU in percent; 100 = no pacing)
 *   GCMALLOC_GC        collector pacing in percent, or "off"
 *   GCMALLOC_MEMLIMIT  soft memory limit: a number with an optional B, KiB,
 *                      MiB or GiB suffix (K, M, G and KB, MB, GB are read as
 *                      the binary units too)
 *
 * A value that cannot be parsed is never fatal: one line on stderr names the
 * variable, the value and what is accepted, and the default stays. The
 * values are read-only after opt_init; hot paths copy what they need.
 */
#ifndef GCM_OPTIONS_H
#define GCM_OPTIONS_H

#include "base.h"

/* Read-only after opt_init. */
typedef struct options {
	bool scavtrace;
	bool gctrace;
	bool stats;
	unsigned scav_cpu_percent; /* scavcpu=N: background scavenger CPU share */
	int gc_percent;         /* -1 = off */
	size_t memlimit_bytes;  /* SIZE_MAX = no limit */
} options_t;

extern options_t opt;

/* Parses the variables from envp (NULL-terminated "NAME=value" strings).
 * Calls nothing that allocates. */
void opt_init(char **envp);

/* The parsers, exposed for tests: return false (and leave *out alone) when
 * the text is not acceptable. */
bool opt_parse_bool(const char *s, bool *out);
bool opt_parse_percent(const char *s, int *out);
bool opt_parse_size(const char *s, size_t *out);

#endif /* GCM_OPTIONS_H */

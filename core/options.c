/*
 * options.c — parsing of the GCMALLOC_* variables (see options.h).
 *
 * The environment is scanned from the envp array directly, without getenv,
 * and every string is parsed in place: nothing here allocates, so it can run
 * inside the first malloc of the process. GCMALLOC_DEBUG keys are a table;
 * the warning for an unknown key lists the known ones from that table.
 */
#include "base.h"
#include "options.h"
#include "debug.h"
#include "log.h"

#include <string.h>

options_t opt = {
	.gc_percent = 100,
	.memlimit_bytes = SIZE_MAX,
	.scav_cpu_percent = 1,
};

/* A GCMALLOC_DEBUG key: a flag (uint_field NULL) or a number in [min, max]. */
struct debug_key {
	const char *name;
	bool *flag;
	unsigned *uint_field;
	unsigned min, max;
};

static const struct debug_key opt_debug_keys[] = {
	{ "scavtrace", &opt.scavtrace, NULL, 0, 0 },
	{ "gctrace", &opt.gctrace, NULL, 0, 0 },
	{ "stats", &opt.stats, NULL, 0, 0 },
	{ "assert", &debug_expensive, NULL, 0, 0 },
	{ "scavcpu", NULL, &opt.scav_cpu_percent, 1, 100 },
};

bool opt_parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "1") == 0) {
		*out = true;
		return true;
	}
	if (strcmp(s, "0") == 0) {
		*out = false;
		return true;
	}
	return false;
}

/* Parses a decimal number without sign, stopping at the first non-digit;
 * *end receives that position. False on no digits or overflow. */
static bool opt_parse_u64(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9') {
		uint64_t d = (uint64_t)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		p++;
	}
	*out = v;
	*end = p;
	return true;
}

bool opt_parse_percent(const char *s, int *out)
{
	if (strcmp(s, "off") == 0) {
		*out = -1;
		return true;
	}
	uint64_t v;
	const char *end;
	if (!opt_parse_u64(s, &v, &end) || *end != '\0' || v > 1000000)
		return false;
	*out = (int)v;
	return true;
}

bool opt_parse_size(const char *s, size_t *out)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} units[] = {
		{ "", 0 },     { "B", 0 },    { "KiB", 10 }, { "MiB", 20 },
		{ "GiB", 30 }, { "TiB", 40 }, { "K", 10 },   { "M", 20 },
		{ "G", 30 },   { "KB", 10 },  { "MB", 20 },  { "GB", 30 },
	};
	uint64_t v;
	const char *end;
	if (!opt_parse_u64(s, &v, &end))
		return false;
	for (size_t i = 0; i < GCM_ARRAY_LEN(units); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
			return false;
		*out = (size_t)(v << units[i].shift);
		return true;
	}
	return false;
}

/* GCMALLOC_DEBUG: key=value[,key=value...]. Each bad item warns once. */
static void opt_parse_debug(const char *s)
{
	char item[64];
	while (*s) {
		size_t n = strcspn(s, ",");
		size_t len = GCM_MIN(n, sizeof(item) - 1);
		memcpy(item, s, len);
		item[len] = '\0';
		s += n;
		if (*s == ',')
			s++;
		if (len == 0)
			continue;
		char *eq = strchr(item, '=');
		const char *val = eq ? eq + 1 : "";
		if (eq)
			*eq = '\0';
		const struct debug_key *k = NULL;
		for (size_t i = 0; i < GCM_ARRAY_LEN(opt_debug_keys); i++)
			if (strcmp(item, opt_debug_keys[i].name) == 0)
				k = &opt_debug_keys[i];
		if (k == NULL) {
			log_line("GCMALLOC_DEBUG: unknown key '%s' (known: scavtrace, gctrace, stats, assert, scavcpu); ignored",
				 item);
			continue;
		}
		if (k->uint_field != NULL) {
			uint64_t v;
			const char *end;
			if (!opt_parse_u64(val, &v, &end) || *end != '\0' ||
			    v < k->min || v > k->max) {
				log_line("GCMALLOC_DEBUG: bad value '%s' for %s (accepted: %u..%u); keeping %u",
					 val, k->name, k->min, k->max, *k->uint_field);
				continue;
			}
			*k->uint_field = (unsigned)v;
			continue;
		}
		bool b;
		if (!opt_parse_bool(val, &b)) {
			log_line("GCMALLOC_DEBUG: bad value '%s' for %s (accepted: 0 or 1); keeping %d",
				 val, k->name, (int)*k->flag);
			continue;
		}
		if (k->flag == &debug_expensive && b && !GCM_ASSERTIONS) {
			log_line("GCMALLOC_DEBUG: assert=1 needs a build with assertions (meson -Dassertions=true); ignored");
			continue;
		}
		*k->flag = b;
	}
}

void opt_init(char **envp)
{
	if (envp == NULL)
		return;
	for (char **e = envp; *e != NULL; e++) {
		const char *v = *e;
		if (strncmp(v, "GCMALLOC_", 9) != 0)
			continue;
		if (strncmp(v, "GCMALLOC_DEBUG=", 15) == 0) {
			opt_parse_debug(v + 15);
		} else if (strncmp(v, "GCMALLOC_GC=", 12) == 0) {
			if (!opt_parse_percent(v + 12, &opt.gc_percent))
				log_line("GCMALLOC_GC: bad value '%s' (accepted: a percentage 0..1000000 or 'off'); using the default 100",
					 v + 12);
		} else if (strncmp(v, "GCMALLOC_MEMLIMIT=", 18) == 0) {
			if (!opt_parse_size(v + 18, &opt.memlimit_bytes))
				log_line("GCMALLOC_MEMLIMIT: bad value '%s' (accepted: a byte count with an optional B, KiB, MiB, GiB or TiB suffix); using no limit",
					 v + 18);
		}
	}
}

/* gc_pacing.c — the same allocation workload, for running under different
 * GCMALLOC_GC settings.
 *
 * Usage: gc_pacing
 *
 * Single-threaded and deterministic. First a live set of 16 MiB (4096
 * objects of 4 KiB, held in a malloc'd table) is built, then one explicit
 * cycle sets the baseline: 16 MiB marked. Then 256 MiB of garbage (4 KiB
 * objects, each dropped at once) is allocated, the live set is checked,
 * and the program prints, on one line of stdout:
 *
 *   auto_before=N marked=M trigger=T auto=A heap=H
 *
 *   auto_before  cycles that ran before the explicit one (while the live
 *                set was built)
 *   marked       gc_marked_bytes after the explicit cycle
 *   trigger      gc_trigger_bytes right after the explicit cycle
 *   auto         automatic cycles during the 256 MiB of garbage
 *   heap         gc_heap_bytes at the end
 *
 * GCMALLOC_GC=P puts the trigger at marked x (1 + P/100) (Go's GOGC), so
 * with 16 MiB live the garbage phase runs about 256 / (16 P / 100) cycles:
 * about 32 for 50, 16 for 100, 8 for 200, none for off. The driver checks
 * the order and the trigger, not exact counts.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "gcp.h"

#define LIVE_OBJECTS 4096
#define OBJ 4096
#define GARBAGE (256 * MiB)

static void **volatile live;

static GCP_NOINLINE void build_live(void)
{
	void **t = malloc(LIVE_OBJECTS * sizeof(void *));
	GCP_CHECK(t != NULL, "malloc");
	for (size_t i = 0; i < LIVE_OBJECTS; i++)
		t[i] = gcp_new(OBJ, i, 0);
	live = t;
}

static GCP_NOINLINE void garbage(void)
{
	for (size_t done = 0; done < GARBAGE; done += OBJ) {
		uint64_t *p = gcp.malloc(OBJ);
		GCP_CHECK(p != NULL, "gcm_malloc failed");
		p[0] = 0x8000000000000000ull | done;
	}
}

static GCP_NOINLINE void verify_live(void)
{
	for (size_t i = 0; i < LIVE_OBJECTS; i++)
		GCP_CHECK(gcp_intact(live[i], OBJ, i), "live object %zu spoilt", i);
}

int main(void)
{
	gcp_init();
	build_live();
	struct gcm_stats st;
	gcp_stats(&st);
	uint64_t before = st.gc_cycles;
	gcp_collect(&st, 1);
	uint64_t marked = st.gc_marked_bytes, trigger = st.gc_trigger_bytes;
	GCP_CHECK(marked == LIVE_OBJECTS * gcp_usable(live[0]),
		  "%llu bytes marked, expected the live set, %zu", (unsigned long long)marked,
		  LIVE_OBJECTS * gcp_usable(live[0]));
	uint64_t base = st.gc_cycles;
	garbage();
	gcp_clear_stack();
	verify_live();
	gcp_stats(&st);
	GCP_CHECK(st.gc_cycles_skipped == 0, "%llu cycles skipped",
		  (unsigned long long)st.gc_cycles_skipped);
	gcp_say("auto_before=%llu marked=%llu trigger=%llu auto=%llu heap=%llu",
		(unsigned long long)before, (unsigned long long)marked,
		(unsigned long long)trigger, (unsigned long long)(st.gc_cycles - base),
		(unsigned long long)st.gc_heap_bytes);
	return 0;
}

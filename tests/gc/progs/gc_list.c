/* gc_list.c — a 10-million-node linked list reachable only through its
 * head.
 *
 * Usage: gc_list forward|backward|wide [NODES]   (default 10000000)
 *   forward   each node points to the one allocated after it (links go up
 *             in memory, mostly)
 *   backward  each node points to the one allocated before it (links go
 *             down)
 *   wide      not a list: the head points to one large array holding a
 *             pointer to every node, so marking it queues every node at
 *             once (the mark stack must grow, or recover from overflow)
 *
 * Every node is a 16-byte gcm_malloc object {next, value}; the head is in
 * a static (for wide, the array's usable size counts as marked too). Nothing may overflow: automatic cycles run while the list
 * grows, an explicit cycle must then mark exactly NODES x 16 bytes and
 * leave every value in place (the sum is checked), and after the head is
 * dropped one cycle must reclaim exactly that much. The times of the
 * explicit cycles are printed.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "gcp.h"

struct node {
	struct node *next;
	uint64_t value;
};

static struct node *volatile head;

static uint64_t value_of(size_t i)
{
	return (uint64_t)i * 2654435761u + 17;
}

static GCP_NOINLINE void build_backward(size_t n)
{
	struct node *h = NULL;
	for (size_t i = n; i-- > 0;) {
		struct node *nd = gcp.malloc(sizeof *nd);
		GCP_CHECK(nd != NULL, "gcm_malloc failed at node %zu", n - i);
		nd->value = value_of(i);
		nd->next = h;
		h = nd;
	}
	head = h;
}

static GCP_NOINLINE void build_forward(size_t n)
{
	struct node *h = gcp.malloc(sizeof *h);
	GCP_CHECK(h != NULL, "gcm_malloc failed");
	h->value = value_of(0);
	head = h;
	struct node *tail = h;
	for (size_t i = 1; i < n; i++) {
		struct node *nd = gcp.malloc(sizeof *nd);
		GCP_CHECK(nd != NULL, "gcm_malloc failed at node %zu", i);
		nd->value = value_of(i);
		tail->next = nd;
		tail = nd;
	}
}

static struct node **volatile table;

static GCP_NOINLINE void build_wide(size_t n)
{
	struct node **t = gcp.malloc(n * sizeof *t);
	GCP_CHECK(t != NULL, "gcm_malloc of the table failed");
	for (size_t i = 0; i < n; i++) {
		struct node *nd = gcp.malloc(sizeof *nd);
		GCP_CHECK(nd != NULL, "gcm_malloc failed at node %zu", i);
		nd->value = value_of(i);
		t[i] = nd;
	}
	table = t;
}

static GCP_NOINLINE void verify_wide(size_t n)
{
	for (size_t i = 0; i < n; i++)
		GCP_CHECK(table[i]->value == value_of(i),
			  "node %zu holds %llu, expected %llu (reclaimed while reachable?)", i,
			  (unsigned long long)table[i]->value, (unsigned long long)value_of(i));
}

static GCP_NOINLINE void verify(size_t n)
{
	size_t i = 0;
	for (const struct node *nd = head; nd; nd = nd->next, i++)
		GCP_CHECK(i < n && nd->value == value_of(i),
			  "node %zu holds %llu, expected %llu (reclaimed while reachable?)", i,
			  (unsigned long long)nd->value, (unsigned long long)value_of(i));
	GCP_CHECK(i == n, "the list has %zu nodes, expected %zu", i, n);
}

int main(int argc, char **argv)
{
	gcp_init();
	GCP_CHECK(argc >= 2, "usage: gc_list forward|backward|wide [NODES]");
	int forward = strcmp(argv[1], "forward") == 0;
	int wide = strcmp(argv[1], "wide") == 0;
	GCP_CHECK(forward || wide || strcmp(argv[1], "backward") == 0, "bad shape '%s'", argv[1]);
	size_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000000;

	void *probe = gcp.malloc(sizeof(struct node));
	size_t node_bytes = gcp_usable(probe);
	free(probe);
	GCP_CHECK(node_bytes == 16, "a 16-byte object has usable size %zu", node_bytes);

	uint64_t t0 = gcp_now_ns();
	size_t extra = 0;
	if (wide) {
		build_wide(n);
		extra = gcp_usable(table);
	} else if (forward) {
		build_forward(n);
	} else {
		build_backward(n);
	}
	uint64_t t1 = gcp_now_ns();
	struct gcm_stats st;
	gcp_stats(&st);
	uint64_t auto_cycles = st.gc_cycles;

	gcp_collect(&st, 1);
	uint64_t t2 = gcp_now_ns();
	size_t total = n * node_bytes + extra;
	GCP_CHECK(st.gc_marked_bytes == total,
		  "%llu bytes marked, expected exactly %zu (%zu nodes)",
		  (unsigned long long)st.gc_marked_bytes, total, n);
	GCP_CHECK(st.gc_freed_bytes == 0, "%llu bytes freed while the list was held",
		  (unsigned long long)st.gc_freed_bytes);
	if (wide)
		verify_wide(n);
	else
		verify(n);

	head = NULL;
	table = NULL;
	uint64_t t3 = gcp_now_ns();
	gcp_collect(&st, 1);
	uint64_t t4 = gcp_now_ns();
	GCP_CHECK(st.gc_marked_bytes == 0, "after the drop: %llu bytes marked",
		  (unsigned long long)st.gc_marked_bytes);
	GCP_CHECK(st.gc_freed_bytes == total, "after the drop: %llu bytes freed, expected %zu",
		  (unsigned long long)st.gc_freed_bytes, total);
	gcp_say("ok %s list of %zu nodes: built in %.0f ms with %llu automatic cycles; "
		"full cycle %.0f ms, reclaiming cycle %.0f ms",
		argv[1], n, (double)(t1 - t0) / 1e6, (unsigned long long)auto_cycles,
		(double)(t2 - t1) / 1e6, (double)(t4 - t3) / 1e6);
	return 0;
}

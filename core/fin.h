/*
 * fin.h — finalizers and cleanups (Go's runtime.SetFinalizer and
 * runtime.AddCleanup, in C), the finalizer thread, and the collector's
 * handling of specials.
 */
#ifndef GCM_FIN_H
#define GCM_FIN_H

#include "base.h"
#include "mark.h"

/* gcm_set_finalizer: 0, or -1 with errno EINVAL (not the first byte of a
 * live object) / EEXIST (already has one) / ENOMEM. */
int fin_set_finalizer(void *p, void (*fn)(void *obj, void *arg), void *arg);
/* gcm_add_cleanup: an id (never 0), or 0 with errno EINVAL / ENOMEM. */
uint64_t fin_add_cleanup(void *p, void (*fn)(void *arg), void *arg);
/* gcm_cleanup_cancel: 0, or -1 with errno EINVAL (0) / ENOENT (already run,
 * queued or cancelled). */
int fin_cleanup_cancel(uint64_t id);
/* gcm_finalizers_wait: 0 once the queue is empty and the finalizer thread
 * is asleep; -1 with errno ETIMEDOUT. */
int fin_wait(unsigned timeout_ms);

/* Finalizers and cleanups run so far, and queued now. */
void fin_get_counts(uint64_t *run, uint64_t *queued);

/* Collector hooks, with the world stopped, after the roots are marked:
 * marks what specials keep alive (arguments, queued entries, everything a
 * finalizable object references), then clears weak handles of unreachable
 * objects, queues finalizers (marking their objects for this cycle) and
 * cleanups. Leaves nothing for the sweep to find on a dead object. */
void fin_collect_stw(mark_state_t *m);
/* After the world restarted: wakes the finalizer thread if work was
 * queued. Safe point required (may start the thread). */
void fin_after_cycle(void);

void fin_prefork(void);
void fin_postfork_parent(void);
void fin_postfork_child(void);

#endif /* GCM_FIN_H */

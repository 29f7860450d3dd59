/*
 * stw.h — stopping and restarting every other thread of the process.
 *
 * See stw.c for the handshake and the argument why a stopped thread is never
 * seen in the middle of an allocator operation.
 */
#ifndef GCM_STW_H
#define GCM_STW_H

#include "base.h"

#include <signal.h>

/* Saved general registers per stopped thread (x86-64 has 23 in gregs). */
#define STW_NREGS 32

enum stw_state {
	STW_PENDING = 0,  /* signalled, no answer yet */
	STW_STOPPED = 1,  /* waiting in its handler; sp, tp and regs are valid */
	STW_UNSAFE = 2,   /* was inside the allocator; will be signalled again */
	STW_GONE = 3,     /* exited, or never answered before the cycle was abandoned */
};

typedef struct stw_thread {
	int tid;
	int state;                 /* enum stw_state; Atomic */
	uintptr_t sp;              /* stack pointer where it was interrupted */
	uintptr_t tp;              /* its thread pointer (TLS) */
	uintptr_t regs[STW_NREGS]; /* its registers where it was interrupted */
} stw_thread_t;

/* The signal used to stop threads; 0 = stopping is not possible (no
 * handler could be installed). Set once at start-up by the preload layer
 * (or a test), which installs stw_signal_handler for it. */
extern int stw_signal;
/* A thread that is never stopped (the scavenger, which blocks every signal
 * and holds no pointers into the heap). 0 = none. Atomic. */
extern int stw_exempt_tid;
/* The address range of the allocator's code (see tcache_set_code_range);
 * a thread interrupted there is not stopped yet. */

void stw_signal_handler(int sig, siginfo_t *si, void *ucv);

/*
 * Stops every other thread of the process at a safe point (outside every
 * allocator operation). Returns false, with every thread running again, if
 * some thread could not be stopped within the time limit (it blocks the
 * signal, or stays inside the allocator). The caller must hold no allocator
 * lock (a thread waiting for one could never reach a safe point).
 */
bool stw_stop(void);
/* Restarts the threads stopped by stw_stop. */
void stw_start(void);

/* The threads stopped by the last stw_stop: [0, stw_nthreads); only entries
 * in state STW_STOPPED are meaningful. Valid between stw_stop and
 * stw_start. */
extern stw_thread_t *stw_threads;
extern size_t stw_nthreads;

#endif /* GCM_STW_H */

/* early_dep.h — interface of libearly_dep.so (see early_dep.c). */
#ifndef GCM_IT_EARLY_DEP_H
#define GCM_IT_EARLY_DEP_H

/* Allocates and frees in a loop until early_dep_stop() was called and at
 * least 20000 rounds were done. Returns the number of rounds. */
void *early_churn(void *arg);

/* Sets the stop flag and joins the library's own threads. */
void early_dep_stop(void);

#endif

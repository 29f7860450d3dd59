/* exit_dep.h — interface of libexit_dep.so (see exit_dep.c). */
#ifndef GCM_IT_EXIT_DEP_H
#define GCM_IT_EXIT_DEP_H

/* Allocates, reallocates, checks and frees a few hundred blocks. */
void exit_dep_churn(unsigned seed);

#endif

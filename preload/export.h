/*
 * export.h — GCM_EXPORT marks the symbols libgcmalloc.so exports: the malloc
 * family and gcm_*. Everything else in the library is hidden
 * (-fvisibility=hidden), and the version script gcmalloc.map has the
 * final say. Included only by files in preload/.
 */
#ifndef GCM_EXPORT_H
#define GCM_EXPORT_H

#define GCM_EXPORT __attribute__((visibility("default")))

#endif /* GCM_EXPORT_H */

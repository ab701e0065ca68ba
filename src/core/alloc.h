/* The allocation policy: chorus never goes on after an allocation fails. Every heap
 * allocation of chorus's own code goes through these wrappers, which log one line and
 * abort() when the C library returns NULL, as Redis's zmalloc and h2o's h2o_mem_alloc do:
 * a process out of memory cannot answer correctly, and checking every call site would add
 * untested error paths to every function. Jansson and libuv are given the same allocator at
 * start (ch_alloc_install); SQLite, libpq and hiredis report their own allocation failures
 * as errors, which become 500/503 answers. Memory is freed with free(). */
#ifndef CH_CORE_ALLOC_H
#define CH_CORE_ALLOC_H

#include <stddef.h>

/** malloc that never returns NULL (aborts instead); the caller frees with free(). */
void *ch_malloc(size_t size);
/** calloc that never returns NULL (aborts instead); the caller frees with free(). */
void *ch_calloc(size_t count, size_t size);
/** realloc that never returns NULL for a non-zero size (aborts instead); on success ptr
 * belongs to the allocator and the result to the caller. */
void *ch_realloc(void *ptr, size_t size);
/** strdup that never returns NULL (aborts instead); the caller frees the copy. */
char *ch_strdup(const char *s);
/** strndup that never returns NULL (aborts instead); the caller frees the copy. */
char *ch_strndup(const char *s, size_t n);
/** Makes Jansson and libuv allocate through the wrappers above. Call once at start, before
 * any JSON value or libuv handle exists. */
void ch_alloc_install(void);

#endif

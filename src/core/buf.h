/* A growable byte buffer for building text (metrics, JSON fragments). */
#ifndef CH_CORE_BUF_H
#define CH_CORE_BUF_H

#include <stddef.h>

typedef struct {
    char *data; /* NUL-terminated, owned; NULL until the first append */
    size_t len;
    size_t cap;
} ch_buf_t;

#define CH_BUF_INIT {NULL, 0, 0}

/** Appends len bytes. Aborts on out-of-memory (like h2o's allocator). */
void ch_buf_append(ch_buf_t *b, const char *s, size_t len);
/** Makes room for extra more bytes (and the NUL) in one allocation, so that appends of a
 * known total do not grow the buffer step by step. */
void ch_buf_reserve(ch_buf_t *b, size_t extra);
/** Appends printf-formatted text. */
void ch_buf_printf(ch_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Frees the data and resets the buffer. */
void ch_buf_clear(ch_buf_t *b);

#endif

/* A growable byte buffer for building text (metrics, JSON fragments). */
#ifndef CH_CORE_BUF_H
#define CH_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *data; /* NUL-terminated, owned; NULL until the first append */
    size_t len;
    size_t cap;
} ch_buf_t;

#define CH_BUF_INIT {NULL, 0, 0}

/** Grows b for extra more bytes and the NUL (ch_buf_append's slow path; aborts on
 * out-of-memory, like h2o's allocator). */
void ch__buf_grow(ch_buf_t *b, size_t extra);

/** Appends len bytes (borrowed). Aborts on out-of-memory (like h2o's allocator). Inline: a
 * page is made of thousands of small appends, most of them of constant length, which the
 * compiler then copies without a call. */
static inline void ch_buf_append(ch_buf_t *b, const char *s, size_t len)
{
    if (b->len + len + 1 > b->cap)
        ch__buf_grow(b, len);
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}
/** Makes room for extra more bytes (and the NUL) in one allocation, so that appends of a
 * known total do not grow the buffer step by step. */
void ch_buf_reserve(ch_buf_t *b, size_t extra);
/** Appends the NUL-terminated s (borrowed), without escaping: for names the program owns. */
void ch_buf_append_str(ch_buf_t *b, const char *s);
/** Appends v in decimal, without printf (hot paths: counts and ids in rendered text). */
void ch_buf_append_u64(ch_buf_t *b, uint64_t v);
/** Appends v in decimal with a '-' when negative, without printf. */
void ch_buf_append_i64(ch_buf_t *b, int64_t v);
/** Appends the time unix_ms as a JSON string, "2026-11-28T08:51:00.123Z" with its quotes
 * (core/clock.h ch_format_rfc3339), without printf. */
void ch_buf_append_time(ch_buf_t *b, int64_t unix_ms);
/** Appends printf-formatted text (cold paths: a vsnprintf costs ten times an append). */
void ch_buf_printf(ch_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Frees the data and resets the buffer. */
void ch_buf_clear(ch_buf_t *b);

#endif

#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/id.h"

void ch__buf_grow(ch_buf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = ch_realloc(b->data, cap);
    b->cap = cap;
}

void ch_buf_reserve(ch_buf_t *b, size_t extra)
{
    ch__buf_grow(b, extra);
}

void ch_buf_append_str(ch_buf_t *b, const char *s)
{
    ch_buf_append(b, s, strlen(s));
}

void ch_buf_append_u64(ch_buf_t *b, uint64_t v)
{
    ch__buf_grow(b, 20); /* UINT64_MAX has 20 digits */
    b->len = (size_t)(ch_u64_put(b->data + b->len, v) - b->data);
    b->data[b->len] = '\0';
}

void ch_buf_append_i64(ch_buf_t *b, int64_t v)
{
    if (v < 0) {
        ch_buf_append(b, "-", 1);
        ch_buf_append_u64(b, (uint64_t)0 - (uint64_t)v); /* INT64_MIN too: no signed overflow */
    } else {
        ch_buf_append_u64(b, (uint64_t)v);
    }
}

void ch_buf_append_time(ch_buf_t *b, int64_t unix_ms)
{
    ch__buf_grow(b, CH_RFC3339_LEN + 2);
    char *p = b->data + b->len;
    *p = '"';
    size_t n = ch_format_rfc3339(unix_ms, p + 1);
    p[n + 1] = '"';
    b->len += n + 2;
    b->data[b->len] = '\0';
}

void ch_buf_printf(ch_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    ch__buf_grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void ch_buf_clear(ch_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

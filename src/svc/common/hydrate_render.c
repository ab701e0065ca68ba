/* Hydrated texts into response bodies (svc/common/hydrate.h). */
#include "svc/common/hydrate.h"

void ch_hydrated_append_array(ch_buf_t *b, const ch_hydrated_t *h, size_t n)
{
    int first = 1;
    ch_buf_append(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (!h[i].json)
            continue;
        if (!first)
            ch_buf_append(b, ",", 1);
        ch_buf_append(b, h[i].json, h[i].len);
        first = 0;
    }
    ch_buf_append(b, "]", 1);
}

void ch_hydrated_append_with(ch_buf_t *b, const ch_hydrated_t *h, const char *extra, size_t extra_len)
{
    if (!h->json || h->len < 2)
        return;
    if (extra_len == 0) {
        ch_buf_append(b, h->json, h->len);
        return;
    }
    /* every text ends with its object's closing brace and has at least one member */
    ch_buf_append(b, h->json, h->len - 1);
    ch_buf_append(b, ",", 1);
    ch_buf_append(b, extra, extra_len);
    ch_buf_append(b, "}", 1);
}

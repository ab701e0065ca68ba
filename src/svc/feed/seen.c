/* The per-viewer seen set in the kv store (seen.h). */
#include "svc/feed/seen.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "svc/common/kv_local.h"

#define CH__SEEN_ENTRY_MAX 26 /* "255:" + 20 digits + ',' */

size_t ch_feed_seen_parse(const char *text, ch_item_key_t *keys, size_t max)
{
    size_t n = 0;
    const char *p = text;
    while (p && *p && n < max) {
        char *end;
        unsigned long t = strtoul(p, &end, 10);
        if (end == p || *end != ':' || t > 255)
            break;
        p = end + 1;
        unsigned long long id = strtoull(p, &end, 10);
        if (end == p || (*end && *end != ','))
            break;
        keys[n].type = (uint8_t)t;
        keys[n].id = id;
        n++;
        p = *end ? end + 1 : end;
    }
    return n;
}

static int ch__key_cmp(const void *a, const void *b)
{
    const ch_item_key_t *x = a, *y = b;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void ch_feed_seen_sort(ch_item_key_t *keys, size_t n)
{
    if (n > 1)
        qsort(keys, n, sizeof(*keys), ch__key_cmp);
}

int ch_feed_seen_has(const ch_item_key_t *sorted, size_t n, ch_item_key_t key)
{
    return n && bsearch(&key, sorted, n, sizeof(key), ch__key_cmp) != NULL;
}

char *ch_feed_seen_merge(const char *old, const ch_item_key_t *add, size_t nadd, size_t *len_out)
{
    ch_item_key_t *prev = malloc(sizeof(*prev) * CH_FEED_SEEN_MAX), *sorted;
    char *out = malloc((size_t)CH_FEED_SEEN_MAX * CH__SEEN_ENTRY_MAX + 1);
    size_t nprev = prev ? ch_feed_seen_parse(old, prev, CH_FEED_SEEN_MAX) : 0, len = 0, kept = 0;
    sorted = malloc(sizeof(*sorted) * (nadd + CH_FEED_SEEN_MAX + 1));
    if (!prev || !out || !sorted) {
        free(prev);
        free(out);
        free(sorted);
        return NULL;
    }
    size_t nsorted = 0, nnew = 0;
    out[0] = '\0';
    /* new keys first (in the order served), then the old ones; a key written once */
    for (size_t pass = 0; pass < 2; pass++) {
        const ch_item_key_t *src = pass ? prev : add;
        size_t n = pass ? nprev : nadd;
        for (size_t i = 0; i < n && kept < CH_FEED_SEEN_MAX; i++) {
            int dup = 0;
            /* old keys are unique already: they are checked against the (few) new ones only */
            for (size_t k = 0; k < (pass ? nnew : nsorted) && !dup; k++)
                dup = sorted[k].type == src[i].type && sorted[k].id == src[i].id;
            if (dup)
                continue;
            sorted[nsorted++] = src[i];
            len += (size_t)snprintf(out + len, CH__SEEN_ENTRY_MAX + 1, "%s%u:%" PRIu64, kept ? "," : "",
                                    (unsigned)src[i].type, src[i].id);
            kept++;
        }
        nnew = nsorted;
    }
    free(prev);
    free(sorted);
    if (len_out)
        *len_out = len;
    return out;
}

/* Whether text (a seen set) begins with keys[0..n) in that order, as a merge would write
 * them: then merging them changes nothing, and the set's parse and rewrite are spared. */
static int ch__starts_with_keys(const char *text, const ch_item_key_t *keys, size_t n)
{
    const char *p = text;
    for (size_t i = 0; i < n; i++) {
        char one[CH__SEEN_ENTRY_MAX + 1], *q = one; /* as the merge writes it, without printf */
        if (i)
            *q++ = ',';
        q = ch_u64_put(q, keys[i].type);
        *q++ = ':';
        q = ch_u64_put(q, keys[i].id);
        size_t l = (size_t)(q - one);
        if (strncmp(p, one, l) != 0)
            return 0;
        p += l;
    }
    return *p == ',' || *p == '\0';
}

static void ch__seen_key(uint64_t viewer, char *key, size_t len)
{
    snprintf(key, len, "feed:seen:%" PRIu64, viewer);
}

ch_err_t ch_feed_seen_load(ch_svc_t *svc, uint64_t viewer, ch_item_key_t **keys_out, size_t *n_out)
{
    char key[64], *val = NULL;
    *keys_out = NULL;
    *n_out = 0;
    ch__seen_key(viewer, key, sizeof(key));
    ch_err_t err = ch_kvl_get(svc, key, &val, NULL);
    if (err || !val)
        return err;
    ch_item_key_t *keys = malloc(sizeof(*keys) * CH_FEED_SEEN_MAX);
    if (!keys) {
        free(val);
        return CH_EINTERNAL;
    }
    size_t n = ch_feed_seen_parse(val, keys, CH_FEED_SEEN_MAX);
    free(val);
    ch_feed_seen_sort(keys, n);
    *keys_out = keys;
    *n_out = n;
    return CH_OK;
}

ch_err_t ch_feed_seen_add(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, size_t n)
{
    if (n == 0)
        return CH_OK;
    char key[64], *old = NULL;
    ch__seen_key(viewer, key, sizeof(key));
    ch_err_t err = ch_kvl_get(svc, key, &old, NULL);
    if (err)
        return err;
    if (old && ch__starts_with_keys(old, keys, n)) {
        free(old); /* the same page served again (a reused ranking): already the newest, in order */
        return CH_OK;
    }
    size_t len = 0;
    char *val = ch_feed_seen_merge(old, keys, n, &len);
    /* the same page served again (a reused ranking): the set is unchanged, spare the write */
    int same = val && old && strlen(old) == len && memcmp(old, val, len) == 0;
    free(old);
    if (!val)
        return CH_EINTERNAL;
    err = same ? CH_OK : ch_kvl_set(svc, key, val, len, CH_FEED_SEEN_TTL_MS);
    free(val);
    return err;
}

/* Pages as JSON text: see page.h. */
#include "svc/common/page.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"

/* The API name of a type ("post"), from the registry's map (svc/engage/target.h is above us). */
static const char *ch__type_name(ch_target_type_t type)
{
    static const char *const names[] = {
#define XX(name, type, segment) type,
        CH_TARGET_MAP(XX)
#undef XX
    };
    return (unsigned)type < CH__TARGET_COUNT ? names[type] : "item";
}

void ch_page_id(ch_buf_t *b, uint64_t id)
{
    ch_buf_append(b, "\"", 1);
    ch_buf_append_u64(b, id);
    ch_buf_append(b, "\"", 1);
}

void ch_page_time(ch_buf_t *b, int64_t ms)
{
    ch_buf_append_time(b, ms);
}

void ch_page_close(ch_buf_t *b, uint64_t next)
{
    static const char head[] = ",\"next_cursor\":";
    ch_buf_append(b, head, sizeof(head) - 1);
    if (next)
        ch_page_id(b, next);
    else
        ch_buf_append(b, "null", 4);
    ch_buf_append(b, "}", 1);
}

void ch_page_user_with(ch_buf_t *b, const ch_hydrated_user_t *u, const char *extra, size_t extra_len)
{
    if (extra_len == 0 || u->len < 2) {
        ch_buf_append(b, u->json, u->len);
        return;
    }
    ch_buf_append(b, u->json, u->len - 1); /* without the closing brace */
    if (u->len > 2)
        ch_buf_append(b, ",", 1);
    ch_buf_append(b, extra, extra_len);
    ch_buf_append(b, "}", 1);
}

void ch_page_user_private(ch_buf_t *b, const ch_hydrated_user_t *u)
{
    static const char yes[] = "\"is_private\":true", no[] = "\"is_private\":false";
    if (u->is_private)
        ch_page_user_with(b, u, yes, sizeof(yes) - 1);
    else
        ch_page_user_with(b, u, no, sizeof(no) - 1);
}

ch_err_t ch_page_items(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, size_t n, unsigned flags,
                       uint64_t next, char **out, ch_fault_t *f)
{
    ch_hydrated_t *h = n ? calloc(n, sizeof(*h)) : NULL;
    if (n && !h)
        return ch_fault(f, CH_EINTERNAL, NULL, "out of memory");
    ch_err_t err = n ? ch_hydrate_items(svc, viewer, keys, n, flags, h, f) : CH_OK;
    if (err == CH_OK) {
        ch_buf_t b = CH_BUF_INIT;
        ch_buf_append(&b, "{\"items\":", 9);
        ch_hydrated_append_array(&b, h, n);
        ch_page_close(&b, next);
        *out = b.data;
    }
    ch_hydrated_free(h, n);
    free(h);
    return err;
}

ch_err_t ch_page_item_get(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id, char **out,
                          ch_fault_t *f)
{
    if (id == 0 || id > INT64_MAX)
        return ch_fault(f, CH_ENOTFOUND, NULL, "%s not found", ch__type_name(type));
    ch_item_key_t key = {(uint8_t)type, id};
    ch_hydrated_t h;
    ch_err_t err = ch_hydrate_items(svc, viewer, &key, 1, 0, &h, f);
    if (err)
        return err;
    if (!h.json)
        return ch_fault(f, CH_ENOTFOUND, NULL, "%s not found", ch__type_name(type));
    *out = h.json; /* ownership moves to the caller */
    return CH_OK;
}

ch_err_t ch_page_check_author(ch_svc_t *svc, uint64_t viewer, uint64_t author, int *followers, ch_fault_t *f)
{
    if (author == 0 || author > INT64_MAX)
        return ch_fault(f, CH_ENOTFOUND, NULL, "user not found");
    ch_hydrated_user_t u;
    ch_err_t err = ch_hydrate_users(svc, viewer, &author, 1, &u, f);
    if (err)
        return err;
    int shown = u.json != NULL, self = viewer == author;
    int may = shown && (self || !u.is_private || u.following);
    if (followers)
        *followers = self || u.following;
    ch_hydrated_users_free(&u, 1);
    return may ? CH_OK : ch_fault(f, CH_ENOTFOUND, NULL, "user not found");
}

ch_err_t ch_page_fill(ch_svc_t *svc, uint64_t viewer, unsigned flags, int limit, size_t scan_max, uint64_t cursor,
                      ch_page_ids_fn next_ids, void *ctx, ch_page_t *pg, ch_fault_t *f)
{
    pg->n = 0; /* only the used part of pg is written: no memset of its 100 slots per page */
    pg->next = 0;
    size_t want = 2 * (size_t)limit + 1, scanned = 0;
    ch_item_key_t keys[2 * CH_PAGE_LIMIT_MAX + 1];
    ch_hydrated_t h[2 * CH_PAGE_LIMIT_MAX + 1];
    ch_err_t err = CH_OK;
    for (int round = 0; round < CH_PAGE_ROUNDS_MAX && pg->n < (size_t)limit; round++) {
        size_t ask = scan_max - scanned < want ? scan_max - scanned : want, n = 0;
        if (ask == 0)
            break;
        if ((err = next_ids(svc, ctx, cursor, ask, keys, &n)) != CH_OK)
            break;
        if (n == 0) {
            cursor = 0;
            break;
        }
        /* Only as many ids are hydrated as the page still lacks (more only when some were
         * hidden): the ids read beyond them cost one statement's rows, not their hydration. */
        size_t i = 0;
        while (i < n && pg->n < (size_t)limit) {
            size_t need = (size_t)limit - pg->n, chunk = n - i < need ? n - i : need;
            if ((err = ch_hydrate_items(svc, viewer, keys + i, chunk, flags, h + i, f)) != CH_OK)
                break;
            /* chunk <= need: every one of them is considered */
            for (size_t k = i; k < i + chunk; k++)
                if (h[k].json) {
                    pg->ids[pg->n] = keys[k].id;
                    pg->h[pg->n++] = h[k];
                    memset(&h[k], 0, sizeof(h[k]));
                }
            ch_hydrated_free(h + i, chunk);
            i += chunk;
        }
        if (err)
            break;
        scanned += n;
        /* i - 1 is the last id considered; more may follow it unless the list ended there. */
        cursor = i < n || n == ask ? keys[i - 1].id : 0;
        if (cursor == 0)
            break;
    }
    if (err) {
        ch_hydrated_free(pg->h, pg->n);
        pg->n = 0;
        return err;
    }
    pg->next = cursor;
    return CH_OK;
}

void ch_page_append(ch_buf_t *b, const ch_page_t *pg)
{
    ch_buf_append(b, "{\"items\":", 9);
    ch_hydrated_append_array(b, pg->h, pg->n);
    ch_page_close(b, pg->next);
}

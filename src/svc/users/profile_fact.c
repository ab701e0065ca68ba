/* Profiles as hydration-cache facts (svc/users/profile_fact.h). A "p:" value is binary:
 * 'P', a version byte (1), the public text's length (uint32, little-endian), the public
 * text, then the owner's extra members (",\"interests\":[...],\"region\":..." without the
 * closing brace). A "h:" value is 'H', 1 and the id (uint64, little-endian). A value that
 * does not decode exactly is a miss, read again from the database. */
#include "svc/users/profile_fact.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/u64_bytes.h"
#include "store/hcache.h"
#include "svc/common/hydrate.h"
#include "svc/common/hydrate_keys.h"
#include "svc/common/sql.h"
#include "svc/users/users.h"

#define CH__FACT_HEAD 6      /* 'P', version, uint32 length */
#define CH__HANDLE_FACT_LEN 10 /* 'H', version, uint64 id */

/* ---- codec ------------------------------------------------------------------------------ */

char *ch_profile_fact_encode(const char *pub, size_t plen, const char *self, size_t slen, size_t *len)
{
    if (plen < 2 || plen > UINT32_MAX || pub[0] != '{' || pub[plen - 1] != '}' || slen < plen ||
        self[slen - 1] != '}' || memcmp(self, pub, plen - 1) != 0 || (slen > plen && self[plen - 1] != ','))
        return NULL;
    size_t extra = slen - plen; /* self's bytes between the public members and its brace */
    char *v = ch_malloc(CH__FACT_HEAD + plen + extra);
    v[0] = 'P';
    v[1] = 1;
    for (int i = 0; i < 4; i++)
        v[2 + i] = (char)((plen >> (8 * i)) & 0xff);
    memcpy(v + CH__FACT_HEAD, pub, plen);
    memcpy(v + CH__FACT_HEAD + plen, self + plen - 1, extra);
    *len = CH__FACT_HEAD + plen + extra;
    return v;
}

int ch_profile_fact_decode(const char *v, size_t len, ch_profile_fact_t *out)
{
    *out = (ch_profile_fact_t){0};
    if (len < CH__FACT_HEAD || v[0] != 'P' || v[1] != 1)
        return 0;
    size_t plen = 0;
    for (int i = 0; i < 4; i++)
        plen |= (size_t)(unsigned char)v[2 + i] << (8 * i);
    const char *pub = v + CH__FACT_HEAD;
    if (plen < 2 || plen > len - CH__FACT_HEAD || pub[0] != '{' || pub[plen - 1] != '}')
        return 0;
    size_t extra = len - CH__FACT_HEAD - plen;
    if (extra && pub[plen] != ',')
        return 0;
    if (memchr(pub, '\0', plen + extra))
        return 0;
    out->text = ch_malloc(plen + extra + 1);
    memcpy(out->text, pub, plen + extra);
    out->text[plen + extra] = '\0';
    out->public_len = plen;
    out->len = plen + extra;
    return 1;
}

void ch_profile_fact_clear(ch_profile_fact_t *p)
{
    free(p->text);
    *p = (ch_profile_fact_t){0};
}

char *ch_profile_fact_self(const ch_profile_fact_t *p)
{
    size_t extra = p->len - p->public_len;
    char *s = ch_malloc(p->len + 1);
    memcpy(s, p->text, p->public_len - 1);
    memcpy(s + p->public_len - 1, p->text + p->public_len, extra);
    s[p->len - 1] = '}';
    s[p->len] = '\0';
    return s;
}

/* ---- read-through ----------------------------------------------------------------------- */

/* One cache lookup of key: 1 and *got filled (a hit in got->val, or a miss with its lease),
 * or 0 when the cache is not to be used (none, down, refused on the loop, or inside an
 * ambient transaction whose own rows a rollback must not leave cached). */
static int ch__lookup(ch_svc_t *svc, const char *key, ch_hcache_got_t *got)
{
    *got = (ch_hcache_got_t){0};
    if (!svc->hcache || ch_db_ambient_active(svc->db))
        return 0;
    const char *kp[1] = {key};
    if (ch_hcache_get_many(svc->hcache, kp, 1, got) != CH_OK) {
        free(got->val);
        *got = (ch_hcache_got_t){0};
        return 0;
    }
    return 1;
}

/* Puts val under key with lease (0: nothing). */
static void ch__put(ch_svc_t *svc, const char *key, const char *val, size_t len, uint64_t lease)
{
    if (!lease || !val)
        return;
    const char *kp[1] = {key};
    const char *vp[1] = {val};
    ch_hcache_put_many(svc->hcache, kp, vp, &len, &lease, 1);
}

/* Reads user id's row and renders both texts into *out. */
static ch_err_t ch__load(ch_svc_t *svc, uint64_t id, ch_profile_fact_t *out, char **val, size_t *val_len,
                         ch_fault_t *f)
{
    ch_db_param_t p[] = {CH_DB_P_INT(id)};
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_run(svc, "SELECT " CH_USER_COLUMNS " FROM users WHERE id = $1", p, 1, &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 0)
        err = ch_fault(f, CH_ENOTFOUND, NULL, "user not found");
    if (err == CH_OK) {
        json_t *pub = ch_users_render(rows, 0, 0), *self = ch_users_render(rows, 0, 1);
        char *pt = json_dumps(pub, JSON_COMPACT), *st = json_dumps(self, JSON_COMPACT);
        json_decref(pub);
        json_decref(self);
        /* Jansson keeps members in insertion order, so the owner's text starts with the public
         * one's members; the value is decoded back so that this read serves what a hit would. */
        *val = pt && st ? ch_profile_fact_encode(pt, strlen(pt), st, strlen(st), val_len) : NULL;
        if (!*val || !ch_profile_fact_decode(*val, *val_len, out))
            err = ch_fault(f, CH_EINTERNAL, NULL, "cannot render the profile");
        free(pt);
        free(st);
    }
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_profile_fact_read(ch_svc_t *svc, uint64_t id, ch_profile_fact_t *out, ch_fault_t *f)
{
    *out = (ch_profile_fact_t){0};
    if (!id || id > INT64_MAX)
        return ch_fault(f, CH_ENOTFOUND, NULL, "user not found");
    ch_hkey_t key;
    ch_hkey_profile(key, id);
    ch_hcache_got_t got;
    int cached = ch__lookup(svc, key, &got);
    if (cached && got.val) {
        int hit = ch_profile_fact_decode(got.val, got.len, out);
        free(got.val);
        if (hit)
            return CH_OK;
        got = (ch_hcache_got_t){0}; /* a value this build cannot read: read, do not put */
    }
    char *val = NULL;
    size_t len = 0;
    ch_err_t err = ch__load(svc, id, out, &val, &len, f);
    if (err == CH_OK && cached)
        ch__put(svc, key, val, len, got.lease);
    free(val);
    return err;
}

ch_err_t ch_profile_fact_handle(ch_svc_t *svc, const char *handle, uint64_t *id_out, ch_fault_t *f)
{
    *id_out = 0;
    if (strlen(handle) > CH_HKEY_HANDLE_MAX)
        return ch_fault(f, CH_ENOTFOUND, NULL, "user not found");
    ch_hkey_t key;
    ch_hkey_handle(key, handle);
    ch_hcache_got_t got;
    int cached = ch__lookup(svc, key, &got);
    if (cached && got.val) {
        int ok = got.len == CH__HANDLE_FACT_LEN && got.val[0] == 'H' && got.val[1] == 1;
        uint64_t id = ok ? ch_le64_get((const unsigned char *)got.val + 2) : 0;
        free(got.val);
        if (ok && id && id <= INT64_MAX) {
            *id_out = id;
            return CH_OK;
        }
        got = (ch_hcache_got_t){0};
    }
    ch_db_param_t p[] = {CH_DB_P_TEXT(handle)};
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_run(svc, "SELECT id FROM users WHERE handle = $1", p, 1, &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 0)
        err = ch_fault(f, CH_ENOTFOUND, NULL, "user not found"); /* not cached: a later sign-up takes it */
    if (err == CH_OK)
        *id_out = (uint64_t)ch_db_rows_int(rows, 0, 0);
    ch_db_rows_free(rows);
    if (err == CH_OK && cached) {
        char v[CH__HANDLE_FACT_LEN] = {'H', 1};
        ch_le64_put(v + 2, *id_out);
        ch__put(svc, key, v, sizeof(v), got.lease);
    }
    return err;
}

/* ---- forget ----------------------------------------------------------------------------- */

void ch_users_profile_forget(ch_svc_t *svc, uint64_t user)
{
    ch_hydrate_forget_profile(svc, user);
}

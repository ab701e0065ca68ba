#include "svc/users/users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/text.h"
#include "core/unicode.h"
#include "svc/common/hydrate.h"
#include "svc/common/outbox.h"
#include "svc/users/profile_fact.h"
#include "svc/users/region.h"

/* ---- validation ------------------------------------------------------------------------ */

ch_err_t ch_users_check_handle(const char *handle, char out[CH_HANDLE_MAX + 1], ch_fault_t *f)
{
    size_t len = handle ? strlen(handle) : 0;
    if (len < CH_HANDLE_MIN || len > CH_HANDLE_MAX)
        return ch_fault(f, CH_EINVAL, "handle", "handle must be %d to %d characters", CH_HANDLE_MIN, CH_HANDLE_MAX);
    for (size_t i = 0; i < len; i++) {
        char c = handle[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return ch_fault(f, CH_EINVAL, "handle", "handle may only contain a-z, 0-9 and _");
        out[i] = c;
    }
    out[len] = '\0';
    return CH_OK;
}

ch_err_t ch_users_check_display_name(const char *name, ch_fault_t *f)
{
    size_t len = strlen(name);
    long chars = ch_utf8_count(name, len);
    uint32_t bad = 0;
    if (chars < 1 || chars > CH_DISPLAY_NAME_MAX)
        return ch_fault(f, CH_EINVAL, "display_name", "display_name must be 1 to %d characters", CH_DISPLAY_NAME_MAX);
    switch (ch_uni_check_name(name, len, &bad)) {
    case CH_UNI_NAME_OK:
        return CH_OK;
    case CH_UNI_NAME_FORBIDDEN:
        return ch_fault(f, CH_EINVAL, "display_name",
                        "display_name must not contain control, format, bidirectional, separator, private-use or "
                        "unassigned characters (U+%04X)",
                        (unsigned)bad);
    case CH_UNI_NAME_INVISIBLE:
        return ch_fault(f, CH_EINVAL, "display_name",
                        "display_name must contain a visible character (not only spaces, marks or invisible ones)");
    default:
        return ch_fault(f, CH_EINVAL, "display_name", "display_name is not valid UTF-8 text");
    }
}

/* Normalises one interest ("#Tag" -> "tag"); -1 when it is not a hashtag. */
static int ch__interest_normalize(const char *in, char *out, size_t outlen)
{
    if (*in == '#')
        in++;
    size_t len = strlen(in);
    long chars = ch_utf8_count(in, len);
    if (chars < 1 || chars > CH_INTEREST_MAX || len >= outlen)
        return -1;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        else if (c && c < 0x80 && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return -1;
        else if (c == 0xC2 && (unsigned char)in[i + 1] <= 0xBF) /* U+0080..U+00BF: controls, punctuation */
            return -1;
        out[i] = (char)c;
    }
    return 0;
}

/* Builds the normalised, de-duplicated interests array from a PATCH value. */
static ch_err_t ch__check_interests(json_t *value, json_t **out, ch_fault_t *f)
{
    if (!json_is_array(value) || json_array_size(value) > CH_INTERESTS_MAX)
        return ch_fault(f, CH_EINVAL, "interests", "interests must be an array of at most %d hashtags",
                        CH_INTERESTS_MAX);
    json_t *list = json_array();
    size_t i;
    json_t *item;
    json_array_foreach(value, i, item)
    {
        char tag[CH_INTEREST_MAX * 4 + 1];
        if (!json_is_string(item) || ch__interest_normalize(json_string_value(item), tag, sizeof(tag)) != 0) {
            json_decref(list);
            return ch_fault(f, CH_EINVAL, "interests", "interests[%zu] must be a hashtag of 1 to %d letters, digits or _",
                            i, CH_INTEREST_MAX);
        }
        int seen = 0;
        size_t j;
        json_t *prev;
        json_array_foreach(list, j, prev) seen |= strcmp(json_string_value(prev), tag) == 0;
        if (!seen)
            json_array_append_new(list, json_string(tag));
    }
    *out = list;
    return CH_OK;
}

/* ---- rendering ------------------------------------------------------------------------- */

enum { COL_ID, COL_HANDLE, COL_NAME, COL_BIO, COL_AVATAR, COL_PRIVATE, COL_FOLLOWERS, COL_FOLLOWING, COL_POSTS,
       COL_CREATED, COL_INTERESTS, COL_REGION };

json_t *ch_users_render(const ch_db_rows_t *rows, size_t r, int self)
{
    char created[CH_RFC3339_LEN];
    ch_format_rfc3339(ch_db_rows_int(rows, r, COL_CREATED), created);
    json_t *u = json_pack("{s:s, s:s, s:s, s:s, s:o, s:b, s:I, s:I, s:I, s:s}", "id", ch_db_rows_text(rows, r, COL_ID),
                          "handle", ch_db_rows_text(rows, r, COL_HANDLE), "display_name",
                          ch_db_rows_text(rows, r, COL_NAME), "bio", ch_db_rows_text(rows, r, COL_BIO), "avatar_url",
                          ch_db_rows_isnull(rows, r, COL_AVATAR) ? json_null()
                                                                 : json_string(ch_db_rows_text(rows, r, COL_AVATAR)),
                          "is_private", (int)ch_db_rows_int(rows, r, COL_PRIVATE), "followers_count",
                          (json_int_t)ch_db_rows_int(rows, r, COL_FOLLOWERS), "following_count",
                          (json_int_t)ch_db_rows_int(rows, r, COL_FOLLOWING), "posts_count",
                          (json_int_t)ch_db_rows_int(rows, r, COL_POSTS), "created_at", created);
    if (self) {
        json_t *interests = json_loads(ch_db_rows_text(rows, r, COL_INTERESTS), 0, NULL);
        json_object_set_new(u, "interests", json_is_array(interests) ? interests : json_array());
        if (!json_is_array(interests))
            json_decref(interests);
        json_object_set_new(u, "region",
                            ch_db_rows_isnull(rows, r, COL_REGION) ? json_null()
                                                                   : json_string(ch_db_rows_text(rows, r, COL_REGION)));
    }
    return u;
}

/* ---- reads ----------------------------------------------------------------------------- */

static const char ch__sql_user_by_id[] = "SELECT " CH_USER_COLUMNS " FROM users WHERE id = $1";

ch_err_t ch_users_get_me(ch_svc_t *svc, uint64_t user_id, json_t **out, ch_fault_t *f)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user_id)};
    ch_err_t err = ch_sql_run(svc, ch__sql_user_by_id, p, 1, &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 0)
        err = ch_fault(f, CH_ENOTFOUND, NULL, "user not found");
    if (err == CH_OK)
        *out = ch_users_render(rows, 0, 1);
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_users_get_me_text(ch_svc_t *svc, uint64_t user_id, char **json_out, ch_fault_t *f)
{
    ch_profile_fact_t pf;
    ch_err_t err = ch_profile_fact_read(svc, user_id, &pf, f);
    if (err)
        return err;
    *json_out = ch_profile_fact_self(&pf);
    ch_profile_fact_clear(&pf);
    return CH_OK;
}

/* Appends viewer's relationship to a public profile text (consumed); the new text in *out. */
static void ch__with_relationship(char *base, size_t len, int following, int followed_by, int requested, int muting,
                                  char **out)
{
    /* A block either way is a 404 before this: "blocking" is never true on a shown profile. */
    char rel_json[160];
    int n = snprintf(rel_json, sizeof(rel_json),
                     ",\"relationship\":{\"following\":%s,\"followed_by\":%s,\"requested\":%s,"
                     "\"blocking\":false,\"muting\":%s}}",
                     following ? "true" : "false", followed_by ? "true" : "false", requested ? "true" : "false",
                     muting ? "true" : "false");
    char *text = ch_malloc(len + (size_t)n);
    memcpy(text, base, len - 1); /* drop the closing brace */
    memcpy(text + len - 1, rel_json, (size_t)n + 1);
    free(base);
    *out = text;
}

/* Every part from the hydration cache's facts (in process in embedded mode; in cluster mode
 * Redis behind this node's L1, so that a warm profile is answered on the loop): the handle's
 * id ("h:"), the viewer's relation and the block check (the layer's "u:" and "r:" facts, per
 * viewer), then the profile text ("p:", viewer-independent). */
ch_err_t ch_users_get_profile(ch_svc_t *svc, uint64_t viewer, uint64_t id, const char *handle, char **json_out,
                              ch_fault_t *f)
{
    ch_err_t err;
    if (!id) {
        char norm[CH_HANDLE_MAX + 1];
        if (ch_users_check_handle(handle, norm, NULL) != CH_OK)
            return ch_fault(f, CH_ENOTFOUND, NULL, "user not found");
        if ((err = ch_profile_fact_handle(svc, norm, &id, f)) != CH_OK)
            return err;
    }
    ch_hydrated_user_t u = {0}, rel = {0};
    if (id != viewer) {
        if ((err = ch_hydrate_users(svc, viewer, &id, 1, &u, f)) != CH_OK)
            return err;
        int shown = u.json != NULL; /* the user exists, no block either way */
        rel = u;
        rel.json = NULL; /* only its bits are kept */
        ch_hydrated_users_free(&u, 1);
        if (!shown)
            return ch_fault(f, CH_ENOTFOUND, NULL, "user not found");
    }
    ch_profile_fact_t pf;
    if ((err = ch_profile_fact_read(svc, id, &pf, f)) != CH_OK)
        return err;
    size_t len = pf.public_len;
    char *base = pf.text; /* the public text, then the owner's members: cut after the first */
    base[len] = '\0';
    pf.text = NULL;
    if (id == viewer)
        *json_out = base;
    else
        ch__with_relationship(base, len, rel.following, rel.followed_by, rel.requested, rel.muting, json_out);
    return CH_OK;
}

/* ---- edits ----------------------------------------------------------------------------- */

/* The editable fields after validation; strings borrowed from the patch or the row. */
typedef struct {
    const char *display_name;
    const char *bio;
    const char *avatar_url; /* NULL = none */
    int is_private;
    char *interests; /* owned JSON text */
    const char *region; /* NULL = none */
    char region_buf[3];
} ch__profile_edit_t;

/* Validates the patch against the current row and fills e; nothing is written. */
static ch_err_t ch__apply_patch(json_t *patch, const ch_db_rows_t *cur, ch__profile_edit_t *e, ch_fault_t *f)
{
    json_t *v;
    ch_err_t err;
    e->display_name = ch_db_rows_text(cur, 0, COL_NAME);
    e->bio = ch_db_rows_text(cur, 0, COL_BIO);
    e->avatar_url = ch_db_rows_isnull(cur, 0, COL_AVATAR) ? NULL : ch_db_rows_text(cur, 0, COL_AVATAR);
    e->is_private = (int)ch_db_rows_int(cur, 0, COL_PRIVATE);
    e->region = ch_db_rows_isnull(cur, 0, COL_REGION) ? NULL : ch_db_rows_text(cur, 0, COL_REGION);
    e->interests = NULL;

    if ((v = json_object_get(patch, "display_name")) != NULL) {
        if (!json_is_string(v))
            return ch_fault(f, CH_EINVAL, "display_name", "display_name must be a string");
        if ((err = ch_users_check_display_name(json_string_value(v), f)) != CH_OK)
            return err;
        e->display_name = json_string_value(v);
    }
    if ((v = json_object_get(patch, "bio")) != NULL) {
        const char *bio = json_string_value(v);
        long chars = bio ? ch_utf8_count(bio, strlen(bio)) : -1;
        if (chars < 0 || chars > CH_BIO_MAX || ch_text_has_control(bio, strlen(bio), 1))
            return ch_fault(f, CH_EINVAL, "bio", "bio must be a string of at most %d characters", CH_BIO_MAX);
        e->bio = bio;
    }
    if ((v = json_object_get(patch, "avatar_url")) != NULL) {
        if (json_is_null(v))
            e->avatar_url = NULL;
        else if (json_is_string(v) && ch_text_is_https_url(json_string_value(v), CH_AVATAR_URL_MAX))
            e->avatar_url = json_string_value(v);
        else
            return ch_fault(f, CH_EINVAL, "avatar_url", "avatar_url must be an https URL of at most %d bytes, or null",
                            CH_AVATAR_URL_MAX);
    }
    if ((v = json_object_get(patch, "is_private")) != NULL) {
        if (!json_is_boolean(v))
            return ch_fault(f, CH_EINVAL, "is_private", "is_private must be true or false");
        e->is_private = json_is_true(v);
    }
    if ((v = json_object_get(patch, "region")) != NULL) {
        if (json_is_null(v))
            e->region = NULL;
        else if (json_is_string(v) && ch_region_normalize(json_string_value(v), e->region_buf) == 0)
            e->region = e->region_buf;
        else
            return ch_fault(f, CH_EINVAL, "region", "region must be an ISO 3166-1 alpha-2 code, or null");
    }
    if ((v = json_object_get(patch, "interests")) != NULL) {
        json_t *list = NULL;
        if ((err = ch__check_interests(v, &list, f)) != CH_OK)
            return err;
        e->interests = json_dumps(list, JSON_COMPACT);
        json_decref(list);
    }
    return CH_OK;
}

ch_err_t ch_users_update_me(ch_svc_t *svc, uint64_t user_id, json_t *patch, json_t **out, ch_fault_t *f)
{
    ch_db_conn_t *conn;
    ch_db_rows_t *cur = NULL;
    ch__profile_edit_t e = {0};
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    ch_db_param_t id[] = {CH_DB_P_INT(user_id)};
    err = ch_sql_on(svc, conn, ch__sql_user_by_id, id, 1, &cur, NULL);
    if (err == CH_OK && ch_db_rows_count(cur) == 0)
        err = ch_fault(f, CH_ENOTFOUND, NULL, "user not found");
    if (err == CH_OK)
        err = ch__apply_patch(patch, cur, &e, f);
    if (err == CH_OK && json_object_size(patch) > 0) {
        ch_db_param_t p[] = {CH_DB_P_INT(user_id),
                             CH_DB_P_TEXT(e.display_name),
                             CH_DB_P_TEXT(e.bio),
                             CH_DB_P_TEXT(e.avatar_url),
                             CH_DB_P_INT(e.is_private),
                             CH_DB_P_TEXT(e.interests ? e.interests : ch_db_rows_text(cur, 0, COL_INTERESTS)),
                             CH_DB_P_TEXT(e.region),
                             CH_DB_P_INT(ch_now_ms())};
        err = ch_sql_on(svc, conn,
                        "UPDATE users SET display_name = $2, bio = $3, avatar_url = $4, is_private = $5, "
                        "interests = $6, region = $7, updated_at = $8 WHERE id = $1",
                        p, CH_NPARAMS(p), NULL, NULL);
        if (err == CH_OK)
            err = ch_outbox_add(svc, conn, "user.updated", "user_id", user_id);
    }
    free(e.interests);
    ch_db_rows_free(cur);
    if ((err = ch_sql_end(svc, conn, err)) != CH_OK)
        return err;
    if (json_object_size(patch) > 0) {
        ch_hydrate_forget_hold(); /* both facts in one round trip */
        ch_users_profile_forget(svc, user_id);
        ch_hydrate_forget_user(svc, user_id); /* name, avatar, privacy: every list showing them */
        ch_hydrate_forget_flush(svc);
    }
    return ch_users_get_me(svc, user_id, out, f);
}

#include "svc/engage/refs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/id.h"
#include "svc/common/hydrate.h"
#include "svc/common/outbox.h"
#include "svc/engage/events.h"
#include "svc/graph/visibility.h"

#define CH__HOUR_MS 3600000LL

ch_err_t ch_refs_parse(const char *text, const char *field, ch_textrefs_t *out, ch_fault_t *f)
{
    switch (ch_textrefs_parse(text, text ? strlen(text) : 0, out)) {
    case CH_TEXTREFS_TOO_MANY_MENTIONS:
        return ch_fault(f, CH_EINVAL, field, "%s may mention at most %d different users", field,
                        CH_TEXTREFS_MENTIONS_MAX);
    case CH_TEXTREFS_TOO_MANY_HASHTAGS:
        return ch_fault(f, CH_EINVAL, field, "%s may carry at most %d different hashtags", field,
                        CH_TEXTREFS_HASHTAGS_MAX);
    default:
        return CH_OK;
    }
}

/* ---- mentions ---------------------------------------------------------------------------- */

/* One statement for any number of handles: unused slots bind '' (never a handle), so the
 * text, and the prepared statement, stay the same. */
#define CH__P10(a) "$" #a "0, $" #a "1, $" #a "2, $" #a "3, $" #a "4, $" #a "5, $" #a "6, $" #a "7, $" #a "8, $" #a "9"
static const char ch__sql_users_by_handle[] =
    "SELECT id, handle FROM users WHERE handle IN ($1, $2, $3, $4, $5, $6, $7, $8, $9, " CH__P10(1) ", " CH__P10(2)
    ", $30)";
_Static_assert(CH_TEXTREFS_MENTIONS_MAX == 30, "one parameter per possible mention");

typedef struct {
    uint64_t id;
    char handle[CH_MENTION_HANDLE_MAX + 1];
} ch__user_t;

/* Resolves the handles of refs (plus t->implicit_mention, first) to users, in order of
 * appearance, leaving out unknown handles and users blocked either way with the writer. */
static ch_err_t ch__resolve(ch_svc_t *svc, ch_db_conn_t *conn, const ch_refs_target_t *t, const ch_textrefs_t *refs,
                            ch__user_t *out, size_t *n_out)
{
    ch_db_param_t p[CH_TEXTREFS_MENTIONS_MAX];
    ch_db_rows_t *rows = NULL, *implicit = NULL;
    ch_err_t err = CH_OK;
    size_t n = 0;
    *n_out = 0;
    if (t->implicit_mention) {
        ch_db_param_t ip[] = {CH_DB_P_INT(t->implicit_mention)};
        err = ch_sql_on(svc, conn, "SELECT id, handle FROM users WHERE id = $1", ip, 1, &implicit, NULL);
        if (err == CH_OK && ch_db_rows_count(implicit) == 1) {
            out[n].id = t->implicit_mention;
            snprintf(out[n].handle, sizeof(out[n].handle), "%s", ch_db_rows_text(implicit, 0, 1));
            n++;
        }
        ch_db_rows_free(implicit);
    }
    if (err == CH_OK && refs->nmentions > 0) {
        for (size_t i = 0; i < CH_TEXTREFS_MENTIONS_MAX; i++)
            p[i] = CH_DB_P_TEXT(i < refs->nmentions ? refs->mentions[i] : "");
        err = ch_sql_on(svc, conn, ch__sql_users_by_handle, p, CH_TEXTREFS_MENTIONS_MAX, &rows, NULL);
    }
    /* In order of appearance in the text, each user once (the implicit one may be typed too). */
    for (size_t i = 0; err == CH_OK && i < refs->nmentions; i++) {
        for (size_t r = 0; r < ch_db_rows_count(rows); r++) {
            if (strcmp(ch_db_rows_text(rows, r, 1), refs->mentions[i]) != 0)
                continue;
            uint64_t id = (uint64_t)ch_db_rows_int(rows, r, 0);
            size_t k = 0;
            while (k < n && out[k].id != id)
                k++;
            if (k == n && n < CH_TEXTREFS_MENTIONS_MAX + 1) {
                out[n].id = id;
                snprintf(out[n].handle, sizeof(out[n].handle), "%s", refs->mentions[i]);
                n++;
            }
        }
    }
    ch_db_rows_free(rows);
    /* Blocked either way: neither may mention the other; the mention is not resolved. */
    size_t kept = 0;
    for (size_t i = 0; err == CH_OK && i < n; i++) {
        ch_graph_rel_t rel;
        if ((err = ch_graph_relation(svc, conn, t->writer_id, out[i].id, &rel)) != CH_OK)
            break;
        if (ch_graph_may_see_user(&rel))
            out[kept++] = out[i];
    }
    *n_out = kept;
    return err;
}

/* The event and outbox row of a new mention of user, when it notifies (see refs.h). */
static ch_err_t ch__notify_mention(ch_svc_t *svc, ch_db_conn_t *conn, const ch_refs_target_t *t, uint64_t user,
                                   int64_t now)
{
    ch_graph_rel_t rel;
    if (user == t->writer_id || user == t->quiet_mention)
        return CH_OK;
    ch_err_t err = ch_graph_relation(svc, conn, user, t->owner_id, &rel);
    if (err || !ch_graph_may_see_content(&rel, t->followers_only))
        return err;
    ch_event_t ev = {now, t->writer_id, "mention", t->type, t->id, user, 1.0};
    if ((err = ch_events_emit(svc, conn, &ev)) != CH_OK)
        return err;
    char tid[CH_ID_STR_LEN], uid[CH_ID_STR_LEN], wid[CH_ID_STR_LEN], iid[CH_ID_STR_LEN];
    json_t *payload = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "target_type", ch_target_type_name(t->type),
                                "target_id", ch_id_format(t->id, tid), "mentioned_id", ch_id_format(user, uid),
                                "author_id", ch_id_format(t->writer_id, wid), "item_type",
                                ch_target_type_name(t->item_type), "item_id", ch_id_format(t->item_id, iid));
    char *text = json_dumps(payload, JSON_COMPACT);
    err = ch_outbox_add_json(svc, conn, "mention.created", t->id, text);
    free(text);
    json_decref(payload);
    return err;
}

/* Replaces the mention rows of t by users[0..n), notifying the new ones. */
static ch_err_t ch__store_mentions(ch_svc_t *svc, ch_db_conn_t *conn, const ch_refs_target_t *t,
                                   const ch__user_t *users, size_t n, int64_t now)
{
    ch_db_rows_t *rows = NULL;
    const char *type = ch_target_type_name(t->type);
    ch_db_param_t key[] = {CH_DB_P_TEXT(type), CH_DB_P_INT(t->id)};
    ch_err_t err = t->is_new ? CH_OK
                             : ch_sql_on(svc, conn,
                                         "SELECT user_id, CASE WHEN removed_at IS NULL THEN 0 ELSE 1 END FROM mentions"
                                         " WHERE target_type = $1 AND target_id = $2",
                                         key, CH_NPARAMS(key), &rows, NULL);
    size_t nold = ch_db_rows_count(rows);
    /* Mentions that went: marked removed (the row remembers the user was told once). */
    for (size_t r = 0; err == CH_OK && r < nold; r++) {
        uint64_t uid = (uint64_t)ch_db_rows_int(rows, r, 0);
        size_t k = 0;
        while (k < n && users[k].id != uid)
            k++;
        if (k < n || ch_db_rows_int(rows, r, 1))
            continue;
        ch_db_param_t p[] = {CH_DB_P_TEXT(type), CH_DB_P_INT(t->id), CH_DB_P_INT(uid), CH_DB_P_INT(now)};
        err = ch_sql_on(svc, conn,
                        "UPDATE mentions SET removed_at = $4"
                        " WHERE target_type = $1 AND target_id = $2 AND user_id = $3",
                        p, CH_NPARAMS(p), NULL, NULL);
    }
    for (size_t i = 0; err == CH_OK && i < n; i++) {
        size_t r = 0;
        while (r < nold && (uint64_t)ch_db_rows_int(rows, r, 0) != users[i].id)
            r++;
        ch_db_param_t p[] = {CH_DB_P_TEXT(type), CH_DB_P_INT(t->id), CH_DB_P_INT(users[i].id),
                             CH_DB_P_INT(t->writer_id), CH_DB_P_INT(now)};
        if (r < nold) {
            if (ch_db_rows_int(rows, r, 1)) /* back again: shown, not notified twice */
                err = ch_sql_on(svc, conn,
                                "UPDATE mentions SET removed_at = NULL"
                                " WHERE target_type = $1 AND target_id = $2 AND user_id = $3",
                                p, 3, NULL, NULL);
            continue;
        }
        int64_t inserted = 0;
        err = ch_sql_on(svc, conn,
                        "INSERT INTO mentions(target_type, target_id, user_id, author_id, created_at)"
                        " VALUES($1, $2, $3, $4, $5) ON CONFLICT (target_type, target_id, user_id) DO NOTHING",
                        p, CH_NPARAMS(p), NULL, &inserted);
        if (err == CH_OK && inserted)
            err = ch__notify_mention(svc, conn, t, users[i].id, now);
    }
    ch_db_rows_free(rows);
    return err;
}

/* ---- hashtags ---------------------------------------------------------------------------- */

/* Moves the uses of tag in the hour of at_ms by delta (never below zero). */
static ch_err_t ch__tag_use(ch_svc_t *svc, ch_db_conn_t *conn, const char *tag, int64_t at_ms, int delta)
{
    ch_db_param_t p[] = {CH_DB_P_TEXT(tag), CH_DB_P_INT(at_ms / CH__HOUR_MS)};
    if (delta > 0)
        return ch_sql_on(svc, conn,
                         "INSERT INTO hashtag_hours(tag, hour, uses) VALUES($1, $2, 1)"
                         " ON CONFLICT (tag, hour) DO UPDATE SET uses = hashtag_hours.uses + 1",
                         p, CH_NPARAMS(p), NULL, NULL);
    return ch_sql_on(svc, conn, "UPDATE hashtag_hours SET uses = uses - 1 WHERE tag = $1 AND hour = $2 AND uses > 0",
                     p, CH_NPARAMS(p), NULL, NULL);
}

/* Whether a target type is listed on hashtag pages (svc/content/tagged.c), whose cached
 * first ids a change of its tags forgets (held by the writer until its commit). */
static int ch__tag_paged(ch_target_type_t type)
{
    return type == CH_TARGET_POST || type == CH_TARGET_REEL;
}

/* Replaces the hashtag rows of (type, id) by tags[0..n) (n = 0 removes them all). */
static ch_err_t ch__store_tags(ch_svc_t *svc, ch_db_conn_t *conn, ch_target_type_t target_type, uint64_t id,
                               uint64_t author, const char (*tags)[CH_HASHTAG_MAX_BYTES + 1], size_t n, int is_new,
                               int64_t now)
{
    ch_db_rows_t *rows = NULL;
    const char *type = ch_target_type_name(target_type);
    ch_db_param_t key[] = {CH_DB_P_TEXT(type), CH_DB_P_INT(id)};
    ch_err_t err = is_new ? CH_OK
                          : ch_sql_on(svc, conn,
                                      "SELECT tag, created_at FROM hashtags WHERE target_type = $1 AND target_id = $2",
                                      key, CH_NPARAMS(key), &rows, NULL);
    size_t nold = ch_db_rows_count(rows);
    for (size_t r = 0; err == CH_OK && r < nold; r++) {
        const char *tag = ch_db_rows_text(rows, r, 0);
        size_t k = 0;
        while (k < n && strcmp(tags[k], tag) != 0)
            k++;
        if (k < n)
            continue;
        int64_t deleted = 0;
        ch_db_param_t p[] = {CH_DB_P_TEXT(tag), CH_DB_P_TEXT(type), CH_DB_P_INT(id)};
        err = ch_sql_on(svc, conn, "DELETE FROM hashtags WHERE tag = $1 AND target_type = $2 AND target_id = $3", p,
                        CH_NPARAMS(p), NULL, &deleted);
        if (err == CH_OK && deleted)
            err = ch__tag_use(svc, conn, tag, ch_db_rows_int(rows, r, 1), -1);
        if (err == CH_OK && deleted && ch__tag_paged(target_type))
            ch_hydrate_forget_tag(svc, tag);
    }
    for (size_t k = 0; err == CH_OK && k < n; k++) {
        size_t r = 0;
        while (r < nold && strcmp(ch_db_rows_text(rows, r, 0), tags[k]) != 0)
            r++;
        if (r < nold)
            continue;
        int64_t inserted = 0;
        ch_db_param_t p[] = {CH_DB_P_TEXT(tags[k]), CH_DB_P_TEXT(type), CH_DB_P_INT(id), CH_DB_P_INT(author),
                             CH_DB_P_INT(now)};
        err = ch_sql_on(svc, conn,
                        "INSERT INTO hashtags(tag, target_type, target_id, author_id, created_at)"
                        " VALUES($1, $2, $3, $4, $5) ON CONFLICT (tag, target_type, target_id) DO NOTHING",
                        p, CH_NPARAMS(p), NULL, &inserted);
        if (err == CH_OK && inserted)
            err = ch__tag_use(svc, conn, tags[k], now, +1);
        if (err == CH_OK && inserted && ch__tag_paged(target_type))
            ch_hydrate_forget_tag(svc, tags[k]);
    }
    ch_db_rows_free(rows);
    return err;
}

/* ---- public ------------------------------------------------------------------------------ */

ch_err_t ch_refs_store(ch_svc_t *svc, ch_db_conn_t *conn, const ch_refs_target_t *t, const ch_textrefs_t *refs,
                       char **mentions_json, char **hashtags_json)
{
    ch__user_t users[CH_TEXTREFS_MENTIONS_MAX + 1];
    size_t n = 0;
    int64_t now = ch_now_ms();
    *mentions_json = *hashtags_json = NULL;
    ch_err_t err = ch__resolve(svc, conn, t, refs, users, &n);
    if (err == CH_OK)
        err = ch__store_mentions(svc, conn, t, users, n, now);
    if (err == CH_OK)
        err = ch__store_tags(svc, conn, t->type, t->id, t->writer_id, refs->hashtags, refs->nhashtags, t->is_new, now);
    if (err)
        return err;
    json_t *mentions = json_array(), *tags = json_array();
    char idbuf[CH_ID_STR_LEN];
    for (size_t i = 0; i < n; i++)
        json_array_append_new(mentions, json_pack("{s:s, s:s}", "id", ch_id_format(users[i].id, idbuf), "handle",
                                                  users[i].handle));
    for (size_t i = 0; i < refs->nhashtags; i++)
        json_array_append_new(tags, json_string(refs->hashtags[i]));
    *mentions_json = json_dumps(mentions, JSON_COMPACT);
    *hashtags_json = json_dumps(tags, JSON_COMPACT);
    json_decref(mentions);
    json_decref(tags);
    return CH_OK;
}

ch_err_t ch_refs_clear(ch_svc_t *svc, ch_db_conn_t *conn, ch_target_type_t type, uint64_t id)
{
    int64_t now = ch_now_ms();
    ch_err_t err = ch__store_tags(svc, conn, type, id, 0, NULL, 0, 0, now);
    if (err == CH_OK) {
        ch_db_param_t p[] = {CH_DB_P_TEXT(ch_target_type_name(type)), CH_DB_P_INT(id), CH_DB_P_INT(now)};
        err = ch_sql_on(svc, conn,
                        "UPDATE mentions SET removed_at = $3"
                        " WHERE target_type = $1 AND target_id = $2 AND removed_at IS NULL",
                        p, CH_NPARAMS(p), NULL, NULL);
    }
    return err;
}

/* Creating conversations and changing their members: one write transaction each, the
 * events after the commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "svc/chat/chat_int.h"
#include "svc/common/fields.h"

static ch_err_t ch__user_not_found(ch_fault_t *f)
{
    return ch_fault(f, CH_ENOTFOUND, NULL, "user not found");
}

/* Reads member_ids (strings of digits) into a sorted array of distinct ids without viewer. */
static ch_err_t ch__parse_members(json_t *body, uint64_t viewer, uint64_t **ids_out, size_t *n_out, ch_fault_t *f)
{
    json_t *a = json_object_get(body, "member_ids");
    if (!a || !json_is_array(a) || json_array_size(a) == 0)
        return ch_fault(f, CH_EINVAL, "member_ids", "member_ids must be a non-empty array of user ids");
    if (json_array_size(a) > CH_CHAT_GROUP_MEMBERS_MAX)
        return ch_fault(f, CH_EINVAL, "member_ids", "a group has at most %d members", CH_CHAT_GROUP_MEMBERS_MAX);
    uint64_t *ids = malloc(json_array_size(a) * sizeof(*ids));
    size_t n = 0, i;
    json_t *v;
    if (!ids)
        return CH_EINTERNAL;
    json_array_foreach(a, i, v)
    {
        uint64_t id = json_is_string(v) ? ch_id_parse(json_string_value(v)) : 0;
        if (id == 0 || id > INT64_MAX) {
            free(ids);
            return ch_fault(f, CH_EINVAL, "member_ids", "member_ids must hold user ids (strings of digits)");
        }
        int seen = id == viewer;
        for (size_t k = 0; !seen && k < n; k++)
            seen = ids[k] == id;
        if (!seen)
            ids[n++] = id;
    }
    if (n == 0) {
        free(ids);
        return ch_fault(f, CH_EINVAL, "member_ids", "member_ids must name someone besides you");
    }
    if (n + 1 > CH_CHAT_GROUP_MEMBERS_MAX) {
        free(ids);
        return ch_fault(f, CH_EINVAL, "member_ids", "a group has at most %d members", CH_CHAT_GROUP_MEMBERS_MAX);
    }
    *ids_out = ids;
    *n_out = n;
    return CH_OK;
}

/* Adds user as a member of conv on conn when the user exists and no block stands between
 * them and actor; *added 0 when it did not (or the user was a member already). */
static ch_err_t ch__insert_member(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t conv, uint64_t user, uint64_t actor,
                                  const char *role, int64_t seq, int64_t now, int *added)
{
    ch_db_param_t p[] = {CH_DB_P_INT(conv), CH_DB_P_INT(user), CH_DB_P_TEXT(role), CH_DB_P_INT(now), CH_DB_P_INT(seq),
                         CH_DB_P_INT(actor)};
    int64_t changes = 0;
    ch_err_t err = ch_sql_on(
        svc, conn,
        "INSERT INTO conversation_members(conversation_id, user_id, role, joined_at, delivered_seq, read_seq,"
        " joined_seq) SELECT $1, $2, $3, $4, $5, $5, $5 WHERE EXISTS (SELECT 1 FROM users WHERE id = $2)"
        " AND NOT EXISTS (SELECT 1 FROM blocks WHERE (blocker_id = $2 AND blocked_id = $6)"
        " OR (blocker_id = $6 AND blocked_id = $2))"
        " ON CONFLICT (conversation_id, user_id) DO NOTHING",
        p, CH_NPARAMS(p), NULL, &changes);
    *added = err == CH_OK && changes == 1;
    return err;
}

static ch_err_t ch__count_members(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t conv, int64_t delta)
{
    ch_db_param_t p[] = {CH_DB_P_INT(conv), CH_DB_P_INT(delta)};
    return ch_sql_on(svc, conn, "UPDATE conversations SET members_count = members_count + $2 WHERE id = $1", p,
                     CH_NPARAMS(p), NULL, NULL);
}

/* The direct conversation of viewer and other, made when missing. */
static ch_err_t ch__create_direct(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, uint64_t other,
                                  uint64_t *conv, int *created, ch_fault_t *f)
{
    int blocked = 0;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t pu[] = {CH_DB_P_INT(other)};
    ch_err_t err = ch_sql_on(svc, conn, "SELECT 1 FROM users WHERE id = $1", pu, CH_NPARAMS(pu), &rows, NULL);
    int exists = err == CH_OK && ch_db_rows_count(rows) == 1;
    ch_db_rows_free(rows);
    rows = NULL;
    if (err == CH_OK)
        err = ch__chat_blocked(svc, conn, viewer, other, &blocked);
    if (err == CH_OK && (!exists || blocked))
        return ch__user_not_found(f);
    char key[2 * CH_ID_STR_LEN + 2];
    snprintf(key, sizeof(key), "%llu:%llu", (unsigned long long)(viewer < other ? viewer : other),
             (unsigned long long)(viewer < other ? other : viewer));
    int64_t now = ch_now_ms(), changes = 0;
    uint64_t id = ch_id_next();
    if (err == CH_OK) {
        ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_TEXT(key), CH_DB_P_INT(viewer), CH_DB_P_INT(now)};
        err = ch_sql_on(svc, conn,
                        "INSERT INTO conversations(id, kind, direct_key, created_by, created_at, last_activity_at,"
                        " members_count) VALUES($1, 'direct', $2, $3, $4, $4, 2) ON CONFLICT (direct_key) DO NOTHING",
                        p, CH_NPARAMS(p), NULL, &changes);
    }
    *created = changes == 1;
    if (err == CH_OK && !*created) {
        ch_db_param_t p[] = {CH_DB_P_TEXT(key)};
        err = ch_sql_on(svc, conn, "SELECT id FROM conversations WHERE direct_key = $1", p, CH_NPARAMS(p), &rows, NULL);
        if (err == CH_OK && ch_db_rows_count(rows) != 1)
            err = CH_EINTERNAL;
        if (err == CH_OK)
            id = (uint64_t)ch_db_rows_int(rows, 0, 0);
        ch_db_rows_free(rows);
    }
    int added;
    uint64_t pair[2] = {viewer, other};
    if (err == CH_OK && *created)
        err = ch__chat_conv_cap(svc, conn, pair, 2, f);
    if (err == CH_OK && *created)
        err = ch__insert_member(svc, conn, id, viewer, viewer, "admin", 0, now, &added);
    if (err == CH_OK && *created)
        err = ch__insert_member(svc, conn, id, other, viewer, "admin", 0, now, &added);
    *conv = id;
    return err;
}

static ch_err_t ch__create_group(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t viewer, const uint64_t *ids, size_t n,
                                 const char *title, uint64_t *conv, ch_fault_t *f)
{
    int64_t now = ch_now_ms();
    uint64_t id = ch_id_next();
    ch_db_param_t p[] = {CH_DB_P_INT(id), CH_DB_P_TEXT(title), CH_DB_P_INT(viewer), CH_DB_P_INT(now),
                         CH_DB_P_INT((int64_t)n + 1)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "INSERT INTO conversations(id, kind, title, created_by, created_at, last_activity_at,"
                             " members_count) VALUES($1, 'group', $2, $3, $4, $4, $5)",
                             p, CH_NPARAMS(p), NULL, NULL);
    int added = 1;
    uint64_t *all = err == CH_OK ? malloc((n + 1) * sizeof(*all)) : NULL;
    if (err == CH_OK && !all)
        err = CH_EINTERNAL;
    if (err == CH_OK) { /* one call: its locks (PostgreSQL) are taken in one order */
        all[0] = viewer;
        memcpy(all + 1, ids, n * sizeof(*all));
        err = ch__chat_conv_cap(svc, conn, all, n + 1, f);
    }
    free(all);
    if (err == CH_OK)
        err = ch__insert_member(svc, conn, id, viewer, viewer, "admin", 0, now, &added);
    for (size_t i = 0; err == CH_OK && i < n; i++) {
        err = ch__insert_member(svc, conn, id, ids[i], viewer, "member", 0, now, &added);
        if (err == CH_OK && !added) {
            char b[CH_ID_STR_LEN];
            return ch_fault(f, CH_ENOTFOUND, "member_ids", "user %s not found", ch_id_format(ids[i], b));
        }
    }
    *conv = id;
    return err;
}

ch_err_t ch_chat_conv_create(ch_svc_t *svc, uint64_t viewer, json_t *body, json_t **out, int *created, ch_fault_t *f)
{
    static const char *const allowed[] = {"member_ids", "title", NULL};
    const char *title = NULL;
    uint64_t *ids = NULL, conv = 0;
    size_t n = 0;
    ch_err_t err = ch_field_only(body, allowed, f);
    if (err == CH_OK)
        err = ch_field_text(body, "title", CH_FIELD_NONEMPTY, CH_CHAT_TITLE_MAX, &title, f);
    if (err == CH_OK)
        err = ch__parse_members(body, viewer, &ids, &n, f);
    if (err)
        return err;
    *created = 1;
    ch_db_conn_t *conn = NULL;
    if (n > 1 && (err = ch__chat_rate_hit(svc, viewer, f)) != CH_OK) {
        free(ids);
        return err;
    }
    if ((err = ch_sql_begin(svc, 1, &conn)) == CH_OK) {
        if (n == 1)
            err = ch__create_direct(svc, conn, viewer, ids[0], &conv, created, f);
        else
            err = ch__create_group(svc, conn, viewer, ids, n, title, &conv, f);
        err = ch_sql_end(svc, conn, err);
    }
    if (err == CH_OK && *created) {
        ch__chat_order_start(svc, conv);
        uint64_t *all = realloc(ids, (n + 1) * sizeof(*ids));
        if (all) {
            ids = all;
            ids[n] = viewer;
            ch__chat_publish_member(svc, ids, n + 1, "conversation.created", conv, viewer, viewer);
        }
    }
    free(ids);
    if (err == CH_OK)
        err = ch_chat_conv_get(svc, viewer, conv, out, f);
    return err;
}

/* ---- members ----------------------------------------------------------------------------- */

static ch_err_t ch__not_group(ch_fault_t *f)
{
    return ch_fault(f, CH_ECONFLICT, NULL, "the members of a direct conversation cannot change");
}

/* member.added of user to conv, with the seq they joined at (the conversation's last seq in
 * the add's transaction): a device of theirs that had the conversation before a removal
 * continues from it (gateway/ws_order.c) instead of waiting for the seqs it could not see. */
static void ch__publish_added(ch_svc_t *svc, const uint64_t *ids, size_t n, uint64_t conv, uint64_t user,
                              int64_t joined_seq, uint64_t by)
{
    char b[3][CH_ID_STR_LEN];
    json_t *d = json_pack("{s:s, s:s, s:I, s:s}", "conversation_id", ch_id_format(conv, b[0]), "user_id",
                          ch_id_format(user, b[1]), "joined_seq", (json_int_t)joined_seq, "by",
                          ch_id_format(by, b[2]));
    if (d)
        ch__chat_publish(svc, ids, n, "member.added", d);
    json_decref(d);
}

ch_err_t ch_chat_member_add(ch_svc_t *svc, uint64_t viewer, uint64_t conv, uint64_t user, json_t **out,
                            ch_fault_t *f)
{
    ch__chat_conv_t c;
    ch_db_conn_t *conn = NULL;
    int added = 0;
    uint64_t *ids = NULL;
    size_t n = 0;
    if (user == 0 || user > INT64_MAX)
        return ch__user_not_found(f);
    ch_err_t err = ch__chat_rate_hit(svc, viewer, f);
    if (err == CH_OK)
        err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    err = ch__chat_load(svc, conn, viewer, conv, 1, &c, f);
    if (err == CH_OK && c.direct)
        err = ch__not_group(f);
    if (err == CH_OK && !c.admin)
        err = ch_fault(f, CH_EFORBIDDEN, NULL, "only an admin of the conversation may add members");
    if (err == CH_OK) {
        ch_db_param_t p[] = {CH_DB_P_INT(conv), CH_DB_P_INT(user)};
        ch_db_rows_t *rows = NULL;
        err = ch_sql_on(svc, conn, "SELECT 1 FROM conversation_members WHERE conversation_id = $1 AND user_id = $2", p,
                        CH_NPARAMS(p), &rows, NULL);
        int member = err == CH_OK && ch_db_rows_count(rows) == 1;
        ch_db_rows_free(rows);
        if (err == CH_OK && !member) {
            if (c.members_count >= CH_CHAT_GROUP_MEMBERS_MAX)
                err = ch_fault(f, CH_ECONFLICT, NULL, "a group has at most %d members", CH_CHAT_GROUP_MEMBERS_MAX);
            if (err == CH_OK)
                err = ch__chat_conv_cap(svc, conn, &user, 1, f);
            if (err == CH_OK)
                err = ch__insert_member(svc, conn, conv, user, viewer, "member", c.last_seq, ch_now_ms(), &added);
            if (err == CH_OK && !added)
                err = ch__user_not_found(f);
            if (err == CH_OK)
                err = ch__count_members(svc, conn, conv, 1);
            if (err == CH_OK)
                err = ch__chat_member_ids(svc, conn, conv, &ids, &n);
        }
    }
    err = ch_sql_end(svc, conn, err);
    if (err == CH_OK && added)
        ch__publish_added(svc, ids, n, conv, user, c.last_seq, viewer);
    free(ids);
    if (err == CH_OK)
        err = ch_chat_conv_get(svc, viewer, conv, out, f);
    return err;
}

ch_err_t ch_chat_member_remove(ch_svc_t *svc, uint64_t viewer, uint64_t conv, uint64_t user, ch_fault_t *f)
{
    ch__chat_conv_t c;
    ch_db_conn_t *conn = NULL;
    uint64_t *ids = NULL;
    size_t n = 0;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err)
        return err;
    err = ch__chat_load(svc, conn, viewer, conv, 1, &c, f);
    if (err == CH_OK && c.direct)
        err = ch__not_group(f);
    if (err == CH_OK && user != viewer && !c.admin)
        err = ch_fault(f, CH_EFORBIDDEN, NULL, "only an admin of the conversation may remove members");
    /* Everyone who was a member hears of it, the one who goes included. */
    if (err == CH_OK)
        err = ch__chat_member_ids(svc, conn, conv, &ids, &n);
    int64_t changes = 0;
    if (err == CH_OK) {
        ch_db_param_t p[] = {CH_DB_P_INT(conv), CH_DB_P_INT(user)};
        err = ch_sql_on(svc, conn, "DELETE FROM conversation_members WHERE conversation_id = $1 AND user_id = $2", p,
                        CH_NPARAMS(p), NULL, &changes);
        if (err == CH_OK && changes == 0)
            err = ch_fault(f, CH_ENOTFOUND, NULL, "user is not a member of the conversation");
    }
    if (err == CH_OK) {
        /* Push jobs do not outlive membership: nothing of the conversation is pushed to them. */
        ch_db_param_t p[] = {CH_DB_P_INT(conv), CH_DB_P_INT(user)};
        err = ch_sql_on(svc, conn, "DELETE FROM chat_push_jobs WHERE conversation_id = $1 AND user_id = $2", p,
                        CH_NPARAMS(p), NULL, NULL);
    }
    if (err == CH_OK)
        err = ch__count_members(svc, conn, conv, -1);
    if (err == CH_OK) {
        /* A group keeps an admin: the longest-standing member when the last admin went. */
        ch_db_param_t p[] = {CH_DB_P_INT(conv)};
        err = ch_sql_on(svc, conn,
                        "UPDATE conversation_members SET role = 'admin' WHERE conversation_id = $1"
                        " AND NOT EXISTS (SELECT 1 FROM conversation_members WHERE conversation_id = $1 AND role = 'admin')"
                        " AND user_id = (SELECT user_id FROM conversation_members WHERE conversation_id = $1"
                        " ORDER BY joined_at, user_id LIMIT 1)",
                        p, CH_NPARAMS(p), NULL, NULL);
    }
    err = ch_sql_end(svc, conn, err);
    if (err == CH_OK)
        ch__chat_publish_member(svc, ids, n, "member.removed", conv, user, viewer);
    free(ids);
    return err;
}

ch_err_t ch_chat_leave(ch_svc_t *svc, uint64_t viewer, uint64_t conv, ch_fault_t *f)
{
    return ch_chat_member_remove(svc, viewer, conv, viewer, f);
}

/* Presence in the kv store (presence.h for the layout): per-user records, per-instance
 * liveness keys, the visibility rules and the change events. */
#include "svc/presence/presence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/bus.h"
#include "store/db.h"
#include "store/kv.h"
#include "svc/chat/share.h"
#include "svc/graph/visibility.h"

#define CH__PRESENCE_KEY_MAX 64

static const char *const ch__presence_names[] = {"offline", "online", "idle"};

static void ch__presence_user_key(char *buf, uint64_t user_id)
{
    snprintf(buf, CH__PRESENCE_KEY_MAX, "presence:u:%llu", (unsigned long long)user_id);
}

static void ch__presence_node_key(char *buf, uint64_t instance)
{
    snprintf(buf, CH__PRESENCE_KEY_MAX, "presence:node:%llu", (unsigned long long)instance);
}

/* The user's record ({"n": {instance: status}, "s": status, "seen": ms}), or a new empty one. */
static ch_err_t ch__presence_load(ch_svc_t *svc, uint64_t user_id, json_t **rec)
{
    char key[CH__PRESENCE_KEY_MAX], *val = NULL;
    size_t len = 0;
    ch__presence_user_key(key, user_id);
    ch_err_t e = ch_kv_get(svc->kv, key, &val, &len);
    if (e != CH_OK)
        return e;
    *rec = val ? json_loadb(val, len, 0, NULL) : NULL;
    free(val);
    if (!json_is_object(*rec)) {
        json_decref(*rec);
        *rec = json_pack("{s:{}, s:i, s:I}", "n", "s", 0, "seen", (json_int_t)0);
    }
    if (!json_is_object(json_object_get(*rec, "n")))
        json_object_set_new(*rec, "n", json_object());
    return CH_OK;
}

/* The status across nodes: the live instances' entries (dead ones are dropped from rec). */
static ch_err_t ch__presence_aggregate(ch_svc_t *svc, json_t *rec, int *status)
{
    json_t *nodes = json_object_get(rec, "n");
    const char *inst;
    json_t *v, *tmp;
    int online = 0, idle = 0;
    json_object_foreach_safe(nodes, tmp, inst, v)
    {
        char key[CH__PRESENCE_KEY_MAX], *alive = NULL;
        size_t len;
        ch__presence_node_key(key, strtoull(inst, NULL, 10));
        ch_err_t e = ch_kv_get(svc->kv, key, &alive, &len);
        if (e != CH_OK)
            return e;
        if (!alive) {
            json_object_del(nodes, inst);
            continue;
        }
        free(alive);
        if (json_integer_value(v) == CH_PRESENCE_ONLINE)
            online = 1;
        else if (json_integer_value(v) == CH_PRESENCE_IDLE)
            idle = 1;
    }
    *status = online ? CH_PRESENCE_ONLINE : idle ? CH_PRESENCE_IDLE : CH_PRESENCE_OFFLINE;
    return CH_OK;
}

static json_t *ch__presence_render(uint64_t user_id, int status, int64_t seen_ms)
{
    char id[24], seen[CH_RFC3339_LEN];
    snprintf(id, sizeof(id), "%llu", (unsigned long long)user_id);
    json_t *o = json_pack("{s:s, s:s}", "user_id", id, "status", ch__presence_names[status]);
    if (status != CH_PRESENCE_OFFLINE)
        seen_ms = ch_now_ms();
    if (seen_ms > 0) {
        ch_format_rfc3339(seen_ms, seen);
        json_object_set_new(o, "last_seen_at", json_string(seen));
    } else {
        json_object_set_new(o, "last_seen_at", json_null());
    }
    return o;
}

ch_err_t ch_presence_connected(ch_svc_t *svc, uint64_t user_id, int *online)
{
    json_t *rec;
    ch_err_t e = ch__presence_load(svc, user_id, &rec);
    int st = CH_PRESENCE_OFFLINE;
    if (e == CH_OK)
        e = ch__presence_aggregate(svc, rec, &st);
    json_decref(rec);
    *online = e == CH_OK && st != CH_PRESENCE_OFFLINE;
    return e;
}

ch_err_t ch_presence_node_alive(ch_svc_t *svc, uint64_t instance)
{
    char key[CH__PRESENCE_KEY_MAX];
    ch__presence_node_key(key, instance);
    return ch_kv_set(svc->kv, key, "1", 1, CH_PRESENCE_TTL_MS);
}

ch_err_t ch_presence_node_gone(ch_svc_t *svc, uint64_t instance)
{
    char key[CH__PRESENCE_KEY_MAX];
    ch__presence_node_key(key, instance);
    return ch_kv_del(svc->kv, key);
}

/* ---- visibility ------------------------------------------------------------------------- */

ch_err_t ch_presence_hidden(ch_svc_t *svc, uint64_t user_id, int *hidden)
{
    ch_db_conn_t *conn;
    ch_err_t e = ch_db_acquire(svc->db, &conn);
    if (e != CH_OK)
        return e;
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user_id)};
    e = ch_db_exec(svc->db, conn, "SELECT hidden FROM presence_settings WHERE user_id = $1", p, 1, &rows, NULL);
    *hidden = e == CH_OK && ch_db_rows_count(rows) > 0 && ch_db_rows_int(rows, 0, 0) != 0;
    ch_db_rows_free(rows);
    ch_db_release(svc->db, conn);
    return e;
}

ch_err_t ch_presence_set_hidden(ch_svc_t *svc, uint64_t user_id, int hidden, ch_fault_t *f)
{
    ch_db_conn_t *conn;
    ch_err_t e = ch_db_acquire(svc->db, &conn);
    if (e != CH_OK)
        return ch_fault(f, e, NULL, "the database is unavailable");
    ch_db_param_t p[] = {CH_DB_P_INT(user_id), CH_DB_P_INT(hidden ? 1 : 0), CH_DB_P_INT(ch_now_ms())};
    e = ch_db_exec(svc->db, conn,
                   "INSERT INTO presence_settings (user_id, hidden, updated_at) VALUES ($1, $2, $3) "
                   "ON CONFLICT (user_id) DO UPDATE SET hidden = excluded.hidden, updated_at = excluded.updated_at",
                   p, 3, NULL, NULL);
    ch_db_release(svc->db, conn);
    return e == CH_OK ? CH_OK : ch_fault(f, e, NULL, "the presence setting was not saved");
}

ch_err_t ch_presence_may_see(ch_svc_t *svc, uint64_t viewer, uint64_t user_id, int *may)
{
    *may = 0;
    if (viewer == user_id) {
        *may = 1;
        return CH_OK;
    }
    ch_graph_rel_t rel;
    ch_err_t e = ch_graph_relation(svc, NULL, viewer, user_id, &rel);
    if (e != CH_OK || !ch_graph_may_see_user(&rel))
        return e;
    int hidden;
    if ((e = ch_presence_hidden(svc, user_id, &hidden)) != CH_OK || hidden)
        return e;
    if (rel.following && rel.followed_by) {
        *may = 1;
        return CH_OK;
    }
    int shared = 0;
    e = ch_chat_shares_conversation(svc, viewer, user_id, &shared);
    *may = e == CH_OK && shared;
    return e;
}

ch_err_t ch_presence_get(ch_svc_t *svc, uint64_t viewer, uint64_t user_id, json_t **out, ch_fault_t *f)
{
    int may = 0;
    ch_err_t e = user_id ? ch_presence_may_see(svc, viewer, user_id, &may) : CH_OK;
    if (e != CH_OK)
        return ch_fault(f, e, NULL, "presence cannot be read now");
    if (!may)
        return ch_fault(f, CH_ENOTFOUND, NULL, "user not found");
    json_t *rec;
    int st = CH_PRESENCE_OFFLINE;
    if ((e = ch__presence_load(svc, user_id, &rec)) == CH_OK)
        e = ch__presence_aggregate(svc, rec, &st);
    if (e != CH_OK) {
        json_decref(rec);
        return ch_fault(f, CH_EUNAVAILABLE, NULL, "presence cannot be read now (the kv store is unavailable)");
    }
    *out = ch__presence_render(user_id, st, json_integer_value(json_object_get(rec, "seen")));
    json_decref(rec);
    return CH_OK;
}

/* ---- changes ------------------------------------------------------------------------------- */

/* The `presence` event to the user's own devices and to those who may see it: mutual
 * follows (bounded) and, through the bus, nothing else crosses the database. */
static void ch__presence_fanout(ch_svc_t *svc, uint64_t user_id, int status, int64_t seen)
{
    if (!svc->bus)
        return;
    int hidden = 0;
    if (ch_presence_hidden(svc, user_id, &hidden) != CH_OK)
        return;
    json_t *d = ch__presence_render(user_id, status, seen);
    json_t *frame = json_pack("{s:s, s:o}", "op", "presence", "d", d);
    char *text = json_dumps(frame, JSON_COMPACT);
    json_decref(frame);
    uint64_t *to = malloc((CH_PRESENCE_FANOUT_MAX + 1) * sizeof(*to));
    size_t n = 0;
    to[n++] = user_id; /* the user's other devices */
    ch_db_conn_t *conn;
    if (!hidden && ch_db_acquire(svc->db, &conn) == CH_OK) {
        ch_db_rows_t *rows = NULL;
        ch_db_param_t p[] = {CH_DB_P_INT(user_id), CH_DB_P_INT(CH_PRESENCE_FANOUT_MAX)};
        if (ch_db_exec(svc->db, conn,
                       "SELECT a.follower_id FROM follows a JOIN follows b ON b.follower_id = a.followee_id "
                       "AND b.followee_id = a.follower_id WHERE a.followee_id = $1 LIMIT $2",
                       p, 2, &rows, NULL) == CH_OK)
            for (size_t r = 0; r < ch_db_rows_count(rows); r++)
                to[n++] = (uint64_t)ch_db_rows_int(rows, r, 0);
        ch_db_rows_free(rows);
        ch_db_release(svc->db, conn);
    }
    if (text && ch_bus_publish_many(svc->bus, to, n, text, strlen(text)) != CH_OK)
        ch_log_warn("presence: the change of user %llu was not published (bus unavailable)",
                    (unsigned long long)user_id);
    free(to);
    free(text);
}

ch_err_t ch_presence_node_update(ch_svc_t *svc, uint64_t user_id, uint64_t instance, int node_status)
{
    json_t *rec;
    ch_err_t e = ch__presence_load(svc, user_id, &rec);
    if (e != CH_OK)
        return e;
    char inst[24];
    snprintf(inst, sizeof(inst), "%llu", (unsigned long long)instance);
    json_t *nodes = json_object_get(rec, "n");
    if (node_status == CH_PRESENCE_OFFLINE)
        json_object_del(nodes, inst);
    else
        json_object_set_new(nodes, inst, json_integer(node_status));
    int before = (int)json_integer_value(json_object_get(rec, "s")), after;
    if ((e = ch__presence_aggregate(svc, rec, &after)) != CH_OK) {
        json_decref(rec);
        return e;
    }
    int64_t now = ch_now_ms();
    json_object_set_new(rec, "s", json_integer(after));
    json_object_set_new(rec, "seen", json_integer(now));
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    char key[CH__PRESENCE_KEY_MAX];
    ch__presence_user_key(key, user_id);
    e = ch_kv_set(svc->kv, key, text, strlen(text), CH_PRESENCE_RECORD_TTL_MS);
    free(text);
    if (e == CH_OK && before != after)
        ch__presence_fanout(svc, user_id, after, now);
    return e;
}

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
#include "store/kv_multi.h"
#include "svc/chat/peers.h"
#include "svc/chat/share.h"
#include "svc/graph/visibility.h"

#define CH__PRESENCE_KEY_MAX 64

static const char *const ch__presence_names[] = {"offline", "online", "idle"};

static void ch__presence_user_key(char *buf, uint64_t user_id, uint64_t instance)
{
    snprintf(buf, CH__PRESENCE_KEY_MAX, "presence:u:%llu:%llu", (unsigned long long)user_id,
             (unsigned long long)instance);
}

static void ch__presence_key(char *buf, const char *what, uint64_t id)
{
    snprintf(buf, CH__PRESENCE_KEY_MAX, "presence:%s:%llu", what, (unsigned long long)id);
}

#define CH__PRESENCE_INSTANCES_KEY "presence:instances"
#define CH__PRESENCE_LIST_TRIES 3

/* The gateway instances list ({"<instance>": heartbeat unix ms}); an empty object when none. */
static ch_err_t ch__presence_instances(ch_svc_t *svc, json_t **list)
{
    char *val = NULL;
    size_t len = 0;
    ch_err_t e = ch_kv_get(svc->kv, CH__PRESENCE_INSTANCES_KEY, &val, &len);
    if (e != CH_OK)
        return e;
    *list = val ? json_loadb(val, len, 0, NULL) : NULL;
    free(val);
    if (!json_is_object(*list)) {
        json_decref(*list);
        *list = json_object();
    }
    return CH_OK;
}

/* Whether instance's liveness key (presence:node:<inst>, CH_PRESENCE_TTL_MS, refreshed by its
 * heartbeat) exists: the store judges expiry, no node's wall clock does. */
static ch_err_t ch__presence_node_live(ch_svc_t *svc, uint64_t instance, int *live)
{
    char key[CH__PRESENCE_KEY_MAX], *val = NULL;
    size_t len;
    ch__presence_key(key, "node", instance);
    ch_err_t e = ch_kv_get(svc->kv, key, &val, &len);
    *live = e == CH_OK && val != NULL;
    free(val);
    return e;
}

static void ch__presence_fanout(ch_svc_t *svc, uint64_t user_id, int status, int64_t seen);
static ch_err_t ch__presence_aggregate(ch_svc_t *svc, uint64_t user_id, int *status);
static int64_t ch__presence_int(ch_svc_t *svc, const char *what, uint64_t user_id, int64_t dflt);
static ch_err_t ch__presence_set_int(ch_svc_t *svc, const char *what, uint64_t user_id, int64_t v, int64_t ttl_ms);
static int64_t ch__presence_node_ttl_ms(const ch_svc_t *svc);

/* ---- a dead instance's users ---------------------------------------------------------------- */

ch_err_t ch_presence_node_users(ch_svc_t *svc, uint64_t instance, const uint64_t *ids, size_t n)
{
    char key[CH__PRESENCE_KEY_MAX];
    ch__presence_key(key, "users", instance);
    if (n > CH_PRESENCE_NODE_USERS_MAX)
        n = CH_PRESENCE_NODE_USERS_MAX;
    char *text = malloc(n * 21 + 1);
    if (!text)
        return CH_EINTERNAL;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, "%s%llu", i ? " " : "", (unsigned long long)ids[i]);
    ch_err_t e = ch_kv_set(svc->kv, key, text, len, CH_PRESENCE_NODE_USERS_TTL_MS);
    free(text);
    return e;
}

/* Claims the dead instance for CH_PRESENCE_SWEEP_CLAIM_MS (held by another node: nothing,
 * *done 0) and announces up to CH_PRESENCE_DEAD_PER_BEAT users recorded for it within
 * CH_PRESENCE_SWEEP_BUDGET_MS (offline ones with last_seen_at now - CH_PRESENCE_TTL_MS,
 * written to presence:seen): each one
 * whose status across the live nodes differs from the one last announced gets it announced
 * (offline, unless another node holds a device). *done 1 when none is left (the record is
 * gone), else the rest is written back for the next heartbeat. Two nodes sweeping at once may
 * announce a change twice (a repeat is harmless). */
static ch_err_t ch__presence_sweep(ch_svc_t *svc, uint64_t instance, int *done)
{
    char key[CH__PRESENCE_KEY_MAX], *val = NULL;
    size_t len = 0;
    *done = 0;
    int64_t claims = 0;
    ch__presence_key(key, "sweep", instance);
    ch_err_t e = ch_kv_incr(svc->kv, key, CH_PRESENCE_SWEEP_CLAIM_MS, &claims, NULL);
    if (e != CH_OK || claims != 1)
        return e; /* another node sweeps it now (or the store failed): kept for later */
    ch__presence_key(key, "users", instance);
    e = ch_kv_get(svc->kv, key, &val, &len);
    if (e != CH_OK)
        return e;
    if (!val) {
        *done = 1;
        return CH_OK;
    }
    char *p = val, *end = val + len;
    size_t k = 0;
    int64_t until = ch_mono_ms() + CH_PRESENCE_SWEEP_BUDGET_MS;
    while (p < end && k < CH_PRESENCE_DEAD_PER_BEAT && ch_mono_ms() < until) {
        char *next = NULL;
        uint64_t user = strtoull(p, &next, 10);
        if (next == p)
            break;
        p = next;
        while (p < end && *p == ' ')
            p++;
        k++;
        int st = CH_PRESENCE_OFFLINE;
        if (ch__presence_aggregate(svc, user, &st) != CH_OK)
            continue;
        int before = (int)ch__presence_int(svc, "said", user, CH_PRESENCE_OFFLINE);
        if (before != st && ch__presence_set_int(svc, "said", user, st, ch__presence_node_ttl_ms(svc)) == CH_OK) {
            int64_t seen = ch__presence_int(svc, "seen", user, 0);
            if (st == CH_PRESENCE_OFFLINE && seen < ch_now_ms() - CH_PRESENCE_TTL_MS) {
                /* last heard of when its instance was last alive, not its last connect */
                seen = ch_now_ms() - CH_PRESENCE_TTL_MS;
                (void)ch__presence_set_int(svc, "seen", user, seen, CH_PRESENCE_RECORD_TTL_MS);
            }
            ch__presence_fanout(svc, user, st, seen);
        }
    }
    if (p >= end) {
        e = ch_kv_del(svc->kv, key);
        *done = e == CH_OK;
    } else {
        e = ch_kv_set(svc->kv, key, p, (size_t)(end - p), CH_PRESENCE_NODE_USERS_TTL_MS);
    }
    free(val);
    return e;
}

/* Adds (add) or removes instance in the list; with sweep (and add), sweeps the instances whose
 * liveness key expired and drops them once their users were announced offline
 * (ch__presence_sweep); read back and tried again
 * when another instance's write crossed ours. */
static ch_err_t ch__presence_list_update(ch_svc_t *svc, uint64_t instance, int add, int sweep)
{
    char inst[24];
    snprintf(inst, sizeof(inst), "%llu", (unsigned long long)instance);
    ch_err_t e = CH_OK;
    for (int t = 0; t < CH__PRESENCE_LIST_TRIES; t++) {
        json_t *list;
        if ((e = ch__presence_instances(svc, &list)) != CH_OK)
            return e;
        int64_t now = ch_now_ms();
        const char *k;
        json_t *v, *tmp;
        int changed = 0;
        json_object_foreach_safe(list, tmp, k, v)
        {
            int live = 1, swept = 0;
            uint64_t other = strtoull(k, NULL, 10);
            /* only once swept: not on a store error, nor on a clean stop (add 0: this node
             * does not sweep; the others will) */
            if (other != instance && add && sweep && ch__presence_node_live(svc, other, &live) == CH_OK && !live &&
                ch__presence_sweep(svc, other, &swept) == CH_OK && swept) {
                json_object_del(list, k);
                changed = 1;
            }
        }
        if (!changed && (json_object_get(list, inst) != NULL) == add) {
            json_decref(list); /* nothing to write: membership only changes the list */
            return CH_OK;
        }
        if (add)
            json_object_set_new(list, inst, json_integer(now));
        else
            json_object_del(list, inst);
        char *text = json_dumps(list, JSON_COMPACT);
        json_decref(list);
        e = ch_kv_set(svc->kv, CH__PRESENCE_INSTANCES_KEY, text, strlen(text), 0);
        free(text);
        if (e != CH_OK || (e = ch__presence_instances(svc, &list)) != CH_OK)
            return e;
        int present = json_object_get(list, inst) != NULL;
        json_decref(list);
        if (present == add)
            return CH_OK;
    }
    return e;
}

/* The status across nodes: each live instance's entry for the user. */
static ch_err_t ch__presence_aggregate(ch_svc_t *svc, uint64_t user_id, int *status)
{
    json_t *list;
    ch_err_t e = ch__presence_instances(svc, &list);
    if (e != CH_OK)
        return e;
    int online = 0, idle = 0;
    const char *k;
    json_t *v;
    json_object_foreach(list, k, v)
    {
        uint64_t instance = strtoull(k, NULL, 10);
        int live = 0;
        if ((e = ch__presence_node_live(svc, instance, &live)) != CH_OK)
            break;
        if (!live)
            continue; /* its node died: its devices count for nothing */
        char key[CH__PRESENCE_KEY_MAX], *val = NULL;
        size_t len;
        ch__presence_user_key(key, user_id, instance);
        if ((e = ch_kv_get(svc->kv, key, &val, &len)) != CH_OK)
            break;
        if (val && val[0] == '1')
            online = 1;
        else if (val && val[0] == '2')
            idle = 1;
        free(val);
    }
    json_decref(list);
    *status = online ? CH_PRESENCE_ONLINE : idle ? CH_PRESENCE_IDLE : CH_PRESENCE_OFFLINE;
    return e;
}

static int64_t ch__presence_int(ch_svc_t *svc, const char *what, uint64_t user_id, int64_t dflt)
{
    char key[CH__PRESENCE_KEY_MAX], *val = NULL;
    size_t len;
    ch__presence_key(key, what, user_id);
    if (ch_kv_get(svc->kv, key, &val, &len) != CH_OK || !val)
        return dflt;
    int64_t v = strtoll(val, NULL, 10);
    free(val);
    return v;
}

static ch_err_t ch__presence_set_int(ch_svc_t *svc, const char *what, uint64_t user_id, int64_t v, int64_t ttl_ms)
{
    char key[CH__PRESENCE_KEY_MAX], val[24];
    ch__presence_key(key, what, user_id);
    int n = snprintf(val, sizeof(val), "%lld", (long long)v);
    return ch_kv_set(svc->kv, key, val, (size_t)n, ttl_ms);
}

/* How long a user's record on one instance (and the status last announced) is kept: no
 * connection outlives its access token (closed with 4001 at its exp), and every connect and
 * close of the user on the instance writes the record again, so it cannot expire under a live
 * connection; a dead instance's records go CH_PRESENCE_TTL_MS after that, not in 30 days. */
static int64_t ch__presence_node_ttl_ms(const ch_svc_t *svc)
{
    int64_t access_s = svc->cfg && svc->cfg->access_ttl_s > 0 ? svc->cfg->access_ttl_s : 86400;
    return access_s * 1000 + CH_PRESENCE_TTL_MS;
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
    int st = CH_PRESENCE_OFFLINE;
    ch_err_t e = ch__presence_aggregate(svc, user_id, &st);
    *online = e == CH_OK && st != CH_PRESENCE_OFFLINE;
    return e;
}

ch_err_t ch_presence_connected_many(ch_svc_t *svc, const uint64_t *ids, size_t n, int *online)
{
    memset(online, 0, n * sizeof(*online));
    if (n == 0)
        return CH_OK;
    json_t *list;
    ch_err_t e = ch__presence_instances(svc, &list);
    if (e != CH_OK)
        return e;
    /* the live instances: those whose liveness key exists (one round trip for all; the list's
     * values are when each joined, not heartbeats) */
    size_t ninst = json_object_size(list), nlive = 0;
    uint64_t *live = malloc((ninst + 1) * sizeof(*live));
    char *nbuf = malloc((ninst + 1) * CH__PRESENCE_KEY_MAX), **nvals = calloc(ninst + 1, sizeof(*nvals));
    const char **nkeys = malloc((ninst + 1) * sizeof(*nkeys));
    if (!live || !nbuf || !nvals || !nkeys) {
        json_decref(list);
        free(live), free(nbuf), free(nvals), free(nkeys);
        return CH_EINTERNAL;
    }
    const char *k;
    json_t *v;
    size_t ni = 0;
    json_object_foreach(list, k, v)
    {
        live[ni] = strtoull(k, NULL, 10);
        nkeys[ni] = nbuf + ni * CH__PRESENCE_KEY_MAX;
        ch__presence_key(nbuf + ni * CH__PRESENCE_KEY_MAX, "node", live[ni]);
        ni++;
    }
    json_decref(list);
    e = ni ? ch_kv_get_many(svc->kv, nkeys, ni, nvals) : CH_OK;
    for (size_t i = 0; i < ni; i++) {
        if (e == CH_OK && nvals[i])
            live[nlive++] = live[i];
        free(nvals[i]);
    }
    free(nbuf), free(nvals), free(nkeys);
    if (e != CH_OK) {
        free(live);
        return e;
    }
    size_t nk = n * nlive;
    if (nk == 0) {
        free(live);
        return CH_OK;
    }
    char *buf = malloc(nk * CH__PRESENCE_KEY_MAX), **vals = calloc(nk, sizeof(*vals));
    const char **keys = malloc(nk * sizeof(*keys));
    if (!buf || !vals || !keys)
        e = CH_EINTERNAL;
    for (size_t i = 0; e == CH_OK && i < n; i++)
        for (size_t j = 0; j < nlive; j++) {
            char *key = buf + (i * nlive + j) * CH__PRESENCE_KEY_MAX;
            ch__presence_user_key(key, ids[i], live[j]);
            keys[i * nlive + j] = key;
        }
    if (e == CH_OK)
        e = ch_kv_get_many(svc->kv, keys, nk, vals);
    for (size_t x = 0; e == CH_OK && x < nk; x++) {
        if (vals[x] && (vals[x][0] == '1' || vals[x][0] == '2'))
            online[x / nlive] = 1;
        free(vals[x]);
    }
    free(buf);
    free(vals);
    free(keys);
    free(live);
    return e;
}

ch_err_t ch_presence_node_alive(ch_svc_t *svc, uint64_t instance)
{
    char key[CH__PRESENCE_KEY_MAX];
    ch__presence_key(key, "node", instance);
    ch_err_t e = ch_kv_set(svc->kv, key, "1", 1, CH_PRESENCE_TTL_MS);
    return e != CH_OK ? e : ch__presence_list_update(svc, instance, 1, 0);
}

ch_err_t ch_presence_sweep_dead(ch_svc_t *svc, uint64_t instance)
{
    return ch__presence_list_update(svc, instance, 1, 1);
}

ch_err_t ch_presence_node_gone(ch_svc_t *svc, uint64_t instance)
{
    char key[CH__PRESENCE_KEY_MAX];
    ch__presence_key(key, "node", instance);
    ch_err_t e = ch_kv_del(svc->kv, key);
    return e != CH_OK ? e : ch__presence_list_update(svc, instance, 0, 0);
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
    int st = CH_PRESENCE_OFFLINE;
    if ((e = ch__presence_aggregate(svc, user_id, &st)) != CH_OK)
        return ch_fault(f, CH_EUNAVAILABLE, NULL, "presence cannot be read now (the kv store is unavailable)");
    *out = ch__presence_render(user_id, st, ch__presence_int(svc, "seen", user_id, 0));
    return CH_OK;
}

/* ---- changes ------------------------------------------------------------------------------- */

static int ch__presence_cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Removes from to[1..*n) the users who block user_id or whom it blocks, and repeats (to[0],
 * the user, stays). The block list read is the user's, both ways (indexed both ways). */
static void ch__presence_filter(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t user_id, uint64_t *to, size_t *n)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_INT(user_id)};
    size_t nb = 0;
    uint64_t *blocked = NULL;
    if (ch_db_exec(svc->db, conn,
                   "SELECT blocked_id FROM blocks WHERE blocker_id = $1 "
                   "UNION SELECT blocker_id FROM blocks WHERE blocked_id = $1",
                   p, 1, &rows, NULL) == CH_OK && (nb = ch_db_rows_count(rows)) > 0) {
        blocked = malloc(nb * sizeof(*blocked));
        for (size_t r = 0; r < nb; r++)
            blocked[r] = (uint64_t)ch_db_rows_int(rows, r, 0);
        qsort(blocked, nb, sizeof(*blocked), ch__presence_cmp_id);
    }
    ch_db_rows_free(rows);
    size_t k = 1;
    for (size_t i = 1; i < *n; i++) {
        uint64_t id = to[i];
        int keep = id != user_id && !(blocked && bsearch(&id, blocked, nb, sizeof(*blocked), ch__presence_cmp_id));
        for (size_t j = 1; keep && j < k; j++)
            keep = to[j] != id;
        if (keep)
            to[k++] = id;
    }
    *n = k;
    free(blocked);
}

/* The `presence` event to the user's own devices and to those who may see it: conversation
 * peers first (chat needs them), then mutual follows, CH_PRESENCE_FANOUT_MAX in all; never to
 * a user who blocks it or whom it blocks. */
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
    if (!hidden)
        (void)ch_chat_conversation_peers(svc, user_id, to, CH_PRESENCE_FANOUT_MAX + 1, &n);
    if (!hidden && ch_db_acquire(svc->db, &conn) == CH_OK) {
        ch_db_rows_t *rows = NULL;
        ch_db_param_t p[] = {CH_DB_P_INT(user_id), CH_DB_P_INT(CH_PRESENCE_FANOUT_MAX + 1 - (int64_t)n)};
        if (n < CH_PRESENCE_FANOUT_MAX + 1 &&
            ch_db_exec(svc->db, conn,
                       "SELECT a.follower_id FROM follows a JOIN follows b ON b.follower_id = a.followee_id "
                       "AND b.followee_id = a.follower_id WHERE a.followee_id = $1 LIMIT $2",
                       p, 2, &rows, NULL) == CH_OK)
            for (size_t r = 0; r < ch_db_rows_count(rows) && n < CH_PRESENCE_FANOUT_MAX + 1; r++)
                to[n++] = (uint64_t)ch_db_rows_int(rows, r, 0);
        ch_db_rows_free(rows);
        ch__presence_filter(svc, conn, user_id, to, &n);
        ch_db_release(svc->db, conn);
    } else if (!hidden) {
        n = 1; /* the block list cannot be read: only the user's own devices */
    }
    if (text && ch_bus_publish_many(svc->bus, to, n, text, strlen(text)) != CH_OK)
        ch_log_warn("presence: the change of user %llu was not published (bus unavailable)",
                    (unsigned long long)user_id);
    free(to);
    free(text);
}

ch_err_t ch_presence_node_update(ch_svc_t *svc, uint64_t user_id, uint64_t instance, int node_status)
{
    /* Each instance writes only its own key of the user (no read-modify-write between nodes);
     * the status across nodes is read back after it. */
    char key[CH__PRESENCE_KEY_MAX];
    ch__presence_user_key(key, user_id, instance);
    ch_err_t e = node_status == CH_PRESENCE_OFFLINE
                     ? ch_kv_del(svc->kv, key)
                     : ch_kv_set(svc->kv, key, node_status == CH_PRESENCE_IDLE ? "2" : "1", 1,
                                 ch__presence_node_ttl_ms(svc));
    int64_t now = ch_now_ms();
    if (e == CH_OK)
        e = ch__presence_set_int(svc, "seen", user_id, now, CH_PRESENCE_RECORD_TTL_MS);
    int after = CH_PRESENCE_OFFLINE;
    if (e != CH_OK || (e = ch__presence_aggregate(svc, user_id, &after)) != CH_OK)
        return e;
    /* the last status announced: two nodes may both announce a change (a repeat is harmless) */
    int before = (int)ch__presence_int(svc, "said", user_id, CH_PRESENCE_OFFLINE);
    /* written at every change on an instance, so that it outlives every connection (see
     * ch__presence_node_ttl_ms): an expired one would hide the next offline */
    if ((e = ch__presence_set_int(svc, "said", user_id, after, ch__presence_node_ttl_ms(svc))) == CH_OK &&
        before != after)
        ch__presence_fanout(svc, user_id, after, now);
    return e;
}

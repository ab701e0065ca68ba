/* Who is connected where: a node-wide table of users (sharded by user id, one lock per
 * shard: device counts, idle counts, which loops hold a device) and, per event loop, a table
 * of the user's connections on that loop (loop thread only, no lock). A frame the bus brings
 * for a user is copied once and posted to each loop holding a device of the user; the loop
 * writes it to each device (the sender's other devices included). */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "gateway/gw_internal.h"
#include "store/bus.h"

/* Connections registered on this node's loops (all gateways of the process: one in practice). */
static _Atomic long ch__gw_registered;
static atomic_int ch__gw_renderer_added;

static void ch__gw_render(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out,
                  "# HELP chorus_gateway_connections WebSocket connections registered on this node's loops.\n"
                  "# TYPE chorus_gateway_connections gauge\n"
                  "chorus_gateway_connections %ld\n",
                  atomic_load(&ch__gw_registered));
}

static size_t ch__gw_hash(uint64_t id)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 40);
}

static ch__gw_shard_t *ch__gw_shard(ch_gateway_t *gw, uint64_t user_id)
{
    return &gw->shards[ch__gw_hash(user_id) % CH_GW_SHARDS];
}

/* The user's entry (shard locked); created when make. */
static ch__gw_user_t **ch__gw_find(ch__gw_shard_t *s, uint64_t user_id)
{
    ch__gw_user_t **p = &s->buckets[(ch__gw_hash(user_id) / CH_GW_SHARDS) % 256];
    while (*p && (*p)->user_id != user_id)
        p = &(*p)->next;
    return p;
}

ch_err_t ch__gw_admit(ch_gateway_t *gw, uint64_t user_id)
{
    const ch_config_t *cfg = gw->svc->cfg;
    if (atomic_fetch_add(&gw->total, 1) >= cfg->ws_max_connections) {
        atomic_fetch_sub(&gw->total, 1);
        return CH_EOVERLOADED;
    }
    ch__gw_shard_t *s = ch__gw_shard(gw, user_id);
    pthread_mutex_lock(&s->mu);
    ch__gw_user_t **p = ch__gw_find(s, user_id);
    if (*p && (*p)->nconn >= cfg->ws_max_per_user) {
        pthread_mutex_unlock(&s->mu);
        atomic_fetch_sub(&gw->total, 1);
        return CH_ERATELIMIT;
    }
    int first = !*p;
    if (first) {
        *p = ch_calloc(1, sizeof(**p));
        (*p)->user_id = user_id;
        atomic_fetch_add(&gw->users_version, 1);
    }
    (*p)->nconn++;
    if (first && gw->svc->bus && ch_bus_subscribe(gw->svc->bus, user_id) != CH_OK)
        ch_log_warn("gateway: the bus cannot subscribe user %llu now (Redis down); it will on reconnect",
                    (unsigned long long)user_id);
    pthread_mutex_unlock(&s->mu);
    return CH_OK;
}

/* Drops one device of the user from the node-wide table (shard lock taken here). */
static void ch__gw_drop(ch_gateway_t *gw, uint64_t user_id, int idle, unsigned loop_index, int loop_empty)
{
    ch__gw_shard_t *s = ch__gw_shard(gw, user_id);
    pthread_mutex_lock(&s->mu);
    ch__gw_user_t **p = ch__gw_find(s, user_id), *u = *p;
    if (u) {
        u->nconn--;
        if (idle)
            u->nidle--;
        if (loop_empty)
            u->loops[loop_index / 64] &= ~(1ull << (loop_index % 64));
        if (u->nconn == 0) {
            *p = u->next;
            free(u);
            atomic_fetch_add(&gw->users_version, 1);
            if (gw->svc->bus)
                ch_bus_unsubscribe(gw->svc->bus, user_id);
        }
    }
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_sub(&gw->total, 1);
}

size_t ch__gw_users_snapshot(ch_gateway_t *gw, uint64_t **ids, size_t max)
{
    size_t n = 0, cap = 1024;
    *ids = ch_malloc(cap * sizeof(**ids));
    for (size_t i = 0; i < CH_GW_SHARDS && n < max; i++) {
        ch__gw_shard_t *s = &gw->shards[i];
        pthread_mutex_lock(&s->mu);
        for (size_t b = 0; b < sizeof(s->buckets) / sizeof(s->buckets[0]) && n < max; b++)
            for (ch__gw_user_t *u = s->buckets[b]; u && n < max; u = u->next) {
                if (n == cap)
                    *ids = ch_realloc(*ids, (cap *= 2) * sizeof(**ids));
                (*ids)[n++] = u->user_id;
            }
        pthread_mutex_unlock(&s->mu);
    }
    return n;
}

void ch__gw_unadmit(ch_gateway_t *gw, uint64_t user_id)
{
    ch__gw_drop(gw, user_id, 0, 0, 0);
}

static ch__gw_local_t **ch__gw_local(ch__gw_loop_t *l, uint64_t user_id)
{
    ch__gw_local_t **p = &l->users[ch__gw_hash(user_id) & (l->nbuckets - 1)];
    while (*p && (*p)->user_id != user_id)
        p = &(*p)->next;
    return p;
}

/* Doubles the loop's user table once it holds more than 2 users a bucket, so that a lookup
 * (each delivery, each close) stays O(1) with 100,000 users on a loop. */
static void ch__gw_local_grow(ch__gw_loop_t *l)
{
    if (l->nusers <= 2 * l->nbuckets)
        return;
    size_t n = l->nbuckets * 2;
    ch__gw_local_t **t = ch_calloc(n, sizeof(*t));
    for (size_t b = 0; b < l->nbuckets; b++)
        for (ch__gw_local_t *e = l->users[b], *next; e; e = next) {
            next = e->next;
            ch__gw_local_t **slot = &t[ch__gw_hash(e->user_id) & (n - 1)];
            e->next = *slot;
            *slot = e;
        }
    free(l->users);
    l->users = t;
    l->nbuckets = n;
}

void ch__gw_register(ch__gw_loop_t *l, ch__gw_conn_t *c)
{
    uint64_t user_id = ch__gw_conn_user(c);
    if (!atomic_exchange(&ch__gw_renderer_added, 1))
        ch_metrics_add_renderer(ch__gw_render, NULL);
    ch__gw_link_push(&l->conns, c, ch__gw_conn_loop_link);
    atomic_fetch_add(&ch__gw_registered, 1);
    l->nconns++;
    l->opened++;
    ch__gw_local_t **p = ch__gw_local(l, user_id);
    if (!*p) {
        *p = ch_calloc(1, sizeof(**p));
        (*p)->user_id = user_id;
        l->nusers++;
        ch__gw_shard_t *s = ch__gw_shard(l->gw, user_id);
        pthread_mutex_lock(&s->mu);
        ch__gw_user_t *u = *ch__gw_find(s, user_id);
        if (u)
            u->loops[l->index / 64] |= 1ull << (l->index % 64);
        pthread_mutex_unlock(&s->mu);
    }
    ch__gw_link_push(&(*p)->conns, c, ch__gw_conn_user_link);
    ch__gw_local_grow(l); /* after: p points into the table */
}

void ch__gw_unregister(ch__gw_loop_t *l, ch__gw_conn_t *c, int idle)
{
    uint64_t user_id = ch__gw_conn_user(c);
    /* O(1) through the connection's own links: no walk of the loop's list (a mass disconnect
     * of n connections would be quadratic) */
    if (ch__gw_link_remove(c, ch__gw_conn_loop_link)) {
        l->nconns--;
        atomic_fetch_sub(&ch__gw_registered, 1);
    }
    int empty = 0;
    if (ch__gw_link_remove(c, ch__gw_conn_user_link)) {
        ch__gw_local_t **p = ch__gw_local(l, user_id), *loc = *p;
        if (loc && !loc->conns) {
            *p = loc->next;
            free(loc);
            l->nusers--;
            empty = 1;
        }
    }
    ch__gw_drop(l->gw, user_id, idle, l->index, empty);
}

int ch__gw_count_idle(ch_gateway_t *gw, uint64_t user_id, int delta)
{
    ch__gw_shard_t *s = ch__gw_shard(gw, user_id);
    pthread_mutex_lock(&s->mu);
    ch__gw_user_t *u = *ch__gw_find(s, user_id);
    int changed = 0;
    if (u) {
        int before = u->nidle == u->nconn;
        u->nidle = (unsigned)((int)u->nidle + delta);
        changed = before != (u->nidle == u->nconn);
    }
    pthread_mutex_unlock(&s->mu);
    return changed;
}

static ch__gw_pjob_ent_t **ch__gw_pjob_find(ch__gw_shard_t *s, uint64_t user_id)
{
    ch__gw_pjob_ent_t **p = &s->pjobs[(ch__gw_hash(user_id) / CH_GW_SHARDS) % 16];
    while (*p && (*p)->user_id != user_id)
        p = &(*p)->next;
    return p;
}

int ch__gw_pjob_begin(ch_gateway_t *gw, uint64_t user_id)
{
    ch__gw_shard_t *s = ch__gw_shard(gw, user_id);
    pthread_mutex_lock(&s->mu);
    ch__gw_pjob_ent_t **p = ch__gw_pjob_find(s, user_id);
    int rc;
    if (*p) {
        (*p)->dirty = 1;
        rc = 0;
    } else if (atomic_fetch_add(&gw->pjobs, 1) >= (unsigned)gw->svc->cfg->ws_max_connections * CH_GW_PJOBS_PER_CONN) {
        atomic_fetch_sub(&gw->pjobs, 1);
        rc = -1;
    } else {
        *p = ch_calloc(1, sizeof(**p));
        (*p)->user_id = user_id;
        rc = 1;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ch__gw_pjob_again(ch_gateway_t *gw, uint64_t user_id)
{
    ch__gw_shard_t *s = ch__gw_shard(gw, user_id);
    pthread_mutex_lock(&s->mu);
    ch__gw_pjob_ent_t **p = ch__gw_pjob_find(s, user_id), *e = *p;
    int again = e && e->dirty;
    if (again) {
        e->dirty = 0;
    } else if (e) {
        *p = e->next;
        free(e);
        atomic_fetch_sub(&gw->pjobs, 1);
    }
    pthread_mutex_unlock(&s->mu);
    return again;
}

int ch_gateway_node_status(ch_gateway_t *gw, uint64_t user_id)
{
    ch__gw_shard_t *s = ch__gw_shard(gw, user_id);
    pthread_mutex_lock(&s->mu);
    ch__gw_user_t *u = *ch__gw_find(s, user_id);
    int st = !u || u->nconn == 0 ? 0 : u->nidle >= u->nconn ? 2 : 1;
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* ---- bus deliveries ---------------------------------------------------------------------- */

void ch__gw_frame_release(ch__gw_frame_t *f)
{
    if (f && atomic_fetch_sub(&f->refs, 1) == 1)
        free(f);
}

void ch__gw_on_bus(void *ctx, uint64_t user_id, const char *frame, size_t len)
{
    ch__gw_on_bus_many(ctx, &user_id, 1, frame, len);
}

void ch__gw_on_bus_many(void *ctx, const uint64_t *user_ids, size_t n, const char *frame, size_t len)
{
    ch_gateway_t *gw = ctx;
    /* per loop, the item listing its users (made at its first one; a loop's items hold at
     * most n users) */
    ch__gw_msg_t *per[CH_GW_MAX_LOOPS] = {0};
    unsigned nloops = atomic_load(&gw->nloops);
    nloops = nloops > CH_GW_MAX_LOOPS ? CH_GW_MAX_LOOPS : nloops;
    ch__gw_frame_t *f = NULL;
    for (size_t k = 0; k < n; k++) {
        uint64_t loops[CH_GW_LOOP_WORDS] = {0};
        ch__gw_shard_t *s = ch__gw_shard(gw, user_ids[k]);
        pthread_mutex_lock(&s->mu);
        ch__gw_user_t *u = *ch__gw_find(s, user_ids[k]);
        if (u)
            memcpy(loops, u->loops, sizeof(loops));
        pthread_mutex_unlock(&s->mu);
        for (unsigned i = 0; i < nloops; i++) {
            if (!(loops[i / 64] & (1ull << (i % 64))))
                continue;
            if (!f) {
                f = ch_malloc(sizeof(*f) + len + 1);
                atomic_init(&f->refs, 1); /* ours, dropped below */
                f->len = len;
                memcpy(f->data, frame, len);
                f->data[len] = '\0';
            }
            if (!per[i]) {
                per[i] = ch_malloc(sizeof(*per[i]) + (n - k) * sizeof(uint64_t));
                per[i]->next = NULL;
                per[i]->frame = f;
                per[i]->n = 0;
            }
            per[i]->user_ids[per[i]->n++] = user_ids[k];
        }
    }
    if (!f)
        return; /* nobody here */
    pthread_mutex_lock(&gw->loops_mu);
    for (unsigned i = 0; i < nloops; i++) {
        ch__gw_msg_t *m = per[i];
        if (!m)
            continue;
        ch__gw_loop_t *l = gw->loops[i];
        size_t bytes = sizeof(*m) + m->n * sizeof(uint64_t) + len;
        if (!l || l->inbox_bytes + bytes > CH_GW_INBOX_MAX_BYTES) {
            free(m);
            if (!l)
                continue;
            /* the loop does not keep up: drop, and its connections resync once it does */
            if (!l->inbox_overflow)
                ch_log_warn("gateway: loop %u's bus inbox is full (%u bytes); deliveries dropped, its connections resync",
                            l->index, CH_GW_INBOX_MAX_BYTES);
            l->inbox_overflow = 1;
            uv_async_send(&l->wake);
            continue;
        }
        l->inbox_bytes += bytes;
        atomic_fetch_add(&f->refs, 1);
        int was_empty = l->inbox == NULL;
        if (l->inbox_tail)
            l->inbox_tail->next = m;
        else
            l->inbox = m;
        l->inbox_tail = m;
        if (was_empty)
            uv_async_send(&l->wake);
    }
    pthread_mutex_unlock(&gw->loops_mu);
    ch__gw_frame_release(f);
}

/* A resync event for c: what it held for the seq order goes first, then the event. */
static void ch__gw_conn_resync(ch__gw_conn_t *c, const char *frame, size_t len)
{
    ch__ws_order_resync(c);
    ch__gw_conn_send(c, frame, len);
}

void ch__gw_on_wake(uv_async_t *a)
{
    ch__gw_loop_t *l = a->data;
    pthread_mutex_lock(&l->gw->loops_mu);
    ch__gw_msg_t *m = l->inbox;
    l->inbox = l->inbox_tail = NULL;
    l->inbox_bytes = 0;
    int overflow = l->inbox_overflow;
    l->inbox_overflow = 0;
    pthread_mutex_unlock(&l->gw->loops_mu);
    static const char resync[] = "{\"op\":\"resync\",\"d\":{}}";
    int64_t now = ch_mono_ms(), hold_ms = l->gw->svc->cfg->ws_reorder_hold_ms;
    while (m) {
        ch__gw_msg_t *next = m->next;
        /* what the frame is: read once for all its users */
        uint64_t revoked = 0;
        int ctl = ch_bus_ctl_revoked(m->frame->data, m->frame->len, &revoked);
        int is_resync = m->frame->len == sizeof(CH_BUS_CTL_RESYNC) - 1 &&
                        memcmp(m->frame->data, CH_BUS_CTL_RESYNC, m->frame->len) == 0;
        uint64_t conv = 0;
        int64_t seq = 0;
        int ordered = !ctl && !is_resync && ch__ws_order_key(m->frame->data, m->frame->len, &conv, &seq);
        for (size_t k = 0; k < m->n; k++) {
            ch__gw_local_t *loc = *ch__gw_local(l, m->user_ids[k]);
            /* the receiver added to a conversation again: its seq order restarts at the join */
            uint64_t jconv = 0;
            int64_t jseq = 0;
            int joined = loc && !ctl && !is_resync && !ordered &&
                         ch__ws_order_joined_key(m->frame->data, m->frame->len, m->user_ids[k], &jconv, &jseq);
            /* ch__gw_conn_send/close may start closing a connection, never unlink it: the list holds */
            for (ch__gw_conn_t *c = loc ? loc->conns : NULL; c; c = ch__gw_conn_user_link(c)->next) {
                if (ordered)
                    ch__ws_order_deliver(c, m->frame, conv, seq, now, hold_ms);
                else if (is_resync)
                    ch__gw_conn_resync(c, resync, sizeof(resync) - 1);
                else if (!ctl) {
                    ch__gw_conn_send(c, m->frame->data, m->frame->len);
                    if (joined)
                        ch__ws_order_joined(c, jconv, jseq);
                } else if (ch__gw_conn_session(c) == revoked)
                    ch__gw_conn_close(c, CH_GW_CLOSE_REVOKED, "session revoked");
            }
        }
        ch__gw_frame_release(m->frame);
        free(m);
        m = next;
    }
    for (ch__gw_conn_t *c = overflow ? l->conns : NULL; c; c = ch__gw_conn_loop_link(c)->next)
        ch__gw_conn_resync(c, resync, sizeof(resync) - 1);
    ch__gw_resumed_run(l);
}

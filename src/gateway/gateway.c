/* The gateway's entry (GET /v1/ws: auth, limits, upgrade), its per-loop state (bus inbox,
 * heartbeat ticker, graceful close) and the presence jobs it queues. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/id.h"
#include "core/log.h"
#include "gateway/gw_internal.h"
#include "http/admission.h"
#include "store/bus.h"
#include "store/db.h"
#include "svc/auth/auth.h"
#include "svc/presence/presence.h"

#define CH_GW_PATH "/v1/ws"
#define CH_GW_TICK_MIN_MS 50   /* the ticker runs every heartbeat/4, within these bounds */
#define CH_GW_TICK_MAX_MS 1000
#define CH_GW_TOKEN_MAX 4096   /* characters of an access token in the query */
#define CH_GW_SUBSCRIBE_WAIT_MS 1000 /* hello waits this long at most for the bus's subscription */

void ch__gw_flush(void);
void ch__gw_sleep_round(void);

/* The loop thread's gateway state (one h2o context per loop thread). Not h2o's context
 * storage: its keys are taken per context, so two users of it can end up with one slot. */
static _Thread_local ch__gw_loop_t *ch__gw_tls_loop;

/* ---- per-loop state ------------------------------------------------------------------------ */

static void ch__gw_loop_maybe_free(ch__gw_loop_t *l)
{
    if (l->ended && l->handles == 0 && l->jobs == 0) {
        free(l->users);
        free(l);
    }
}

static void ch__gw_loop_handle_closed(uv_handle_t *h)
{
    ch__gw_loop_t *l = h->data;
    l->handles--;
    ch__gw_loop_maybe_free(l);
}

void ch__gw_loop_job_add(ch__gw_loop_t *l)
{
    l->jobs++;
}

void ch__gw_loop_job_done(ch__gw_loop_t *l)
{
    l->jobs--;
    ch__gw_loop_maybe_free(l);
}

void ch_gateway_loop_end(void)
{
    ch__gw_loop_t *l = ch__gw_tls_loop;
    if (!l)
        return;
    ch__gw_tls_loop = NULL;
    pthread_mutex_lock(&l->gw->loops_mu);
    l->gw->loops[l->index] = NULL;
    ch__gw_msg_t *m = l->inbox;
    l->inbox = l->inbox_tail = NULL;
    pthread_mutex_unlock(&l->gw->loops_mu);
    while (m) {
        ch__gw_msg_t *next = m->next;
        ch__gw_frame_release(m->frame);
        free(m);
        m = next;
    }
    if (l->nconns)
        ch_log_warn("gateway: %zu WebSocket connection(s) still open at exit", l->nconns);
    /* a forced exit: the sockets go with the context; what still refers to a connection (an
     * op's done callback, h2o's last callback) finds it dead */
    l->draining = 1;
    for (ch__gw_conn_t *c = l->conns, *next; c; c = next) {
        next = ch__gw_conn_loop_link(c)->next;
        ch__gw_conn_abandon(c);
    }
    ch__gw_resumed_run(l); /* none comes after loops[] forgot l */
    ch__gw_flush();
    l->ended = 1;
    uv_close((uv_handle_t *)&l->wake, ch__gw_loop_handle_closed);
    uv_close((uv_handle_t *)&l->ticker, ch__gw_loop_handle_closed);
    uv_close((uv_handle_t *)&l->sleep, ch__gw_loop_handle_closed);
}

static void ch__gw_on_tick(uv_timer_t *t)
{
    ch__gw_loop_t *l = t->data;
    int64_t now = ch_mono_ms();
    for (ch__gw_conn_t *c = l->conns, *next; c; c = next) {
        next = ch__gw_conn_loop_link(c)->next; /* a tick may end c (never another) */
        ch__gw_conn_tick(c, now);
    }
    ch__gw_flush();
    /* After a ramp of connections (CH_GW_TRIM_AFTER opened, none in the last tick), the
     * heap's free pages go back to the kernel: each upgrade's HTTP/1 connection, request pool
     * and input buffer were freed between the live objects of the connections that followed,
     * and glibc returns only the top of a heap by itself. Bounded: at most once a tick per
     * CH_GW_TRIM_AFTER connections. */
    if (l->opened >= CH_GW_TRIM_AFTER && l->opened == l->opened_at_tick) {
        malloc_trim(0);
        l->opened = 0;
    }
    l->opened_at_tick = l->opened;
}

static void ch__gw_on_check(uv_check_t *h)
{
    (void)h;
    ch__gw_sleep_round();
}

static void ch__gw_on_wake_flush(uv_async_t *a)
{
    ch__gw_on_wake(a);
    ch__gw_flush();
}

ch__gw_loop_t *ch__gw_loop_of(ch_gateway_t *gw, h2o_context_t *ctx)
{
    if (ch__gw_tls_loop)
        return ch__gw_tls_loop;
    unsigned index = atomic_fetch_add(&gw->nloops, 1);
    if (index >= CH_GW_MAX_LOOPS)
        return NULL;
    ch__gw_loop_t *l = ch_calloc(1, sizeof(*l));
    l->gw = gw;
    l->index = index;
    l->ctx = ctx;
    l->nbuckets = CH_GW_LOOP_BUCKETS;
    l->users = ch_calloc(l->nbuckets, sizeof(*l->users));
    uv_async_init(ctx->loop, &l->wake, ch__gw_on_wake_flush);
    l->wake.data = l;
    uv_timer_init(ctx->loop, &l->ticker);
    l->ticker.data = l;
    uv_check_init(ctx->loop, &l->sleep);
    l->sleep.data = l;
    uv_check_start(&l->sleep, ch__gw_on_check);
    uv_unref((uv_handle_t *)&l->sleep);
    l->handles = 3;
    int64_t tick = gw->svc->cfg->ws_heartbeat_ms / 4;
    tick = tick < CH_GW_TICK_MIN_MS ? CH_GW_TICK_MIN_MS : tick > CH_GW_TICK_MAX_MS ? CH_GW_TICK_MAX_MS : tick;
    uv_timer_start(&l->ticker, ch__gw_on_tick, (uint64_t)tick, (uint64_t)tick);
    uv_unref((uv_handle_t *)&l->ticker); /* the loop's life is the server's business */
    pthread_mutex_lock(&gw->loops_mu);
    gw->loops[index] = l;
    pthread_mutex_unlock(&gw->loops_mu);
    ch__gw_tls_loop = l;
    return l;
}

static ch__gw_loop_t *ch__gw_loop_existing(h2o_context_t *ctx)
{
    ch__gw_loop_t *l = ch__gw_tls_loop;
    return l && l->ctx == ctx ? l : NULL;
}

void ch_gateway_loop_drain(h2o_context_t *ctx)
{
    ch__gw_loop_t *l = ch__gw_loop_existing(ctx);
    if (!l)
        return;
    l->draining = 1;
    for (ch__gw_conn_t *c = l->conns; c; c = ch__gw_conn_loop_link(c)->next)
        ch__gw_conn_close(c, 1001, "server going away");
    ch__gw_flush();
}

size_t ch_gateway_loop_open(h2o_context_t *ctx)
{
    ch__gw_loop_t *l = ch__gw_loop_existing(ctx);
    return l ? l->nconns : 0;
}

/* ---- presence jobs ------------------------------------------------------------------------ */

typedef struct {
    uv_work_t work;
    ch_gateway_t *gw;
    ch__gw_loop_t *l;
    uint64_t user_id;
} ch__gw_pjob_t;

/* One job per user at a time (ch__gw_pjob_begin): two jobs of one user on two workers could
 * record an older status last. A change while it runs makes it run again with the status
 * read then. */
static void ch__gw_pjob_run(uv_work_t *w)
{
    ch__gw_pjob_t *j = w->data;
    do {
        int st = ch_gateway_node_status(j->gw, j->user_id);
        ch_err_t e = ch_presence_node_update(j->gw->svc, j->user_id, j->gw->instance, st);
        if (e != CH_OK)
            ch_log_warn("gateway: presence of user %llu not recorded (%s)", (unsigned long long)j->user_id,
                        ch_err_code(e));
    } while (ch__gw_pjob_again(j->gw, j->user_id));
}

static void ch__gw_pjob_done(uv_work_t *w, int status)
{
    (void)status;
    ch__gw_pjob_t *j = w->data;
    ch__gw_loop_job_done(j->l);
    free(j);
}

void ch__gw_presence_changed(ch__gw_loop_t *l, uint64_t user_id)
{
    int rc = ch__gw_pjob_begin(l->gw, user_id);
    if (rc < 0)
        ch_log_warn("gateway: too many presence jobs queued; the change of user %llu is dropped (its key expires)",
                    (unsigned long long)user_id);
    if (rc <= 0)
        return;
    ch__gw_pjob_t *j = ch_calloc(1, sizeof(*j));
    j->work.data = j;
    j->gw = l->gw;
    j->l = l;
    j->user_id = user_id;
    ch__gw_loop_job_add(l);
    uv_queue_work(l->ctx->loop, &j->work, ch__gw_pjob_run, ch__gw_pjob_done);
}

/* ---- the upgrade ---------------------------------------------------------------------------- */

int ch_gateway_is_ws_request(h2o_req_t *req)
{
    size_t len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    return len == sizeof(CH_GW_PATH) - 1 && memcmp(req->path.base, CH_GW_PATH, len) == 0;
}

static int ch__gw_problem(h2o_req_t *req, ch_err_t err, const char *detail)
{
    int status = ch_err_status(err);
    json_t *p = json_pack("{s:s+, s:s, s:i, s:s, s:s}", "type", "urn:chorus:problem:", ch_err_code(err), "title",
                          ch_err_title(err), "status", status, "code", ch_err_code(err), "detail", detail);
    char *body = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    size_t len = strlen(body);
    char *copy = h2o_mem_alloc_pool(&req->pool, len);
    memcpy(copy, body, len);
    free(body);
    req->res.status = status;
    req->res.reason = status == 401 ? "Unauthorized" : status == 429 ? "Too Many Requests"
                    : status == 400 ? "Bad Request" : status == 405 ? "Method Not Allowed"
                    : status == 500 ? "Internal Server Error" : "Service Unavailable";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/problem+json"));
    if (status == 401)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer"));
    if (status == 429 || status == 503)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
    req->res.content_length = len;
    h2o_send_inline(req, copy, len);
    return 0;
}

/* The access token: Authorization: Bearer, else ?access_token= (browsers cannot set headers
 * on a WebSocket; tokens are URL-safe, taken as they are). */
static int ch__gw_token(h2o_req_t *req, const char **tok, size_t *len)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i >= 0) {
        h2o_iovec_t v = req->headers.entries[i].value;
        if (v.len < 8 || strncasecmp(v.base, "Bearer ", 7) != 0)
            return -1;
        *tok = v.base + 7;
        *len = v.len - 7;
        return 1;
    }
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - q) > 13 && memcmp(q, "access_token=", 13) == 0) {
            *tok = q + 13;
            *len = (size_t)(stop - q) - 13;
            return *len <= CH_GW_TOKEN_MAX ? 1 : -1;
        }
        q = stop + 1;
    }
    return 0;
}

/* An upgrade waiting for its session check. */
typedef struct {
    uv_work_t work;
    ch__gw_loop_t *l;
    h2o_req_t *req;      /* NULL once h2o disposed the request (the client left) */
    const char *key;     /* the client's Sec-WebSocket-Key, in req's headers */
    ch_token_claims_t claims;
    int64_t deadline_ms; /* ch_mono_ms time (CHORUS_REQUEST_TIMEOUT) */
    void **slot;         /* in req's pool: points back here until the job is done */
    ch_err_t err;
    ch_fault_t fault;
} ch__gw_ujob_t;

static void ch__gw_ujob_req_gone(void *slot)
{
    ch__gw_ujob_t *j = *(void **)slot;
    if (j)
        j->req = NULL;
}

static void ch__gw_ujob_run(uv_work_t *w)
{
    ch__gw_ujob_t *j = w->data;
    ch_admission_dequeue();
    if (ch_mono_ms() >= j->deadline_ms) {
        ch_admission_count(CH_ADMIT_EXPIRED);
        j->err = ch_fault(&j->fault, CH_EUNAVAILABLE, NULL, "the upgrade waited for a worker thread past its deadline");
        return;
    }
    ch_db_deadline_set(j->deadline_ms);
    ch_svc_t *svc = j->l->gw->svc;
    j->err = ch_auth_check_session(svc, j->claims.session_id, &j->fault);
    ch_db_deadline_set(0);
    /* hello only once the bus delivers the user's events here (Redis: the SUBSCRIBE was
     * answered): an event published after hello is not lost. Redis down: hello anyway (the
     * connection gets a resync when the bus subscribes again). */
    int64_t left = j->deadline_ms - ch_mono_ms();
    if (j->err == CH_OK && svc->bus && left > 0 &&
        !ch_bus_wait_subscribed(svc->bus, j->claims.user_id, left < CH_GW_SUBSCRIBE_WAIT_MS ? left : CH_GW_SUBSCRIBE_WAIT_MS))
        ch_log_debug("gateway: hello to user %llu before the bus confirmed the subscription",
                     (unsigned long long)j->claims.user_id);
}

static void ch__gw_ujob_done(uv_work_t *w, int status)
{
    (void)status;
    ch__gw_ujob_t *j = w->data;
    ch__gw_loop_t *l = j->l;
    h2o_req_t *req = j->req;
    if (req)
        *j->slot = NULL;
    if (!req) {
        ch__gw_unadmit(l->gw, j->claims.user_id);
    } else if (l->draining) {
        ch__gw_unadmit(l->gw, j->claims.user_id);
        ch__gw_problem(req, CH_EUNAVAILABLE, "the server is stopping");
    } else if (j->err != CH_OK) {
        ch__gw_unadmit(l->gw, j->claims.user_id);
        ch__gw_problem(req, j->err, j->fault.detail[0] ? j->fault.detail : ch_err_title(j->err));
    } else {
        ch__gw_conn_start(l, req, j->key, j->claims.user_id, j->claims.session_id, j->claims.expires_at_s);
        ch__gw_flush();
    }
    free(j);
    ch__gw_loop_job_done(l);
}

int ch_gateway_on_req(ch_gateway_t *gw, ch_svc_t *svc, h2o_req_t *req)
{
    if (!gw)
        return ch__gw_problem(req, CH_ENOTSERVED, "this process does not run the gateway role (CHORUS_ROLES)");
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")))
        return ch__gw_problem(req, CH_EMETHOD, "GET /v1/ws upgrades to a WebSocket");
    const char *tok;
    size_t toklen;
    int found = ch__gw_token(req, &tok, &toklen);
    if (found == 0)
        return ch__gw_problem(req, CH_EUNAUTH, "an access token is required (Authorization: Bearer, or ?access_token=)");
    ch_token_claims_t claims;
    if (found < 0 || ch_token_verify(svc->token_key, tok, toklen, ch_now_ms() / 1000, &claims) != CH_OK)
        return ch__gw_problem(req, CH_ETOKEN, "access token is invalid or expired");
    const char *key;
    if (req->version >= 0x200 || h2o_is_websocket_handshake(req, &key) != 0 || !key)
        return ch__gw_problem(req, CH_EBADREQ, "GET /v1/ws must be an HTTP/1.1 WebSocket handshake (Upgrade: websocket)");
    ch__gw_loop_t *l = ch__gw_loop_of(gw, req->conn->ctx);
    if (!l || l->draining)
        return ch__gw_problem(req, CH_EUNAVAILABLE, "the server is stopping");
    ch_err_t e = ch__gw_admit(gw, claims.user_id);
    if (e == CH_ERATELIMIT)
        return ch__gw_problem(req, e, "too many connections of this user on this node (CHORUS_WS_MAX_PER_USER)");
    if (e != CH_OK)
        return ch__gw_problem(req, e, "this node holds as many WebSocket connections as it may (CHORUS_WS_MAX_CONNECTIONS)");
    /* The session check (revoked?) reads the kv and maybe the database: on a worker, through
     * the admission queue, under the request deadline; the upgrade is answered after it. */
    if (!ch_admission_enqueue(svc->cfg->queue_max, 0)) {
        ch__gw_unadmit(gw, claims.user_id);
        return ch__gw_problem(req, CH_EOVERLOADED,
                              "too many requests are waiting for a worker thread (CHORUS_QUEUE_MAX); retry later");
    }
    ch__gw_ujob_t *j = ch_calloc(1, sizeof(*j));
    j->work.data = j;
    j->l = l;
    j->req = req;
    j->key = key;
    j->claims = claims;
    j->deadline_ms = ch_mono_ms() + svc->cfg->request_timeout_ms;
    j->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*j->slot), ch__gw_ujob_req_gone);
    *j->slot = j;
    ch__gw_loop_job_add(l);
    uv_queue_work(req->conn->ctx->loop, &j->work, ch__gw_ujob_run, ch__gw_ujob_done);
    return 0;
}

/* ---- the gateway ------------------------------------------------------------------------------ */

static void *ch__gw_heartbeat_main(void *arg)
{
    ch_gateway_t *gw = arg;
    pthread_mutex_lock(&gw->hb_mu);
    int was_down = 0;
    int64_t next_beat = 0, next_refresh = 0;
    unsigned recorded = atomic_load(&gw->users_version) - 1; /* the first pass records */
    while (!gw->hb_stop) {
        pthread_mutex_unlock(&gw->hb_mu);
        /* this instance's users, for the live nodes to announce offline if it dies: checked
         * every CH_GW_USERS_RECORD_MS (written when they changed, and every
         * CH_GW_USERS_REFRESH_MS to keep the record's TTL) */
        int64_t now = ch_mono_ms();
        unsigned version = atomic_load(&gw->users_version);
        if (version != recorded || now >= next_refresh) {
            uint64_t *ids = NULL;
            size_t n = ch__gw_users_snapshot(gw, &ids, CH_PRESENCE_NODE_USERS_MAX);
            if (ch_presence_node_users(gw->svc, gw->instance, ids, n) == CH_OK) {
                recorded = version;
                next_refresh = now + CH_GW_USERS_REFRESH_MS;
            }
            free(ids);
        }
        if (now >= next_beat) {
            ch_err_t e = ch_presence_node_alive(gw->svc, gw->instance);
            if (e != CH_OK && !was_down)
                ch_log_warn("gateway: presence heartbeat not recorded (%s); this node's users read offline until it is",
                            ch_err_code(e));
            was_down = e != CH_OK;
            next_beat = ch_mono_ms() + (was_down ? 1000 : CH_PRESENCE_HEARTBEAT_MS);
        }
        pthread_mutex_lock(&gw->hb_mu);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts); /* hb_cv waits on the monotonic clock */
        int64_t wait = CH_GW_USERS_RECORD_MS;
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        while (!gw->hb_stop && pthread_cond_timedwait(&gw->hb_cv, &gw->hb_mu, &ts) == 0)
            ;
    }
    pthread_mutex_unlock(&gw->hb_mu);
    return NULL;
}

ch_gateway_t *ch_gateway_create(ch_svc_t *svc)
{
    ch_gateway_t *gw = ch_calloc(1, sizeof(*gw));
    gw->svc = svc;
    gw->instance = ch_id_next();
    for (size_t i = 0; i < CH_GW_SHARDS; i++)
        pthread_mutex_init(&gw->shards[i].mu, NULL);
    pthread_mutex_init(&gw->loops_mu, NULL);
    if (svc->bus) {
        ch_bus_set_receiver(svc->bus, ch__gw_on_bus, gw);
        ch_bus_set_receiver_many(svc->bus, ch__gw_on_bus_many);
    }
    pthread_mutex_init(&gw->hb_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* a wall clock step neither stalls nor hurries the heartbeat */
    pthread_cond_init(&gw->hb_cv, &ca);
    pthread_condattr_destroy(&ca);
    gw->hb_started = pthread_create(&gw->hb_thread, NULL, ch__gw_heartbeat_main, gw) == 0;
    gw->sweep_started = gw->hb_started && pthread_create(&gw->sweep_thread, NULL, ch__gw_sweep_main, gw) == 0;
    return gw;
}

void ch_gateway_destroy(ch_gateway_t *gw)
{
    if (!gw)
        return;
    if (gw->hb_started) {
        pthread_mutex_lock(&gw->hb_mu);
        gw->hb_stop = 1;
        pthread_cond_broadcast(&gw->hb_cv);
        pthread_mutex_unlock(&gw->hb_mu);
        pthread_join(gw->hb_thread, NULL);
        if (gw->sweep_started)
            pthread_join(gw->sweep_thread, NULL);
        /* a clean stop: this node's users read offline at once, not after the TTL */
        (void)ch_presence_node_gone(gw->svc, gw->instance);
    }
    pthread_mutex_destroy(&gw->hb_mu);
    pthread_cond_destroy(&gw->hb_cv);
    for (size_t i = 0; i < CH_GW_SHARDS; i++) {
        for (size_t b = 0; b < 256; b++)
            for (ch__gw_user_t *u = gw->shards[i].buckets[b], *next; u; u = next) {
                next = u->next;
                free(u);
            }
        for (size_t b = 0; b < 16; b++)
            for (ch__gw_pjob_ent_t *e = gw->shards[i].pjobs[b], *next; e; e = next) {
                next = e->next;
                free(e);
            }
        pthread_mutex_destroy(&gw->shards[i].mu);
    }
    pthread_mutex_destroy(&gw->loops_mu);
    free(gw);
}

uint64_t ch_gateway_instance(const ch_gateway_t *gw)
{
    return gw->instance;
}

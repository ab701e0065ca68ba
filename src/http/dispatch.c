#include "http/dispatch.h"

#include <arpa/inet.h>
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/metrics_edge.h"
#include "core/text.h"
#include "core/client_watch.h"
#include "core/loop_guard.h"
#include "gateway/gateway.h"
#include "http/admission.h"
#include "http/clientaddr.h"
#include "http/framing.h"
#include "http/idem_call.h"
#include "http/json_blame.h"
#include "http/mediatype.h"
#include "http/router.h"
#include "store/db.h"
#include "store/hcache.h"
#include "svc/auth/auth.h"
#include "svc/auth/passwords.h"
#include "svc/common/idempotency.h"
#include "svc/common/ratelimit.h"
#include "svc/health/health.h"

typedef struct {
    h2o_handler_t super;
    ch_svc_t *svc;
} ch__handler_t;

/* A call in flight. The h2o request may be freed (client gone) while a worker runs; the
 * shared slot on the request's pool tells us, and both sides run on the loop thread. */
/* Deferred calls come back to their event loop through one receiver per h2o context (a
 * message on the context's h2o_multithread queue). `dead` is set when the context goes away:
 * a call answered after that (a drain that timed out) is dropped, and the receiver kept. */
typedef struct {
    h2o_multithread_receiver_t receiver;
    pthread_mutex_t mu;
    int dead;
    size_t pending; /* deferred calls not yet resumed */
} ch__completions_t;

typedef struct ch__pending {
    ch_call_t call;
    uv_work_t work;
    h2o_req_t *req; /* NULL once h2o disposed the request */
    struct ch__pending **slot;
    uint64_t start_ns;
    int64_t deadline_ms; /* ch_mono_ms() time by which the answer is due (CHORUS_REQUEST_TIMEOUT) */
    size_t metrics_index;
    char allow[64];
    /* deferred calls (loop thread only, except msg handed over by ch_call_resume) */
    ch__completions_t *completions;
    h2o_multithread_message_t msg;
    int handler_returned; /* the dispatcher is done with the handler */
    int resumed;          /* ch_call_resume's message arrived */
    int rate_charged;     /* the dispatcher's rate limits counted this call (once only) */
} ch__pending_t;

static size_t ch__unmatched_metrics;

/* ---- small helpers ------------------------------------------------------------------------ */

static int ch__is_write(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

static int ch__request_id_valid(const char *s, size_t len)
{
    if (len < 1 || len > CH_REQUEST_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

static const h2o_iovec_t *ch__header(h2o_req_t *req, const h2o_token_t *token)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    return i < 0 ? NULL : &req->headers.entries[i].value;
}

static const h2o_iovec_t *ch__header_str(h2o_req_t *req, const char *name, size_t len)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, len, -1);
    return i < 0 ? NULL : &req->headers.entries[i].value;
}

/* How a Content-Type compares with application/json (http/mediatype.c). */
static ch_media_check_t ch__json_type(const h2o_iovec_t *ct)
{
    return ct ? ch_media_check_json(ct->base, ct->len) : CH_MEDIA_OTHER;
}

/* ---- rendering (worker thread for blocking routes) --------------------------------------- */

/* Turns the call's outcome into status + body text (call->raw_out) + content type. */
static void ch__render(ch__pending_t *p)
{
    ch_call_t *c = &p->call;
    if (c->raw_out && c->err == CH_OK) {
        if (!c->content_type)
            c->content_type = "application/json";
        return; /* rendered by the handler, or an idempotent replay */
    }
    free(c->raw_out);
    c->raw_out = NULL;
    if (c->err == CH_OK) {
        c->content_type = "application/json";
        c->raw_out = c->out ? json_dumps(c->out, JSON_COMPACT) : NULL;
        return;
    }
    if (c->err == CH_EINTERNAL)
        ch_log_error("request %s: internal error: %s", c->request_id, c->fault.detail);
    /* A wait cut by the request's deadline (a statement, a pooled connection, a kv call)
     * returns EUNAVAILABLE without a word: say which limit ended it. */
    if (c->err == CH_EUNAVAILABLE && !c->fault.detail[0] && p->deadline_ms && ch_mono_ms() >= p->deadline_ms)
        ch_fault(&c->fault, CH_EUNAVAILABLE, NULL,
                 "the request did not finish within its deadline (CHORUS_REQUEST_TIMEOUT %lld ms); "
                 "what it had not committed was rolled back",
                 (long long)c->svc->cfg->request_timeout_ms);
    c->status = ch_err_status(c->err);
    json_t *problem = json_pack("{s:s+, s:s, s:i, s:s, s:s, s:s}", "type", "urn:chorus:problem:", ch_err_code(c->err),
                                "title", ch_err_title(c->err), "status", c->status, "code", ch_err_code(c->err),
                                "detail", c->fault.detail[0] ? c->fault.detail : ch_err_title(c->err), "request_id",
                                c->request_id);
    if (c->fault.field)
        json_object_set_new(problem, "field", json_string(c->fault.field));
    if (c->problem_extra)
        json_object_update(problem, c->problem_extra);
    c->raw_out = json_dumps(problem, JSON_COMPACT);
    json_decref(problem);
    c->content_type = "application/problem+json";
}

/* ---- sending (loop thread) ---------------------------------------------------------------- */

static void ch__free_call(ch__pending_t *p)
{
    ch_call_t *c = &p->call;
    for (int i = 0; i < CH_MAX_PATH_PARAMS; i++)
        free(c->params[i]);
    free(c->query);
    free(c->body);
    free(c->idempotency_key);
    free(c->signature);
    free(c->raw_out);
    json_decref(c->json);
    json_decref(c->out);
    json_decref(c->problem_extra);
    free(p);
}

static const char *ch__reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return status < 500 ? "" : "Internal Server Error";
    }
}

/* Frees a response body the request's pool held (ch__send). */
static void ch__body_dispose(void *held)
{
    free(*(char **)held);
}

static void ch__send(ch__pending_t *p)
{
    h2o_req_t *req = p->req;
    ch_call_t *c = &p->call;
    h2o_mem_pool_t *pool = &req->pool;
    *p->slot = NULL;
    req->res.status = c->status;
    req->res.reason = ch__reason(c->status);
    h2o_add_header_by_str(pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, c->request_id,
                          strlen(c->request_id));
    if (c->status == 401)
        h2o_add_header(pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer"));
    if (c->status == 405)
        h2o_add_header(pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, p->allow, strlen(p->allow));
    /* Every 503 says when to come back: a backend away or busy (pool wait, deadline) is
     * worth retrying, soon. */
    if (c->status == 429 || c->status == 503) {
        char *v = h2o_mem_alloc_pool(pool, 24);
        int n = snprintf(v, 24, "%lld", c->fault.retry_after_s > 0 ? c->fault.retry_after_s : 1);
        h2o_add_header(pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, v, (size_t)n);
    }
    if (c->replayed)
        h2o_add_header_by_str(pool, &req->res.headers, H2O_STRLIT("idempotent-replayed"), 0, NULL, H2O_STRLIT("true"));
    size_t len = c->raw_out ? strlen(c->raw_out) : 0;
    if (len)
        h2o_add_header(pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, c->content_type,
                       strlen(c->content_type));
    req->res.content_length = len;
    if (!len) {
        h2o_send_inline(req, "", 0);
        return;
    }
    /* The body goes out from the call's own buffer, handed to the request's pool (freed with
     * the request, as a copy in the pool would be): h2o_send_inline copied it first, a
     * twentieth of a 9.5 kB feed page's instructions. */
    static h2o_generator_t generator = {NULL, NULL};
    char **held = h2o_mem_alloc_shared(pool, sizeof(*held), ch__body_dispose);
    *held = c->raw_out;
    c->raw_out = NULL;
    h2o_iovec_t buf = h2o_iovec_init(*held, len);
    h2o_start_response(req, &generator);
    if (h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD")))
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    else
        h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

/* Finishes a call on the loop thread: sends it if the client is still there, records
 * metrics and the access log line, frees everything. */
static void ch__finish(ch__pending_t *p)
{
    uint64_t elapsed = ch_mono_ns() - p->start_ns;
    const ch_call_t *c = &p->call;
    const char *route = c->route ? c->route->path : "unmatched";
    const char *method = c->route ? c->route->method : "-";
    if (p->req)
        ch__send(p);
    ch_metrics_observe(p->metrics_index, c->status, elapsed);
    ch_log_request(c->request_id, method, route, c->status, (double)elapsed / 1e6, c->user_id);
    ch_metrics_inflight_add(-1);
    ch__free_call(p);
}

/* The socket of an HTTP/1 connection (watched for a client that hung up while its request
 * waits, see core/client_watch.h); -1 for HTTP/2, whose resets h2o reports itself. The fd
 * stays open while the request lives: h2o closes an HTTP/1 connection only after its
 * request is disposed. */
static int ch__http1_fd(h2o_req_t *req)
{
    if (req->version >= 0x200 || !req->conn->callbacks->get_socket)
        return -1;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    return sock ? h2o_socket_get_fd(sock) : -1;
}

static void ch__on_req_disposed(void *slot)
{
    ch__pending_t *p = *(ch__pending_t **)slot;
    if (p) {
        p->req = NULL;
        atomic_store(&p->call.client_gone, 1);
    }
}

/* ---- worker side ---------------------------------------------------------------------------- */

/* ch__render for code that only knows the call (the call is the first member). */
static void ch__render_call(ch_call_t *call)
{
    ch__render((ch__pending_t *)(void *)call);
}

/* Runs the call's handler (with the checks before it) under the request's deadline: every
 * database wait of this thread ends by then (store/db.h). */
static void ch__run_call(ch__pending_t *p)
{
    ch_call_t *c = &p->call;
    ch_svc_t *svc = c->svc;
    ch_err_t err = CH_OK;

    if (c->route->flags & CH_ROUTE_AUTH)
        err = ch_auth_check_session(svc, c->session_id, &c->fault);
    if (err == CH_OK && ch__is_write(c->route->method) && !p->rate_charged) {
        if (c->user_id) {
            char who[CH_ID_STR_LEN];
            err = ch_ratelimit_hit(svc, "u", ch_id_format(c->user_id, who), svc->cfg->rate_limit_user, svc->cfg->rate_limit_window_ms, &c->fault);
        }
        /* Stripe's webhook bursts come from few addresses: the handler charges the address
         * only for a delivery whose signature fails (h_market_webhook.c). */
        if (err == CH_OK && !(c->route->flags & CH_ROUTE_STRIPE_SIGNED))
            err = ch_ratelimit_hit(svc, "ip", c->client_ip, svc->cfg->rate_limit_ip, svc->cfg->rate_limit_window_ms, &c->fault);
        p->rate_charged = err == CH_OK; /* a run moved off the loop is not charged again */
    }

    if (err == CH_OK && c->idempotency_key && (c->route->flags & CH_ROUTE_IDEMPOTENT)) {
        ch_idem_call_run(c, ch__render_call);
        return;
    }
    if (err == CH_OK)
        err = c->route->handler(c);
    if (c->deferred) /* the handler returns CH_OK; ch_call_resume answers */
        return;      /* the call is not ours to touch any more */
    c->err = err;
    ch__render(p);
}

/* Worker thread: work that waited in the queue past its deadline, or whose client left,
 * does not run; the rest runs under its deadline. */
static void ch__run_blocking(uv_work_t *work)
{
    ch__pending_t *p = work->data;
    ch_call_t *c = &p->call;
    ch_metrics_queue_add(-1);
    ch_admission_dequeue();
    ch_client_watch_t watch = {&c->client_gone, c->client_fd, 0};
    if (ch_client_watch_gone(&watch)) {
        ch_admission_count(CH_ADMIT_CLIENT_GONE);
        c->err = ch_fault(&c->fault, CH_EUNAVAILABLE, NULL, "the client went away before the request ran");
        ch__render(p);
        return;
    }
    if (p->deadline_ms && ch_mono_ms() >= p->deadline_ms) {
        ch_admission_count(CH_ADMIT_EXPIRED);
        c->err = ch_fault(&c->fault, CH_EUNAVAILABLE, NULL,
                          "the request waited for a worker thread past its deadline (CHORUS_REQUEST_TIMEOUT %lld ms) "
                          "and was not run; nothing changed",
                          (long long)c->svc->cfg->request_timeout_ms);
        ch__render(p);
        return;
    }
    ch_db_deadline_set(p->deadline_ms);
    ch__run_call(p);
    ch_db_deadline_set(0);
}

/* Loop thread, when the handler has returned: a deferred call waits for its answer. */
static void ch__handler_returned(ch__pending_t *p)
{
    if (!p->call.deferred) {
        ch__finish(p);
        return;
    }
    p->handler_returned = 1;
    if (p->resumed) {
        ch__render(p);
        ch__finish(p);
    }
}

static void ch__after_blocking(uv_work_t *work, int status)
{
    (void)status;
    ch__handler_returned(work->data);
}

/* ---- deferred calls ------------------------------------------------------------------------ */

static size_t ch__completions_key = SIZE_MAX;

/* Loop thread: answers that came back. */
static void ch__on_completions(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        ch__pending_t *p = H2O_STRUCT_FROM_MEMBER(ch__pending_t, msg, m);
        h2o_linklist_unlink(&m->link);
        p->resumed = 1;
        if (p->handler_returned) {
            ch__render(p);
            ch__finish(p);
        }
    }
}

/* h2o_context_dispose: no more answers may be sent to this loop. */
static void ch__completions_dispose(void *data)
{
    ch__completions_t *c = data;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->dead = 1;
    size_t pending = c->pending;
    pthread_mutex_unlock(&c->mu);
    h2o_multithread_unregister_receiver(c->receiver.queue, &c->receiver);
    if (pending) { /* a late ch_call_resume still locks c->mu: keep it */
        ch_log_warn("%zu deferred request(s) unanswered at exit", pending);
        return;
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Loop thread: the context's completions receiver, made at its first request. */
static ch__completions_t *ch__completions(h2o_context_t *ctx)
{
    void **slot = h2o_context_get_storage(ctx, &ch__completions_key, ch__completions_dispose);
    if (!*slot) {
        ch__completions_t *c = ch_calloc(1, sizeof(*c));
        pthread_mutex_init(&c->mu, NULL);
        h2o_multithread_register_receiver(ctx->queue, &c->receiver, ch__on_completions);
        *slot = c;
    }
    return *slot;
}

void ch_call_defer(ch_call_t *call)
{
    ch__pending_t *p = (ch__pending_t *)(void *)call; /* call is the first member */
    ch__completions_t *c = p->completions;
    if (ch_db_ambient_active(call->svc->db)) { /* its answer would be recorded before it exists */
        ch_log_error("ch_call_defer on %s, which runs in an ambient transaction", call->route->path);
        ch_log_flush(CH_LOG_FATAL_FLUSH_MS);
        abort();
    }
    call->deferred = 1;
    pthread_mutex_lock(&c->mu);
    c->pending++;
    pthread_mutex_unlock(&c->mu);
}

void ch_call_resume(ch_call_t *call, ch_err_t err)
{
    ch__pending_t *p = (ch__pending_t *)(void *)call;
    ch__completions_t *c = p->completions;
    call->err = err;
    pthread_mutex_lock(&c->mu);
    c->pending--;
    if (!c->dead)
        h2o_multithread_send_message(&c->receiver, &p->msg);
    pthread_mutex_unlock(&c->mu);
}

/* ---- loop side ---------------------------------------------------------------------------- */

/* Forgets the answer an inline run left in the call, so that it can run again. */
static void ch__reset_outcome(ch_call_t *c)
{
    ch_call_reset_answer(c);
    c->err = CH_OK;
    memset(&c->fault, 0, sizeof(c->fault));
}

/* The database time a point read may take on the loop before it is run again on a worker
 * (ch_db_loop_budget_set): a warm list costs well under a millisecond; a viral thread, a
 * flooded tag or a cold cache must not stall every connection of the loop. */
#define CH__LOOP_READ_BUDGET_MS 5

static int ch__fail_early(ch__pending_t *p, ch_err_t err, const char *field, const char *detail);

/* Runs a point read on the loop thread. Its database statements never wait for a lock
 * there (ch_db_mark_loop_thread): when one met a lock, the call is run again from the start
 * on a worker thread, where the normal busy timeout applies, instead of answering 503. */
static void ch__run_point_read(ch__pending_t *p, uv_loop_t *loop, int guarded)
{
    (void)ch_db_loop_busy_take(); /* a note left by earlier work of this loop is not ours */
    (void)ch_loop_guard_take();
    ch_db_deadline_set(p->deadline_ms);
    ch_db_loop_budget_set(CH__LOOP_READ_BUDGET_MS);
    ch_loop_guard_set(guarded);
    p->call.on_loop = 1;
    ch__run_call(p);
    p->call.on_loop = 0;
    ch_loop_guard_set(0);
    ch_db_loop_budget_set(0);
    ch_db_deadline_set(0);
    int asked = p->call.move_to_worker;
    p->call.move_to_worker = 0;
    int busy = ch_db_loop_busy_take();
    if (ch_loop_guard_take()) /* a network call refused under the guard: not in the L1 */
        busy = 1;
    if (busy || asked) {
        if (!p->call.deferred) {
            ch__reset_outcome(&p->call);
            /* The worker queue's bound holds for moved reads too: a cold read (an unknown
             * id, a fact not in the L1) is as cheap to ask for as a warm one. */
            if (!ch_admission_enqueue(p->call.svc->cfg->queue_max, 0)) {
                p->call.fault.retry_after_s = 1;
                (void)ch__fail_early(p, CH_EOVERLOADED, NULL,
                                     "too many requests are waiting for a worker thread (CHORUS_QUEUE_MAX); retry later");
                return;
            }
            if (!asked)
                ch_metrics_loop_read_moved();
            else
                ch_metrics_loop_read_handed();
            ch_metrics_queue_add(1);
            uv_queue_work(loop, &p->work, ch__run_blocking, ch__after_blocking);
            return;
        }
        /* The handler handed the call to another thread after a lock failure: it must
         * not run twice. Handlers only defer after their reads succeeded. */
        ch_log_error("%s deferred its call after a database lock failure on the loop", p->call.route->path);
        assert(!"a point-read handler deferred after a lock failure");
    }
    ch_metrics_loop_read_served();
    ch__handler_returned(p);
}

/* Answers an error decided on the loop thread (bad request, no route, bad token). */
/* Answers err with the fault already recorded in p->call.fault, before any handler. */
static int ch__fail_faulted(ch__pending_t *p, ch_err_t err)
{
    p->call.err = err;
    ch__render(p);
    ch__finish(p);
    return 0;
}

static int ch__fail_early(ch__pending_t *p, ch_err_t err, const char *field, const char *detail)
{
    ch_fault(&p->call.fault, err, field, "%s", detail);
    return ch__fail_faulted(p, err);
}

static ch_err_t ch__authenticate(ch__pending_t *p, h2o_req_t *req)
{
    const h2o_iovec_t *auth = ch__header(req, H2O_TOKEN_AUTHORIZATION);
    if (!auth)
        return ch_fault(&p->call.fault, CH_EUNAUTH, NULL, "an access token is required");
    if (auth->len < 8 || strncasecmp(auth->base, "Bearer ", 7) != 0)
        return ch_fault(&p->call.fault, CH_ETOKEN, NULL, "Authorization must be 'Bearer <access token>'");
    ch_token_claims_t claims;
    if (ch_token_verify(p->call.svc->token_key, auth->base + 7, auth->len - 7, ch_now_ms() / 1000, &claims) != CH_OK)
        return ch_fault(&p->call.fault, CH_ETOKEN, NULL, "access token is invalid or expired");
    p->call.user_id = claims.user_id;
    p->call.session_id = claims.session_id;
    return CH_OK;
}

/* Parses and checks the body of a JSON route. */
static int ch__take_body(ch__pending_t *p, h2o_req_t *req)
{
    ch_call_t *c = &p->call;
    if (req->entity.base) {
        c->body = ch_malloc(req->entity.len + 1);
        memcpy(c->body, req->entity.base, req->entity.len);
        c->body[req->entity.len] = '\0';
        c->body_len = req->entity.len;
    }
    if (!(c->route->flags & (CH_ROUTE_JSON_BODY | CH_ROUTE_JSON_OPTIONAL)))
        return 1;
    if ((c->route->flags & CH_ROUTE_JSON_OPTIONAL) && c->body_len == 0)
        return 1;
    ch_media_check_t media = c->body_len ? ch__json_type(ch__header(req, H2O_TOKEN_CONTENT_TYPE)) : CH_MEDIA_JSON;
    if (media == CH_MEDIA_BAD_CHARSET)
        return ch__fail_early(p, CH_EMEDIATYPE, NULL, "the charset of application/json must be UTF-8"), 0;
    if (media != CH_MEDIA_JSON)
        return ch__fail_early(p, CH_EMEDIATYPE, NULL, "Content-Type must be application/json"), 0;
    json_error_t jerr;
    c->json = c->body_len ? json_loadb(c->body, c->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr) : NULL;
    if (!c->json && c->body_len) {
        /* Not UTF-8, a \u0000 escape, or a number out of range: name the field if the rest
         * is sound JSON. */
        char path[CH_JSON_BLAME_PATH_MAX], detail[sizeof(path) + 96];
        ch_json_blame_t blame = ch_json_blame(c->body, c->body_len, json_error_code(&jerr), path);
        if (blame != CH_JSON_BLAME_NONE) {
            char *field = h2o_mem_alloc_pool(&req->pool, strlen(path) + 1);
            memcpy(field, path, strlen(path) + 1);
            if (blame == CH_JSON_BLAME_NUMBER)
                snprintf(detail, sizeof(detail), "%s is a number out of range (integers must fit in 64 bits)", path);
            else
                snprintf(detail, sizeof(detail), "%s must be valid UTF-8 text without NUL characters", path);
            return ch__fail_early(p, CH_EINVAL, field, detail), 0;
        }
    }
    if (!c->json) {
        char detail[200];
        snprintf(detail, sizeof(detail), "body is not valid JSON: %s",
                 c->body_len ? jerr.text : "a JSON object is required");
        return ch__fail_early(p, CH_EMALFORMED, NULL, detail), 0;
    }
    if (!json_is_object(c->json))
        return ch__fail_early(p, CH_EBADREQ, NULL, "body must be a JSON object"), 0;
    return 1;
}

static int ch__on_req(h2o_handler_t *self, h2o_req_t *req)
{
    ch__handler_t *h = (ch__handler_t *)self;
    if (ch_gateway_is_ws_request(req)) /* GET /v1/ws: the gateway answers (gateway/gateway.h) */
        return ch_gateway_on_req(h->svc->gateway, h->svc, req);
    ch__pending_t *p = ch_calloc(1, sizeof(*p));
    ch_call_t *c = &p->call;
    p->start_ns = ch_mono_ns();
    p->deadline_ms = ch_mono_ms() + h->svc->cfg->request_timeout_ms;
    p->req = req;
    p->metrics_index = ch__unmatched_metrics;
    p->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*p->slot), ch__on_req_disposed);
    *p->slot = p;
    c->svc = h->svc;
    c->client_fd = ch__http1_fd(req);
    c->status = 200;
    p->completions = ch__completions(req->conn->ctx);
    ch_metrics_inflight_add(1);

    const h2o_iovec_t *rid = ch__header_str(req, H2O_STRLIT("x-request-id"));
    if (rid && ch__request_id_valid(rid->base, rid->len)) {
        memcpy(c->request_id, rid->base, rid->len);
        c->request_id[rid->len] = '\0';
    } else {
        snprintf(c->request_id, sizeof(c->request_id), "%016llx", (unsigned long long)ch_id_next());
    }

    const char *framing = ch_framing_check(req);
    if (framing) { /* the bytes after this request cannot be trusted to be the next one */
        req->http1_is_persistent = 0;
        return ch__fail_early(p, CH_EBADREQ, NULL, framing);
    }

    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    /* Without the api role only the service endpoints answer (CHORUS_ROLES). */
    if (!(c->svc->cfg->roles & CH_ROLE_API) && path_len >= 3 && memcmp(req->path.base, "/v1", 3) == 0 &&
        (path_len == 3 || req->path.base[3] == '/'))
        return ch__fail_early(p, CH_ENOTSERVED, NULL, "this process does not run the api role (CHORUS_ROLES)");
    /* Started while the database was away (svc/health): answered here, no worker taken. */
    if (!ch_health_serving(c->svc->health) && path_len >= 3 && memcmp(req->path.base, "/v1", 3) == 0 &&
        (path_len == 3 || req->path.base[3] == '/'))
        return ch__fail_early(p, CH_EUNAVAILABLE, NULL, "starting: waiting for the database");
    ch_route_match_t m;
    ch_router_match(req->method.base, req->method.len, req->path.base, path_len, &m);
    if (!m.route && m.allow[0]) {
        snprintf(p->allow, sizeof(p->allow), "%s", m.allow);
        return ch__fail_early(p, CH_EMETHOD, NULL, "method not allowed on this path");
    }
    if (!m.route)
        return ch__fail_early(p, CH_ENOTFOUND, NULL, "no such route");
    c->route = m.route;
    p->metrics_index = m.route->metrics_index;
    for (size_t i = 0; i < m.nparams; i++)
        if (!(c->params[i] = ch_router_decode_param(m.param_ptr[i], m.param_len[i])))
            return ch__fail_early(p, CH_ENOTFOUND, NULL, "no such resource (bad escape in the path)");
    if (req->query_at != SIZE_MAX)
        c->query = ch_strndup(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1);
    ch_client_addr(req, c->svc->cfg, c->client_ip, sizeof(c->client_ip));

    if (req->entity.len > CH_MAX_BODY)
        return ch__fail_early(p, CH_ETOOLARGE, NULL, "request body is larger than 1 MiB");
    if (!ch__take_body(p, req))
        return 0;
    if ((m.route->flags & CH_ROUTE_AUTH) && (c->err = ch__authenticate(p, req)) != CH_OK)
        return ch__fail_faulted(p, c->err); /* its detail is in the fault already */
    if (m.route->flags & (CH_ROUTE_IDEMPOTENT | CH_ROUTE_IDEM_OWN)) {
        const h2o_iovec_t *key = ch__header_str(req, H2O_STRLIT("idempotency-key"));
        if (key && !ch_idem_key_valid(key->base, key->len))
            return ch__fail_early(p, CH_EINVAL, "Idempotency-Key", "Idempotency-Key must be 1 to 255 printable characters");
        if (key)
            c->idempotency_key = ch_strndup(key->base, key->len);
    }

    if (m.route->flags & CH_ROUTE_STRIPE_SIGNED) { /* raw JSON bytes, parsed after the signature check */
        if (ch__json_type(ch__header(req, H2O_TOKEN_CONTENT_TYPE)) != CH_MEDIA_JSON)
            return ch__fail_early(p, CH_EMEDIATYPE, NULL, "Content-Type must be application/json");
        const h2o_iovec_t *sig = ch__header_str(req, H2O_STRLIT("stripe-signature"));
        if (sig)
            c->signature = ch_strndup(sig->base, sig->len);
    }
    if ((m.route->flags & CH_ROUTE_PWHASH) && (c->err = ch_auth_password_admit(c->svc, &c->fault)) != CH_OK) {
        ch__render(p);
        ch__finish(p);
        return 0;
    }
    if (m.route->flags & CH_ROUTE_INLINE) {
        c->err = m.route->handler(c);
        ch__render(p);
        ch__finish(p);
        return 0;
    }
    p->work.data = p;
    if ((m.route->flags & CH_ROUTE_POINT_READ) && c->svc->local_backends) {
        /* An indexed SQLite read and an in-memory kv lookup cost less than the hop to a
         * worker thread and back; with network backends they go to the pool. */
        ch__run_point_read(p, req->conn->ctx->loop, 0);
        return 0;
    }
    if ((m.route->flags & (CH_ROUTE_POINT_READ | CH_ROUTE_L1_READ)) == (CH_ROUTE_POINT_READ | CH_ROUTE_L1_READ) &&
        ch_hcache_l1_live(c->svc->hcache)) {
        /* Cluster mode: a read whose facts and id page are all in the L1 needs no network;
         * the first call that would (a statement, a Redis command, an L1 miss) moves it. */
        ch__run_point_read(p, req->conn->ctx->loop, 1);
        return 0;
    }
    /* A bounded queue: past CHORUS_QUEUE_MAX waiting requests, more would only wait past
     * their deadline (a hung backend holds every worker); refuse them now. */
    if (!ch_admission_enqueue(c->svc->cfg->queue_max, 0)) {
        p->call.fault.retry_after_s = 1;
        return ch__fail_early(p, CH_EOVERLOADED, NULL,
                              "too many requests are waiting for a worker thread (CHORUS_QUEUE_MAX); retry later");
    }
    ch_metrics_queue_add(1);
    uv_queue_work(req->conn->ctx->loop, &p->work, ch__run_blocking, ch__after_blocking);
    return 0;
}

void ch_dispatch_register(h2o_hostconf_t *host, ch_svc_t *svc)
{
    for (size_t i = 0; i < ch_routes_count; i++)
        ch_routes[i].metrics_index = ch_metrics_register_route(ch_routes[i].method, ch_routes[i].path);
    ch__unmatched_metrics = ch_metrics_register_route("-", "unmatched");
    ch_admission_init();
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    ch__handler_t *h = (ch__handler_t *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = ch__on_req;
    h->svc = svc;
}

#include "http/idem_call.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "store/db.h"
#include "svc/auth/auth.h"
#include "svc/common/idempotency.h"

/* The request an Idempotency-Key is bound to: the route template with its path parameters
 * filled in (percent-encoded, so the stored text is ASCII whatever the client sent), so that
 * one key reused on another resource (follow user A, then user B) is a different request,
 * not a replay of the first. Caller frees. */
static char *ch__idem_route(const ch_call_t *c)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t cap = strlen(c->route->path) + 1;
    for (int i = 0; i < CH_MAX_PATH_PARAMS && c->params[i]; i++)
        cap += strlen(c->params[i]) * 3;
    char *out = ch_malloc(cap), *o = out;
    int n = 0;
    for (const char *t = c->route->path; *t;) {
        const char *close = *t == '{' ? strchr(t, '}') : NULL;
        if (!close) {
            *o++ = *t++;
            continue;
        }
        const char *param = n < CH_MAX_PATH_PARAMS && c->params[n] ? c->params[n] : "";
        for (const unsigned char *v = (const unsigned char *)param; *v; v++) {
            if ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') || (*v >= '0' && *v <= '9') || *v == '-' ||
                *v == '_' || *v == '.' || *v == '~') {
                *o++ = (char)*v;
            } else {
                *o++ = '%';
                *o++ = hex[*v >> 4];
                *o++ = hex[*v & 15];
            }
        }
        n++;
        t = close + 1;
    }
    *o = '\0';
    return out;
}


/* A stored answer of a credentials route lacks its tokens: the password of this request
 * must open the account (the login path: Argon2id, failure counting), and the answer gets
 * the new session's tokens. A wrong password is a different request. Takes body. */
static ch_err_t ch__with_new_tokens(ch_call_t *c, char **body)
{
    json_t *tokens = NULL, *doc = json_loads(*body, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return ch_fault(&c->fault, CH_EINTERNAL, NULL, "stored response is not an object");
    }
    ch_auth_origin_t origin = {c->client_ip, {&c->client_gone, c->client_fd, 0}}; /* throttled as any login from there */
    ch_err_t err = ch_auth_login_from(c->svc, c->json, &origin, &tokens, &c->fault);
    if (err == CH_ECREDENTIALS || err == CH_EINVAL) {
        memset(&c->fault, 0, sizeof(c->fault));
        err = ch_fault(&c->fault, CH_EIDEMPOTENCYMISMATCH, "Idempotency-Key",
                       "this Idempotency-Key was used with a different request");
    }
    if (err == CH_OK) {
        const char *k;
        json_t *v;
        json_object_foreach(tokens, k, v)
        {
            if (strcmp(k, "user") != 0)
                json_object_set(doc, k, v);
        }
        free(*body);
        *body = json_dumps(doc, JSON_COMPACT);
    }
    json_decref(tokens);
    json_decref(doc);
    return err;
}

/* Answers a stored answer (takes body), or the error of getting it. */
static void ch__replay(ch_call_t *c, const ch_idem_req_t *req, int status, char *body, ch_err_t err,
                       void (*render)(ch_call_t *))
{
    ch_call_reset_answer(c);
    if (err == CH_OK && req->credentials && status < 300)
        err = ch__with_new_tokens(c, &body);
    c->err = err;
    if (err == CH_OK) {
        c->status = status;
        c->raw_out = body;
        c->replayed = 1;
        c->content_type = status < 300 ? "application/json" : "application/problem+json";
    } else {
        free(body);
    }
    render(c);
}

/* Test hook (fault injection, not a setting): CHORUS_TEST_IDEM_PAUSE_MS makes a request
 * wait after its handler ran, inside its uncommitted transaction, so that the black-box
 * suite can kill the process there (tests/blackbox/test_idempotency.py). */
static void ch__test_pause(const ch_call_t *c)
{
    const char *v = getenv("CHORUS_TEST_IDEM_PAUSE_MS");
    long ms = v ? strtol(v, NULL, 10) : 0;
    if (ms <= 0)
        return;
    ch_log_warn("test hook: request %s pauses %ld ms before recording its Idempotency-Key", c->request_id, ms);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void ch_idem_call_run(ch_call_t *c, void (*render)(ch_call_t *call))
{
    ch_svc_t *svc = c->svc;
    char *route = ch__idem_route(c);
    ch_idem_req_t req = {c->user_id, c->idempotency_key, route, c->body ? c->body : "", c->body_len, c->json,
                         (c->route->flags & CH_ROUTE_IDEM_CREDENTIALS) != 0};
    int status = 0;
    char *body = NULL;

    /* Fast path, outside any transaction: answered before (or a lost COMMIT ack). */
    ch_err_t err = ch_idem_lookup(svc, &req, &status, &body, &c->fault);
    if (err != CH_OK || status) {
        ch__replay(c, &req, status, body, err, render);
        free(route);
        return;
    }

    if ((err = ch_db_ambient_begin(svc->db)) != CH_OK) {
        c->err = err;
        render(c);
        free(route);
        return;
    }
    c->err = c->route->handler(c);
    render(c);
    int taken = 0;
    if (c->status >= 500 || c->status == 429) {
        ch_db_ambient_end(svc->db, 0); /* nothing changes: a retry runs again */
        free(route);
        return;
    }
    ch__test_pause(c);
    ch_err_t rec = ch_idem_record(svc, &req, c->status, c->raw_out, &taken);
    err = ch_db_ambient_end(svc->db, rec == CH_OK && !taken);
    if (err == CH_OK)
        err = rec;
    if (taken) { /* another request with this key committed first: answer as it did */
        err = ch_idem_lookup(svc, &req, &status, &body, &c->fault);
        if (err == CH_OK && !status) /* it expired meanwhile: the client may retry */
            err = ch_fault(&c->fault, CH_EUNAVAILABLE, NULL, "request conflicted with a retry; retry it");
        ch__replay(c, &req, status, body, err, render);
    } else if (err != CH_OK) { /* rolled back, or maybe committed with its ack lost */
        ch_log_warn("idempotent request with key '%s' not committed: %s", req.key, ch_err_code(err));
        ch_call_reset_answer(c);
        memset(&c->fault, 0, sizeof(c->fault));
        if (err != CH_EUNAVAILABLE && err != CH_EINTERNAL)
            err = CH_EUNAVAILABLE;
        c->err = ch_fault(&c->fault, err, NULL, "the request could not be committed; retry it with the same Idempotency-Key");
        render(c);
    }
    free(route);
}

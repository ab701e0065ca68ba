/* One HTTP call as the handlers see it: the matched route, copies of everything they may
 * read (safe to use on a worker thread after the loop moved on), and the answer they give.
 * Handlers never see h2o types. */
#ifndef CH_HTTP_CALL_H
#define CH_HTTP_CALL_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "svc/context.h"

#define CH_MAX_PATH_PARAMS 4
#define CH_MAX_BODY (1024 * 1024)
#define CH_REQUEST_ID_MAX 128

typedef struct ch_call ch_call_t;
/** A handler: reads the call, sets call->status and call->out (or returns an error with
 * call->fault filled). Runs on a worker thread unless the route is CH_ROUTE_INLINE. */
typedef ch_err_t (*ch_handler_fn)(ch_call_t *call);

enum {
    CH_ROUTE_AUTH = 1u << 0,       /* needs a valid access token */
    CH_ROUTE_INLINE = 1u << 1,     /* answers from memory on the event loop */
    CH_ROUTE_JSON_BODY = 1u << 2,  /* takes a JSON object body */
    CH_ROUTE_IDEMPOTENT = 1u << 3, /* creating POST: honours Idempotency-Key */
    CH_ROUTE_POINT_READ = 1u << 4, /* a few indexed reads: runs on the loop when backends are local */
    CH_ROUTE_JSON_OPTIONAL = 1u << 5, /* like JSON_BODY, but an empty body is fine (call->json NULL) */
    CH_ROUTE_PWHASH = 1u << 6, /* hashes a password: refused 503 on the loop, without taking a
                                  worker, when the password hasher is full */
    /* with IDEMPOTENT: the body holds a "password" (never in the fingerprint) and the answer
     * tokens (never stored); a replay checks the password and gets new tokens (idem_call.h) */
    CH_ROUTE_IDEM_CREDENTIALS = 1u << 7,
    /* the handler reads the raw body and the Stripe-Signature header (call->signature) */
    CH_ROUTE_STRIPE_SIGNED = 1u << 8,
    /* honours Idempotency-Key itself (the header is checked and handed over in
     * call->idempotency_key, no ambient transaction): a request whose effect spans an
     * outside call (POST /v1/orders and its PaymentIntent) */
    CH_ROUTE_IDEM_OWN = 1u << 9,
    /* with POINT_READ: in cluster mode too, while the hydration cache's L1 is live, the call
     * runs first on the loop under the loop guard (core/loop_guard.h): served when all it
     * reads is in the L1, else moved to a worker (docs/design.md, "### l1") */
    CH_ROUTE_L1_READ = 1u << 10,
};

/** A route: data, one table in routes.c. */
typedef struct {
    const char *method;
    const char *path; /* template: "/v1/users/{id}" */
    ch_handler_fn handler;
    unsigned flags;
    size_t metrics_index; /* set at start-up */
} ch_route_t;

struct ch_call {
    /* ---- input, owned by the call ---- */
    const ch_route_t *route;
    ch_svc_t *svc;
    char *params[CH_MAX_PATH_PARAMS]; /* decoded path parameters, in template order */
    char *query;                      /* raw query string without '?', or NULL */
    char *body;                       /* raw body bytes (NUL-terminated copy) */
    size_t body_len;
    json_t *json; /* parsed body object for CH_ROUTE_JSON_BODY routes */
    char request_id[CH_REQUEST_ID_MAX + 1];
    char client_ip[64];
    char *idempotency_key; /* NULL when absent */
    char *signature;       /* Stripe-Signature (CH_ROUTE_STRIPE_SIGNED routes); NULL when absent */
    uint64_t user_id;      /* from the access token; 0 when anonymous */
    uint64_t session_id;
    /* ---- output ---- */
    int status;            /* success status (200 by default) */
    json_t *out;           /* response body or NULL for none; owned */
    char *raw_out;         /* pre-rendered body; owned; wins over out */
    const char *content_type; /* of raw_out (static string); default application/json */
    int replayed;
    ch_err_t err;
    ch_fault_t fault;
    json_t *problem_extra; /* members merged into a problem body; owned */
    /* ---- plumbing (dispatch.c) ---- */
    void *priv;
    int deferred; /* set by ch_call_defer */
    int on_loop;  /* the handler runs on the event loop (a point read with local backends, or a
                     CH_ROUTE_L1_READ one under the loop guard in cluster mode) */
    int move_to_worker; /* set by ch_call_move_to_worker */
    atomic_int client_gone; /* set on the loop when h2o disposed of the request (HTTP/2
                               RST_STREAM, closed connection); any thread may read it */
    int client_fd;          /* HTTP/1: the connection's socket, for ch_client_watch_gone; else -1 */
};

/** The value of query parameter `name`, percent-decoded into buf; NULL when absent. */
const char *ch_call_query(const ch_call_t *call, const char *name, char *buf, size_t buflen);
/** Parses ?limit= (1..100, default 20). CH_EINVAL with field "limit" when bad. */
ch_err_t ch_call_limit(ch_call_t *call, int *limit);
/** Parses ?cursor= as a keyset cursor this API returned (a decimal id, at most INT64_MAX);
 * *before is 0 when absent. CH_EINVAL with field "cursor" when bad. */
ch_err_t ch_call_cursor(ch_call_t *call, uint64_t *before);
/** A keyset page's ?limit= and ?cursor= (ch_call_limit, then ch_call_cursor); *cursor 0
 * when absent. */
ch_err_t ch_call_page(ch_call_t *call, int *limit, uint64_t *cursor);
/** Path parameter i as an id, or 0 when it cannot be one (answered like an unknown id). */
uint64_t ch_call_id_param(const ch_call_t *call, size_t i);
/** The engagement target type named by the matched route's first segment ("/v1/posts/..."
 * -> CH_TARGET_POST); -1 when it names none. */
int ch_call_target_type(const ch_call_t *call);
/** Sets a JSON success answer (takes ownership of body). Returns CH_OK. */
ch_err_t ch_call_reply(ch_call_t *call, int status, json_t *body);
/** Drops whatever answer the call holds (out, raw_out, problem_extra, content type, status
 * back to 200, replayed), so that another can be given; err and fault are left alone. */
void ch_call_reset_answer(ch_call_t *call);

/** Whether the handler runs on an event-loop thread (a CH_ROUTE_POINT_READ route with local
 * backends): it must then only do what a point read does — indexed reads, cache lookups. */
int ch_call_on_loop(const ch_call_t *call);
/** From a handler on the loop (ch_call_on_loop) that finds it has more to do than a point
 * read (a ranking, a cold scan): asks that the call be run again from the start on a worker
 * thread. Returns the error the handler returns at once; whatever the call holds is
 * dropped. Only before anything was written (as for a lock met on the loop). */
ch_err_t ch_call_move_to_worker(ch_call_t *call);

/** Lets a handler answer later, from another thread (the group-commit writer answers
 * after its commit, without holding a worker thread). Call it right before handing the
 * call to the thread that will answer, then return CH_OK: the dispatcher sends nothing and
 * leaves every member alone until ch_call_resume. Not for CH_ROUTE_IDEMPOTENT routes (the
 * response is recorded by the worker) nor CH_ROUTE_INLINE ones. The call stays in flight:
 * a graceful stop waits for it. Implemented in dispatch.c. */
void ch_call_defer(ch_call_t *call);
/** Answers a deferred call, from any thread, exactly once: err CH_OK with the answer set
 * (ch_call_reply), or an error with call->fault filled. The call must not be touched
 * afterwards: it is rendered and sent on its event loop. */
void ch_call_resume(ch_call_t *call, ch_err_t err);

#endif

/* A client for the Stripe REST API (libcurl), used by the marketplace (svc/market). Requests
 * are form-encoded from a JSON object (nested objects as a[b][c]=v, arrays as a[0]=v),
 * carry `Stripe-Version: 2023-08-16` and the secret key as a Bearer token, and every POST
 * carries the Idempotency-Key its caller derives from (order, step), so a retry, or a
 * step resumed after a crash, never makes a second charge or transfer. 429, 5xx and
 * network errors are retried with exponential backoff and full jitter, honouring
 * Retry-After and Stripe-Should-Retry; 4xx other than 409/429 are not retried.
 *
 * The base URL (CHORUS_STRIPE_API) is configurable: the tests point it at a local
 * Stripe-compatible server (tests/stripe_double). One client is used by one thread at a
 * time (it keeps its connection alive); the market service keeps one per worker thread
 * or takes it from a small pool. */
#ifndef CH_STORE_STRIPE_H
#define CH_STORE_STRIPE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define CH_STRIPE_API_VERSION "2023-08-16"
/* Stripe's own bound on an Idempotency-Key. */
#define CH_STRIPE_IDEMPOTENCY_KEY_MAX 255

typedef struct ch_stripe ch_stripe_t;

/** Client settings; strings are borrowed for the call to ch_stripe_create only (copied). */
typedef struct {
    const char *api_base;   /* "https://api.stripe.com" or e.g. "http://127.0.0.1:12111" */
    const char *secret_key; /* "sk_test_..." */
    int64_t timeout_ms;     /* one attempt's deadline */
    int max_retries;        /* attempts after the first on 429/5xx/network errors */
    int64_t backoff_base_ms; /* first backoff; doubles per attempt, full jitter, capped at 8 s */
} ch_stripe_config_t;

/** What one call got back. */
typedef struct {
    int status;          /* HTTP status of the last attempt; 0 when no answer came */
    int attempts;        /* attempts made (1 + retries) */
    json_t *body;        /* the parsed answer (object or error object); caller json_decref()s; NULL if none */
    char request_id[64]; /* Stripe's Request-Id header of the last answer, "" if none */
    int replayed;        /* the last answer carried Idempotent-Replayed: true (a retry of a POST
                            that had landed, or a step resumed after a crash) */
    int idempotency_error; /* the last answer was Stripe's 400 idempotency_error: the key was
                              used before with other params (our bug; the call returned
                              CH_EINTERNAL); never retry it, with this key or a new one */
} ch_stripe_result_t;

/** Makes a client; NULL when out of memory or the base URL is not http(s)://. Caller frees
 * with ch_stripe_destroy. */
ch_stripe_t *ch_stripe_create(const ch_stripe_config_t *cfg);
/** Frees a client. NULL is fine. */
void ch_stripe_destroy(ch_stripe_t *s);

/** Form-encodes params (an object whose values are strings, integers, booleans, nested
 * objects and arrays; NULL = no body) the way Stripe reads it: keys and values
 * percent-encoded, nested keys bracketed. Returns a malloc'd string (caller frees), "" for
 * NULL/empty params; NULL on out of memory or a value it cannot encode (a real number:
 * money is integers; an object key containing '[' or ']', which Stripe forbids and would
 * read as nesting). */
char *ch_stripe_form_encode(const json_t *params);

/** One API call: method "GET"/"POST"/"DELETE", path "/v1/payment_intents" (params go in the
 * query string for GET/DELETE, in the body for POST). idempotency_key is required for POST
 * (NULL for others; at most CH_STRIPE_IDEMPOTENCY_KEY_MAX bytes); stripe_account (NULL
 * for the platform) sets the Stripe-Account header. Fills *res (caller clears it with
 * ch_stripe_result_clear). Returns:
 *   CH_OK          2xx, res->body the object;
 *   CH_EINVAL      400/402/404 and other 4xx: Stripe refused (res->body has its error);
 *   CH_ECONFLICT   409 after the retries: an idempotent request with this key is still
 *                  in progress; retry later with the same key;
 *   CH_EUNAVAILABLE network errors, timeouts, 429 and 5xx after the retries, or the calling
 *                  thread's deadline (store/db.h ch_db_call_deadline: the request's, even
 *                  after a write of it committed, or the graceful stop's) reached: attempts are shortened to it and no retry
 *                  starts that would wait past it. res->status 0 means no answer came: a
 *                  POST may or may not have taken effect (retry it with the same key);
 *   CH_EINTERNAL   401/403 (a wrong key: configuration), an unparsable or too large
 *                  answer, a 400 idempotency_error (res->idempotency_error set: the key
 *                  was used with other params, a bug; never retried), or a caller's
 *                  mistake (bad method, a path not "/v1/" of [A-Za-z0-9_/.-] or with an
 *                  empty, "." or ".." segment, a POST without a key or a key that is too
 *                  long or not printable ASCII, a real number in params, an object key
 *                  containing '[' or ']'); nothing is sent for a caller's mistake.
 * A 5xx saved by Stripe as the key's answer comes back on every retry with
 * Stripe-Should-Retry: false: CH_EUNAVAILABLE at once, outcome unknown (look the object up:
 * GET /v1/transfers?transfer_group=, /v1/payment_intents/search, /v1/refunds?payment_intent=).
 * Counters: chorus_stripe_* on /metrics. */
ch_err_t ch_stripe_call(ch_stripe_t *s, const char *method, const char *path, const json_t *params,
                        const char *idempotency_key, const char *stripe_account, ch_stripe_result_t *res);
/** Frees what a result holds and zeroes it. */
void ch_stripe_result_clear(ch_stripe_result_t *res);

/** A bounded pool of clients shared by the worker threads (each client keeps its own
 * connection alive). Made by main.c when CHORUS_STRIPE_SECRET_KEY is set; svc->stripe is
 * NULL otherwise and the marketplace answers 503 for anything that needs Stripe. */
typedef struct ch_stripe_pool ch_stripe_pool_t;

/** Makes a pool of at most max clients with cfg (copied); NULL on out of memory. Caller
 * frees with ch_stripe_pool_destroy after every client was released. */
ch_stripe_pool_t *ch_stripe_pool_create(const ch_stripe_config_t *cfg, size_t max);
/** Frees the pool and its clients. NULL is fine. */
void ch_stripe_pool_destroy(ch_stripe_pool_t *pool);
/** Takes a client, waiting up to wait_ms (cut to the thread's ch_db_call_deadline) for one
 * to be released; NULL when none came (the caller answers 503 overloaded). When making a
 * new client fails it waits for a released one instead. Give it back with ch_stripe_pool_release. */
ch_stripe_t *ch_stripe_pool_acquire(ch_stripe_pool_t *pool, int64_t wait_ms);
/** Gives a client back to its pool. A client given back twice (or one the pool has no room
 * for) is refused with an error log, not stored twice. */
void ch_stripe_pool_release(ch_stripe_pool_t *pool, ch_stripe_t *s);

/** Verifies a Stripe-Signature header ("t=<unix s>,v1=<hex>,v1=<hex>,v0=...") over the raw
 * payload with any of the nsecrets webhook secrets ("whsec_..."): HMAC-SHA256 of
 * "<t>.<payload>", compared in constant time against every v1; the timestamp must be
 * within tolerance_s of now_s (both ways). Returns CH_OK when one matches; CH_EUNAUTH
 * otherwise (malformed header, no v1, stale, or no match). */
ch_err_t ch_stripe_verify_signature(const char *header, const char *payload, size_t len,
                                    const char *const *secrets, size_t nsecrets, int64_t now_s,
                                    int64_t tolerance_s);

#endif

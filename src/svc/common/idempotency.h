/* Idempotency-Key for creating POSTs: the first response to (user, key) is kept for 24 h
 * and answered again for the same request; the same key with another request is refused.
 *
 * The record commits in the same transaction as the request's effect (the dispatcher runs
 * the handler in an ambient transaction, store/db.h): there is no "in progress" state, a
 * crash leaves nothing behind, and a retry after a lost COMMIT acknowledgement finds the
 * record. Nothing secret is stored: the fingerprint is a plain hash of the request without
 * its secret fields (a registration's password), and responses that carry tokens are kept
 * without them (the dispatcher gives a replay fresh tokens after checking the password). */
#ifndef CH_SVC_COMMON_IDEMPOTENCY_H
#define CH_SVC_COMMON_IDEMPOTENCY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "svc/context.h"

#define CH_IDEMPOTENCY_KEY_MAX 255
/** How long a record is answered again (the replay window); older rows are swept. */
#define CH_IDEMPOTENCY_TTL_MS (24LL * 3600 * 1000)
/** Rows the sweeper deletes per statement, and statements per sweep. */
#define CH_IDEMPOTENCY_SWEEP_BATCH 500
#define CH_IDEMPOTENCY_SWEEP_ROUNDS 20
/** Least time between two sweeps. */
#define CH_IDEMPOTENCY_SWEEP_EVERY_MS (60LL * 1000)

/** The request an idempotency record belongs to. Everything is borrowed. */
typedef struct {
    uint64_t user_id; /* 0 for anonymous routes (register) */
    const char *key;
    const char *route; /* method-less route with its path parameters filled in */
    const char *body;
    size_t body_len;
    const json_t *json; /* the parsed body, or NULL */
    int credentials;    /* body has a "password"; the response carries tokens */
} ch_idem_req_t;

/** Whether an Idempotency-Key header value is acceptable (1-255 printable ASCII). */
int ch_idem_key_valid(const char *key, size_t len);
/** Looks the key up (outside any transaction). CH_OK with *status 0: no live record, run
 * the request. CH_OK with *status > 0: the stored answer, *body (caller frees; for a
 * credentials route without its tokens). CH_EIDEMPOTENCYMISMATCH when the key was used for
 * another request. */
ch_err_t ch_idem_lookup(ch_svc_t *svc, const ch_idem_req_t *req, int *status, char **body, ch_fault_t *f);
/** Inside the request's ambient transaction: stores the answer (status < 500; body may be
 * NULL). *taken is set when a live record of another request with the same key committed
 * meanwhile: roll back and answer what ch_idem_lookup says. */
ch_err_t ch_idem_record(ch_svc_t *svc, const ch_idem_req_t *req, int status, const char *body, int *taken);
/** Deletes records older than the replay window, at most CH_IDEMPOTENCY_SWEEP_BATCH per
 * statement and CH_IDEMPOTENCY_SWEEP_ROUNDS statements; *deleted (may be NULL) gets the
 * count. */
ch_err_t ch_idem_sweep(ch_svc_t *svc, int64_t now_ms, int64_t *deleted);
/** For the worker role's loop: sweeps when CH_IDEMPOTENCY_SWEEP_EVERY_MS passed since the
 * last sweep of this process. Failures are logged and retried next time. */
void ch_idem_sweep_tick(ch_svc_t *svc);

#endif

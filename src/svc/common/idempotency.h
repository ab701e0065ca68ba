/* Idempotency-Key for creating POSTs: the first response to (user, key) is kept for 24 h
 * and answered again for the same request; the same key with another body is refused.
 * Stored responses are sealed (XSalsa20-Poly1305) under a key derived from the request
 * itself, so the database alone never reveals the tokens a replayed response carries. */
#ifndef CH_SVC_COMMON_IDEMPOTENCY_H
#define CH_SVC_COMMON_IDEMPOTENCY_H

#include <stddef.h>
#include <stdint.h>

#include "svc/context.h"

#define CH_IDEMPOTENCY_KEY_MAX 255
#define CH_IDEMPOTENCY_TTL_MS (24LL * 3600 * 1000)

/** The request an idempotency record belongs to. Strings are borrowed. */
typedef struct {
    uint64_t user_id; /* 0 for anonymous routes (register) */
    const char *key;
    const char *route;
    const char *body;
    size_t body_len;
} ch_idem_req_t;

/** Whether an Idempotency-Key header value is acceptable (1-255 printable ASCII). */
int ch_idem_key_valid(const char *key, size_t len);
/** Claims the key before the request runs. CH_OK with *replay_status 0: go on and call
 * ch_idem_finish afterwards. CH_OK with *replay_status > 0: answer that status with
 * *replay_body (caller frees) instead of running the request. CH_EIDEMPOTENCYMISMATCH
 * when the key was used for another request; CH_EIDEMPOTENCYBUSY while the first runs. */
ch_err_t ch_idem_begin(ch_svc_t *svc, const ch_idem_req_t *req, int *replay_status, char **replay_body,
                       ch_fault_t *f);
/** Records the response of a claimed request (status < 500), or releases the claim so the
 * client may retry (status >= 500). Best effort: a failure is logged. */
void ch_idem_finish(ch_svc_t *svc, const ch_idem_req_t *req, int status, const char *body, size_t len);

#endif

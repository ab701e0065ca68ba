/* The two Stripe calls of a refund job (an order's refund, a stray payment's refund), shared
 * so that both look up and post the same way. Internal to svc/market. */
#ifndef CH_SVC_MARKET_REFUND_CALLS_H
#define CH_SVC_MARKET_REFUND_CALLS_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"
#include "svc/context.h"
#include "svc/market/jobs.h"

/** The refund of PaymentIntent pi that an earlier attempt may have made although its answer
 * was lost (Stripe saves a 500 as the key's answer and replays it: the key alone would never
 * learn of it): its id into out, "" when none (a failed or canceled refund is none). */
ch_err_t ch_market_refund_find(ch_svc_t *svc, const char *pi, char *out, size_t outlen, char *why, size_t wl);

/** Posts the refund params (borrowed) under the Idempotency-Key key for the claimed job;
 * its id into out. An answer without an id is CH_EINTERNAL with why set. */
ch_err_t ch_market_refund_post(ch_svc_t *svc, const ch_market_job_t *job, const json_t *params, const char *key,
                               char *out, size_t outlen, char *why, size_t wl);

#endif

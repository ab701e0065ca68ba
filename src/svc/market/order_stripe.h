/* One Stripe call of the marketplace's jobs: a client taken from svc->stripe's pool for
 * the call, and a readable reason on failure (for market_jobs.last_error). Internal to
 * svc/market. */
#ifndef CH_SVC_MARKET_ORDER_STRIPE_H
#define CH_SVC_MARKET_ORDER_STRIPE_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"
#include "store/stripe.h"
#include "svc/context.h"
#include "svc/market/jobs.h"

/** How long a job or request waits for a free Stripe client before it gives up (503/retry). */
#define CH_MARKET_STRIPE_WAIT_MS 2000

/** ch_stripe_call on a pooled client (params borrowed; NULL key for GET). CH_EUNAVAILABLE
 * when Stripe is not configured, CH_EOVERLOADED when no client is free. *res is the
 * caller's to clear. On failure why gets "POST /v1/...: <code> <status> <Stripe's message>". */
ch_err_t ch_market_stripe(ch_svc_t *svc, const char *method, const char *path, const json_t *params,
                          const char *key, ch_stripe_result_t *res, char *why, size_t whylen);

/** A claimed job's keyed POST: records its first POST (ch_market_job_mark_post, jobs.h),
 * then ch_market_stripe. *res is the caller's to clear (zeroed when the mark failed). */
ch_err_t ch_market_stripe_post(ch_svc_t *svc, const ch_market_job_t *job, const char *path, const json_t *params,
                               const char *key, ch_stripe_result_t *res, char *why, size_t whylen);

#endif

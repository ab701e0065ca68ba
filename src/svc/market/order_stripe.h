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

/** On a step's retry: the object an earlier attempt may have made although its answer was
 * lost (Stripe saves a 500 as the key's answer and replays it: the key alone never learns of
 * the object). GETs path with params (stolen) and copies into id the id of the first listed
 * item whose field `match` equals want and, with live, whose status is neither "failed" nor
 * "canceled" ("" when none). */
ch_err_t ch_market_find_made(ch_svc_t *svc, const char *path, json_t *params, const char *match, const char *want,
                             int live, char *id, size_t idlen, char *why, size_t wl);

#endif

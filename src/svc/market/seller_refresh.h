/* The sellers' refresh from Stripe (issue 15): account.updated events of the same second
 * carry no order (Stripe's ids are random), so whichever arrives last would win. On every
 * account.updated a durable job (market_jobs kind "seller", step "account_refresh", one row
 * per seller: a burst of events coalesces into at most one run after the last) GETs
 * /v1/accounts/{id} and stores that: the seller row converges to Stripe's truth whatever
 * the order of delivery. The refresh stores the account with event_created = now (seconds),
 * so an event created before it no longer applies; one of the same second may, and
 * enqueues another refresh. */
#ifndef CH_SVC_MARKET_SELLER_REFRESH_H
#define CH_SVC_MARKET_SELLER_REFRESH_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "svc/context.h"
#include "svc/market/jobs.h"

/** The job's kind and step names (market_jobs; order_id is the seller's user id). */
#define CH_SELLER_REFRESH_KIND "seller"
#define CH_SELLER_REFRESH_STEP "account_refresh"

/** Makes the seller's refresh due now on conn (in the caller's transaction): a new row, or
 * the existing one set pending again (a refresh under way then runs once more after it). */
ch_err_t ch_seller_refresh_enqueue(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t user_id);

/** The job (jobs.h, kind CH_SELLER_REFRESH_KIND): GETs the seller's account and stores it;
 * done unless re-armed meanwhile. why gets a reason on failure (retried with backoff). */
ch_err_t ch_seller_refresh_step(ch_svc_t *svc, const ch_market_job_t *job, char *why, size_t whylen);

#endif

/* Stray payments (issue 15): a payment_intent.succeeded for a PaymentIntent whose metadata
 * names an order that holds another PaymentIntent (a buyer's second tab, or a PaymentIntent
 * made by an attempt whose answer was lost and then superseded). No order holds that
 * money, so it goes back: the payment is recorded once per PaymentIntent
 * (market_stray_payments, migration 19), booked in the ledger (ref "stray:<pi>:paid":
 * Stripe balance debited, CH_LEDGER_STRAY_PAYMENTS credited) and refunded by a durable job
 * (market_jobs kind CH_STRAY_KIND, order_id = the stray row's id) with the Stripe
 * Idempotency-Key "stray:<pi>:refund", booked as "stray:<pi>:refund" (the liability back
 * to zero). GET /v1/admin/orders/{id}/stray_payments shows them. */
#ifndef CH_SVC_MARKET_STRAYS_H
#define CH_SVC_MARKET_STRAYS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "svc/context.h"
#include "svc/market/jobs.h"

#define CH_STRAY_KIND "stray"
#define CH_STRAY_STEP "refund"
/** Liability: money Stripe holds for us that belongs to no order, until it is refunded. */
#define CH_LEDGER_STRAY_PAYMENTS "liability:stray_payments"
/** Most stray payments one admin listing answers (newest first). */
#define CH_STRAY_LIST_MAX 100

/** Records the succeeded PaymentIntent pi (the event's object, borrowed) as a stray payment
 * of order_id on conn (in the webhook's transaction): its row, its ledger transaction and
 * its refund job, all once per PaymentIntent (a second call changes nothing). CH_EINVAL
 * when pi has no id, amount or currency. */
ch_err_t ch_market_stray_record(ch_svc_t *svc, ch_db_conn_t *conn, uint64_t order_id, const json_t *pi);

/** The refund job (jobs.h, kind CH_STRAY_KIND): refunds the stray payment's PaymentIntent
 * (after a lost answer, first looks for a refund an earlier attempt made), then stores the
 * refund, books it and marks the job done in one transaction. why gets a reason on failure
 * (retried with backoff). */
ch_err_t ch_market_stray_step(ch_svc_t *svc, const ch_market_job_t *job, char *why, size_t whylen);

/** The stray payments of order_id, newest first (at most CH_STRAY_LIST_MAX): {"items":
 * [{payment_intent_id, amount, currency, charge_id, refund_id, state, created_at}]}.
 * Caller owns *out. */
ch_err_t ch_market_strays_of_order(ch_svc_t *svc, uint64_t order_id, json_t **out);

#endif

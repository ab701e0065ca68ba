/* Stripe webhooks (POST /v1/webhooks/stripe): each event is verified, stored once by its
 * id, and applied by the handler of its type in the same write transaction as it is stored,
 * so a 2xx means the effect is durable. Handlers must be idempotent and tolerate any order
 * (an event may arrive twice, or after a later one): they compare the state they find
 * with the state the event implies and change only what moves forward. Work that needs a
 * Stripe call is not done in a handler: it enqueues a durable job. */
#ifndef CH_SVC_MARKET_WEBHOOK_H
#define CH_SVC_MARKET_WEBHOOK_H

#include <jansson.h>

#include "core/err.h"
#include "svc/context.h"

/** Applies one event (the whole parsed event object, borrowed) on conn, which is in the
 * transaction that stores the event. Return CH_OK when applied or when there is nothing to
 * do; an error rolls the event back and the webhook answers 5xx, so Stripe sends it again. */
typedef ch_err_t (*ch_market_event_fn)(ch_svc_t *svc, ch_db_conn_t *conn, const json_t *event);

/* Largest webhook body accepted (Stripe's events are a few KiB). */
#define CH_MARKET_WEBHOOK_BODY_MAX (256 * 1024)
/* How far a signature's timestamp may be from now, either way (Stripe's default). */
#define CH_MARKET_WEBHOOK_TOLERANCE_S 300
/* Most webhook secrets CHORUS_STRIPE_WEBHOOK_SECRET may list. */
#define CH_MARKET_WEBHOOK_SECRETS_MAX 8

/** Receives one webhook delivery: payload[0..len) the exact body bytes (borrowed),
 * signature the Stripe-Signature header (NULL when absent). Checks the size and the
 * signature before any database work, then stores the event once by id and applies it in
 * the same write transaction. *duplicate is 1 when the event was stored before (nothing
 * applied again). Errors: CH_EUNAVAILABLE when no webhook secret is configured or the
 * database cannot answer; CH_ETOOLARGE; CH_EBADSIGNATURE; CH_EMALFORMED / CH_EBADREQ for
 * a body that is not JSON / not an object; CH_EINVAL naming id, type or created when one
 * is missing; a handler's error (nothing stored, Stripe sends it again). */
ch_err_t ch_market_webhook_receive(ch_svc_t *svc, const char *signature, const char *payload, size_t len,
                                   int *duplicate, ch_fault_t *f);

#endif

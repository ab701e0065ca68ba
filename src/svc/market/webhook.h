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

/* The group-commit writer of webhook events (ch_market_webhook_writer_start): most events in
 * one transaction, most queued (count and bytes), runs of a batch the database does not
 * answer before it goes one transaction per event. */
#define CH_MARKET_WEBHOOK_BATCH_MAX 64
#define CH_MARKET_WEBHOOK_QUEUE_MAX 4096
#define CH_MARKET_WEBHOOK_QUEUE_BYTES_MAX (32 * 1024 * 1024)
#define CH_MARKET_WEBHOOK_ATTEMPTS 2

/** Receives one webhook delivery: payload[0..len) the exact body bytes (borrowed),
 * signature the Stripe-Signature header (NULL when absent). Checks the size and the
 * signature before any database work, then stores the event once by id and applies it in
 * the same write transaction (with svc->webhook_writer: a savepoint of the writer's batch
 * transaction, answered once it committed). *duplicate is 1 when the event was stored before (nothing
 * applied again). Errors: CH_EUNAVAILABLE when no webhook secret is configured or the
 * database cannot answer; CH_ETOOLARGE; CH_EBADSIGNATURE; CH_EMALFORMED / CH_EBADREQ for
 * a body that is not JSON / not an object; CH_EINVAL naming id, type or created when one
 * is missing; a handler's error (nothing stored, Stripe sends it again). */
ch_err_t ch_market_webhook_receive(ch_svc_t *svc, const char *signature, const char *payload, size_t len,
                                   int *duplicate, ch_fault_t *f);

/** Starts the webhook events' group-commit writer (svc/common/batch_writer.h; the caller
 * owns it: ch_batch_writer_stop, and stores it in svc->webhook_writer). With it, events of
 * concurrent deliveries share one write transaction, each stored and applied under its own
 * savepoint (an event whose handler fails rolls back alone and is answered as without the
 * writer), and each delivery is answered after that transaction committed. NULL when the
 * thread cannot be started. svc is borrowed and must outlive the writer. */
struct ch_batch_writer *ch_market_webhook_writer_start(ch_svc_t *svc);

#endif

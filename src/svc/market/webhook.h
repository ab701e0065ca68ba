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

#endif

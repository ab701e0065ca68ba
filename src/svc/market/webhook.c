/* Stripe webhooks (webhook.h): verify, store once, apply, answer. The signature check is an
 * HMAC over the body and needs nothing but memory, so a stranger's forged deliveries cost
 * no database work. Handlers are found by event type in the two tables of the marketplace's
 * parts; an event of a type no table lists is stored and ignored. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "store/stripe.h"
#include "svc/common/batch_writer.h"
#include "svc/common/sql.h"
#include "svc/market/webhook.h"
#include "svc/market/order_events.h"
#include "svc/market/webhook_handlers_sellers.h"

static const struct {
    const char *type;
    ch_market_event_fn fn;
} ch__handlers[] = {
#define XX(type, fn) {type, fn},
#include "svc/market/webhook_events_sellers.def"
#include "svc/market/webhook_events_orders.def"
#undef XX
};

static ch_market_event_fn ch__handler_of(const char *type)
{
    for (size_t i = 0; i < sizeof(ch__handlers) / sizeof(ch__handlers[0]); i++)
        if (strcmp(ch__handlers[i].type, type) == 0)
            return ch__handlers[i].fn;
    return NULL;
}

/* Splits the comma list of secrets into buf (a copy) and secrets[]; returns how many. */
static size_t ch__secrets(const char *list, char *buf, size_t cap, const char **secrets)
{
    size_t n = 0;
    snprintf(buf, cap, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && n < CH_MARKET_WEBHOOK_SECRETS_MAX;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t l = strlen(tok);
        while (l && tok[l - 1] == ' ')
            tok[--l] = '\0';
        if (l)
            secrets[n++] = tok;
    }
    return n;
}

/* One delivery on its way to the database (borrowed by the writer until it is done). */
typedef struct {
    ch_batch_item_t item;
    const char *id, *type;
    int64_t created;
    const char *payload;
    size_t len;
    const json_t *event;
    /* ---- outcome ---- */
    ch_err_t err;
    ch_fault_t fault;
    int duplicate;
} ch__hook_t;

#define CH__HOOK(it) ((ch__hook_t *)(void *)((char *)(it) - offsetof(ch__hook_t, item)))

/* Stores the event once by id and applies it (a first delivery only), on conn inside a
 * write transaction (or the batch's savepoint). An error leaves the unit to be rolled back. */
static ch_err_t ch__store_apply(ch_svc_t *svc, ch_db_conn_t *conn, ch__hook_t *h)
{
    int64_t stored = 0;
    ch_db_param_t p[] = {CH_DB_P_TEXT(h->id), CH_DB_P_TEXT(h->type), CH_DB_P_INT(h->created),
                         CH_DB_P_TEXTN(h->payload, h->len), CH_DB_P_INT(ch_now_ms())};
    ch_err_t err = ch_sql_on(svc, conn,
                             "INSERT INTO stripe_events(id, type, created, payload, received_at) VALUES($1, $2, $3, $4, $5)"
                             " ON CONFLICT (id) DO NOTHING",
                             p, CH_NPARAMS(p), NULL, &stored);
    ch_market_event_fn fn = err == CH_OK && stored ? ch__handler_of(h->type) : NULL;
    if (fn && (err = fn(svc, conn, h->event)) != CH_OK)
        ch_log_warn("webhook: %s event %s not applied (%s): Stripe will send it again", h->type, h->id,
                    ch_err_code(err));
    h->duplicate = err == CH_OK && !stored;
    return err;
}

/* The answer for an event not stored: err with f when the writer made one (queue full).
 * Whatever is worth a retry (the database away or busy, or the order moved under the
 * event as many times as it retries) is a 503 with Retry-After, so Stripe sends it again;
 * only an apply refused otherwise is a 500. */
static void ch__outcome(ch__hook_t *h, ch_err_t err, const ch_fault_t *f)
{
    if (err == CH_EOVERLOADED && f)
        h->fault = *f, h->err = err;
    else if (err == CH_EUNAVAILABLE || err == CH_EOVERLOADED)
        h->err = ch_fault(&h->fault, CH_EUNAVAILABLE, NULL, "the database cannot store the event now");
    else if (err == CH_ECONFLICT)
        h->err = ch_fault(&h->fault, CH_EUNAVAILABLE, NULL, "the event met concurrent changes; send it again");
    else
        h->err = ch_fault(&h->fault, CH_EINTERNAL, NULL, "the event could not be applied; send it again");
}

ch_err_t ch_market_webhook_receive(ch_svc_t *svc, const char *signature, const char *payload, size_t len,
                                   int *duplicate, ch_fault_t *f)
{
    *duplicate = 0;
    char buf[sizeof(svc->cfg->stripe_webhook_secret)];
    const char *secrets[CH_MARKET_WEBHOOK_SECRETS_MAX];
    size_t nsecrets = ch__secrets(svc->cfg->stripe_webhook_secret, buf, sizeof(buf), secrets);
    if (nsecrets == 0)
        return ch_fault(f, CH_EUNAVAILABLE, NULL, "webhooks are not configured on this server (CHORUS_STRIPE_WEBHOOK_SECRET)");
    if (len > CH_MARKET_WEBHOOK_BODY_MAX)
        return ch_fault(f, CH_ETOOLARGE, NULL, "a webhook body is at most %d bytes", CH_MARKET_WEBHOOK_BODY_MAX);
    if (!signature ||
        ch_stripe_verify_signature(signature, payload, len, secrets, nsecrets, ch_now_ms() / 1000,
                                   CH_MARKET_WEBHOOK_TOLERANCE_S) != CH_OK)
        return ch_fault(f, CH_EBADSIGNATURE, "Stripe-Signature",
                        "the Stripe-Signature does not match this body with any webhook secret, or is stale");
    json_error_t jerr;
    json_t *event = memchr(payload, '\0', len) ? NULL : json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(event)) {
        ch_err_t e = event ? CH_EBADREQ : CH_EMALFORMED;
        json_decref(event);
        return ch_fault(f, e, NULL, "the body is not a JSON object (a Stripe event)");
    }
    const char *id = json_string_value(json_object_get(event, "id"));
    const char *type = json_string_value(json_object_get(event, "type"));
    json_t *created = json_object_get(event, "created");
    const char *bad = !id || !id[0] ? "id" : !type || !type[0] ? "type" : !json_is_integer(created) ? "created" : NULL;
    if (bad) {
        json_decref(event);
        return ch_fault(f, CH_EINVAL, bad, "a Stripe event has a string id and type and an integer created");
    }
    ch__hook_t h = {.id = id, .type = type, .created = json_integer_value(created), .payload = payload, .len = len,
                    .event = event};
    if (svc->webhook_writer) {
        /* Group commit (the header): answered once the batch holding it committed. */
        h.item.bytes = len + sizeof(h);
        ch_batch_writer_submit_wait(svc->webhook_writer, &h.item);
    } else {
        ch_db_conn_t *conn;
        ch_err_t err = ch_sql_begin(svc, 1, &conn);
        if (err == CH_OK)
            err = ch_sql_end(svc, conn, ch__store_apply(svc, conn, &h));
        h.err = err;
        if (err)
            ch__outcome(&h, err, NULL);
    }
    json_decref(event);
    if (h.err) {
        if (f)
            *f = h.fault;
        return h.err;
    }
    *duplicate = h.duplicate;
    return CH_OK;
}

/* ---- the group-commit writer ------------------------------------------------------------ */

static ch_err_t ch__apply_item(ch_svc_t *svc, ch_db_conn_t *conn, ch_batch_item_t *item, void *ctx)
{
    (void)ctx;
    ch__hook_t *h = CH__HOOK(item);
    ch_err_t err = ch__store_apply(svc, conn, h);
    h->err = err;
    if (err)
        ch__outcome(h, err, NULL);
    return err;
}

static void ch__fail_item(ch_batch_item_t *item, ch_err_t err, const ch_fault_t *f, void *ctx)
{
    (void)ctx;
    ch__hook_t *h = CH__HOOK(item);
    h->err = err;
    ch__outcome(h, err, f);
}

/* /metrics: the webhook writer's counters (arg: the ch_svc_t, which lives for the process). */
static void ch__render(ch_buf_t *out, void *arg)
{
    ch_svc_t *svc = arg;
    ch_batch_writer_t *w = svc->webhook_writer;
    if (!w)
        return;
    ch_batch_stats_t st;
    ch_batch_writer_stats(w, &st);
    ch_buf_printf(out,
                  "# HELP chorus_webhook_batches_total Transactions committed by the webhook writer.\n"
                  "# TYPE chorus_webhook_batches_total counter\nchorus_webhook_batches_total %llu\n"
                  "# HELP chorus_webhook_batch_events_total Webhook events carried by those transactions.\n"
                  "# TYPE chorus_webhook_batch_events_total counter\nchorus_webhook_batch_events_total %llu\n"
                  "# HELP chorus_webhook_refused_total Webhook events refused because the writer's queue was full.\n"
                  "# TYPE chorus_webhook_refused_total counter\nchorus_webhook_refused_total %llu\n"
                  "# HELP chorus_webhook_queue Webhook events queued for the writer, not yet in a batch.\n"
                  "# TYPE chorus_webhook_queue gauge\nchorus_webhook_queue %zu\n",
                  (unsigned long long)st.batches, (unsigned long long)st.items, (unsigned long long)st.refused,
                  st.queued);
}

ch_batch_writer_t *ch_market_webhook_writer_start(ch_svc_t *svc)
{
    static atomic_int rendered;
    ch_batch_spec_t spec = {.name = "webhooks",
                            .what = "event",
                            .batch_max = CH_MARKET_WEBHOOK_BATCH_MAX,
                            .queue_max = CH_MARKET_WEBHOOK_QUEUE_MAX,
                            .queue_bytes_max = CH_MARKET_WEBHOOK_QUEUE_BYTES_MAX,
                            .attempts = CH_MARKET_WEBHOOK_ATTEMPTS,
                            .apply = ch__apply_item,
                            .fail = ch__fail_item};
    ch_batch_writer_t *w = ch_batch_writer_start(svc, &spec);
    if (w && atomic_exchange(&rendered, 1) == 0)
        ch_metrics_add_renderer(ch__render, svc);
    return w;
}

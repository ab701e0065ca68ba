/* Stripe webhooks (webhook.h): verify, store once, apply, answer. The signature check is an
 * HMAC over the body and needs nothing but memory, so a stranger's forged deliveries cost
 * no database work. Handlers are found by event type in the two tables of the marketplace's
 * parts; an event of a type no table lists is stored and ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/stripe.h"
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
    ch_db_conn_t *conn;
    ch_err_t err = ch_sql_begin(svc, 1, &conn);
    if (err) {
        json_decref(event);
        return ch_fault(f, err, NULL, "the database cannot store the event now");
    }
    int64_t stored = 0;
    ch_db_param_t p[] = {CH_DB_P_TEXT(id), CH_DB_P_TEXT(type), CH_DB_P_INT(json_integer_value(created)),
                         CH_DB_P_TEXTN(payload, len), CH_DB_P_INT(ch_now_ms())};
    err = ch_sql_on(svc, conn,
                    "INSERT INTO stripe_events(id, type, created, payload, received_at) VALUES($1, $2, $3, $4, $5)"
                    " ON CONFLICT (id) DO NOTHING",
                    p, CH_NPARAMS(p), NULL, &stored);
    ch_market_event_fn fn = err == CH_OK && stored ? ch__handler_of(type) : NULL;
    if (fn && (err = fn(svc, conn, event)) != CH_OK)
        ch_log_warn("webhook: %s event %s not applied (%s): Stripe will send it again", type, id, ch_err_code(err));
    *duplicate = err == CH_OK && !stored;
    json_decref(event);
    if ((err = ch_sql_end(svc, conn, err)) != CH_OK)
        return err == CH_EUNAVAILABLE ? ch_fault(f, err, NULL, "the database cannot store the event now")
                                      : ch_fault(f, CH_EINTERNAL, NULL, "the event could not be applied; send it again");
    return CH_OK;
}

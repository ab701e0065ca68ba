/* The context every domain service receives: configuration and backends, chosen at
 * start-up by main.c. Services never know which backend implementation is behind it. */
#ifndef CH_SVC_CONTEXT_H
#define CH_SVC_CONTEXT_H

#include <stdint.h>

#include "core/config.h"
#include "core/crypto.h"
#include "store/db.h"
#include "store/kv.h"

typedef struct {
    const ch_config_t *cfg; /* borrowed, lives for the process */
    ch_db_t *db;            /* owned by main */
    ch_kv_t *kv;            /* owned by main */
    uint8_t token_key[CH_TOKEN_KEY_LEN];  /* signs access tokens */
    int local_backends; /* SQLite + in-process kv: point reads take microseconds, no network */
    struct ch_timeline *timelines; /* home timelines (store/timeline.h); owned by main */
    struct ch_hcache *hcache; /* the hydration cache (store/hcache.h); owned by main; never NULL once
                                started (NULL in unit tests that make none: every get misses) */
    struct ch_reactions_writer *reactions_writer; /* group commit (SQLite); NULL: a transaction per write */
    struct ch_batch_writer *webhook_writer; /* group commit of Stripe webhook events; NULL: a transaction each */
    struct ch_chat_writer *chat_writer; /* group commit of chat sends (SQLite); NULL: a transaction per send */
    struct ch_pwhash_pool *pwhash; /* password hashing threads (svc/auth); NULL: hash on the caller */
    struct ch_bus *bus; /* the event bus to gateway connections (store/bus.h); owned by main; NULL
                           in unit tests that make none */
    struct ch_gateway *gateway; /* the WebSocket gateway (gateway/gateway.h); owned by main; NULL
                                   without the gateway role */
    struct ch_stripe_pool *stripe; /* Stripe clients (store/stripe.h); owned by main; NULL: payments not
                                      configured (the marketplace answers 503 where it needs Stripe) */
    struct ch_health *health; /* readiness checks, start-up state (svc/health); NULL: no checks, serving */
} ch_svc_t;

/** Loads or creates the server keys: from CHORUS_JWT_SECRET when set, else from the
 * server_keys table (created once, shared by every replica). Call after migrations. */
ch_err_t ch_svc_load_keys(ch_svc_t *svc);

#endif

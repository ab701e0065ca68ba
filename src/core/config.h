/* Configuration from the environment (CHORUS_*), validated once at start-up. Every
 * variable, its default and its meaning is listed in one table (config.c) that also
 * produces `chorusd --help`. */
#ifndef CH_CORE_CONFIG_H
#define CH_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/netaddr.h"

#define CH_ROLE_API 1u
#define CH_ROLE_GATEWAY 2u
#define CH_ROLE_WORKER 4u
#define CH_ROLE_ALL (CH_ROLE_API | CH_ROLE_GATEWAY | CH_ROLE_WORKER)
#define CH_MAX_TRUSTED_PROXIES 64 /* CIDRs in CHORUS_TRUSTED_PROXIES */
#define CH_MAX_ADMIN_USERS 64     /* user ids in CHORUS_ADMIN_USERS */
/* CHORUS_FEED_REEL_EVERY and CHORUS_FEED_OON_SHARE defaults (svc/feed/mix.h). */
#define CH_CONFIG_FEED_REEL_EVERY 5
#define CH_CONFIG_FEED_OON_SHARE 30
/* CHORUS_FEED_REUSE_MS default and bound: a fresh home/reels request reuses the viewer's
 * latest ranking younger than this when nothing changed since (svc/feed/rank.c). */
#define CH_CONFIG_FEED_REUSE_MS 60000
#define CH_CONFIG_FEED_REUSE_MS_MAX 600000

/* CHORUS_KV_MAX_MEMORY: default and smallest non-zero value (the same figures as
 * CH_KV_DEFAULT_MAX_MEMORY / CH_KV_MIN_MAX_MEMORY in store/kv.h; core does not see store). */
#define CH_CONFIG_KV_MAX_MEMORY ((size_t)256 << 20)
#define CH_CONFIG_KV_MIN_MEMORY ((int64_t)16 << 20)
/* CHORUS_TIMELINE_MAX_MEMORY: default (CH_TIMELINE_DEFAULT_MAX_MEMORY in store/timeline.h)
 * and smallest non-zero value. */
#define CH_CONFIG_TIMELINE_MAX_MEMORY ((size_t)256 << 20)
#define CH_CONFIG_TIMELINE_MIN_MEMORY ((int64_t)1 << 20)
/* CHORUS_HYDRATE_CACHE_MEMORY (the in-process hydration cache, store/hcache.h): default and
 * smallest value; CHORUS_HYDRATE_TTL_MS: default and range. */
#define CH_CONFIG_HYDRATE_CACHE_MEMORY ((size_t)256 << 20)
#define CH_CONFIG_HYDRATE_CACHE_MIN_MEMORY ((int64_t)1 << 20)
#define CH_CONFIG_HYDRATE_TTL_MS 600000
#define CH_CONFIG_HYDRATE_TTL_MIN_MS 1000
#define CH_CONFIG_HYDRATE_TTL_MAX_MS (86400LL * 1000)
/* The cluster-mode L1 in front of Redis (CHORUS_HYDRATE_L1_*, store/hcache.h): defaults. */
#define CH_CONFIG_HYDRATE_L1_MEMORY ((int64_t)64 << 20)
#define CH_CONFIG_HYDRATE_L1_ENTRIES 262144
#define CH_CONFIG_HYDRATE_L1_TTL_MS 5000
/* CHORUS_KV_PROBE_INTERVAL default (CH_KV_DEFAULT_PROBE_INTERVAL_MS in store/kv.h). */
#define CH_CONFIG_KV_PROBE_INTERVAL_MS 1000

/* Default age (seconds) after which consumed outbox and event-log rows are deleted (7 days),
 * and the largest accepted (10 years). */
#define CH_RETENTION_DEFAULT_S (7 * 86400LL)
#define CH_RETENTION_MAX_S (3650 * 86400LL)

/* CHORUS_REFRESH_REUSE_INTERVAL: default and largest accepted, seconds. */
#define CH_REFRESH_REUSE_DEFAULT_S 30
#define CH_REFRESH_REUSE_MAX_S 300
/* CHORUS_REQUEST_TIMEOUT and CHORUS_SHUTDOWN_GRACE defaults (ms); the grace stays below
 * Kubernetes' default terminationGracePeriodSeconds (30 s). */
#define CH_CONFIG_REQUEST_TIMEOUT_MS 5000
#define CH_CONFIG_SHUTDOWN_GRACE_MS 25000

/* CHORUS_FEED_* defaults (the same figures as CH_FEED_DEFAULT_* in svc/feed/policy.h; core
 * does not see svc). feed_mode numbers are policy.h's CH_FEED_MODE_*. */
#define CH_CONFIG_FEED_CELEBRITY_FOLLOWERS 10000
#define CH_CONFIG_FEED_PUSH_COST 1.0
#define CH_CONFIG_FEED_PULL_COST 10.0
/* CHORUS_FEED_PULL_AUTHORS default and maximum (CH_FEED_PULL_AUTHORS_MAX, svc/feed/pullset.h). */
#define CH_CONFIG_FEED_PULL_AUTHORS 512
#define CH_CONFIG_FEED_MODE_HYBRID 0
#define CH_CONFIG_FEED_MODE_PUSH 1
#define CH_CONFIG_FEED_MODE_PULL 2

/* CHORUS_CONSUMER_WINDOW default (CH_CONSUMER_WINDOW_MS, svc/worker/consumer.h). */
#define CH_CONFIG_CONSUMER_WINDOW_MS 30000
/* CHORUS_RATE_LIMIT_WINDOW default: the limits are "per minute"; tests shorten it. */
#define CH_CONFIG_RATE_LIMIT_WINDOW_MS 60000
/** Default of CHORUS_CHAT_WRITER_QUEUE_BYTES: bytes of chat sends queued for the writer (64 MiB). */
#define CH_CONFIG_CHAT_WRITER_QUEUE_BYTES (64LL << 20)

typedef struct {
    char listen_host[256];
    uint16_t listen_port;   /* 0: the kernel picks one (ch_server_port tells which) */
    char port_file[1024];   /* "" = none; the bound port is written there once listening */
    char data_dir[1024];
    char db_url[2048];      /* "sqlite:PATH" or "postgres://..." */
    int64_t db_statement_timeout_ms; /* PostgreSQL statement deadline; 0 = none */
    unsigned db_pool_size;           /* PostgreSQL connections at most */
    int64_t db_pool_wait_ms;         /* wait for a free connection before 503 */
    int64_t request_timeout_ms;      /* a request's deadline, from its arrival */
    size_t queue_max;                /* requests waiting for a worker thread at most */
    int64_t shutdown_grace_ms;       /* SIGTERM to exit, whatever the backends do */
    char redis_url[1024];   /* "" = in-process */
    char clickhouse_url[1024]; /* "" = none; http://host:port[/database] */
    unsigned threads;       /* event-loop threads */
    unsigned workers;       /* blocking worker threads */
    unsigned roles;         /* CH_ROLE_* bits */
    unsigned node_id;
    char jwt_secret[256];   /* "" = generated once and kept in the database */
    int64_t access_ttl_s;
    int64_t refresh_ttl_s;
    int64_t refresh_reuse_s; /* a used refresh token returns its successor this long (0 = never) */
    int64_t rate_limit_user; /* writes per minute per user */
    int64_t rate_limit_ip;   /* writes per minute per client address */
    int64_t rate_limit_reactions; /* reaction changes per minute per user */
    int64_t rate_limit_comments;  /* comments and replies per minute per user */
    int64_t rate_limit_window_ms; /* the window all four limits above count in (a minute) */
    int64_t consumer_window_ms;   /* durable consumers' watermark window (svc/worker/consumer.h) */
    int64_t rate_limit_messages;  /* chat messages per minute per user */
    int64_t rate_limit_typing;    /* typing events fanned out per rate_limit_window_ms per user */
    int64_t chat_max_conversations; /* conversations a user may be a member of */
    int64_t chat_writer_queue_bytes; /* bytes of sends queued for the chat writer (svc/chat/send_writer.h) */
    int chat_group_commit;        /* 1: chat sends go through the group-commit writer; 0: a transaction each;
                                     -1 (unset): 1 on SQLite, 0 on PostgreSQL */
    int64_t presence_group_max;   /* presence events go through conversations of at most this many members */
    int64_t login_max_failures;        /* per (handle, address) before backoff */
    int64_t login_window_s;            /* how long failures are remembered */
    int64_t login_ip_max_failures;     /* per address across handles */
    int64_t login_handle_max_failures; /* per handle across addresses before it is slowed */
    int64_t story_ttl_s;     /* how long a story stays visible after it is posted */
    size_t kv_max_memory;    /* in-process kv bound, bytes (0 = none) */
    int64_t kv_probe_interval_ms; /* Redis: health probe period; fail-fast while down */
    size_t timeline_max_memory; /* in-process home timelines bound, bytes (0 = none) */
    size_t hydrate_cache_memory; /* in-process hydration cache bound, bytes */
    int64_t hydrate_ttl_ms;      /* hydration cache entry lifetime (both drivers) */
    size_t hydrate_l1_memory;    /* cluster mode: in-process L1 bound, bytes (0 = no L1) */
    size_t hydrate_l1_entries;   /* cluster mode: in-process L1 bound, entries */
    int64_t hydrate_l1_ttl_ms;   /* cluster mode: L1 entry lifetime (the safety net) */
    int64_t trending_refresh_ms; /* trending is recomputed at most this often (0 = each call) */
    int64_t feed_popular_refresh_ms; /* the feed's popular top-K likewise (svc/feed/sources_popular.c) */
    int64_t hashtag_scan_max;    /* hashtag rows a page of a tag's items examines at most */
    int64_t retention_outbox_s; /* outbox rows older than this go once consumed; 0 = keep */
    int64_t retention_events_s; /* engagement_events likewise (and shipped, with ClickHouse) */
    int64_t retention_interval_s; /* pause between two retention sweeps */
    int64_t feed_celebrity_followers; /* authors with this many followers are pulled only (0 = never) */
    double feed_push_cost;            /* fan-out policy costs (svc/feed/policy.h) */
    double feed_pull_cost;
    int feed_mode;                    /* CH_CONFIG_FEED_MODE_*: hybrid, push-all, pull-all */
    int64_t feed_pull_authors;        /* non-celebrity followees one read pulls at most */
    uint64_t pwhash_opslimit;
    size_t pwhash_memlimit;
    size_t pwhash_max_memory; /* budget of concurrent hashes: concurrency = it / memlimit */
    size_t pwhash_queue;      /* hashes waiting beyond those running before 503 overloaded */
    int log_level; /* ch_log_level_t */
    size_t log_buffer; /* bytes of log lines each thread may buffer for the writer */
    /* HTTP edge */
    int http2;                 /* serve cleartext HTTP/2 (h2c upgrade, prior knowledge) */
    unsigned max_conn_per_ip;  /* open connections per client address */
    unsigned max_connections;  /* open connections in all; 0 = from the fd limit */
    /* WebSocket gateway (gateway role) */
    int64_t ws_heartbeat_ms;     /* between server pings; silent for 2 of them: closed */
    unsigned ws_max_per_user;    /* connections per user on this node */
    unsigned ws_max_connections; /* connections on this node */
    size_t ws_output_max;        /* bytes queued per connection before 4008 */
    int64_t ws_reorder_hold_ms;  /* a message.new ahead of a device's last seq waits this long (gateway/ws_order.c) */
    int64_t ws_close_grace_ms;   /* a close frame not answered by then: the socket is dropped */
    ch_cidr_t trusted_proxies[CH_MAX_TRUSTED_PROXIES]; /* whose X-Forwarded-For is believed */
    size_t ntrusted_proxies;
    /* feed ranking (svc/feed/rank*) */
    char feed_weights_path[1024]; /* "" = built-in weights */
    char feed_model_path[1024];   /* "" = none; a linear/logistic model file wins over the weights */
    int64_t feed_reel_every;      /* at least one reel in every N items when reels exist; 0 = no quota */
    int64_t feed_oon_share;       /* out-of-network items at most this % of a page (enough in-network supply) */
    int64_t feed_reuse_ms;        /* a fresh request reuses a ranking younger than this (0 = never) */
    /* marketplace (svc/market, store/stripe.h) */
    char stripe_api[512];            /* Stripe's API base URL (tests: the local double) */
    char stripe_secret_key[256];     /* "" = the marketplace's payments are not configured (503) */
    char stripe_webhook_secret[1024]; /* comma list of webhook secrets (more than one while rolling) */
    int64_t stripe_timeout_ms;       /* one Stripe request's deadline */
    int64_t stripe_max_retries;      /* retries on 429/5xx/network errors */
    int64_t market_fee_bps;          /* platform fee, basis points of the price */
    int64_t market_auto_confirm_s;   /* a shipped order confirms itself after this without dispute */
    int64_t market_payment_ttl_s;    /* an order unpaid this long is canceled */
    char market_onboarding_url[512]; /* sellers' onboarding pages: Account Links return/refresh here */
    int64_t market_reconcile_interval_s; /* between periodic reconciliations of the ledger with Stripe */
    int64_t market_reconcile_overlap_s;  /* a run reaches back this far before the last complete run's start */
    int64_t market_reconcile_page;       /* balance transactions per page (Stripe's limit) */
    int64_t market_reconcile_max_pages;  /* pages per run; more: the run is incomplete */
    char market_currencies[256];         /* comma list of accepted ISO currencies (lower case) */
    uint64_t admin_users[CH_MAX_ADMIN_USERS]; /* always hold the admin role (svc/auth/roles.h) */
    size_t nadmin_users;
} ch_config_t;

/** Fills cfg from the environment (getenv). On a bad value returns -1 and writes a message
 * naming the variable into err; 0 on success. */
int ch_config_load(ch_config_t *cfg, char *err, size_t errlen);
/** Parses a CHORUS_ROLES value ("api,gateway,worker" or "all") into role bits; -1 if bad. */
int ch_config_parse_roles(const char *s, unsigned *roles_out);
/** Parses "host:port" (host may be "[v6]"); -1 if bad. host gets at most hostlen-1 bytes. */
int ch_config_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port_out);
/** Whether user is listed in CHORUS_ADMIN_USERS. */
int ch_config_is_admin(const ch_config_t *cfg, uint64_t user);
/** Prints every variable with its default and meaning. */
void ch_config_print_help(FILE *out);

#endif

#include "core/config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "core/log.h"
#include "core/logq.h"

/* ---- the table of variables ---------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *default_text; /* shown in --help */
    const char *help;
} ch__config_var_t;

static const ch__config_var_t ch__config_vars[] = {
    {"CHORUS_LISTEN", "127.0.0.1:8080", "address to serve HTTP on (host:port, [v6]:port; port 0: one the kernel picks)"},
    {"CHORUS_PORT_FILE", "(unset: none)", "file the bound HTTP port is written to (decimal, newline) once listening; "
                                          "for CHORUS_LISTEN=host:0"},
    {"CHORUS_DATA_DIR", "./var", "directory for embedded data (SQLite database)"},
    {"CHORUS_DB", "sqlite:$CHORUS_DATA_DIR/chorus.db", "database: sqlite:PATH or postgres://user@host:port/db"},
    {"CHORUS_DB_STATEMENT_TIMEOUT", "5000", "PostgreSQL: ms a statement may run before it is cancelled and the "
                                            "request answers 503 (0: none; migrations and seed run without)"},
    {"CHORUS_DB_POOL_SIZE", "64", "PostgreSQL: connections open at most per process (1-10000)"},
    {"CHORUS_DB_POOL_WAIT", "2000", "PostgreSQL: ms to wait for a free connection before answering 503 (0-60000)"},
    {"CHORUS_REQUEST_TIMEOUT", "5000", "ms a request may take from its arrival: work still queued then is answered 503 "
                                       "without running, and its database waits end then (100-600000)"},
    {"CHORUS_QUEUE_MAX", "64 x CHORUS_WORKERS", "requests waiting for a worker thread at most; more are answered 503 "
                                                "overloaded at once (1-1000000)"},
    {"CHORUS_SHUTDOWN_GRACE", "25000", "ms from SIGTERM to exit whatever the backends do: drain, then give up "
                                       "(a watchdog exits with status 70 when forced; 1000-3600000)"},
    {"CHORUS_REDIS", "(unset: in-process)", "Redis for cache, rate limits, sessions: redis://host:port[/db]"},
    {"CHORUS_CLICKHOUSE", "(unset: none)", "ClickHouse HTTP interface the event log is shipped to: http://host:port[/database]"},
    {"CHORUS_THREADS", "number of cores", "event-loop threads (1-256)"},
    {"CHORUS_WORKERS", "16", "worker threads for blocking work: SQL, Redis (1-1024); password hashing has its own"},
    {"CHORUS_ROLES", "api,gateway,worker", "roles this process runs (comma list, or all)"},
    {"CHORUS_NODE_ID", "0", "node id stamped into generated ids (0-1023), unique per replica"},
    {"CHORUS_JWT_SECRET", "(unset: kept in the database)", "HS256 key for access tokens (>= 32 bytes)"},
    {"CHORUS_ACCESS_TTL", "900", "access token lifetime, seconds"},
    {"CHORUS_REFRESH_TTL", "2592000", "refresh token lifetime, seconds (30 days)"},
    {"CHORUS_REFRESH_REUSE_INTERVAL", "30", "seconds after a refresh in which the same refresh token returns the "
                                            "same new one (a retry); reuse later revokes the session (0-300; 0 = reuse always revokes)"},
    {"CHORUS_RATE_LIMIT_USER", "600", "writes per minute per user"},
    {"CHORUS_RATE_LIMIT_IP", "6000", "writes per minute per client address"},
    {"CHORUS_RATE_LIMIT_REACTIONS", "300", "reaction changes per minute per user"},
    {"CHORUS_RATE_LIMIT_COMMENTS", "60", "comments and replies per minute per user"},
    {"CHORUS_CONSUMER_WINDOW", "30000", "ms the durable consumers' watermark stays behind now and behind the oldest open "
                                        "PostgreSQL transaction: a margin for the replicas' clocks (1000-600000)"},
    {"CHORUS_RATE_LIMIT_WINDOW", "60000", "ms of the write, reaction and comment rate-limit windows: the limits above "
                                          "count per window (1000-3600000)"},
    {"CHORUS_RATE_LIMIT_MESSAGES", "600", "chat messages sent per CHORUS_RATE_LIMIT_WINDOW per user (REST and WebSocket; retries not counted)"},
    {"CHORUS_RATE_LIMIT_TYPING", "120", "typing events fanned out per CHORUS_RATE_LIMIT_WINDOW per user, past the 2 s throttle per "
                                        "conversation (1-1000000); more answer 429"},
    {"CHORUS_CHAT_WRITER_QUEUE_BYTES", "67108864", "bytes of chat sends (text, client_msg_id, bookkeeping) waiting for the "
                                                 "chat writer's commit (4096-4294967296); past it a send answers 503 overloaded"},
    {"CHORUS_CHAT_GROUP_COMMIT", "(unset: 1 on SQLite, 0 on PostgreSQL)",
     "1: chat sends share transactions through one writer thread (group commit); 0: a transaction per send on a worker"},
    {"CHORUS_CHAT_MAX_CONVERSATIONS", "10000", "conversations a user may be a member of (1-1000000); past it creates and adds answer 409"},
    {"CHORUS_PRESENCE_GROUP_MAX", "100", "presence events reach conversation peers through direct conversations and groups of at "
                                         "most this many members (2-1024); larger groups read presence on demand"},
    {"CHORUS_LOGIN_MAX_FAILURES", "5", "failed logins per handle and client address before exponential backoff (429)"},
    {"CHORUS_LOGIN_WINDOW", "900", "how long failed logins are remembered, and the longest backoff, seconds"},
    {"CHORUS_LOGIN_IP_MAX_FAILURES", "100", "failed logins per client address, any handle, before 429 for the window"},
    {"CHORUS_LOGIN_HANDLE_MAX_FAILURES", "1000", "failed logins per handle, any address, before it is slowed (1/s)"},
    {"CHORUS_STORY_TTL", "86400", "how long a story stays visible after it is posted, seconds (1-604800)"},
    {"CHORUS_KV_MAX_MEMORY", "268435456", "in-process kv memory bound, bytes (0 = none, else >= 16777216); LRU eviction past it"},
    {"CHORUS_TIMELINE_MAX_MEMORY", "268435456", "in-process home timelines memory bound, bytes (0 = none, else >= 1048576); the least recently read are evicted past it (rebuilt at their next read)"},
    {"CHORUS_HYDRATE_CACHE_MEMORY", "268435456", "in-process hydration cache bound (item, user and relation facts), bytes (>= 1048576); least recently used evicted past it"},
    {"CHORUS_HYDRATE_L1_MEMORY", "67108864", "cluster mode: in-process L1 in front of the Redis hydration cache, bytes (0 = none, else >= 1048576); invalidated across nodes by Redis pub/sub"},
    {"CHORUS_HYDRATE_L1_ENTRIES", "262144", "cluster mode: most entries in the in-process L1 (>= 1024)"},
    {"CHORUS_HYDRATE_L1_TTL_MS", "5000", "cluster mode: L1 entry lifetime, ms (100-600000): bounds staleness should an invalidation be lost while the channel held"},
    {"CHORUS_HYDRATE_TTL_MS", "600000", "hydration cache entry lifetime, ms (1000-86400000), in process and in Redis: bounds how stale a fact written by another process without a forget can be"},
    {"CHORUS_KV_PROBE_INTERVAL", "1000", "Redis: ms between health probes; while it is down calls fail at once and fall back (50-60000)"},
    {"CHORUS_TRENDING_REFRESH_MS", "5000", "trending hashtags are recomputed at most this often, ms (0 = every call)"},
    {"CHORUS_FEED_POPULAR_REFRESH_MS", "5000", "the feed's popular items are recomputed at most this often, ms (0 = every call)"},
    {"CHORUS_HASHTAG_SCAN_MAX", "1000", "hashtag rows one page of a tag's items examines at most (10-100000)"},
    {"CHORUS_RETENTION_OUTBOX", "604800", "outbox rows every consumer has passed are deleted after this many seconds (0 = keep)"},
    {"CHORUS_RETENTION_EVENTS", "604800", "engagement_events rows likewise (and only once shipped, when CHORUS_CLICKHOUSE is set); 0 = keep"},
    {"CHORUS_RETENTION_INTERVAL", "60", "seconds between two retention sweeps of the worker role (1-86400)"},
    {"CHORUS_FEED_CELEBRITY_FOLLOWERS", "10000", "authors with at least this many followers are never fanned out: followers pull their items at read (0 = no such rule)"},
    {"CHORUS_FEED_PUSH_COST", "1", "fan-out policy: cost of one home-timeline insert (0.001-1000000)"},
    {"CHORUS_FEED_PULL_COST", "10", "fan-out policy: cost of pulling one author's items at one read (0.001-1000000); push iff post rate x push cost <= read rate x pull cost"},
    {"CHORUS_FEED_PULL_AUTHORS", "512", "non-celebrity followees one read pulls at most (1-512): those who posted most recently; celebrities are pulled in SQL without this bound"},
    {"CHORUS_FEED_FANOUT", "hybrid", "fan-out mode: hybrid (per author and follower, Feeding Frenzy), push (every item to every active follower) or pull (none, read time only)"},
    {"CHORUS_PWHASH_OPSLIMIT", "2", "Argon2id passes (libsodium interactive)"},
    {"CHORUS_PWHASH_MEMLIMIT", "67108864", "Argon2id memory in bytes (libsodium interactive)"},
    {"CHORUS_PWHASH_MAX_MEMORY", "134217728", "memory for concurrent password hashes: budget / memlimit run at once (1 to cores - 1)"},
    {"CHORUS_PWHASH_QUEUE", "8", "password hashes that may wait for a hashing thread before 503 overloaded (0-1024)"},
    {"CHORUS_LOG_LEVEL", "info", "debug, info, warn or error (info logs every request)"},
    {"CHORUS_LOG_BUFFER", "262144", "log buffer per thread, bytes (16384-67108864); lines beyond it are dropped (chorus_log_dropped_total) while stderr does not keep up"},
    {"CHORUS_HTTP2", "off", "cleartext HTTP/2 (h2c): off or on; h2o 2.2.5 lacks the rapid-reset fixes, terminate HTTP/2 at a proxy"},
    {"CHORUS_WS_HEARTBEAT_MS", "15000", "gateway: ms between the server's WebSocket pings; a client silent for 2 of them is closed (100-600000)"},
    {"CHORUS_WS_MAX_PER_USER", "16", "gateway: WebSocket connections (devices) per user on this node (1-10000)"},
    {"CHORUS_WS_MAX_CONNECTIONS", "200000", "gateway: WebSocket connections on this node in all (1-10000000)"},
    {"CHORUS_WS_OUTPUT_MAX", "262144", "gateway: bytes queued for one WebSocket client at most; a slower reader is closed with 4008 (4096-67108864)"},
    {"CHORUS_WS_REORDER_HOLD_MS", "2000", "gateway: ms a message.new ahead of a device's last seq of its conversation waits for the "
                                          "seqs before it, then goes with a gap marker (0-10000; 0 = no wait)"},
    {"CHORUS_WS_CLOSE_GRACE_MS", "2000", "gateway: ms a client has to answer the server's close frame before its socket is dropped (100-600000)"},
    {"CHORUS_MAX_CONN_PER_IP", "256", "open connections per client address, IPv6 per /64 (0: no cap; trusted proxies are exempt)"},
    {"CHORUS_MAX_CONNECTIONS", "fd limit - 512", "open connections in all (capped below the fd limit)"},
    {"CHORUS_TRUSTED_PROXIES", "(unset: none)", "comma list of CIDRs whose X-Forwarded-For names the client address"},
    {"CHORUS_FEED_WEIGHTS", "(unset: built in)", "file of feed ranking weights, 'feature = number' per line (reread on SIGHUP)"},
    {"CHORUS_FEED_MODEL", "(unset: none)", "linear/logistic feed model, JSON {type, bias, weights}; wins over the weights (reread on SIGHUP)"},
    {"CHORUS_FEED_REEL_EVERY", "5", "home feed: at least one reel in every N items when reels exist (0 = no quota, 2-100)"},
    {"CHORUS_FEED_OON_SHARE", "30", "home feed: out-of-network items at most this % of a page when in-network supply suffices (0-100)"},
    {"CHORUS_FEED_REUSE_MS", "60000", "ranked feeds: a request without cursor reuses the viewer's ranking younger than this when nothing changed since (0 = rank every time; at most 600000)"},
    {"CHORUS_STRIPE_API", "https://api.stripe.com", "marketplace: Stripe's API base URL (http(s)://host[:port]; tests point it at a local Stripe-compatible server)"},
    {"CHORUS_STRIPE_SECRET_KEY", "(unset: payments off)", "marketplace: Stripe secret key (sk_...); unset: seller onboarding and orders answer 503"},
    {"CHORUS_STRIPE_WEBHOOK_SECRET", "(unset: webhooks refused)", "marketplace: comma list of webhook signing secrets (whsec_...; two while rolling)"},
    {"CHORUS_STRIPE_TIMEOUT", "10000", "marketplace: ms one Stripe request may take (100-120000)"},
    {"CHORUS_STRIPE_MAX_RETRIES", "4", "marketplace: retries of a Stripe request on 429, 5xx or a network error (0-10)"},
    {"CHORUS_MARKET_FEE_BPS", "1000", "marketplace: platform fee in basis points of the price (0-5000)"},
    {"CHORUS_MARKET_PAYMENT_TTL", "3600", "marketplace: seconds an order may wait for its payment before it is canceled (1-604800)"},
    {"CHORUS_MARKET_AUTO_CONFIRM", "604800", "marketplace: seconds after shipping an order confirms itself without a dispute (1-7776000)"},
    {"CHORUS_MARKET_ONBOARDING_URL", "https://localhost/seller/onboarding", "marketplace: the app page Stripe's onboarding returns to (?step=return) or sends an expired link to (?step=refresh), unless POST /v1/me/seller names its own"},
    {"CHORUS_MARKET_RECONCILE_INTERVAL", "3600", "marketplace: seconds between reconciliations of the ledger with Stripe (10-604800)"},
    {"CHORUS_MARKET_RECONCILE_OVERLAP", "3600", "marketplace: seconds a reconciliation reaches back before the start of the last complete run (0-604800)"},
    {"CHORUS_MARKET_RECONCILE_PAGE", "100", "marketplace: balance transactions a reconciliation asks Stripe for per page (1-100)"},
    {"CHORUS_MARKET_RECONCILE_MAX_PAGES", "1000", "marketplace: pages one reconciliation reads at most; a longer run is reported incomplete (1-100000)"},
    {"CHORUS_MARKET_CURRENCIES", "usd", "marketplace: comma list of ISO 4217 currencies listings and orders may use (the platform's settlement currencies); others are refused with 422"},
    {"CHORUS_ADMIN_USERS", "(unset: none)", "comma list of user ids that always hold the admin role (the bootstrap: they grant it to others)"},
};

void ch_config_print_help(FILE *out)
{
    fprintf(out, "usage: chorusd [serve | migrate | routes | seed [--users N] [--seed S] |\n"
                 "                repair-counters [--type T --id N]] [--roles=LIST]\n\n"
                 "  serve    run the server (default)\n"
                 "  migrate  apply database migrations and exit\n"
                 "  routes   print the HTTP route table and exit\n"
                 "  seed     create a deterministic demo community (default 1000 users, seed 42);\n"
                 "           --profile feedlab [--celebrities K] [--celebrity-followers F] [--follows M]\n"
                 "           [--rates FILE]: the feed lab's community instead (bench/feedlab)\n"
                 "  repair-counters  recompute engagement counters from the rows (every target, or one)\n\n"
                 "Configuration (environment variables):\n");
    for (size_t i = 0; i < sizeof(ch__config_vars) / sizeof(ch__config_vars[0]); i++)
        fprintf(out, "  %-26s %s\n  %-26s   default: %s\n", ch__config_vars[i].name, ch__config_vars[i].help, "",
                ch__config_vars[i].default_text);
}

/* Defaults of the CHORUS_DB_* limits (the same as store/db.h's CH_DB_OPTIONS_DEFAULT). */
#define CH__DB_STATEMENT_TIMEOUT_MS 5000
#define CH__DB_POOL_SIZE 64
#define CH__DB_POOL_WAIT_MS 2000

/* ---- parsers --------------------------------------------------------------------------- */

static int ch__fail(char *err, size_t errlen, const char *var, const char *value, const char *expected)
{
    snprintf(err, errlen, "%s: expected %s, got '%s'", var, expected, value);
    return -1;
}

/* Reads an integer variable in [min, max]; missing or empty keeps *out. */
static int ch__env_int(const char *var, int64_t min, int64_t max, int64_t *out, char *err, size_t errlen)
{
    const char *v = getenv(var);
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || n < min || n > max) {
        char expected[96];
        snprintf(expected, sizeof(expected), "an integer from %lld to %lld", (long long)min, (long long)max);
        return ch__fail(err, errlen, var, v, expected);
    }
    *out = n;
    return 0;
}

static int ch__env_str(const char *var, char *out, size_t outlen, char *err, size_t errlen)
{
    const char *v = getenv(var);
    if (!v)
        return 0;
    if (strlen(v) >= outlen)
        return ch__fail(err, errlen, var, "(too long)", "a shorter value");
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

int ch_config_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port_out)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= hostlen)
        return -1;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || errno || *end || port < 0 || port > 65535)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port_out = (uint16_t)port;
    return 0;
}

int ch_config_parse_roles(const char *s, unsigned *roles_out)
{
    unsigned roles = 0;
    const char *p = s;
    if (strcmp(s, "all") == 0) {
        *roles_out = CH_ROLE_ALL;
        return 0;
    }
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == 3 && strncmp(p, "api", 3) == 0)
            roles |= CH_ROLE_API;
        else if (n == 7 && strncmp(p, "gateway", 7) == 0)
            roles |= CH_ROLE_GATEWAY;
        else if (n == 6 && strncmp(p, "worker", 6) == 0)
            roles |= CH_ROLE_WORKER;
        else
            return -1;
        p += n;
        if (*p == ',' && *++p == '\0')
            return -1;
    }
    if (!roles)
        return -1;
    *roles_out = roles;
    return 0;
}

/* Whether s is http(s)://host[:port][/database] (database: letters, digits, _). */
static int ch__clickhouse_url_ok(const char *s)
{
    size_t skip = strncmp(s, "http://", 7) == 0 ? 7 : strncmp(s, "https://", 8) == 0 ? 8 : 0;
    if (!skip || !s[skip] || s[skip] == '/' || strpbrk(s, "?#@ "))
        return 0;
    const char *db = strchr(s + skip, '/');
    for (const char *c = db ? db + 1 : ""; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return 0;
    return 1;
}

/* Reads a decimal variable in [min, max]; missing or empty keeps *out. */
static int ch__env_double(const char *var, double min, double max, double *out, char *err, size_t errlen)
{
    const char *v = getenv(var);
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || !(d >= min && d <= max)) {
        char expected[96];
        snprintf(expected, sizeof(expected), "a number from %g to %g", min, max);
        return ch__fail(err, errlen, var, v, expected);
    }
    *out = d;
    return 0;
}

/* The fan-out policy's settings (CHORUS_FEED_*). */
static int ch__load_feed(ch_config_t *cfg, char *err, size_t errlen)
{
    cfg->feed_celebrity_followers = CH_CONFIG_FEED_CELEBRITY_FOLLOWERS;
    cfg->feed_push_cost = CH_CONFIG_FEED_PUSH_COST;
    cfg->feed_pull_cost = CH_CONFIG_FEED_PULL_COST;
    cfg->feed_mode = CH_CONFIG_FEED_MODE_HYBRID;
    cfg->feed_pull_authors = CH_CONFIG_FEED_PULL_AUTHORS;
    if (ch__env_int("CHORUS_FEED_CELEBRITY_FOLLOWERS", 0, INT64_MAX, &cfg->feed_celebrity_followers, err, errlen) ||
        ch__env_int("CHORUS_FEED_PULL_AUTHORS", 1, CH_CONFIG_FEED_PULL_AUTHORS, &cfg->feed_pull_authors, err, errlen) ||
        ch__env_double("CHORUS_FEED_PUSH_COST", 0.001, 1e6, &cfg->feed_push_cost, err, errlen) ||
        ch__env_double("CHORUS_FEED_PULL_COST", 0.001, 1e6, &cfg->feed_pull_cost, err, errlen))
        return -1;
    const char *mode = getenv("CHORUS_FEED_FANOUT");
    if (!mode || !*mode || strcmp(mode, "hybrid") == 0)
        return 0;
    if (strcmp(mode, "push") == 0)
        cfg->feed_mode = CH_CONFIG_FEED_MODE_PUSH;
    else if (strcmp(mode, "pull") == 0)
        cfg->feed_mode = CH_CONFIG_FEED_MODE_PULL;
    else
        return ch__fail(err, errlen, "CHORUS_FEED_FANOUT", mode, "hybrid, push or pull");
    return 0;
}

/* ---- loading --------------------------------------------------------------------------- */

/* The feed's settings (model files are read by svc/feed/rank_model.c at start). */
static int ch__config_feed(ch_config_t *cfg, char *err, size_t errlen)
{
    int64_t reel_every = CH_CONFIG_FEED_REEL_EVERY, oon = CH_CONFIG_FEED_OON_SHARE, reuse = CH_CONFIG_FEED_REUSE_MS;
    if (ch__env_str("CHORUS_FEED_WEIGHTS", cfg->feed_weights_path, sizeof(cfg->feed_weights_path), err, errlen) ||
        ch__env_str("CHORUS_FEED_MODEL", cfg->feed_model_path, sizeof(cfg->feed_model_path), err, errlen) ||
        ch__env_int("CHORUS_FEED_REEL_EVERY", 0, 100, &reel_every, err, errlen) ||
        ch__env_int("CHORUS_FEED_OON_SHARE", 0, 100, &oon, err, errlen) ||
        ch__env_int("CHORUS_FEED_REUSE_MS", 0, CH_CONFIG_FEED_REUSE_MS_MAX, &reuse, err, errlen))
        return -1;
    if (reel_every == 1)
        return ch__fail(err, errlen, "CHORUS_FEED_REEL_EVERY", getenv("CHORUS_FEED_REEL_EVERY"), "0 or 2 to 100");
    cfg->feed_reel_every = reel_every;
    cfg->feed_oon_share = oon;
    cfg->feed_reuse_ms = reuse;
    const char *admins = getenv("CHORUS_ADMIN_USERS");
    cfg->nadmin_users = 0;
    for (const char *p = admins; p && *p;) {
        char *end;
        errno = 0;
        unsigned long long id = *p >= '0' && *p <= '9' ? strtoull(p, &end, 10) : 0;
        if (!id || errno || id > INT64_MAX || (*end && *end != ',') || cfg->nadmin_users == CH_MAX_ADMIN_USERS)
            return ch__fail(err, errlen, "CHORUS_ADMIN_USERS", admins, "a comma list of at most 64 user ids");
        cfg->admin_users[cfg->nadmin_users++] = id;
        p = *end ? end + 1 : end;
    }
    return 0;
}

int ch_config_is_admin(const ch_config_t *cfg, uint64_t user)
{
    for (size_t i = 0; user && i < cfg->nadmin_users; i++)
        if (cfg->admin_users[i] == user)
            return 1;
    return 0;
}

int ch_config_load(ch_config_t *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t threads = cores > 0 ? cores : 1, workers = 16, node = 0;
    int64_t access = 900, refresh = 30 * 86400, rl_user = 600, rl_ip = 6000, lmax = 5, lwin = 900, story_ttl = 86400;
    int64_t lmax_ip = 100, lmax_handle = 1000, pw_budget = 128LL << 20, pw_queue = 8;
    int64_t rl_react = 300, rl_comments = 60, rl_messages = 600, chat_max_convs = 10000, chat_queue_bytes = CH_CONFIG_CHAT_WRITER_QUEUE_BYTES, chat_group_commit = -1, presence_group_max = 100, conn_per_ip = 256, max_conns = 0;
    int64_t rl_window = CH_CONFIG_RATE_LIMIT_WINDOW_MS, cons_window = CH_CONFIG_CONSUMER_WINDOW_MS;
    int64_t ws_hb = 15000, ws_per_user = 16, ws_max = 200000, ws_out = 256 * 1024, ws_hold = 2000, rl_typing = 120;
    int64_t ws_close_grace = 2000;
    int64_t kv_max = (int64_t)CH_CONFIG_KV_MAX_MEMORY, trending_ms = 5000, tag_scan = 1000;
    int64_t popular_ms = 5000;
    int64_t kv_probe = CH_CONFIG_KV_PROBE_INTERVAL_MS;
    int64_t tl_max = (int64_t)CH_CONFIG_TIMELINE_MAX_MEMORY;
    int64_t hc_mem = (int64_t)CH_CONFIG_HYDRATE_CACHE_MEMORY, hc_ttl = CH_CONFIG_HYDRATE_TTL_MS;
    int64_t l1_mem = CH_CONFIG_HYDRATE_L1_MEMORY, l1_entries = CH_CONFIG_HYDRATE_L1_ENTRIES;
    int64_t l1_ttl = CH_CONFIG_HYDRATE_L1_TTL_MS;
    int64_t ret_outbox = CH_RETENTION_DEFAULT_S, ret_events = CH_RETENTION_DEFAULT_S, ret_interval = 60;
    int64_t ops = crypto_pwhash_OPSLIMIT_INTERACTIVE, mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;

    const char *listen = getenv("CHORUS_LISTEN");
    if (!listen || !*listen)
        listen = "127.0.0.1:8080";
    if (ch_config_parse_listen(listen, cfg->listen_host, sizeof(cfg->listen_host), &cfg->listen_port) != 0)
        return ch__fail(err, errlen, "CHORUS_LISTEN", listen, "host:port");

    if (ch__env_str("CHORUS_PORT_FILE", cfg->port_file, sizeof(cfg->port_file), err, errlen))
        return -1;

    strcpy(cfg->data_dir, "./var");
    if (ch__env_str("CHORUS_DATA_DIR", cfg->data_dir, sizeof(cfg->data_dir), err, errlen))
        return -1;
    if (!cfg->data_dir[0])
        return ch__fail(err, errlen, "CHORUS_DATA_DIR", "", "a directory");

    const char *db = getenv("CHORUS_DB");
    if (db && *db) {
        if (strncmp(db, "sqlite:", 7) != 0 && strncmp(db, "postgres://", 11) != 0 &&
            strncmp(db, "postgresql://", 13) != 0)
            return ch__fail(err, errlen, "CHORUS_DB", db, "sqlite:PATH or postgres://...");
        if (strncmp(db, "sqlite:", 7) == 0 && db[7] == '\0')
            return ch__fail(err, errlen, "CHORUS_DB", db, "sqlite:PATH with a path");
        if (ch__env_str("CHORUS_DB", cfg->db_url, sizeof(cfg->db_url), err, errlen))
            return -1;
    } else if ((size_t)snprintf(cfg->db_url, sizeof(cfg->db_url), "sqlite:%s/chorus.db", cfg->data_dir) >=
               sizeof(cfg->db_url)) {
        return ch__fail(err, errlen, "CHORUS_DATA_DIR", cfg->data_dir, "a shorter path");
    }

    if (ch__env_str("CHORUS_REDIS", cfg->redis_url, sizeof(cfg->redis_url), err, errlen))
        return -1;
    if (cfg->redis_url[0] && (strncmp(cfg->redis_url, "redis://", 8) != 0 || cfg->redis_url[8] == '\0'))
        return ch__fail(err, errlen, "CHORUS_REDIS", cfg->redis_url, "redis://host:port");

    if (ch__env_str("CHORUS_CLICKHOUSE", cfg->clickhouse_url, sizeof(cfg->clickhouse_url), err, errlen))
        return -1;
    if (cfg->clickhouse_url[0] && !ch__clickhouse_url_ok(cfg->clickhouse_url))
        return ch__fail(err, errlen, "CHORUS_CLICKHOUSE", cfg->clickhouse_url, "http://host:port[/database]");

    const char *roles = getenv("CHORUS_ROLES");
    cfg->roles = CH_ROLE_ALL;
    if (roles && *roles && ch_config_parse_roles(roles, &cfg->roles) != 0)
        return ch__fail(err, errlen, "CHORUS_ROLES", roles, "a comma list of api, gateway, worker (or all)");

    if (ch__env_str("CHORUS_JWT_SECRET", cfg->jwt_secret, sizeof(cfg->jwt_secret), err, errlen))
        return -1;
    if (cfg->jwt_secret[0] && strlen(cfg->jwt_secret) < 32)
        return ch__fail(err, errlen, "CHORUS_JWT_SECRET", "(hidden)", "at least 32 bytes");

    const char *level = getenv("CHORUS_LOG_LEVEL");
    cfg->log_level = CH_LOG_INFO;
    if (level && *level && (cfg->log_level = ch_log_parse_level(level)) < 0)
        return ch__fail(err, errlen, "CHORUS_LOG_LEVEL", level, "debug, info, warn or error");
    int64_t log_buffer = CH_LOG_BUFFER_DEFAULT;
    if (ch__env_int("CHORUS_LOG_BUFFER", CH_LOGQ_MIN_BUDGET, CH_LOGQ_MAX_BUDGET, &log_buffer, err, errlen))
        return -1;
    cfg->log_buffer = (size_t)log_buffer;

    if (ch__env_int("CHORUS_THREADS", 1, 256, &threads, err, errlen) ||
        ch__env_int("CHORUS_WORKERS", 1, 1024, &workers, err, errlen) ||
        ch__env_int("CHORUS_NODE_ID", 0, 1023, &node, err, errlen) ||
        ch__env_int("CHORUS_ACCESS_TTL", 1, 86400, &access, err, errlen) ||
        ch__env_int("CHORUS_REFRESH_TTL", 60, 366 * 86400LL, &refresh, err, errlen) ||
        ch__env_int("CHORUS_RATE_LIMIT_USER", 1, INT32_MAX * 1000LL, &rl_user, err, errlen) ||
        ch__env_int("CHORUS_RATE_LIMIT_IP", 1, INT32_MAX * 1000LL, &rl_ip, err, errlen) ||
        ch__env_int("CHORUS_RATE_LIMIT_REACTIONS", 1, INT32_MAX * 1000LL, &rl_react, err, errlen) ||
        ch__env_int("CHORUS_RATE_LIMIT_COMMENTS", 1, INT32_MAX * 1000LL, &rl_comments, err, errlen) ||
        ch__env_int("CHORUS_RATE_LIMIT_WINDOW", 1000, 3600000, &rl_window, err, errlen) ||
        ch__env_int("CHORUS_CONSUMER_WINDOW", 1000, 600000, &cons_window, err, errlen) ||
        ch__env_int("CHORUS_RATE_LIMIT_MESSAGES", 1, INT32_MAX * 1000LL, &rl_messages, err, errlen) ||
        ch__env_int("CHORUS_CHAT_MAX_CONVERSATIONS", 1, 1000000, &chat_max_convs, err, errlen) ||
        ch__env_int("CHORUS_CHAT_WRITER_QUEUE_BYTES", 4096, 4294967296LL, &chat_queue_bytes, err, errlen) ||
        ch__env_int("CHORUS_CHAT_GROUP_COMMIT", 0, 1, &chat_group_commit, err, errlen) ||
        ch__env_int("CHORUS_PRESENCE_GROUP_MAX", 2, 1024, &presence_group_max, err, errlen) ||
        ch__env_int("CHORUS_LOGIN_MAX_FAILURES", 1, 1000000, &lmax, err, errlen) ||
        ch__env_int("CHORUS_LOGIN_WINDOW", 1, 86400, &lwin, err, errlen) ||
        ch__env_int("CHORUS_LOGIN_IP_MAX_FAILURES", 1, 1000000, &lmax_ip, err, errlen) ||
        ch__env_int("CHORUS_LOGIN_HANDLE_MAX_FAILURES", 1, 100000000, &lmax_handle, err, errlen) ||
        ch__env_int("CHORUS_STORY_TTL", 1, 7 * 86400, &story_ttl, err, errlen) ||
        ch__env_int("CHORUS_KV_MAX_MEMORY", 0, INT64_MAX, &kv_max, err, errlen) ||
        ch__env_int("CHORUS_KV_PROBE_INTERVAL", 50, 60000, &kv_probe, err, errlen) ||
        ch__env_int("CHORUS_TIMELINE_MAX_MEMORY", 0, INT64_MAX, &tl_max, err, errlen) ||
        ch__env_int("CHORUS_HYDRATE_CACHE_MEMORY", CH_CONFIG_HYDRATE_CACHE_MIN_MEMORY, INT64_MAX, &hc_mem, err,
                    errlen) ||
        ch__env_int("CHORUS_HYDRATE_TTL_MS", CH_CONFIG_HYDRATE_TTL_MIN_MS, CH_CONFIG_HYDRATE_TTL_MAX_MS, &hc_ttl, err,
                    errlen) ||
        ch__env_int("CHORUS_HYDRATE_L1_MEMORY", 0, INT64_MAX, &l1_mem, err, errlen) ||
        ch__env_int("CHORUS_HYDRATE_L1_ENTRIES", 1024, INT64_MAX, &l1_entries, err, errlen) ||
        ch__env_int("CHORUS_HYDRATE_L1_TTL_MS", 100, 600000, &l1_ttl, err, errlen) ||
        ch__env_int("CHORUS_TRENDING_REFRESH_MS", 0, 3600 * 1000, &trending_ms, err, errlen) ||
        ch__env_int("CHORUS_FEED_POPULAR_REFRESH_MS", 0, 3600 * 1000, &popular_ms, err, errlen) ||
        ch__env_int("CHORUS_HASHTAG_SCAN_MAX", 10, 100000, &tag_scan, err, errlen) ||
        ch__env_int("CHORUS_RETENTION_OUTBOX", 0, CH_RETENTION_MAX_S, &ret_outbox, err, errlen) ||
        ch__env_int("CHORUS_RETENTION_EVENTS", 0, CH_RETENTION_MAX_S, &ret_events, err, errlen) ||
        ch__env_int("CHORUS_RETENTION_INTERVAL", 1, 86400, &ret_interval, err, errlen) ||
        ch__env_int("CHORUS_PWHASH_OPSLIMIT", crypto_pwhash_OPSLIMIT_MIN, 64, &ops, err, errlen) ||
        ch__env_int("CHORUS_PWHASH_MEMLIMIT", 8192, 1LL << 32, &mem, err, errlen) ||
        ch__env_int("CHORUS_PWHASH_MAX_MEMORY", 8192, 1LL << 40, &pw_budget, err, errlen) ||
        ch__env_int("CHORUS_PWHASH_QUEUE", 0, 1024, &pw_queue, err, errlen) ||
        ch__env_int("CHORUS_MAX_CONN_PER_IP", 0, 1000000, &conn_per_ip, err, errlen) ||
        ch__env_int("CHORUS_MAX_CONNECTIONS", 1, 10000000, &max_conns, err, errlen) ||
        ch__env_int("CHORUS_WS_HEARTBEAT_MS", 100, 600000, &ws_hb, err, errlen) ||
        ch__env_int("CHORUS_WS_MAX_PER_USER", 1, 10000, &ws_per_user, err, errlen) ||
        ch__env_int("CHORUS_WS_MAX_CONNECTIONS", 1, 10000000, &ws_max, err, errlen) ||
        ch__env_int("CHORUS_WS_OUTPUT_MAX", 4096, 64LL << 20, &ws_out, err, errlen) ||
        ch__env_int("CHORUS_WS_REORDER_HOLD_MS", 0, 10000, &ws_hold, err, errlen) ||
        ch__env_int("CHORUS_WS_CLOSE_GRACE_MS", 100, 600000, &ws_close_grace, err, errlen) ||
        ch__env_int("CHORUS_RATE_LIMIT_TYPING", 1, 1000000, &rl_typing, err, errlen))
        return -1;

    int64_t stripe_timeout = 10000, stripe_retries = 4, fee_bps = 1000, auto_confirm = 604800;
    int64_t reconcile_s = 3600, recon_overlap = 3600, recon_page = 100, recon_pages = 1000, payment_ttl = 3600;
    snprintf(cfg->stripe_api, sizeof(cfg->stripe_api), "%s", "https://api.stripe.com");
    if (ch__env_str("CHORUS_STRIPE_API", cfg->stripe_api, sizeof(cfg->stripe_api), err, errlen) ||
        ch__env_str("CHORUS_STRIPE_SECRET_KEY", cfg->stripe_secret_key, sizeof(cfg->stripe_secret_key), err,
                    errlen) ||
        ch__env_str("CHORUS_STRIPE_WEBHOOK_SECRET", cfg->stripe_webhook_secret,
                    sizeof(cfg->stripe_webhook_secret), err, errlen) ||
        ch__env_int("CHORUS_STRIPE_TIMEOUT", 100, 120000, &stripe_timeout, err, errlen) ||
        ch__env_int("CHORUS_STRIPE_MAX_RETRIES", 0, 10, &stripe_retries, err, errlen) ||
        ch__env_int("CHORUS_MARKET_FEE_BPS", 0, 5000, &fee_bps, err, errlen) ||
        ch__env_int("CHORUS_MARKET_AUTO_CONFIRM", 1, 90LL * 86400, &auto_confirm, err, errlen) ||
        ch__env_int("CHORUS_MARKET_PAYMENT_TTL", 1, 7LL * 86400, &payment_ttl, err, errlen) ||
        ch__env_int("CHORUS_MARKET_RECONCILE_INTERVAL", 10, 7LL * 86400, &reconcile_s, err, errlen) ||
        ch__env_int("CHORUS_MARKET_RECONCILE_OVERLAP", 0, 7LL * 86400, &recon_overlap, err, errlen) ||
        ch__env_int("CHORUS_MARKET_RECONCILE_PAGE", 1, 100, &recon_page, err, errlen) ||
        ch__env_int("CHORUS_MARKET_RECONCILE_MAX_PAGES", 1, 100000, &recon_pages, err, errlen))
        return -1;
    snprintf(cfg->market_currencies, sizeof(cfg->market_currencies), "%s", "usd");
    if (ch__env_str("CHORUS_MARKET_CURRENCIES", cfg->market_currencies, sizeof(cfg->market_currencies), err, errlen))
        return -1;
    for (const char *c = cfg->market_currencies;; c += 4) {
        /* "xxx" or "xxx,yyy,...": lower-case ISO codes (what Stripe and the listings store) */
        if (!(c[0] >= 'a' && c[0] <= 'z' && c[1] >= 'a' && c[1] <= 'z' && c[2] >= 'a' && c[2] <= 'z') ||
            (c[3] != ',' && c[3] != '\0') || (c[3] == ',' && !c[4]))
            return ch__fail(err, errlen, "CHORUS_MARKET_CURRENCIES", cfg->market_currencies,
                            "a comma list of lower-case ISO 4217 codes (usd,eur)");
        if (!c[3])
            break;
    }
    snprintf(cfg->market_onboarding_url, sizeof(cfg->market_onboarding_url), "%s", "https://localhost/seller/onboarding");
    if (ch__env_str("CHORUS_MARKET_ONBOARDING_URL", cfg->market_onboarding_url, sizeof(cfg->market_onboarding_url),
                    err, errlen))
        return -1;
    if (strncmp(cfg->market_onboarding_url, "http://", 7) != 0 && strncmp(cfg->market_onboarding_url, "https://", 8) != 0)
        return ch__fail(err, errlen, "CHORUS_MARKET_ONBOARDING_URL", cfg->market_onboarding_url, "an http(s) URL");
    if (strncmp(cfg->stripe_api, "http://", 7) != 0 && strncmp(cfg->stripe_api, "https://", 8) != 0)
        return ch__fail(err, errlen, "CHORUS_STRIPE_API", cfg->stripe_api, "http(s)://host[:port]");
    cfg->stripe_timeout_ms = stripe_timeout;
    cfg->stripe_max_retries = stripe_retries;
    cfg->market_fee_bps = fee_bps;
    cfg->market_auto_confirm_s = auto_confirm;
    cfg->market_payment_ttl_s = payment_ttl;
    cfg->market_reconcile_interval_s = reconcile_s;
    cfg->market_reconcile_overlap_s = recon_overlap;
    cfg->market_reconcile_page = recon_page;
    cfg->market_reconcile_max_pages = recon_pages;
    cfg->ws_heartbeat_ms = ws_hb;
    cfg->ws_max_per_user = (unsigned)ws_per_user;
    cfg->ws_max_connections = (unsigned)ws_max;
    cfg->ws_output_max = (size_t)ws_out;
    cfg->ws_reorder_hold_ms = ws_hold;
    cfg->ws_close_grace_ms = ws_close_grace;
    cfg->rate_limit_typing = rl_typing;
    cfg->max_conn_per_ip = (unsigned)conn_per_ip;
    cfg->max_connections = (unsigned)max_conns;

    const char *h2 = getenv("CHORUS_HTTP2");
    if (h2 && *h2 && strcmp(h2, "on") != 0 && strcmp(h2, "off") != 0)
        return ch__fail(err, errlen, "CHORUS_HTTP2", h2, "off or on");
    cfg->http2 = h2 && strcmp(h2, "on") == 0;

    const char *proxies = getenv("CHORUS_TRUSTED_PROXIES");
    int nproxies = proxies ? ch_cidr_parse_list(proxies, cfg->trusted_proxies, CH_MAX_TRUSTED_PROXIES) : 0;
    if (nproxies < 0)
        return ch__fail(err, errlen, "CHORUS_TRUSTED_PROXIES", proxies,
                        "a comma list of at most 64 CIDRs (10.0.0.0/8, ::1/128, 192.0.2.7)");
    cfg->ntrusted_proxies = (size_t)nproxies;
    if (ch__config_feed(cfg, err, errlen) != 0)
        return -1;

    int64_t db_timeout = CH__DB_STATEMENT_TIMEOUT_MS, db_pool = CH__DB_POOL_SIZE, db_wait = CH__DB_POOL_WAIT_MS;
    if (ch__env_int("CHORUS_DB_STATEMENT_TIMEOUT", 0, 3600 * 1000LL, &db_timeout, err, errlen) ||
        ch__env_int("CHORUS_DB_POOL_SIZE", 1, 10000, &db_pool, err, errlen) ||
        ch__env_int("CHORUS_DB_POOL_WAIT", 0, 60000, &db_wait, err, errlen))
        return -1;
    int64_t req_timeout = CH_CONFIG_REQUEST_TIMEOUT_MS, queue_max = 64 * workers, grace = CH_CONFIG_SHUTDOWN_GRACE_MS;
    if (ch__env_int("CHORUS_REQUEST_TIMEOUT", 100, 600000, &req_timeout, err, errlen) ||
        ch__env_int("CHORUS_QUEUE_MAX", 1, 1000000, &queue_max, err, errlen) ||
        ch__env_int("CHORUS_SHUTDOWN_GRACE", 1000, 3600 * 1000LL, &grace, err, errlen))
        return -1;
    cfg->request_timeout_ms = req_timeout;
    cfg->queue_max = (size_t)queue_max;
    cfg->shutdown_grace_ms = grace;
    cfg->db_statement_timeout_ms = db_timeout;
    cfg->db_pool_size = (unsigned)db_pool;
    cfg->db_pool_wait_ms = db_wait;

    int64_t refresh_reuse = CH_REFRESH_REUSE_DEFAULT_S;
    if (ch__env_int("CHORUS_REFRESH_REUSE_INTERVAL", 0, CH_REFRESH_REUSE_MAX_S, &refresh_reuse, err, errlen))
        return -1;
    cfg->refresh_reuse_s = refresh_reuse;
    cfg->threads = (unsigned)threads;
    cfg->workers = (unsigned)workers;
    cfg->node_id = (unsigned)node;
    cfg->access_ttl_s = access;
    cfg->refresh_ttl_s = refresh;
    cfg->rate_limit_user = rl_user;
    cfg->rate_limit_ip = rl_ip;
    cfg->rate_limit_reactions = rl_react;
    cfg->rate_limit_comments = rl_comments;
    cfg->rate_limit_window_ms = rl_window;
    cfg->consumer_window_ms = cons_window;
    cfg->rate_limit_messages = rl_messages;
    cfg->chat_max_conversations = chat_max_convs;
    cfg->chat_writer_queue_bytes = chat_queue_bytes;
    cfg->chat_group_commit = (int)chat_group_commit;
    cfg->presence_group_max = presence_group_max;
    cfg->login_max_failures = lmax;
    cfg->login_window_s = lwin;
    cfg->login_ip_max_failures = lmax_ip;
    cfg->login_handle_max_failures = lmax_handle;
    cfg->story_ttl_s = story_ttl;
    if (kv_max != 0 && kv_max < CH_CONFIG_KV_MIN_MEMORY)
        return ch__fail(err, errlen, "CHORUS_KV_MAX_MEMORY", getenv("CHORUS_KV_MAX_MEMORY"),
                        "0 (no bound) or at least 16777216 bytes");
    cfg->kv_max_memory = (size_t)kv_max;
    cfg->kv_probe_interval_ms = kv_probe;
    if (tl_max != 0 && tl_max < CH_CONFIG_TIMELINE_MIN_MEMORY)
        return ch__fail(err, errlen, "CHORUS_TIMELINE_MAX_MEMORY", getenv("CHORUS_TIMELINE_MAX_MEMORY"),
                        "0 (no bound) or at least 1048576 bytes");
    cfg->timeline_max_memory = (size_t)tl_max;
    cfg->hydrate_cache_memory = (size_t)hc_mem;
    cfg->hydrate_ttl_ms = hc_ttl;
    if (l1_mem != 0 && l1_mem < CH_CONFIG_HYDRATE_CACHE_MIN_MEMORY)
        return ch__fail(err, errlen, "CHORUS_HYDRATE_L1_MEMORY", getenv("CHORUS_HYDRATE_L1_MEMORY"),
                        "0 (no L1) or at least 1048576 bytes");
    cfg->hydrate_l1_memory = (size_t)l1_mem;
    cfg->hydrate_l1_entries = (size_t)l1_entries;
    cfg->hydrate_l1_ttl_ms = l1_ttl;
    cfg->trending_refresh_ms = trending_ms;
    cfg->feed_popular_refresh_ms = popular_ms;
    cfg->hashtag_scan_max = tag_scan;
    cfg->retention_outbox_s = ret_outbox;
    cfg->retention_events_s = ret_events;
    cfg->retention_interval_s = ret_interval;
    if (ch__load_feed(cfg, err, errlen))
        return -1;
    cfg->pwhash_opslimit = (uint64_t)ops;
    cfg->pwhash_memlimit = (size_t)mem;
    cfg->pwhash_max_memory = (size_t)pw_budget;
    cfg->pwhash_queue = (size_t)pw_queue;
    return 0;
}

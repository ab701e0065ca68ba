/* chorusd: wiring only. configuration -> backends -> services -> listeners, then wait for
 * SIGTERM/SIGINT and drain. Subcommands: serve (default), migrate, routes, seed,
 * repair-counters. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/id.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/watchdog.h"
#include "gateway/gateway.h"
#include "http/admission.h"
#include "http/port_file.h"
#include "http/router.h"
#include "http/server.h"
#include "store/bus.h"
#include "store/clickhouse.h"
#include "store/hcache.h"
#include "store/stripe.h"
#include "store/timeline.h"
#include "svc/auth/auth.h"
#include "svc/auth/passwords.h"
#include "svc/context.h"
#include "svc/engage/counters.h"
#include "svc/engage/reactions_writer.h"
#include "svc/common/batch_writer.h"
#include "svc/market/webhook.h"
#include "svc/chat/send_writer.h"
#include "svc/feed/fanout.h"
#include "svc/feed/rank_model.h"
#include "svc/feed/touch_queue.h"
#include "svc/health/health.h"
#include "svc/item_types.h"
#include "svc/seed/seed.h"
#include "svc/worker/worker.h"

#define CH_DRAIN_MS 10000
/* How CHORUS_SHUTDOWN_GRACE is spent after SIGTERM, in fractions of it: database waits of
 * every thread are cut off at CH_STOP_DB_SHARE (so the requests still running get their 503
 * answer out, a cancelled statement its error), the drain and the wait for open connections
 * end at CH_STOP_CLOSE_SHARE, and what is left is for closing backends and joining threads
 * before the watchdog's deadline at the full grace. */
#define CH_STOP_DB_SHARE(grace) ((grace) / 2)
#define CH_STOP_CLOSE_SHARE(grace) ((grace) * 4 / 5)
/* Free memory a heap keeps at its top before giving it back to the kernel. glibc's default
 * (128 KiB) makes a thread that allocates and frees in waves (the group-commit writer, a
 * loop under load) unmap and fault in pages again and again; measured: -30 % CPU per
 * reaction write (docs/benchmarks.md). */
#define CH_MALLOC_TRIM_THRESHOLD (64 * 1024 * 1024)
#define CH_BOOTSTRAP_POLL_MS 100 /* how often main looks whether start-up finished */
/* Stripe clients beyond one per worker thread (the worker role's market jobs). */
#define CH_STRIPE_POOL_EXTRA 4
#define CH_STRIPE_BACKOFF_BASE_MS 250 /* first retry of a Stripe request waits up to this */

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer hook: h2o keeps per-thread recycling free lists of buffers and pool chunks
 * (h2o_mem_alloc_recycle) that it never releases when a thread ends; that cache is by
 * design, not a leak of ours. Everything else must be freed. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:h2o_mem_alloc_recycle\n";
}
#endif

static int ch__usage_error(const char *arg)
{
    fprintf(stderr, "chorusd: unknown argument '%s' (see chorusd --help)\n", arg);
    return 2;
}

/* Creates the data directory of an embedded database (one level, like `mkdir -p var`). */
static int ch__ensure_data_dir(const ch_config_t *cfg)
{
    if (strncmp(cfg->db_url, "sqlite:", 7) != 0)
        return 0;
    if (mkdir(cfg->data_dir, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "chorusd: CHORUS_DATA_DIR: cannot create '%s': %s\n", cfg->data_dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int ch__print_routes(void)
{
    for (size_t i = 0; i < ch_routes_count; i++)
        printf("%s %s\n", ch_routes[i].method, ch_routes[i].path);
    return 0;
}

/* Opens the database and, unless defer_migrations, applies migrations; on failure prints
 * why and returns NULL. A PostgreSQL pool opens without connecting: only a bad URL fails. */
static ch_db_t *ch__open_db(const ch_config_t *cfg, int defer_migrations)
{
    char err[512] = "";
    ch_db_t *db = NULL;
    ch_db_options_t opts = {.statement_timeout_ms = cfg->db_statement_timeout_ms,
                            .pool_size = cfg->db_pool_size,
                            .pool_wait_ms = cfg->db_pool_wait_ms};
    if (ch_db_open_opts(cfg->db_url, &opts, &db, err, sizeof(err)) != CH_OK) {
        fprintf(stderr, "chorusd: CHORUS_DB: %s\n", err[0] ? err : "cannot open the database");
        return NULL;
    }
    if (defer_migrations)
        return db;
    int applied = 0;
    ch_err_t e = ch_db_migrate(db, &applied);
    if (e != CH_OK) {
        fprintf(stderr, "chorusd: CHORUS_DB: migrations failed (%s); is the database reachable?\n", ch_err_code(e));
        ch_db_close(db);
        return NULL;
    }
    if (applied)
        ch_log_info("applied %d migration(s) to the %s database", applied, ch_db_kind(db));
    return db;
}

/* Starts what needs a migrated database (the reactions writer of the api role); 0 on
 * success. */
static int ch__start_db_services(const ch_config_t *cfg, ch_svc_t *svc)
{
    /* Reactions share transactions (group commit): one fsync and one update of each
     * counter row per batch, on SQLite (one writer at a time anyway) and PostgreSQL alike.
     * Only the api role writes reactions. */
    if ((cfg->roles & CH_ROLE_API) && !(svc->reactions_writer = ch_reactions_writer_start(svc))) {
        fprintf(stderr, "chorusd: cannot start the reactions writer thread\n");
        return -1;
    }
    /* Stripe webhook events share transactions too, a savepoint each (svc/market/webhook.h). */
    if ((cfg->roles & CH_ROLE_API) && !(svc->webhook_writer = ch_market_webhook_writer_start(svc))) {
        fprintf(stderr, "chorusd: cannot start the webhook writer thread\n");
        return -1;
    }
    /* Chat sends share transactions (group commit) by default on SQLite (one writer at a
     * time, an fsync per commit). On PostgreSQL the writer works (a batch locks its
     * conversations in id order, so two nodes' writers cannot deadlock) but is off unless
     * CHORUS_CHAT_GROUP_COMMIT=1: its one thread makes each send's statements and kv calls
     * one after the other, which measured slower than a transaction per send on the worker
     * pool (docs/benchmarks.md "PostgreSQL group commit (chatpg17)"). */
    int group_commit = cfg->chat_group_commit >= 0 ? cfg->chat_group_commit
                                                   : strcmp(ch_db_kind(svc->db), "sqlite") == 0;
    if ((cfg->roles & (CH_ROLE_API | CH_ROLE_GATEWAY)) && group_commit &&
        !(svc->chat_writer = ch_chat_writer_start(svc))) {
        fprintf(stderr, "chorusd: cannot start the chat writer thread\n");
        return -1;
    }
    return 0;
}

/* SIGHUP: rereads the feed's model or weights file; a bad file keeps the model served. */
static void ch__reload_feed_model(const ch_config_t *cfg)
{
    char err[512];
    if (ch_feed_model_load_current(cfg, err, sizeof(err)) != 0)
        ch_log_error("SIGHUP: feed model not reloaded, the previous one stays: %s", err);
    else
        ch_log_info("SIGHUP: feed model reloaded");
}

/* Waits for start-up (svc/health) to finish in the background, or for a signal; then
 * starts the services that need the database and opens /v1. Returns the signal that came
 * first, 0 when start-up finished, -1 when it failed. */
static int ch__await_bootstrap(const ch_config_t *cfg, ch_svc_t *svc, const sigset_t *sigs)
{
    const struct timespec poll = {.tv_sec = 0, .tv_nsec = CH_BOOTSTRAP_POLL_MS * 1000000L};
    for (;;) {
        int boot = ch_health_bootstrapped(svc->health);
        if (boot < 0)
            return -1;
        if (boot > 0) {
            if (ch__start_db_services(cfg, svc) != 0)
                return -1;
            ch_health_set_serving(svc->health);
            ch_log_info("serving: the database is migrated");
            return 0;
        }
        int sig = sigtimedwait(sigs, NULL, &poll);
        if (sig == SIGHUP)
            ch__reload_feed_model(cfg);
        else if (sig > 0)
            return sig;
    }
}


/* The shutdown watchdog's report (core/watchdog.h): counters only, no locks. */
static void ch__stop_report(void *arg)
{
    (void)arg;
    ch_log_error("shutdown: %ld request(s) in flight, %zu waiting for a worker thread; unanswered requests were "
                 "not acknowledged and are for their clients to retry",
                 ch_metrics_inflight(), ch_admission_queued());
}

/* After SIGTERM: stops within cfg->shutdown_grace_ms whatever the backends do (see
 * CH_STOP_DB_SHARE); *close_by_ms is when the drain and the wait for connections end. */
static ch_watchdog_t *ch__stop_begin(const ch_config_t *cfg, int64_t *close_by_ms)
{
    int64_t now = ch_mono_ms(), grace = cfg->shutdown_grace_ms;
    ch_watchdog_t *wd = ch_watchdog_start(grace, ch__stop_report, NULL);
    ch_db_deadline_set_all(now + CH_STOP_DB_SHARE(grace));
    *close_by_ms = now + CH_STOP_CLOSE_SHARE(grace);
    return wd;
}

static int ch__serve(const ch_config_t *cfg, ch_db_t *db, int bootstrapped)
{
    char err[512] = "";
    ch_svc_t svc = {.cfg = cfg, .db = db};
    if (ch_feed_model_load_current(cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "chorusd: feed model (CHORUS_FEED_MODEL / CHORUS_FEED_WEIGHTS): %s\n", err);
        return 1;
    }
    if (ch_kv_open(cfg->redis_url[0] ? cfg->redis_url : NULL, &svc.kv, err, sizeof(err)) != CH_OK) {
        fprintf(stderr, "chorusd: CHORUS_REDIS: %s\n", err);
        return 1;
    }
    ch_kv_set_max_memory(svc.kv, cfg->kv_max_memory);
    ch_kv_set_probe_interval(svc.kv, cfg->kv_probe_interval_ms);
    /* Home timelines live where the kv store does (in process, or the same Redis). */
    if (ch_timeline_open(cfg->redis_url[0] ? cfg->redis_url : NULL, &svc.timelines, err, sizeof(err)) != CH_OK) {
        fprintf(stderr, "chorusd: CHORUS_REDIS (timelines): %s\n", err);
        ch_kv_close(svc.kv);
        return 1;
    }
    ch_timeline_set_max_memory(svc.timelines, cfg->timeline_max_memory);
    /* The hydration cache too: shared by every replica in Redis, else this process's. */
    svc.hcache = strcmp(ch_kv_kind(svc.kv), "redis") == 0 ? ch_hcache_redis_create(svc.kv, cfg->hydrate_ttl_ms)
                                                          : ch_hcache_mem_create(cfg->hydrate_cache_memory,
                                                                                 cfg->hydrate_ttl_ms);
    /* In cluster mode an in-process L1 in front of it, invalidated by Redis pub/sub. */
    if (svc.hcache && strcmp(ch_kv_kind(svc.kv), "redis") == 0 && cfg->hydrate_l1_memory)
        svc.hcache = ch_hcache_l1_create(svc.hcache, svc.kv, cfg->redis_url, cfg->hydrate_l1_memory,
                                         cfg->hydrate_l1_entries, cfg->hydrate_l1_ttl_ms);
    if (!svc.hcache) {
        fprintf(stderr, "chorusd: cannot create the hydration cache\n");
        ch_timeline_close(svc.timelines);
        ch_kv_close(svc.kv);
        return 1;
    }
    svc.local_backends = strcmp(ch_db_kind(db), "sqlite") == 0 && strcmp(ch_kv_kind(svc.kv), "memory") == 0;
    /* Not bootstrapped: the health thread loads the keys once the database answers. */
    ch_err_t e = bootstrapped ? ch_svc_load_keys(&svc) : CH_OK;
    /* The dummy hash evens out logins (api role only; one Argon2id run at start). */
    if (e != CH_OK ||
        ((cfg->roles & CH_ROLE_API) && ch_password_init_dummy(cfg->pwhash_opslimit, cfg->pwhash_memlimit) != 0)) {
        fprintf(stderr, "chorusd: cannot load server keys (%s)\n", ch_err_code(e));
        ch_hcache_destroy(svc.hcache);
        ch_timeline_close(svc.timelines);
        ch_kv_close(svc.kv);
        return 1;
    }
    /* Password hashing runs on its own few low-priority threads (svc/auth/pwhash_pool.h). */
    if (ch_auth_passwords_start(&svc) != 0) {
        fprintf(stderr, "chorusd: cannot start the password hashing threads\n");
        ch_password_clear_dummy();
        ch_hcache_destroy(svc.hcache);
        ch_timeline_close(svc.timelines);
        ch_kv_close(svc.kv);
        return 1;
    }
    if (bootstrapped && ch__start_db_services(cfg, &svc) != 0) {
        ch_auth_passwords_stop(&svc);
        ch_password_clear_dummy();
        ch_hcache_destroy(svc.hcache);
        ch_timeline_close(svc.timelines);
        ch_kv_close(svc.kv);
        return 1;
    }

    /* Signals are taken by sigwait below; every thread created from here inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP); /* reloads the feed model */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Log lines go through the writer thread from here (flushed at exit: core/log.h). */
    if (ch_log_start(cfg->log_buffer) != 0)
        ch_log_warn("cannot start the log writer thread; logging directly");

    /* Readiness checks, and start-up in the background when the database was not
     * migrated above (svc/health). */
    if (!(svc.health = ch_health_start(&svc, bootstrapped))) {
        ch_reactions_writer_stop(svc.reactions_writer);
        ch_batch_writer_stop(svc.webhook_writer);
        svc.webhook_writer = NULL;
        ch_chat_writer_stop(svc.chat_writer);
        ch_auth_passwords_stop(&svc);
        ch_password_clear_dummy();
        ch_hcache_destroy(svc.hcache);
        ch_timeline_close(svc.timelines);
        ch_kv_close(svc.kv);
        return 1;
    }
    if (bootstrapped) {
        ch_health_wait_first(svc.health, CH_HEALTH_DEADLINE_MS); /* /readyz is right from the start */
        ch_health_set_serving(svc.health);
    }

    /* The event bus to gateway connections (Redis pub/sub in cluster mode), and the gateway. */
    svc.bus = cfg->redis_url[0] ? ch_bus_redis_create(cfg->redis_url, err, sizeof(err)) : ch_bus_mem_create();
    if (!svc.bus)
        ch_log_error("cannot create the event bus (%s); WebSocket events are off", err);
    if (cfg->roles & CH_ROLE_GATEWAY)
        svc.gateway = ch_gateway_create(&svc);
    /* Stripe (the marketplace): off without a secret key, then svc.stripe stays NULL (503). */
    if (cfg->stripe_secret_key[0]) {
        ch_clickhouse_global_init(); /* curl_global_init, once */
        ch_stripe_config_t scfg = {.api_base = cfg->stripe_api,
                                   .secret_key = cfg->stripe_secret_key,
                                   .timeout_ms = cfg->stripe_timeout_ms,
                                   .max_retries = (int)cfg->stripe_max_retries,
                                   .backoff_base_ms = CH_STRIPE_BACKOFF_BASE_MS};
        if (!(svc.stripe = ch_stripe_pool_create(&scfg, (size_t)cfg->workers + CH_STRIPE_POOL_EXTRA)))
            ch_log_error("cannot create the Stripe clients (CHORUS_STRIPE_API %s); payments are off",
                         cfg->stripe_api);
    }
    /* Revocation marks kept for Redis's return: their landing forgets the session's L1
     * vouches again (svc/auth/auth.h). Off below before the hydration cache goes. */
    ch_auth_watch_kept_marks(&svc, 1);
    ch_server_t *srv = ch_server_create(cfg, &svc, err, sizeof(err));
    ch_watchdog_t *wd = NULL; /* bounds the stop after SIGTERM */
    int rc = 1;
    if (!srv) {
        fprintf(stderr, "chorusd: %s\n", err);
    } else if (ch_server_start(srv) != 0) {
        fprintf(stderr, "chorusd: cannot start threads\n");
        ch_server_stop(srv, 0);
    } else if (cfg->port_file[0] && ch_port_file_write(cfg->port_file, ch_server_port(srv), err, sizeof(err)) != 0) {
        fprintf(stderr, "chorusd: %s\n", err);
        ch_server_stop(srv, 0);
    } else {
        ch_log_info("chorusd %s listening on %s:%u (%u threads, %u workers, db=%s, kv=%s)", CHORUS_VERSION,
                    cfg->listen_host, ch_server_port(srv), cfg->threads, cfg->workers, ch_db_kind(db),
                    ch_kv_kind(svc.kv));
        int sig = bootstrapped ? 0 : ch__await_bootstrap(cfg, &svc, &sigs);
        /* Role worker: notifications, ranking signals, ClickHouse shipping (threads). */
        ch_workers_t *workers = sig == 0 ? ch_workers_start(&svc) : NULL;
        while (sig == 0 || sig == SIGHUP) {
            if (sig == SIGHUP)
                ch__reload_feed_model(cfg);
            sigwait(&sigs, &sig);
        }
        if (sig > 0)
            ch_log_info("signal %d: draining (at most %lld ms, CHORUS_SHUTDOWN_GRACE)", sig,
                        (long long)cfg->shutdown_grace_ms);
        int64_t close_by;
        wd = ch__stop_begin(cfg, &close_by);
        ch_watchdog_stage(wd, "stopping the worker role");
        ch_workers_stop(workers); /* each thread finishes its current batch */
        ch_watchdog_stage(wd, "draining requests");
        int64_t left = close_by - ch_mono_ms();
        ch_server_stop_by(srv, (int)(left < CH_DRAIN_MS ? (left > 0 ? left : 0) : CH_DRAIN_MS), close_by);
        ch_log_info("stopped");
        rc = sig > 0 ? 0 : 1;
    }
    ch_watchdog_stage(wd, "closing the server");
    ch_server_destroy(srv);
    /* Sends still queued are stored and published before the bus goes */
    ch_watchdog_stage(wd, "stopping the chat writer");
    ch_chat_writer_stop(svc.chat_writer);
    ch_chat_publish_hook_stop();
    ch_bus_destroy(svc.bus); /* no delivery after this */
    ch_gateway_destroy(svc.gateway);
    /* Requests are done: apply what is still queued (nothing acknowledged is lost: what the
     * writer holds was not answered yet, it answers after its commit). */
    ch_watchdog_stage(wd, "stopping the reactions writer");
    ch_reactions_writer_stop(svc.reactions_writer);
    ch_watchdog_stage(wd, "stopping the webhook writer");
    ch_batch_writer_stop(svc.webhook_writer);
    svc.webhook_writer = NULL;
    ch_watchdog_stage(wd, "stopping the readiness checks");
    if (ch_health_stop(svc.health) != 0) {
        /* A check (or start-up) is inside a backend call that only its own timeout ends;
         * closing the backends under it is not safe, and shutdown must not wait on it. */
        ch_log_warn("exiting without closing the backends");
        ch_log_stop(CH_LOG_STOP_MS);
        fflush(NULL);
        _exit(rc);
    }
    ch_watchdog_stage(wd, "closing backends");
    ch_feed_touch_stop(); /* its pending touches, while the timelines are open */
    ch_auth_watch_kept_marks(&svc, 0);
    ch_stripe_pool_destroy(svc.stripe);
    ch_auth_passwords_stop(&svc);
    ch_password_clear_dummy();
    ch_hcache_destroy(svc.hcache);
    ch_timeline_close(svc.timelines);
    ch_kv_close(svc.kv);
    ch_feed_model_shutdown();
    ch_watchdog_cancel(wd);
    ch_log_stop(CH_LOG_STOP_MS);
    return rc;
}

/* Reads the number of `--name N` / `--name=N` at argv[*i]; 1 when it matched. */
static int ch__number_arg(int argc, char **argv, int *i, const char *name, unsigned long long max,
                          unsigned long long *out, int *bad)
{
    size_t n = strlen(name);
    const char *v = NULL;
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=')
        v = argv[*i] + n + 1;
    else if (argv[*i][n] == '\0' && *i + 1 < argc)
        v = argv[++*i];
    else if (argv[*i][n] != '\0')
        return 0;
    char *end;
    *out = v && *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
    *bad = !v || *v < '0' || *v > '9' || *end || *out > max;
    return 1;
}

static int ch__seed(ch_svc_t *svc, const ch_seed_opts_t *opts)
{
    ch_seed_stats_t st;
    ch_err_t err = ch_seed_run(svc, opts, &st);
    if (err == CH_ECONFLICT) {
        fprintf(stderr, "chorusd seed: this database already holds the demo community (seed users exist)\n");
        return 1;
    }
    if (err) {
        fprintf(stderr, "chorusd seed: failed (%s)\n", ch_err_code(err));
        return 1;
    }
    printf("seeded %llu users, %llu follows, %llu posts, %llu reels, %llu stories in %.1f s "
           "(password of every demo account: %s)\n",
           (unsigned long long)st.users, (unsigned long long)st.follows, (unsigned long long)st.posts,
           (unsigned long long)st.reels, (unsigned long long)st.stories, st.seconds, CH_SEED_PASSWORD);
    return 0;
}

/* chorusd repair-counters [--type T --id N]: recomputes counters from the rows. */
static int ch__repair_counters(ch_svc_t *svc, const char *type_name, uint64_t id)
{
    if (type_name) {
        int type = ch_target_from_name(type_name);
        if (type < 0 || id == 0 || id > INT64_MAX) {
            fprintf(stderr, "chorusd repair-counters: --type must be post, reel, story, comment, livestream or "
                            "listing, with --id\n");
            return 2;
        }
        ch_counters_t before, after;
        ch_err_t err = ch_counters_repair(svc, (ch_target_type_t)type, id, &before, &after);
        if (err) {
            fprintf(stderr, "chorusd repair-counters: failed (%s)\n", ch_err_code(err));
            return 1;
        }
        printf("%s %llu: reactions %lld -> %lld, comments %lld -> %lld, views %lld -> %lld, watch_ms %lld -> %lld\n",
               type_name, (unsigned long long)id, (long long)ch_counters_reactions_total(&before),
               (long long)ch_counters_reactions_total(&after), (long long)before.comments, (long long)after.comments,
               (long long)before.views, (long long)after.views, (long long)before.watch_ms, (long long)after.watch_ms);
        return 0;
    }
    uint64_t checked = 0, fixed = 0;
    ch_err_t err = ch_counters_repair_all(svc, &checked, &fixed);
    if (err) {
        fprintf(stderr, "chorusd repair-counters: failed after %llu targets (%s)\n", (unsigned long long)checked,
                ch_err_code(err));
        return 1;
    }
    printf("checked %llu targets, repaired %llu\n", (unsigned long long)checked, (unsigned long long)fixed);
    return 0;
}

int main(int argc, char **argv)
{
    mallopt(M_TRIM_THRESHOLD, CH_MALLOC_TRIM_THRESHOLD);
    ch_alloc_install(); /* Jansson and libuv abort on allocation failure too (core/alloc.h) */
    ch_svc_register_item_types(); /* before any thread reads the registry */
    ch_feed_metrics_init();       /* before any thread renders /metrics */
    const char *command = "serve";
    ch_seed_opts_t seed = {.users = 1000,
                           .seed = 42,
                           .celebrities = CH_SEED_LAB_DEFAULT_CELEBRITIES,
                           .follows = CH_SEED_LAB_DEFAULT_FOLLOWS};
    const char *repair_type = NULL;
    unsigned long long repair_id = 0;
    for (int i = 1; i < argc; i++) {
        unsigned long long n = 0;
        int bad = 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            ch_config_print_help(stdout);
            return 0;
        } else if (strncmp(argv[i], "--roles=", 8) == 0) {
            setenv("CHORUS_ROLES", argv[i] + 8, 1);
        } else if (argv[i][0] != '-' && i == 1) {
            command = argv[i];
        } else if (strcmp(command, "seed") == 0 &&
                   ch__number_arg(argc, argv, &i, "--users", CH_SEED_LAB_MAX_USERS, &n, &bad)) {
            if (bad || n < 2)
                return ch__usage_error("--users (2 to 1000000; 2000000 with --profile feedlab)");
            seed.users = (unsigned)n;
        } else if (strcmp(command, "seed") == 0 && strncmp(argv[i], "--profile", 9) == 0 &&
                   (argv[i][9] == '=' || (argv[i][9] == '\0' && i + 1 < argc))) {
            const char *v = argv[i][9] == '=' ? argv[i] + 10 : argv[++i];
            if (strcmp(v, "feedlab") != 0 && strcmp(v, "demo") != 0)
                return ch__usage_error("--profile (demo or feedlab)");
            seed.profile = strcmp(v, "feedlab") == 0 ? CH_SEED_PROFILE_FEEDLAB : CH_SEED_PROFILE_DEMO;
        } else if (strcmp(command, "seed") == 0 && strncmp(argv[i], "--rates", 7) == 0 &&
                   (argv[i][7] == '=' || (argv[i][7] == '\0' && i + 1 < argc))) {
            seed.rates_path = argv[i][7] == '=' ? argv[i] + 8 : argv[++i];
        } else if (strcmp(command, "seed") == 0 &&
                   ch__number_arg(argc, argv, &i, "--celebrities", CH_SEED_LAB_MAX_USERS, &n, &bad)) {
            if (bad)
                return ch__usage_error("--celebrities (a number below --users)");
            seed.celebrities = (unsigned)n;
        } else if (strcmp(command, "seed") == 0 &&
                   ch__number_arg(argc, argv, &i, "--celebrity-followers", CH_SEED_LAB_MAX_USERS, &n, &bad)) {
            if (bad || n == 0)
                return ch__usage_error("--celebrity-followers (1 to --users - 1)");
            seed.celebrity_followers = (unsigned)n;
        } else if (strcmp(command, "seed") == 0 && ch__number_arg(argc, argv, &i, "--follows", 1000, &n, &bad)) {
            if (bad)
                return ch__usage_error("--follows (0 to 1000)");
            seed.follows = (unsigned)n;
        } else if (strcmp(command, "seed") == 0 && ch__number_arg(argc, argv, &i, "--seed", UINT64_MAX, &n, &bad)) {
            if (bad)
                return ch__usage_error("--seed (a number)");
            seed.seed = n;
        } else if (strcmp(command, "repair-counters") == 0 && strcmp(argv[i], "--type") == 0 && i + 1 < argc) {
            repair_type = argv[++i];
        } else if (strcmp(command, "repair-counters") == 0 && strncmp(argv[i], "--type=", 7) == 0) {
            repair_type = argv[i] + 7;
        } else if (strcmp(command, "repair-counters") == 0 &&
                   ch__number_arg(argc, argv, &i, "--id", INT64_MAX, &repair_id, &bad)) {
            if (bad || repair_id == 0)
                return ch__usage_error("--id (an id)");
        } else {
            return ch__usage_error(argv[i]);
        }
    }
    if (strcmp(command, "routes") == 0)
        return ch__print_routes();
    if (strcmp(command, "serve") != 0 && strcmp(command, "migrate") != 0 && strcmp(command, "seed") != 0 &&
        strcmp(command, "repair-counters") != 0)
        return ch__usage_error(command);
    if (seed.profile == CH_SEED_PROFILE_FEEDLAB) {
        if (seed.celebrity_followers == 0)
            seed.celebrity_followers = seed.users - 1;
        if (seed.celebrities >= seed.users || seed.celebrity_followers >= seed.users)
            return ch__usage_error("--celebrities and --celebrity-followers must be below --users");
    } else if (seed.users > CH_SEED_MAX_USERS) {
        return ch__usage_error("--users (2 to 1000000 without --profile feedlab)");
    }
    if (!repair_type != !repair_id)
        return ch__usage_error(repair_type ? "--type without --id" : "--id without --type");

    ch_config_t cfg;
    char err[512];
    if (ch_config_load(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "chorusd: %s\n", err);
        return 2;
    }
    ch_log_set_level((ch_log_level_t)cfg.log_level);
    if (ch_crypto_init() != 0) {
        fprintf(stderr, "chorusd: libsodium failed to initialise\n");
        return 1;
    }
    ch_id_set_node(cfg.node_id);
    /* libuv's worker pool runs the blocking handlers; its size is read at first use. */
    char workers[16];
    snprintf(workers, sizeof(workers), "%u", cfg.workers);
    setenv("UV_THREADPOOL_SIZE", workers, 1);

    if (ch__ensure_data_dir(&cfg) != 0)
        return 2;
    /* Offline commands (seed, repair over every target) may run long statements: no
     * statement deadline there; a request-serving process keeps it. */
    if (strcmp(command, "serve") != 0)
        cfg.db_statement_timeout_ms = 0;
    /* A serving process whose PostgreSQL does not answer yet starts anyway and migrates
     * when it does (svc/health); SQLite and the offline commands migrate now or exit. */
    int defer = strcmp(command, "serve") == 0 && strncmp(cfg.db_url, "sqlite:", 7) != 0;
    /* Serving: SIGTERM, SIGINT and SIGHUP are for ch__serve's sigwait. Blocked before the
     * first thread starts (database, Redis probes, reactions writer...): a thread created
     * without the mask could take a SIGTERM with the default action, an exit by signal
     * instead of the drain (seen in the tests: "exited -15 after SIGTERM"). */
    if (strcmp(command, "serve") == 0) {
        sigset_t early;
        sigemptyset(&early);
        sigaddset(&early, SIGTERM);
        sigaddset(&early, SIGINT);
        sigaddset(&early, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &early, NULL);
    }
    ch_db_t *db = ch__open_db(&cfg, defer);
    if (!db)
        return 1;
    int rc = 0;
    if (strcmp(command, "seed") == 0) {
        ch_svc_t svc = {.cfg = &cfg, .db = db};
        rc = ch__seed(&svc, &seed);
    } else if (strcmp(command, "serve") == 0) {
        rc = ch__serve(&cfg, db, !defer);
    } else if (strcmp(command, "repair-counters") == 0) {
        ch_svc_t svc = {.cfg = &cfg, .db = db};
        /* Its forgets must reach a shared (Redis) hydration cache, which item reads serve
         * from; an in-process cache is the serving process's own, out of reach from here.
         * With serving nodes' L1s on, through the same wrapper: each forget is published on
         * the invalidation channel too (a lost one moves the epoch, which the L1s follow). */
        ch_kv_t *kv = NULL;
        char kv_err[256];
        if (cfg.redis_url[0] && ch_kv_open(cfg.redis_url, &kv, kv_err, sizeof(kv_err)) == CH_OK)
            svc.hcache = ch_hcache_redis_create(kv, cfg.hydrate_ttl_ms);
        if (svc.hcache && cfg.hydrate_l1_memory)
            svc.hcache = ch_hcache_l1_create(svc.hcache, kv, cfg.redis_url, cfg.hydrate_l1_memory,
                                             cfg.hydrate_l1_entries, cfg.hydrate_l1_ttl_ms);
        rc = ch__repair_counters(&svc, repair_type, repair_id);
        ch_hcache_destroy(svc.hcache);
        if (kv)
            ch_kv_close(kv);
    }
    ch_db_close(db);
    return rc;
}

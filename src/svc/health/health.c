#include "svc/health/health.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/clickhouse.h"
#include "svc/health/bootstrap.h"

typedef struct ch__check ch__check_t;
/* One run of a check; returns its state (blocking: it talks to the backend). */
typedef ch_check_state_t (*ch__check_fn)(ch__check_t *c);

struct ch__check {
    ch_health_t *owner;
    const char *thread_name; /* at most 15 characters */
    ch__check_fn run;
    pthread_t thread;
    int started;
    _Atomic int state;             /* ch_check_state_t of the last completed run */
    _Atomic int64_t inflight_since; /* monotonic ms a run started; 0 between runs */
    _Atomic int finished;           /* the thread has returned */
};

struct ch_health {
    ch_svc_t *svc;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC; wakes waits on stop, signals results and exits */
    _Atomic int stopping;
    _Atomic int boot; /* 0 retrying, 1 done, -1 failed */
    _Atomic int migrating;
    _Atomic int serving;
    ch__check_t db, kv, clickhouse;
    int has_clickhouse;
};

/* ---- waiting ----------------------------------------------------------------------------- */

/* Sleeps ms unless stopping (woken at once by ch_health_stop); returns 0 when stopping. */
static int ch__pause(ch_health_t *h, int64_t ms)
{
    struct timespec until = ch_mono_timespec_after(ms);
    pthread_mutex_lock(&h->mu);
    int rc = 0;
    while (!atomic_load(&h->stopping) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&h->cv, &h->mu, &until);
    pthread_mutex_unlock(&h->mu);
    return !atomic_load(&h->stopping);
}

static void ch__broadcast(ch_health_t *h)
{
    pthread_mutex_lock(&h->mu);
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* Runs one check, recording when it started (for the deadline) and its result. */
static void ch__run_check(ch__check_t *c)
{
    atomic_store(&c->inflight_since, ch_mono_ms() + 1); /* never 0 */
    ch_check_state_t st = c->run(c);
    atomic_store(&c->state, (int)st);
    atomic_store(&c->inflight_since, 0);
    ch__broadcast(c->owner);
}

/* ---- the checks -------------------------------------------------------------------------- */

static ch_check_state_t ch__check_db(ch__check_t *c)
{
    ch_db_t *db = c->owner->svc->db;
    if (ch_db_ping(db) != CH_OK)
        return CH_CHECK_UNAVAILABLE;
    /* Answering is not enough: a database that cannot write (disk full) is not ready. */
    return ch_db_probe_write(db) == CH_OK ? CH_CHECK_OK : CH_CHECK_UNWRITABLE;
}

static ch_check_state_t ch__check_kv(ch__check_t *c)
{
    return ch_kv_ping(c->owner->svc->kv) == CH_OK ? CH_CHECK_OK : CH_CHECK_UNAVAILABLE;
}

static ch_check_state_t ch__check_clickhouse(ch__check_t *c)
{
    return ch_clickhouse_ping(c->owner->svc->cfg->clickhouse_url, CH_HEALTH_DEADLINE_MS) == CH_OK
               ? CH_CHECK_OK
               : CH_CHECK_UNAVAILABLE;
}

/* ---- threads ----------------------------------------------------------------------------- */

/* The database thread: start-up first (when not done by main), then the checks. */
static void ch__db_loop(ch__check_t *c)
{
    ch_health_t *h = c->owner;
    int64_t backoff = 0;
    unsigned attempts = 0;
    while (atomic_load(&h->boot) == 0 && !atomic_load(&h->stopping)) {
        attempts++;
        ch_err_t err = ch_bootstrap_once(h->svc, &h->migrating);
        if (err == CH_OK) {
            ch_log_info("database ready after %u attempt(s): migrated, keys loaded", attempts);
            ch__run_check(c); /* so that /readyz has a result of its own once start-up is done */
            atomic_store(&h->boot, 1);
            break;
        }
        atomic_store(&h->migrating, 0);
        atomic_store(&c->state, CH_CHECK_UNAVAILABLE);
        if (err != CH_EUNAVAILABLE) {
            ch_log_error("CHORUS_DB: start-up failed (%s); not a database outage, giving up", ch_err_code(err));
            atomic_store(&h->boot, -1);
            ch__broadcast(h);
            return;
        }
        backoff = ch_bootstrap_backoff(backoff);
        if (attempts == 1)
            ch_log_warn("CHORUS_DB: the %s database does not answer; serving /healthz, /readyz (503) and /v1 "
                        "(503) meanwhile, retrying every %lld..%d ms",
                        ch_db_kind(h->svc->db), (long long)backoff, CH_BOOTSTRAP_BACKOFF_MAX_MS);
        ch__broadcast(h);
        if (!ch__pause(h, backoff))
            return;
    }
    ch__broadcast(h);
    if (attempts && !ch__pause(h, CH_HEALTH_INTERVAL_MS))
        return;
    while (!atomic_load(&h->stopping)) {
        ch__run_check(c);
        if (!ch__pause(h, CH_HEALTH_INTERVAL_MS))
            break;
    }
}

static void *ch__thread_main(void *arg)
{
    ch__check_t *c = arg;
    pthread_setname_np(pthread_self(), c->thread_name);
    if (c == &c->owner->db) {
        ch__db_loop(c);
    } else {
        while (!atomic_load(&c->owner->stopping)) {
            ch__run_check(c);
            if (!ch__pause(c->owner, CH_HEALTH_INTERVAL_MS))
                break;
        }
    }
    atomic_store(&c->finished, 1);
    ch__broadcast(c->owner);
    return NULL;
}

static int ch__spawn(ch_health_t *h, ch__check_t *c, const char *name, ch__check_fn run)
{
    c->owner = h;
    c->thread_name = name;
    c->run = run;
    atomic_store(&c->state, CH_CHECK_PENDING);
    if (pthread_create(&c->thread, NULL, ch__thread_main, c) != 0) {
        ch_log_error("cannot start the readiness thread %s", name);
        return -1;
    }
    c->started = 1;
    return 0;
}

/* ---- public ------------------------------------------------------------------------------ */

static void ch__free(ch_health_t *h)
{
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

ch_health_t *ch_health_start(ch_svc_t *svc, int bootstrapped)
{
    ch_health_t *h = ch_calloc(1, sizeof(*h));
    h->svc = svc;
    h->has_clickhouse = svc->cfg->clickhouse_url[0] != '\0';
    atomic_store(&h->boot, bootstrapped ? 1 : 0);
    pthread_mutex_init(&h->mu, NULL);
    ch_cond_init_monotonic(&h->cv);
    if (h->has_clickhouse)
        ch_clickhouse_global_init(); /* before any thread uses libcurl */
    if (ch__spawn(h, &h->db, "ch-ready-db", ch__check_db) != 0 ||
        ch__spawn(h, &h->kv, "ch-ready-kv", ch__check_kv) != 0 ||
        (h->has_clickhouse && ch__spawn(h, &h->clickhouse, "ch-ready-ch", ch__check_clickhouse) != 0)) {
        if (ch_health_stop(h) != 0)
            abort(); /* a thread that just started is stuck: cannot happen without a hung backend */
        return NULL;
    }
    return h;
}

int ch_health_bootstrapped(const ch_health_t *h)
{
    return atomic_load(&h->boot);
}

static int ch__all_checked(ch_health_t *h)
{
    return atomic_load(&h->boot) != 0 && atomic_load(&h->db.state) != CH_CHECK_PENDING &&
           atomic_load(&h->kv.state) != CH_CHECK_PENDING &&
           (!h->has_clickhouse || atomic_load(&h->clickhouse.state) != CH_CHECK_PENDING);
}

void ch_health_wait_first(ch_health_t *h, int64_t timeout_ms)
{
    int64_t deadline = ch_mono_ms() + timeout_ms;
    while (!ch__all_checked(h) && !atomic_load(&h->stopping)) {
        int64_t left = deadline - ch_mono_ms();
        if (left <= 0)
            return;
        struct timespec until = ch_mono_timespec_after(left > 50 ? 50 : left); /* re-check at least every 50 ms */
        pthread_mutex_lock(&h->mu);
        if (!ch__all_checked(h))
            pthread_cond_timedwait(&h->cv, &h->mu, &until);
        pthread_mutex_unlock(&h->mu);
    }
}

void ch_health_set_serving(ch_health_t *h)
{
    atomic_store(&h->serving, 1);
}

int ch_health_serving(const ch_health_t *h)
{
    return !h || atomic_load_explicit(&h->serving, memory_order_acquire);
}

/* The last result of c, or UNAVAILABLE (timed out) when a run is overdue. */
static ch_check_result_t ch__result(const ch__check_t *c, int64_t now)
{
    ch_check_result_t r = {.state = (ch_check_state_t)atomic_load(&c->state)};
    int64_t since = atomic_load(&c->inflight_since);
    if (since && now - since > CH_HEALTH_DEADLINE_MS) {
        r.state = CH_CHECK_UNAVAILABLE;
        r.timed_out = 1;
    }
    return r;
}

void ch_health_report(const ch_health_t *h, ch_health_report_t *out)
{
    *out = (ch_health_report_t){0};
    if (!h)
        return;
    int64_t now = ch_mono_ms();
    out->serving = ch_health_serving(h);
    out->has_clickhouse = h->has_clickhouse;
    out->kv = ch__result(&h->kv, now);
    if (out->has_clickhouse)
        out->clickhouse = ch__result(&h->clickhouse, now);
    if (atomic_load(&h->boot) == 1) {
        out->db = ch__result(&h->db, now);
    } else {
        out->db.state = atomic_load(&h->migrating) ? CH_CHECK_MIGRATING : CH_CHECK_UNAVAILABLE;
    }
}

int ch_health_stop(ch_health_t *h)
{
    if (!h)
        return 0;
    pthread_mutex_lock(&h->mu);
    atomic_store(&h->stopping, 1);
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    ch__check_t *checks[] = {&h->db, &h->kv, &h->clickhouse};
    int64_t deadline = ch_mono_ms() + CH_HEALTH_STOP_WAIT_MS;
    int stuck = 0;
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        ch__check_t *c = checks[i];
        if (!c->started)
            continue;
        while (!atomic_load(&c->finished) && ch_mono_ms() < deadline) {
            struct timespec until = ch_mono_timespec_after(50);
            pthread_mutex_lock(&h->mu);
            if (!atomic_load(&c->finished))
                pthread_cond_timedwait(&h->cv, &h->mu, &until);
            pthread_mutex_unlock(&h->mu);
        }
        if (!atomic_load(&c->finished)) {
            ch_log_warn("readiness thread %s is still waiting on its backend after %d ms", c->thread_name,
                        CH_HEALTH_STOP_WAIT_MS);
            stuck = 1;
            continue;
        }
        pthread_join(c->thread, NULL);
        c->started = 0;
    }
    if (stuck)
        return -1;
    ch__free(h);
    return 0;
}

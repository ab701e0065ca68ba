#include "svc/auth/passwords.h"

#include <unistd.h>

#include "core/metrics.h"
#include "store/db.h"
#include "svc/auth/pwhash_pool.h"

static _Atomic(ch_pwhash_pool_t *) ch__metrics_pool;
static _Atomic unsigned long long ch__last_seen_writes;
static atomic_int ch__renderer_added;

void ch_auth_count_last_seen_write(void)
{
    atomic_fetch_add(&ch__last_seen_writes, 1);
}

static void ch__render_metrics(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out,
                  "# HELP chorus_session_last_seen_writes_total Writes of sessions' last-seen times (at most one "
                  "a minute per session).\n# TYPE chorus_session_last_seen_writes_total counter\n"
                  "chorus_session_last_seen_writes_total %llu\n",
                  (unsigned long long)atomic_load(&ch__last_seen_writes));
    ch_pwhash_pool_t *pool = atomic_load(&ch__metrics_pool);
    if (!pool)
        return;
    ch_pwhash_stats_t st;
    ch_pwhash_pool_stats(pool, &st);
    ch_buf_printf(out,
                  "# HELP chorus_pwhash_queued Password hashes waiting for a hashing thread.\n"
                  "# TYPE chorus_pwhash_queued gauge\nchorus_pwhash_queued %zu\n"
                  "# HELP chorus_pwhash_running Password hashes being computed.\n"
                  "# TYPE chorus_pwhash_running gauge\nchorus_pwhash_running %zu\n"
                  "# HELP chorus_pwhash_total Password hashes computed.\n"
                  "# TYPE chorus_pwhash_total counter\nchorus_pwhash_total %llu\n"
                  "# HELP chorus_pwhash_rejected_total Password hashes refused (queue full, 503 overloaded).\n"
                  "# TYPE chorus_pwhash_rejected_total counter\nchorus_pwhash_rejected_total %llu\n"
                  "# HELP chorus_pwhash_dropped_total Queued password hashes skipped because the client was gone.\n"
                  "# TYPE chorus_pwhash_dropped_total counter\nchorus_pwhash_dropped_total %llu\n",
                  st.queued, st.running, st.ran, st.rejected, st.dropped);
}

int ch_auth_passwords_start(ch_svc_t *svc)
{
    const ch_config_t *cfg = svc->cfg;
    unsigned n = ch_pwhash_concurrency(cfg->pwhash_max_memory, cfg->pwhash_memlimit, sysconf(_SC_NPROCESSORS_ONLN));
    svc->pwhash = ch_pwhash_pool_create(n, cfg->pwhash_queue, CH_PWHASH_NICE);
    if (!svc->pwhash)
        return -1;
    atomic_store(&ch__metrics_pool, svc->pwhash);
    if (!atomic_exchange(&ch__renderer_added, 1))
        ch_metrics_add_renderer(ch__render_metrics, NULL);
    return 0;
}

void ch_auth_passwords_stop(ch_svc_t *svc)
{
    if (atomic_load(&ch__metrics_pool) == svc->pwhash)
        atomic_store(&ch__metrics_pool, NULL);
    ch_pwhash_pool_destroy(svc->pwhash);
    svc->pwhash = NULL;
}

/* ---- jobs ------------------------------------------------------------------------------- */

typedef struct {
    const ch_config_t *cfg;
    const char *hash; /* verify: stored hash or NULL (dummy) */
    const char *pw;
    size_t len;
    char *out; /* hash: CH_PWHASH_LEN bytes */
    int result;
} ch__job_t;

static void ch__hash_job(void *arg)
{
    ch__job_t *j = arg;
    j->result = ch_password_hash(j->pw, j->len, j->cfg->pwhash_opslimit, j->cfg->pwhash_memlimit, j->out);
}

static void ch__verify_job(void *arg)
{
    ch__job_t *j = arg;
    j->result = ch_password_verify(j->hash, j->pw, j->len);
}

static ch_err_t ch__overloaded(ch_fault_t *f)
{
    if (f)
        f->retry_after_s = CH_PWHASH_RETRY_AFTER_S;
    return ch_fault(f, CH_EOVERLOADED, NULL, "too many logins and registrations at once; retry in %d s",
                    CH_PWHASH_RETRY_AFTER_S);
}

ch_err_t ch_auth_password_admit(ch_svc_t *svc, ch_fault_t *f)
{
    return svc->pwhash && ch_pwhash_pool_full(svc->pwhash) ? ch__overloaded(f) : CH_OK;
}

/* Runs a job on the hasher (or here without one); maps what became of it to an error. */
static ch_err_t ch__run(ch_svc_t *svc, void (*fn)(void *), ch__job_t *job, const ch_client_watch_t *watch, ch_fault_t *f)
{
    if (!svc->pwhash) {
        fn(job);
        return CH_OK;
    }
    /* A job still queued when the request's deadline passes is not run: its answer would be
     * refused anyway (the deadline ends the request's writes), and under a burst the hasher
     * then spends its time on requests that can still be answered. */
    ch_client_watch_t w = watch ? *watch : (ch_client_watch_t){NULL, -1, 0};
    if (!w.deadline_ms)
        w.deadline_ms = ch_db_deadline();
    switch (ch_pwhash_pool_run(svc->pwhash, fn, job, &w)) {
    case CH_PWHASH_RAN:
        return CH_OK;
    case CH_PWHASH_FULL:
        return ch__overloaded(f);
    case CH_PWHASH_DROPPED:
        return ch_fault(f, CH_EUNAVAILABLE, NULL, "the request's deadline passed, or its client went away, before its password was checked");
    default:
        return ch_fault(f, CH_EUNAVAILABLE, NULL, "the server is stopping");
    }
}

ch_err_t ch_auth_password_hash(ch_svc_t *svc, const char *pw, size_t len, const ch_client_watch_t *watch,
                               char out[CH_PWHASH_LEN], ch_fault_t *f)
{
    ch__job_t job = {.cfg = svc->cfg, .pw = pw, .len = len, .out = out};
    ch_err_t err = ch__run(svc, ch__hash_job, &job, watch, f);
    if (err == CH_OK && job.result != 0)
        err = ch_fault(f, CH_EUNAVAILABLE, NULL, "password hashing is out of memory");
    return err;
}

ch_err_t ch_auth_password_verify(ch_svc_t *svc, const char *hash, const char *pw, size_t len,
                                 const ch_client_watch_t *watch, int *ok, ch_fault_t *f)
{
    ch__job_t job = {.cfg = svc->cfg, .hash = hash, .pw = pw, .len = len};
    ch_err_t err = ch__run(svc, ch__verify_job, &job, watch, f);
    *ok = err == CH_OK && job.result;
    return err;
}

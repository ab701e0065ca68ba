#include "svc/health/bootstrap.h"

#include "core/log.h"
#include "svc/health/health.h"

ch_err_t ch_bootstrap_once(ch_svc_t *svc, _Atomic int *migrating)
{
    /* A ping first: "waiting for the database" and "applying migrations" are different
     * answers for an operator looking at /readyz. */
    ch_err_t err = ch_db_ping(svc->db);
    if (err != CH_OK)
        return err;
    atomic_store(migrating, 1);
    int applied = 0;
    if ((err = ch_db_migrate(svc->db, &applied)) != CH_OK) {
        ch_log_warn("db: migrations failed (%s)", ch_err_code(err));
        return err;
    }
    if (applied)
        ch_log_info("applied %d migration(s) to the %s database", applied, ch_db_kind(svc->db));
    if ((err = ch_svc_load_keys(svc)) != CH_OK)
        ch_log_warn("db: cannot load the server keys (%s)", ch_err_code(err));
    return err;
}

int64_t ch_bootstrap_backoff(int64_t prev_ms)
{
    if (prev_ms <= 0)
        return CH_BOOTSTRAP_BACKOFF_MIN_MS;
    return prev_ms >= CH_BOOTSTRAP_BACKOFF_MAX_MS / 2 ? CH_BOOTSTRAP_BACKOFF_MAX_MS : prev_ms * 2;
}

/* Start-up steps that need the database: check that it answers, apply the schema
 * migrations, load the server keys. main.c runs them once for SQLite (a failure is a
 * configuration error: exit); for PostgreSQL the health thread retries them in the
 * background until the server answers (svc/health/health.h). */
#ifndef CH_SVC_HEALTH_BOOTSTRAP_H
#define CH_SVC_HEALTH_BOOTSTRAP_H

#include <stdatomic.h>
#include <stdint.h>

#include "svc/context.h"

/** One attempt: pings svc->db, sets *migrating to 1 once it answered, applies the
 * migrations and loads svc->token_key (ch_svc_load_keys). CH_EUNAVAILABLE: the database
 * did not answer (worth retrying); any other error is not cured by waiting. */
ch_err_t ch_bootstrap_once(ch_svc_t *svc, _Atomic int *migrating);
/** The pause before the next attempt: CH_BOOTSTRAP_BACKOFF_MIN_MS after the first
 * failure (prev_ms 0), then doubling up to CH_BOOTSTRAP_BACKOFF_MAX_MS. */
int64_t ch_bootstrap_backoff(int64_t prev_ms);

#endif

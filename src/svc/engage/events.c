/* The event log: one row per engagement, written inside the engagement's own transaction.
 * Consumers (svc/worker): notifications (svc/engage/notify_consume.c), ranking signals
 * (svc/engage/signals.c) and, in cluster mode, the ClickHouse shipper
 * (svc/engage/shipper.c), which marks rows shipped_at. */
#include "svc/engage/events.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/id.h"
#include "core/log.h"
#include "svc/common/sql.h"

/* The kinds of events.h; anything else is a caller's bug (nobody downstream knows it). */
static const char *const ch__kinds[] = {"reaction", "unreaction", "comment", "reply", "mention", "view", NULL};

/* Whether ev keeps to the contract of events.h. */
static int ch__valid(const ch_event_t *ev)
{
    int known = 0;
    for (const char *const *k = ch__kinds; *k && ev->kind && !known; k++)
        known = strcmp(*k, ev->kind) == 0;
    return known && ev->ts > 0 && ev->user_id && ev->user_id <= INT64_MAX && ev->target_id &&
           ev->target_id <= INT64_MAX && ev->author_id <= INT64_MAX && isfinite(ev->value) &&
           (int)ev->target_type >= 0 && ev->target_type < CH__TARGET_COUNT;
}

ch_err_t ch_events_emit(ch_svc_t *svc, ch_db_conn_t *conn, const ch_event_t *ev)
{
    if (!ch__valid(ev)) {
        ch_log_error("engagement event refused: kind '%s', user %llu, target %s %llu, value %g (see events.h)",
                     ev->kind ? ev->kind : "(null)", (unsigned long long)ev->user_id,
                     ch_target_type_name(ev->target_type), (unsigned long long)ev->target_id, ev->value);
        return CH_EINTERNAL;
    }
    char value[32];
    snprintf(value, sizeof(value), "%.6f", ev->value);
    ch_db_param_t p[] = {CH_DB_P_INT(ch_id_next()),       CH_DB_P_INT(ev->ts),
                         CH_DB_P_INT(ev->user_id),        CH_DB_P_TEXT(ev->kind),
                         CH_DB_P_TEXT(ch_target_type_name(ev->target_type)), CH_DB_P_INT(ev->target_id),
                         CH_DB_P_INT(ev->author_id),      CH_DB_P_TEXT(value)};
    return ch_sql_on(svc, conn,
                     "INSERT INTO engagement_events(id, ts, user_id, kind, target_type, target_id, author_id, value) "
                     "VALUES($1, $2, $3, $4, $5, $6, $7, CAST($8 AS DOUBLE PRECISION))",
                     p, CH_NPARAMS(p), NULL, NULL);
}

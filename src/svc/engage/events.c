#include "svc/engage/events.h"

#include <stdio.h>

#include "core/id.h"
#include "svc/common/sql.h"

ch_err_t ch_events_emit(ch_svc_t *svc, ch_db_conn_t *conn, const ch_event_t *ev)
{
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

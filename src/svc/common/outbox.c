#include "svc/common/outbox.h"

#include <stdio.h>

#include "core/clock.h"
#include "core/id.h"

/* Inserts one outbox row with a ready payload. */
static ch_err_t ch__outbox_insert(ch_svc_t *svc, ch_db_conn_t *conn, const char *topic, uint64_t aggregate_id,
                                  const char *payload)
{
    ch_db_param_t p[] = {CH_DB_P_INT(ch_id_next()), CH_DB_P_TEXT(topic), CH_DB_P_INT(aggregate_id),
                         CH_DB_P_TEXT(payload), CH_DB_P_INT(ch_now_ms())};
    return ch_sql_on(svc, conn,
                     "INSERT INTO outbox(id, topic, aggregate_id, payload, created_at) VALUES($1, $2, $3, $4, $5)", p,
                     CH_NPARAMS(p), NULL, NULL);
}

ch_err_t ch_outbox_add(ch_svc_t *svc, ch_db_conn_t *conn, const char *topic, const char *id_field,
                       uint64_t aggregate_id)
{
    char id[CH_ID_STR_LEN], payload[128];
    snprintf(payload, sizeof(payload), "{\"%s\":\"%s\"}", id_field, ch_id_format(aggregate_id, id));
    return ch__outbox_insert(svc, conn, topic, aggregate_id, payload);
}

ch_err_t ch_outbox_add_pair(ch_svc_t *svc, ch_db_conn_t *conn, const char *topic, const char *id_field,
                            uint64_t aggregate_id, const char *other_field, uint64_t other_id)
{
    char id[CH_ID_STR_LEN], other[CH_ID_STR_LEN], payload[192];
    snprintf(payload, sizeof(payload), "{\"%s\":\"%s\",\"%s\":\"%s\"}", id_field, ch_id_format(aggregate_id, id),
             other_field, ch_id_format(other_id, other));
    return ch__outbox_insert(svc, conn, topic, aggregate_id, payload);
}

ch_err_t ch_outbox_add_json(ch_svc_t *svc, ch_db_conn_t *conn, const char *topic, uint64_t aggregate_id,
                            const char *payload)
{
    return ch__outbox_insert(svc, conn, topic, aggregate_id, payload);
}

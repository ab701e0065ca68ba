/* The transactional outbox: domain events written in the same transaction as the change
 * they describe, so that later workers (fan-out, notifications, search) never miss one. */
#ifndef CH_SVC_COMMON_OUTBOX_H
#define CH_SVC_COMMON_OUTBOX_H

#include <stdint.h>

#include "svc/common/sql.h"

/** Appends an event {"<id_field>": "<aggregate_id>"} of `topic` on conn, which must be in
 * the caller's write transaction. */
ch_err_t ch_outbox_add(ch_svc_t *svc, ch_db_conn_t *conn, const char *topic, const char *id_field,
                       uint64_t aggregate_id);
/** Appends an event about a pair of users, {"<id_field>": "<aggregate_id>",
 * "<other_field>": "<other_id>"} (e.g. follower_id/followee_id), keyed by aggregate_id, on
 * conn, which must be in the caller's write transaction. Field names are borrowed. */
ch_err_t ch_outbox_add_pair(ch_svc_t *svc, ch_db_conn_t *conn, const char *topic, const char *id_field,
                            uint64_t aggregate_id, const char *other_field, uint64_t other_id);
/** Appends an event of `topic` keyed by aggregate_id whose payload is the JSON object text
 * `payload` (borrowed; the caller builds it and escapes what it puts in), on conn, which
 * must be in the caller's write transaction. */
ch_err_t ch_outbox_add_json(ch_svc_t *svc, ch_db_conn_t *conn, const char *topic, uint64_t aggregate_id,
                            const char *payload);

#endif

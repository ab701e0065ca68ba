/* Engagement events: every reaction, comment, reply, mention, view (and unreaction)
 * emits one, written in the same transaction as the engagement itself, so the event log
 * never misses or invents one. The log is a table in embedded mode and is shipped in
 * batches to ClickHouse in cluster mode; affinity (viewer -> author, time-decayed) and
 * velocity (per item, weighted engagements per hour) are folded from it. */
#ifndef CH_SVC_ENGAGE_EVENTS_H
#define CH_SVC_ENGAGE_EVENTS_H

#include <stdint.h>

#include "svc/engage/target.h"

/** One engagement. kind: "reaction", "unreaction", "comment", "reply", "mention", "view". */
typedef struct {
    int64_t ts;            /* unix ms */
    uint64_t user_id;      /* who engaged */
    const char *kind;
    ch_target_type_t target_type;
    uint64_t target_id;
    uint64_t author_id;    /* whom it is addressed to: the target's owner; for a reply the
                            * parent comment's author; for a mention the mentioned user */
    double value;          /* e.g. watch time in seconds for views, 1 otherwise */
} ch_event_t;

/** Appends an event to the event log on conn, inside the caller's write transaction. */
ch_err_t ch_events_emit(ch_svc_t *svc, ch_db_conn_t *conn, const ch_event_t *ev);

#endif

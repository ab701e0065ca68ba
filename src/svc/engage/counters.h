/* Per-target engagement counters: reactions per kind, comments, views and watch time.
 *
 * The engagement rows (reactions, views, comments) are the truth; the counters are kept
 * beside them in `target_counters`, moved in the SAME transaction as the row change by a
 * delta computed from what its statements really changed (a row inserted, replaced or
 * deleted), so that no acknowledged change is lost or counted twice, on one node or many,
 * and a crash cannot separate a row from its count. Reading is one primary-key lookup
 * (item queries join it, see svc/content/render.h), whatever the number of reactions.
 *
 * Lock order: a writer changes its rows first and the counter row last, so the counter row
 * of a hot item is held only from that update to the commit, and writers never deadlock
 * on it. ch_counters_repair recomputes a target from its rows. */
#ifndef CH_SVC_ENGAGE_COUNTERS_H
#define CH_SVC_ENGAGE_COUNTERS_H

#include <jansson.h>
#include <stdint.h>

#include "svc/common/sql.h"
#include "svc/engage/reactions_kind.h"
#include "svc/engage/target.h"

/** The counters of one target, or a delta to them. */
typedef struct {
    int64_t reactions[CH_REACTION_KIND_COUNT];
    int64_t comments;
    int64_t views;
    int64_t watch_ms;
} ch_counters_t;

/** Whether every member of c is zero. */
int ch_counters_is_zero(const ch_counters_t *c);
/** Sum of the reaction counts. */
int64_t ch_counters_reactions_total(const ch_counters_t *c);
/** Adds delta to the counters of (type, id) on conn, which must be in the caller's write
 * transaction after its row changes (see the lock order above). An all-zero delta writes
 * nothing. after (may be NULL) receives the counters as they now are in the transaction. */
ch_err_t ch_counters_add(ch_svc_t *svc, ch_db_conn_t *conn, ch_target_type_t type, uint64_t id,
                         const ch_counters_t *delta, ch_counters_t *after);
/** Reads the counters of (type, id); all zero when the target has none. conn may be NULL
 * (one is borrowed) or the caller's, inside its transaction. */
ch_err_t ch_counters_read(ch_svc_t *svc, ch_db_conn_t *conn, ch_target_type_t type, uint64_t id,
                          ch_counters_t *out);
/** The API's counts object {reactions: {kind: n} (kinds with n > 0 only), reactions_total,
 * comments, views}. Caller owns it. */
json_t *ch_counters_json(const ch_counters_t *c);

/** Recomputes every counter of (type, id) from the rows — reactions per kind, views and
 * watch time, live comments and replies — in one write transaction. before/after (may be
 * NULL) receive the stored and the recomputed values. Exact while writers run: the counter
 * row is locked before the rows are counted, so a writer's row and its delta are either
 * both seen or both applied after. */
ch_err_t ch_counters_repair(ch_svc_t *svc, ch_target_type_t type, uint64_t id, ch_counters_t *before,
                            ch_counters_t *after);
/** Repairs every target that has counters, reactions, views or comments, one transaction
 * each.
 * *checked and *fixed (may be NULL) receive how many targets were looked at and changed. */
ch_err_t ch_counters_repair_all(ch_svc_t *svc, uint64_t *checked, uint64_t *fixed);

#endif

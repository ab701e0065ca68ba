/* One reaction write, as the group-commit writer and the direct path both run it. Internal
 * to svc/engage (reactions*.c). */
#ifndef CH_SVC_ENGAGE_REACTIONS_APPLY_H
#define CH_SVC_ENGAGE_REACTIONS_APPLY_H

#include <stdint.h>

#include "svc/common/batch_writer.h"
#include "svc/engage/counters.h"

/** A reaction write and its outcome. */
typedef struct ch__reaction_op {
    /* ---- input ---- */
    uint64_t user_id;
    ch_target_type_t type;
    uint64_t target_id;
    int kind; /* ch_reaction_kind_t to set, or -1 to remove */
    /* The target as resolved before the op was queued (resolved set: the transaction checks
     * its visibility again, ch__reactions_recheck), or resolved by the transaction itself
     * (resolved 0). */
    int resolved;
    ch_target_t target;
    /* ---- outcome, valid once the op is done ---- */
    ch_err_t err;          /* CH_OK, a refusal (CH_ENOTFOUND) or the transaction's error */
    ch_fault_t fault;
    ch_counters_t counts;  /* the target's counters after the commit */
    /* ---- plumbing (reactions_writer.c) ---- */
    /* In the group-commit writer's queue (svc/common/batch_writer.h); its deadline_ms is the
     * submitting request's (ch_db_deadline at submit; 0: none): the writer runs the op's
     * database work under it, so that a hung database answers the request 503 in time
     * instead of holding it. */
    ch_batch_item_t item;
    /* Called on the writer thread once the outcome is set; op may be freed in it. */
    void (*done)(struct ch__reaction_op *op);
    void *arg;
} ch__reaction_op_t;

/** Asks again, inside the caller's transaction on conn, whether op's target is live and
 * op->user_id may still engage with it (the rule of ch_target_resolve, one statement):
 * *visible 1 or 0. Returns the statement's error. */
ch_err_t ch__reactions_recheck(ch_svc_t *svc, ch_db_conn_t *conn, const ch__reaction_op_t *op, int *visible);
/** Runs ops[0..n) in one write transaction on own (a connection the caller holds, outside
 * a transaction) or, when own is NULL, on one borrowed for the call: each op is applied in
 * order (later ones see earlier ones; a pre-resolved op whose target the user may no
 * longer see is refused with CH_ENOTFOUND and writes nothing), the counter deltas are summed per target and
 * applied last, and every op receives its outcome. Returns CH_OK when the transaction
 * committed (each op's own err then says whether it was refused); otherwise the
 * transaction's error, nothing of it was kept and the ops' outcomes are meaningless. */
ch_err_t ch__reactions_run(ch_svc_t *svc, ch_db_conn_t *own, ch__reaction_op_t **ops, size_t n);
/** Runs ops one transaction each after a batch failed, so that one bad op cannot sink the
 * others; an op whose own transaction fails gets that error. own as above. */
void ch__reactions_run_each(ch_svc_t *svc, ch_db_conn_t *own, ch__reaction_op_t **ops, size_t n);

#endif

/* Applying reaction writes inside a transaction: the row change, its events and the
 * counter delta computed from what the statements really changed. */
#include "svc/engage/reactions_apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "svc/common/hydrate.h"
#include "svc/common/outbox.h"
#include "svc/engage/events.h"

/* Sets the user's reaction in one statement that also says what it changed: no row when
 * it already was this kind; the new id when it was inserted; the kept id and the replaced
 * kind (prev_kind) when another kind was replaced. On PostgreSQL the conflicting row is
 * locked and re-read, so concurrent requests of one user apply one after the other. */
static const char ch__sql_put[] =
    "INSERT INTO reactions(target_type, target_id, user_id, kind, id, created_at) VALUES($1, $2, $3, $4, $5, $6)"
    " ON CONFLICT (target_type, target_id, user_id) DO UPDATE SET prev_kind = reactions.kind, kind = excluded.kind"
    " WHERE reactions.kind <> excluded.kind"
    " RETURNING id, prev_kind";

/* Sets op's kind: *changed 0 (it already was), 1 (inserted) or 2 (replaced *old). */
static ch_err_t ch__put(ch_svc_t *svc, ch_db_conn_t *conn, const ch__reaction_op_t *op, int64_t now, int *changed,
                        int *old)
{
    ch_db_rows_t *rows = NULL;
    int64_t id = (int64_t)ch_id_next();
    ch_db_param_t p[] = {CH_DB_P_TEXT(ch_target_type_name(op->type)),
                         CH_DB_P_INT(op->target_id),
                         CH_DB_P_INT(op->user_id),
                         CH_DB_P_TEXT(ch_reaction_kind_name(op->kind)),
                         CH_DB_P_INT(id),
                         CH_DB_P_INT(now)};
    ch_err_t err = ch_sql_on(svc, conn, ch__sql_put, p, CH_NPARAMS(p), &rows, NULL);
    *changed = 0;
    *old = -1;
    if (err == CH_OK && ch_db_rows_count(rows) == 1) {
        *changed = ch_db_rows_int(rows, 0, 0) == id ? 1 : 2;
        if (*changed == 2)
            *old = ch_reaction_kind_parse(ch_db_rows_text(rows, 0, 1));
    }
    ch_db_rows_free(rows);
    return err;
}

/* Removes the user's reaction; *old is its kind (-1: none, or a kind this build does not
 * know: it is then not counted), *removed whether there was one. */
static ch_err_t ch__remove(ch_svc_t *svc, ch_db_conn_t *conn, const ch__reaction_op_t *op, int *removed, int *old)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(ch_target_type_name(op->type)), CH_DB_P_INT(op->target_id),
                         CH_DB_P_INT(op->user_id)};
    ch_err_t err = ch_sql_on(svc, conn,
                             "DELETE FROM reactions WHERE target_type = $1 AND target_id = $2 AND user_id = $3"
                             " RETURNING kind",
                             p, CH_NPARAMS(p), &rows, NULL);
    *removed = err == CH_OK && ch_db_rows_count(rows) == 1;
    *old = *removed ? ch_reaction_kind_parse(ch_db_rows_text(rows, 0, 0)) : -1;
    ch_db_rows_free(rows);
    return err;
}

/* ---- events ------------------------------------------------------------------------------ */

/* Appends an outbox event about a reaction:
 * {"user_id","target_type","target_id","author_id","kind"[,"previous_kind"]}. */
static ch_err_t ch__outbox(ch_svc_t *svc, ch_db_conn_t *conn, const ch__reaction_op_t *op, const ch_target_t *t,
                           const char *topic, int kind, int previous_kind)
{
    char user[CH_ID_STR_LEN], target[CH_ID_STR_LEN], author[CH_ID_STR_LEN], payload[320], prev[48] = "";
    if (previous_kind >= 0)
        snprintf(prev, sizeof(prev), ",\"previous_kind\":\"%s\"", ch_reaction_kind_name(previous_kind));
    snprintf(payload, sizeof(payload),
             "{\"user_id\":\"%s\",\"target_type\":\"%s\",\"target_id\":\"%s\",\"author_id\":\"%s\",\"kind\":\"%s\"%s}",
             ch_id_format(op->user_id, user), ch_target_type_name(op->type), ch_id_format(op->target_id, target),
             ch_id_format(t->author_id, author), kind >= 0 ? ch_reaction_kind_name(kind) : "unknown", prev);
    return ch_outbox_add_json(svc, conn, topic, op->target_id, payload);
}

/* Appends an engagement event ("reaction" / "unreaction") for the target's owner; its value
 * is the weight of the reaction kind given or taken back. */
static ch_err_t ch__event(ch_svc_t *svc, ch_db_conn_t *conn, const ch__reaction_op_t *op, const ch_target_t *t,
                          const char *kind, int reaction_kind, int64_t now)
{
    ch_event_t ev = {now, op->user_id, kind, op->type, op->target_id, t->author_id,
                     ch_reaction_kind_weight(reaction_kind)};
    return ch_events_emit(svc, conn, &ev);
}

/* ---- one op ------------------------------------------------------------------------------- */

/* Applies one op on conn: a refusal goes to op->err (and CH_OK is returned, the
 * transaction goes on); a failure of the transaction is returned. delta receives what the
 * op changed in its target's counters, *changed whether the user's reaction row changed. */
static ch_err_t ch__apply(ch_svc_t *svc, ch_db_conn_t *conn, ch__reaction_op_t *op, ch_counters_t *delta,
                          int *changed_out)
{
    ch_target_t t = op->target;
    memset(delta, 0, sizeof(*delta));
    *changed_out = 0;
    op->err = CH_OK;
    memset(&op->fault, 0, sizeof(op->fault));
    ch_err_t err = op->resolved ? CH_OK : ch_target_resolve(svc, conn, op->user_id, op->type, op->target_id, &t,
                                                            &op->fault);
    if (err == CH_OK && op->resolved) {
        /* Resolved before queueing: a block or delete committed since then must win. */
        int visible = 0;
        if ((err = ch__reactions_recheck(svc, conn, op, &visible)) == CH_OK && !visible)
            err = ch_fault(&op->fault, CH_ENOTFOUND, NULL, "%s not found", ch_target_type_name(op->type));
    }
    if (err == CH_ENOTFOUND) {
        op->err = err;
        return CH_OK;
    }
    if (err)
        return err;
    int64_t now = ch_now_ms();
    int changed = 0, old = -1;
    if (op->kind < 0) {
        if ((err = ch__remove(svc, conn, op, &changed, &old)) != CH_OK || !changed)
            return err;
        *changed_out = 1;
        if (old >= 0)
            delta->reactions[old] = -1;
        err = ch__event(svc, conn, op, &t, "unreaction", old, now);
        return err ? err : ch__outbox(svc, conn, op, &t, "reaction.deleted", old, -1);
    }
    if ((err = ch__put(svc, conn, op, now, &changed, &old)) != CH_OK || !changed)
        return err;
    *changed_out = 1;
    delta->reactions[op->kind] = 1;
    if (changed == 2 && old >= 0)
        delta->reactions[old] = -1;
    /* A replace is an unreaction and a reaction in the log: consumers that add them up see
     * one reaction per user. */
    if (changed == 2)
        err = ch__event(svc, conn, op, &t, "unreaction", old, now);
    if (err == CH_OK)
        err = ch__event(svc, conn, op, &t, "reaction", op->kind, now);
    if (err == CH_OK)
        err = ch__outbox(svc, conn, op, &t, changed == 2 ? "reaction.updated" : "reaction.created", op->kind,
                         changed == 2 ? old : -1);
    return err;
}

/* ---- a batch ------------------------------------------------------------------------------ */

typedef struct {
    ch_target_type_t type;
    uint64_t id;
    ch_counters_t delta;
    ch_counters_t after;
} ch__target_sum_t;

static int ch__target_cmp(const void *a, const void *b)
{
    const ch__target_sum_t *x = a, *y = b;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The entry of (type, id) in sums[0..*n), appended when missing. */
static ch__target_sum_t *ch__target_sum(ch__target_sum_t *sums, size_t *n, ch_target_type_t type, uint64_t id)
{
    for (size_t i = 0; i < *n; i++)
        if (sums[i].type == type && sums[i].id == id)
            return &sums[i];
    ch__target_sum_t *s = &sums[(*n)++];
    memset(s, 0, sizeof(*s));
    s->type = type;
    s->id = id;
    return s;
}

static void ch__counters_add_into(ch_counters_t *sum, const ch_counters_t *d)
{
    for (int k = 0; k < CH_REACTION_KIND_COUNT; k++)
        sum->reactions[k] += d->reactions[k];
    sum->comments += d->comments;
    sum->views += d->views;
    sum->watch_ms += d->watch_ms;
}

/* After the batch committed: forgets, in one round trip, the records of the targets whose
 * counters moved and each changed reactor's own state on its target (my_reaction). */
static void ch__forget(ch_svc_t *svc, ch__reaction_op_t **ops, const unsigned char *changed, size_t n,
                       const ch__target_sum_t *sums, size_t nsums)
{
    ch_hydrate_forget_hold();
    for (size_t i = 0; i < nsums; i++)
        if (!ch_counters_is_zero(&sums[i].delta))
            ch_hydrate_forget_item(svc, sums[i].type, sums[i].id);
    for (size_t i = 0; i < n; i++)
        if (changed[i]) {
            ch_hydrate_forget_viewer_item(svc, ops[i]->user_id, ops[i]->type, ops[i]->target_id);
            ch_hydrate_forget_reactions(svc, ops[i]->type, ops[i]->target_id); /* the reactions list */
        }
    ch_hydrate_forget_flush(svc);
}

ch_err_t ch__reactions_run(ch_svc_t *svc, ch_db_conn_t *own, ch__reaction_op_t **ops, size_t n)
{
    ch__target_sum_t *sums = ch_calloc(n ? n : 1, sizeof(*sums));
    unsigned char *changed = ch_calloc(n ? n : 1, 1);
    size_t nsums = 0;
    ch_db_conn_t *conn = own;
    ch_err_t err = own ? ch_backend_err(CH_BACKEND_DB, ch_db_begin(svc->db, own, 1)) : ch_sql_begin(svc, 1, &conn);
    if (err) {
        free(changed);
        free(sums);
        return err;
    }
    for (size_t i = 0; i < n && err == CH_OK; i++) {
        ch_counters_t delta;
        int row_changed = 0;
        err = ch__apply(svc, conn, ops[i], &delta, &row_changed);
        changed[i] = (unsigned char)row_changed;
        if (err == CH_OK && ops[i]->err == CH_OK)
            ch__counters_add_into(&ch__target_sum(sums, &nsums, ops[i]->type, ops[i]->target_id)->delta, &delta);
    }
    /* Counters last (each writer holds a counter row only until its commit), in one order
     * (two batches on PostgreSQL cannot deadlock over two targets). */
    qsort(sums, nsums, sizeof(*sums), ch__target_cmp);
    for (size_t i = 0; i < nsums && err == CH_OK; i++)
        err = ch_counters_add(svc, conn, sums[i].type, sums[i].id, &sums[i].delta, &sums[i].after);
    if (own)
        err = err ? (ch_db_rollback(svc->db, own), err) : ch_backend_err(CH_BACKEND_DB, ch_db_commit(svc->db, own));
    else
        err = ch_sql_end(svc, conn, err);
    if (err == CH_OK) /* before any op is answered: its next read shows the change */
        ch__forget(svc, ops, changed, n, sums, nsums);
    for (size_t i = 0; i < n && err == CH_OK; i++) {
        if (ops[i]->err != CH_OK)
            continue;
        ch__target_sum_t key = {.type = ops[i]->type, .id = ops[i]->target_id};
        const ch__target_sum_t *s = bsearch(&key, sums, nsums, sizeof(*sums), ch__target_cmp);
        ops[i]->counts = s->after;
    }
    free(changed);
    free(sums);
    return err;
}

void ch__reactions_run_each(ch_svc_t *svc, ch_db_conn_t *own, ch__reaction_op_t **ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ch_err_t err = ch__reactions_run(svc, own, &ops[i], 1);
        if (err) {
            ops[i]->err = err;
            ch_fault(&ops[i]->fault, err, NULL, "%s", err == CH_EUNAVAILABLE ? "the database is not answering"
                                                                               : "the reaction could not be stored");
        }
    }
}

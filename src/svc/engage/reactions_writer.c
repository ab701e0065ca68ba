/* The reactions writer on the generic group-commit writer (svc/common/batch_writer.h) in
 * whole-batch mode: ch__reactions_run applies the ops in order, sums the counter deltas per
 * target and writes them last, in one transaction. */
#include "svc/engage/reactions_writer.h"

#include <semaphore.h>
#include <stddef.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/metrics.h"
#include "svc/common/batch_writer.h"

struct ch_reactions_writer {
    ch_batch_writer_t *w;
    ch_db_maintainer_t *upkeep; /* the database's upkeep beside the writer (may be NULL) */
};

#define CH__OP(it) ((ch__reaction_op_t *)(void *)((char *)(it) - offsetof(ch__reaction_op_t, item)))

static ch_err_t ch__run(ch_svc_t *svc, ch_db_conn_t *conn, ch_batch_item_t **items, size_t n, void *ctx)
{
    (void)ctx;
    ch__reaction_op_t *small[64];
    ch__reaction_op_t **ops = n <= 64 ? small : ch_calloc(n, sizeof(*ops));
    if (!ops)
        return CH_EINTERNAL;
    for (size_t i = 0; i < n; i++)
        ops[i] = CH__OP(items[i]);
    ch_err_t err = ch__reactions_run(svc, conn, ops, n);
    if (ops != small)
        free(ops);
    return err;
}

static void ch__fail(ch_batch_item_t *item, ch_err_t err, const ch_fault_t *f, void *ctx)
{
    (void)ctx;
    ch__reaction_op_t *op = CH__OP(item);
    op->err = err;
    op->fault = *f;
}

static void ch__done(ch_batch_item_t *item)
{
    ch__reaction_op_t *op = CH__OP(item);
    op->done(op); /* op may be freed */
}

ch_reactions_writer_t *ch_reactions_writer_start(ch_svc_t *svc)
{
    /* A batch whose kept connection died with a server restart runs once more on a fresh
     * one (2 attempts); any other failure: one transaction per write. */
    ch_batch_spec_t spec = {.name = "reactions",
                            .what = "reaction",
                            .batch_max = CH_REACTIONS_BATCH_MAX,
                            .attempts = 2,
                            .run = ch__run,
                            .fail = ch__fail,
                            .queued = ch_metrics_reaction_queue_add,
                            .committed = ch_metrics_group_commit};
    ch_reactions_writer_t *rw = ch_calloc(1, sizeof(*rw));
    if (!rw)
        return NULL;
    if (!(rw->w = ch_batch_writer_start(svc, &spec))) {
        free(rw);
        return NULL;
    }
    /* Without it (none needed, or no thread) SQLite's WAL is still checkpointed by the
     * connections' automatic checkpoints: degraded, not wrong. */
    rw->upkeep = ch_db_maintainer_start(svc->db);
    return rw;
}

void ch_reactions_writer_stop(ch_reactions_writer_t *rw)
{
    if (!rw)
        return;
    ch_batch_writer_stop(rw->w); /* after it applied everything queued */
    ch_db_maintainer_stop(rw->upkeep);
    free(rw);
}

void ch_reactions_writer_submit(ch_reactions_writer_t *rw, ch__reaction_op_t *op)
{
    op->item.bytes = sizeof(*op);
    op->item.done = ch__done;
    ch_batch_writer_submit(rw->w, &op->item);
}

static void ch__post(ch__reaction_op_t *op)
{
    sem_post(op->arg);
}

void ch_reactions_writer_submit_wait(ch_reactions_writer_t *rw, ch__reaction_op_t *op)
{
    sem_t done;
    sem_init(&done, 0, 0);
    op->done = ch__post;
    op->arg = &done;
    ch_reactions_writer_submit(rw, op);
    while (sem_wait(&done) != 0)
        ; /* EINTR: keep waiting, the writer always posts */
    sem_destroy(&done);
}

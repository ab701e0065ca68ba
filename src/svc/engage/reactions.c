/* Reactions: validation, then the write through the group-commit writer or in a
 * transaction of its own. */
#include "svc/engage/reactions.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/id.h"
#include "svc/common/fields.h"
#include "svc/common/ratelimit.h"
#include "svc/engage/reactions_writer.h"

/* The per-user reaction limit (a kv counter; one in-memory increment in embedded mode). */
static ch_err_t ch__limit(ch_svc_t *svc, uint64_t user, ch_fault_t *f)
{
    char who[CH_ID_STR_LEN];
    int64_t limit = svc->cfg && svc->cfg->rate_limit_reactions > 0 ? svc->cfg->rate_limit_reactions
                                                                    : CH_REACTIONS_PER_MINUTE_DEFAULT;
    int64_t window = svc->cfg && svc->cfg->rate_limit_window_ms > 0 ? svc->cfg->rate_limit_window_ms
                                                                     : CH_CONFIG_RATE_LIMIT_WINDOW_MS;
    return ch_ratelimit_hit(svc, "react", ch_id_format(user, who), limit, window, f);
}

ch_err_t ch_reactions_parse(json_t *body, int *kind, ch_fault_t *f)
{
    const char *name = NULL;
    ch_err_t err = ch_field_enum(body, "kind", CH_FIELD_REQUIRED, ch_reaction_kind_names(), &name, f);
    *kind = err ? -1 : ch_reaction_kind_parse(name);
    return err;
}

ch_err_t ch_reactions_admit(ch_svc_t *svc, uint64_t user, ch_target_type_t type, uint64_t id, ch_fault_t *f)
{
    if (id == 0 || id > INT64_MAX)
        return ch_fault(f, CH_ENOTFOUND, NULL, "%s not found", ch_target_type_name(type));
    return ch__limit(svc, user, f);
}

int ch_reactions_queued(const ch_svc_t *svc)
{
    return svc->reactions_writer != NULL;
}

/* The answer to a PUT: {kind, counts}. */
static json_t *ch__answer(const ch__reaction_op_t *op)
{
    return json_pack("{s:s, s:o}", "kind", ch_reaction_kind_name(op->kind), "counts", ch_counters_json(&op->counts));
}

typedef struct {
    ch__reaction_op_t op;
    ch_reactions_done_fn done;
    void *arg;
} ch__queued_t;

/* Writer thread: hands the outcome to the caller's completion, frees the op. */
static void ch__queued_done(ch__reaction_op_t *op)
{
    ch__queued_t *q = (ch__queued_t *)(void *)op;
    ch_reactions_outcome_t o = {.err = op->err, .fault = op->fault, .kind = op->kind};
    if (o.err == CH_OK && op->kind >= 0)
        o.answer = ch__answer(op);
    q->done(q->arg, &o);
    free(q);
}

void ch_reactions_enqueue(ch_svc_t *svc, uint64_t user, const ch_target_t *target, int kind,
                          ch_reactions_done_fn done, void *arg)
{
    ch__queued_t *q = ch_calloc(1, sizeof(*q));
    if (!q) {
        ch_reactions_outcome_t o = {.err = CH_EINTERNAL, .kind = kind};
        ch_fault(&o.fault, CH_EINTERNAL, NULL, "out of memory");
        done(arg, &o);
        return;
    }
    q->op = (ch__reaction_op_t){.user_id = user, .type = target->type, .target_id = target->id, .kind = kind,
                                .resolved = 1, .target = *target, .done = ch__queued_done};
    q->done = done;
    q->arg = arg;
    ch_reactions_writer_submit(svc->reactions_writer, &q->op);
}

/* Runs an admitted op to its outcome and copies a refusal into f. */
static ch_err_t ch__write(ch_svc_t *svc, ch__reaction_op_t *op, ch_fault_t *f)
{
    ch_err_t err = ch_reactions_admit(svc, op->user_id, op->type, op->target_id, f);
    if (err)
        return err;
    if (svc->reactions_writer) {
        ch_reactions_writer_submit_wait(svc->reactions_writer, op);
    } else {
        ch__reaction_op_t *ops[] = {op};
        if ((err = ch__reactions_run(svc, NULL, ops, 1)) != CH_OK)
            return err;
    }
    if (op->err && f)
        *f = op->fault;
    return op->err;
}

ch_err_t ch_reactions_put(ch_svc_t *svc, uint64_t user, ch_target_type_t type, uint64_t id, json_t *body,
                          json_t **out, ch_fault_t *f)
{
    int kind;
    ch_err_t err = ch_reactions_parse(body, &kind, f);
    if (err)
        return err;
    ch__reaction_op_t op = {.user_id = user, .type = type, .target_id = id, .kind = kind};
    if ((err = ch__write(svc, &op, f)) != CH_OK)
        return err;
    *out = ch__answer(&op);
    return CH_OK;
}

ch_err_t ch_reactions_delete(ch_svc_t *svc, uint64_t user, ch_target_type_t type, uint64_t id, ch_fault_t *f)
{
    ch__reaction_op_t op = {.user_id = user, .type = type, .target_id = id, .kind = -1};
    return ch__write(svc, &op, f);
}

/* Reactions: one per user per target (like, love, haha, wow, sad, angry). Setting the same
 * kind again changes nothing; another kind replaces the old one (keeping its place in the
 * list); removing one that is not there changes nothing. Every change writes, in its own
 * transaction: the row, an engagement event ("reaction" / "unreaction", svc/engage/events.h),
 * an outbox event (reaction.created / reaction.updated / reaction.deleted) and the target's
 * counters (svc/engage/counters.h).
 *
 * The target must be one the user may engage with (ch_target_resolve): anything else —
 * unknown, deleted, expired, not visible, blocked either way — is CH_ENOTFOUND.
 *
 * The writes go through the group-commit writer (reactions_writer.h, started at boot on
 * both backends): many requests share one transaction. Without it each runs its own. */
#ifndef CH_SVC_ENGAGE_REACTIONS_H
#define CH_SVC_ENGAGE_REACTIONS_H

#include <jansson.h>
#include <stdint.h>

#include "svc/engage/reactions_kind.h"
#include "svc/engage/target.h"

/** Reactions per user per minute (429 beyond), on top of the dispatcher's write limit. */
#define CH_REACTIONS_PER_MINUTE_DEFAULT 300

/* ---- queued writes (group commit): the HTTP layer answers from the completion ---------- */

/** The outcome of a queued write. */
typedef struct {
    ch_err_t err;      /* CH_OK, a refusal (fault says why) or the transaction's error */
    ch_fault_t fault;
    int kind;          /* the kind set, -1 for a removal */
    json_t *answer;    /* CH_OK of a PUT: {kind, counts}; the completion takes ownership */
} ch_reactions_outcome_t;

/** Called exactly once, on the writer thread, after the write's transaction committed or
 * failed. o is borrowed for the call (except o->answer, see above). */
typedef void (*ch_reactions_done_fn)(void *arg, ch_reactions_outcome_t *o);

/** Parses a PUT body {kind} into *kind; CH_EINVAL naming "kind" when it is not a kind. */
ch_err_t ch_reactions_parse(json_t *body, int *kind, ch_fault_t *f);
/** The checks before any write by user on (type, id): an id that cannot be one is
 * CH_ENOTFOUND; above the per-user limit is CH_ERATELIMIT (this write is counted). */
ch_err_t ch_reactions_admit(ch_svc_t *svc, uint64_t user, ch_target_type_t type, uint64_t id, ch_fault_t *f);
/** Whether writes are queued to the group-commit writer (when it started; both backends). */
int ch_reactions_queued(const ch_svc_t *svc);
/** Queues an admitted write (kind -1 removes the reaction) on target, as
 * ch_target_resolve found it for user just before; done(arg, outcome) follows its commit.
 * Only when ch_reactions_queued(svc). */
void ch_reactions_enqueue(ch_svc_t *svc, uint64_t user, const ch_target_t *target, int kind,
                          ch_reactions_done_fn done, void *arg);

/* ---- writes that return when done ---------------------------------------------------- */

/** Sets user's reaction on (type, id) from body {kind}. Bad input is CH_EINVAL naming
 * "kind" and changes nothing. *out (caller owns) is {kind, counts} after the commit. */
ch_err_t ch_reactions_put(ch_svc_t *svc, uint64_t user, ch_target_type_t type, uint64_t id, json_t *body,
                          json_t **out, ch_fault_t *f);
/** Removes user's reaction on (type, id); CH_OK when there was none. */
ch_err_t ch_reactions_delete(ch_svc_t *svc, uint64_t user, ch_target_type_t type, uint64_t id, ch_fault_t *f);
/** One page of the users who reacted to (type, id), newest first: reactions with id below
 * `before` (0 = from the newest), of `kind` only when kind is not NULL (else CH_EINVAL
 * naming "kind" when it is not a kind). Users blocked either way with viewer are left
 * out. *out is {items: [{user, kind, reacted_at}], next_cursor} as JSON text (malloc'd,
 * caller frees). */
ch_err_t ch_reactions_list(ch_svc_t *svc, uint64_t viewer, ch_target_type_t type, uint64_t id, const char *kind,
                           int limit, uint64_t before, char **out, ch_fault_t *f);

#endif

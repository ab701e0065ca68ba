/* A viewer's notifications as cached facts (docs/design.md, "### l1 on the loop"): the
 * newest CH_NOTIFY_CACHED groups of a recipient ("N:<user>") and the unread count
 * ("U:<user>"), both id_page facts (svc/common/id_page.h) keyed by the recipient, read only
 * for that recipient, so a warm first page and count need no statement and, in cluster mode,
 * are answered on the event loop from the L1. They are forgotten after the commit of every
 * write that changes them: the worker's batch (a group made, joined, left or dropped, for any
 * reason: reaction, comment, follow, unreaction, block, mute, deleted target) notes each
 * recipient it touched and forgets them once the batch committed; a mark read forgets after
 * its UPDATE. Internal to svc/engage. */
#ifndef CH_SVC_ENGAGE_NOTIFY_CACHE_H
#define CH_SVC_ENGAGE_NOTIFY_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "store/db.h"
#include "svc/context.h"
#include "svc/engage/notify.h"

/* Groups kept per recipient: first pages up to this limit are answered from the fact. */
#define CH_NOTIFY_CACHED 50

/** One group as a page renders it. kind and target_type are borrowed (static names, or the
 * statement's rows); target_type NULL: a kind without a target. */
typedef struct {
    uint64_t id;
    const char *kind;
    const char *target_type;
    uint64_t target_id;
    int64_t actors_count;
    int read;
    int64_t updated_at;
    uint64_t actors[CH_NOTIFY_FIRST_ACTORS]; /* 0 = empty slot */
} ch__notify_row_t;

/** Fills rows[0..*n) (rows holds limit entries, limit <= CH_NOTIFY_CACHED) with user's first
 * page from the fact "N:<user>" (read through: on a miss one statement, put back under the
 * lookup's lease); *more = 1 when older groups exist. 1 when filled; 0 when the cache cannot
 * answer (down, or on the loop without the fact; a group this build cannot cache; an
 * in-process cache in a process without the worker role, which never hears of new groups) and nothing
 * was read; -1 on a database error (*err). */
int ch__notify_cached_page(ch_svc_t *svc, uint64_t user, int limit, ch__notify_row_t *rows, size_t *n, int *more,
                           ch_err_t *err);
/** *count = user's unread groups from the fact "U:<user>" (read through). Returns as
 * ch__notify_cached_page. */
int ch__notify_cached_unread(ch_svc_t *svc, uint64_t user, int64_t *count, ch_err_t *err);

/** Notes (calling thread) that recipient's groups changed in the worker's open batch. The
 * list grows with the batch (at most CH_CONSUMER_BATCH rows, each touching the groups of one
 * recipient, or of a deleted target's few recipients) and is freed by the flush. */
void ch__notify_changed(uint64_t recipient);
/** After the batch (committed or not: forgetting more only costs a miss): forgets the noted
 * recipients' facts, in one cache round trip, and empties the note list. */
void ch_notify_changed_flush(ch_svc_t *svc);

#endif

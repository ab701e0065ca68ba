/* Which followees' items a viewer gets in the in-network source: still followed, not muted
 * by the viewer, no block either way. In SQL for the statements that read candidates (the
 * mute and block lists are never read into memory: they are unbounded, thousands of accounts
 * may block a viewer); for lists read from memory, the follow from the viewer's cached
 * followee list here, mutes and blocks by the hydration of what is shown. */
#ifndef CH_SVC_FEED_VISIBLE_H
#define CH_SVC_FEED_VISIBLE_H

#include <stddef.h>
#include <stdint.h>

#include "store/timeline.h"
#include "svc/context.h"

/* A WHERE fragment (starts with " AND") that keeps rows whose author column A (an SQL
 * expression) viewer $1 has not muted and that has no block with $1 either way. */
#define CH_FEED_SQL_NOT_HIDDEN(A)                                                                                 \
    " AND NOT EXISTS (SELECT 1 FROM mutes m WHERE m.muter_id = $1 AND m.muted_id = " A ")"                        \
    " AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $1 AND b.blocked_id = " A ")"                   \
    " AND NOT EXISTS (SELECT 1 FROM blocks b2 WHERE b2.blocker_id = " A " AND b2.blocked_id = $1)"

/** Keeps in a[0..*na) and b[0..*nb) (each in place, order kept; na or nb NULL: no such
 * list) the entries whose author viewer follows now
 * (approved): from the viewer's cached followee list (svc/graph/followees.h: one fact,
 * forgotten after every change of the viewer's edges), and when that list is cut at its
 * bound, the relation facts of the authors not on it (svc/common/hydrate.h). Mutes and
 * blocks are not looked at here (b's authors come from the pull set, which leaves out muted
 * and blocked authors in SQL and is computed again after any mute or block: pullset.h, so a
 * muted celebrity's recent items never fill the source's budget): every caller hydrates what it shows, which leaves out what a
 * block hides and says what the viewer mutes (facts.muted), and applies the mute (the same
 * relation facts, read once instead of twice a page). On error the counts are left as they
 * are. */
ch_err_t ch_feed_keep_followed(ch_svc_t *svc, uint64_t viewer, ch_timeline_entry_t *a, size_t *na,
                               ch_timeline_entry_t *b, size_t *nb);

#endif

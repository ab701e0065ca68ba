/* Which followees' items a viewer gets in the in-network source: still followed, not muted
 * by the viewer, no block either way. In SQL for the statements that read candidates (the
 * mute and block lists are never read into memory: they are unbounded, thousands of accounts
 * may block a viewer), from the pair's cached relation facts for lists read from memory. */
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

/** Keeps in e[0..*n) (in place, order kept) the entries whose author viewer follows now,
 * has not muted and has no block with either way, from the hydration layer's relation facts
 * (svc/common/hydrate.h: cached, forgotten after every change of a pair's edges; one layer
 * call per CH_ITEMS_HYDRATE_MAX distinct authors, no statement when warm). On error *n is
 * left as is. */
ch_err_t ch_feed_keep_visible(ch_svc_t *svc, uint64_t viewer, ch_timeline_entry_t *e, size_t *n);

#endif

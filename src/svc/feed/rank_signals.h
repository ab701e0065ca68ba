/* The ranking's reads, batched: one statement per page of authors or items (an IN list),
 * never one per candidate (svc/engage/signals.h has the per-key reads and the decay). */
#ifndef CH_SVC_FEED_RANK_SIGNALS_H
#define CH_SVC_FEED_RANK_SIGNALS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "svc/context.h"

/* Keys per IN list (bigger inputs take several statements). */
#define CH_FEED_IN_LIST_MAX 500
/* Content-type preference: the viewer's newest reactions and comments looked at (each),
 * and how long the answer is cached in the kv. */
#define CH_FEED_TYPE_PREF_EVENTS 200
#define CH_FEED_TYPE_PREF_TTL_MS (10LL * 60 * 1000)

/** out[i] = affinity of viewer to authors[i] at at_ms (0 when none). */
ch_err_t ch_feed_affinity_many(ch_svc_t *svc, uint64_t viewer, const uint64_t *authors, size_t n, int64_t at_ms,
                               double *out);
/** out[i] = engagement velocity of item (type, ids[i]) at at_ms, per hour (0 when none). */
ch_err_t ch_feed_velocity_many(ch_svc_t *svc, uint8_t type, const uint64_t *ids, size_t n, int64_t at_ms,
                               double *out);
/** Viewer's share of recent engagement that went to posts and to reels (each 0..1; both 0.5
 * without history): from the newest CH_FEED_TYPE_PREF_EVENTS reactions and comments, cached in the kv for
 * CH_FEED_TYPE_PREF_TTL_MS. */
ch_err_t ch_feed_type_pref(ch_svc_t *svc, uint64_t viewer, double *post_share, double *reel_share);
/** muted[i] = 1 when viewer mutes users[i]. */
ch_err_t ch_feed_muted_many(ch_svc_t *svc, uint64_t viewer, const uint64_t *users, size_t n, int *muted);
/** User summaries {id, handle, display_name, avatar_url} of ids[0..n) the viewer may see
 * (no block either way), as an object keyed by the decimal id (caller owns it). */
ch_err_t ch_feed_user_summaries(ch_svc_t *svc, uint64_t viewer, const uint64_t *ids, size_t n, json_t **out);

#endif

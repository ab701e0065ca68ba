/* The write path of the feed (brd/feed.md, "Fan-out"): a durable consumer of the outbox, run
 * by the worker role, that keeps home timelines (store/timeline.h) in step with posts,
 * reels, follows, blocks and mutes, following the per-(author, follower) rule of
 * svc/feed/policy.h. It runs in the consumer's idempotent mode (ch_consumer_step_idempotent,
 * on its own thread of the worker role, svc/worker/worker.h): the
 * timeline store is not transactional and every effect below is harmless to repeat, so no
 * database transaction is held while timelines are written.
 *
 *   post.created / reel.created  bump the author's posting rate (feed_authors, once per
 *        item: rate_at is the item's time), then, unless no follower can get a push (a
 *        celebrity, or pull mode), walk the followers in keyset batches of
 *        CH_TIMELINE_BATCH_MAX (follows_followee), skip those who mute the author, read the
 *        batch's timeline metas and push to those whose timeline exists and for whom
 *        ch_feed_policy_push says push;
 *   post.deleted / reel.deleted  remove the item from the followers' timelines (readers
 *        also drop deleted items at hydration);
 *   follow.created, mute.deleted, block.deleted  merge the followee's newest
 *        CH_FEED_FOLLOW_MERGE_MAX posts and reels into the follower's timeline, when it
 *        exists, the follow (still) exists and the policy pushes;
 *   follow.deleted, mute.created, block.created (both ways)  remove the author's entries.
 * Stories are never fanned out. A failed effect (Redis down) fails the batch: the worker
 * applies it again with backoff. */
#ifndef CH_SVC_FEED_FANOUT_H
#define CH_SVC_FEED_FANOUT_H

#include "core/config.h"
#include "svc/feed/policy.h"
#include "svc/worker/consumer.h"

/* Items of the followee merged into the follower's timeline at a follow. */
#define CH_FEED_FOLLOW_MERGE_MAX 20

/** The fan-out consumer ("feed.fanout"), run by svc/worker/worker.c with
 * ch_consumer_step_idempotent. */
extern const ch_consumer_t ch_feed_fanout_consumer;

/** The policy the settings ask for (CHORUS_FEED_CELEBRITY_FOLLOWERS, _PUSH_COST,
 * _PULL_COST, _FANOUT). */
ch_feed_policy_t ch_feed_policy_config(const ch_config_t *cfg);

/* ---- metrics (svc/feed/fanout_metrics.c) ------------------------------------------------ */

typedef enum { CH_FEED_SKIP_INACTIVE, CH_FEED_SKIP_PULL, CH_FEED_SKIP_CELEBRITY, CH__FEED_SKIP_COUNT } ch_feed_skip_t;

/** Adds the fan-out metrics to /metrics: chorus_feed_delivery_seconds (histogram),
 * chorus_feed_fanout_writes_total, chorus_feed_fanout_skipped_total{reason}. Call once
 * before serving (later calls do nothing). */
void ch_feed_metrics_init(void);
/** Records that an item created at created_ms (the time in its id) reached followers'
 * timelines now. Thread-safe. */
void ch_feed_metrics_delivered(int64_t created_ms);
/** Counts timeline inserts made by the fan-out. Thread-safe. */
void ch_feed_metrics_writes(uint64_t n);
/** Counts followers who got no push, and why. Thread-safe. */
void ch_feed_metrics_skipped(ch_feed_skip_t why, uint64_t n);

#endif

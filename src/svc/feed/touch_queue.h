/* The read signals of a feed page, made off the request: the home timeline's read-rate touch
 * and the seen set's update (svc/feed/seen.h). (docs/design.md "### feedwarm",
 * "On the loop"): a read served from the cached timeline head (svc/feed/facts.h) notes
 * (viewer, time) here instead of calling ch_timeline_touch, and one background thread reads the
 * noted viewers' meta (one round trip per CH_TIMELINE_BATCH_MAX) and touches them, a viewer
 * noted k times bumped k times. A best-effort signal: the pending table is bounded
 * (CH_FEED_TOUCH_PENDING slots, direct-mapped by viewer; a note whose slot holds another
 * viewer is dropped and counted, as are notes before the thread runs or after it stopped),
 * so a flood of reads costs a bounded memory and one touch per viewer per pass. A page served
 * on the loop in cluster mode notes its keys the same way (CH_FEED_SEEN_PENDING slots, the
 * newest CH_FEED_SEEN_PENDING_KEYS keys of a viewer's pages kept); the thread adds them to the
 * seen set, one read-modify-write per viewer per pass; each turn of the thread takes one seen
 * page and one touch batch, so neither starves the other. Neither is atomic with the same
 * writes made directly by reads served on a worker for the same viewer (a meta read then a
 * touch; a seen GET then SET): one side's bump or marks can be lost, which a best-effort
 * signal allows (the read time never goes back). */
#ifndef CH_SVC_FEED_TOUCH_QUEUE_H
#define CH_SVC_FEED_TOUCH_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "svc/common/items.h"
#include "svc/context.h"

/* Pending viewers at most (slots), and how often the thread empties them (ms). */
#define CH_FEED_TOUCH_PENDING 4096
#define CH_FEED_TOUCH_PASS_MS 100
/* Pending seen pages (slots, direct-mapped by viewer) and the keys one slot keeps. */
#define CH_FEED_SEEN_PENDING 512
#define CH_FEED_SEEN_PENDING_KEYS 64

/** Notes a fresh read of viewer's home timeline at now_ms, to be touched by the thread
 * (started at the first note; svc borrowed for the process). 1 when noted, 0 when dropped
 * (counted in chorus_feed_touches_total{result="dropped"}). Never blocks on the network. */
int ch_feed_touch_later(ch_svc_t *svc, uint64_t viewer, int64_t now_ms);
/** Notes keys[0..n) served to viewer, to be added to the seen set by the thread (keys
 * copied; past CH_FEED_SEEN_PENDING_KEYS the newest kept). 1 when noted, 0 when dropped
 * (counted in chorus_feed_seen_later_total{result="dropped"}). Never blocks on the network. */
int ch_feed_seen_later(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, size_t n);
/** Touches what is pending and stops the thread (joined); before the timelines close. Later
 * notes are dropped. Safe when it never started. */
void ch_feed_touch_stop(void);

#endif

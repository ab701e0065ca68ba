/* The read-rate touch of a home timeline, made off the request (docs/design.md "### feedwarm",
 * "On the loop"): a read served from the cached timeline head (svc/feed/facts.h) notes
 * (viewer, time) here instead of calling ch_timeline_touch, and one background thread reads the
 * noted viewers' meta (one round trip per CH_TIMELINE_BATCH_MAX) and touches them, a viewer
 * noted k times bumped k times. A best-effort signal: the pending table is bounded
 * (CH_FEED_TOUCH_PENDING slots, direct-mapped by viewer; a note whose slot holds another
 * viewer is dropped and counted, as are notes before the thread runs or after it stopped),
 * so a flood of reads costs a bounded memory and one touch per viewer per pass. */
#ifndef CH_SVC_FEED_TOUCH_QUEUE_H
#define CH_SVC_FEED_TOUCH_QUEUE_H

#include <stdint.h>

#include "svc/context.h"

/* Pending viewers at most (slots), and how often the thread empties them (ms). */
#define CH_FEED_TOUCH_PENDING 4096
#define CH_FEED_TOUCH_PASS_MS 100

/** Notes a fresh read of viewer's home timeline at now_ms, to be touched by the thread
 * (started at the first note; svc borrowed for the process). 1 when noted, 0 when dropped
 * (counted in chorus_feed_touches_total{result="dropped"}). Never blocks on the network. */
int ch_feed_touch_later(ch_svc_t *svc, uint64_t viewer, int64_t now_ms);
/** Touches what is pending and stops the thread (joined); before the timelines close. Later
 * notes are dropped. Safe when it never started. */
void ch_feed_touch_stop(void);

#endif

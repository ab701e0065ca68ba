/* Ranking signals folded from the engagement event log (svc/engage/events.h) by the
 * worker, read by feed ranking in O(1): one primary-key read, decayed to "now" on read.
 *
 * Affinity (viewer -> author): how much the viewer engages with the author's things,
 * exponentially decayed with a half-life of CH_SIGNALS_AFFINITY_HALF_LIFE_MS (7 days):
 *     score(t) = score(t_last) * 2^(-(t - t_last) / half_life) + weight
 * Self-engagement (user_id == author_id) does not count.
 *
 * Velocity (per target): weighted engagements per hour, an exponentially weighted rate
 * with a half-life of CH_SIGNALS_VELOCITY_HALF_LIFE_MS (1 hour): the stored sum decays as
 * above and the rate is sum * ln 2 / half_life_in_hours, so a steady r weighted
 * engagements per hour reads r.
 *
 * Weights (one table, ch_signals_weight):
 *     reaction: its event's value, the kind's weight (reactions_kind.h: 1 for a like,
 *     1.5 for the other kinds; a value outside (0, 10] counts 1), unreaction minus the
 *     same (its event carries the weight of the kind taken back), comment 4, reply 6,
 *     mention 2, view 0.2 + 0.02 per second watched (value), at most 1.0 in all
 *     (scores never go below 0). */
#ifndef CH_SVC_ENGAGE_SIGNALS_H
#define CH_SVC_ENGAGE_SIGNALS_H

#include <stdint.h>

#include "svc/engage/target.h"
#include "svc/worker/consumer.h"

#define CH_SIGNALS_AFFINITY_HALF_LIFE_MS (7LL * 24 * 3600 * 1000)
#define CH_SIGNALS_VELOCITY_HALF_LIFE_MS (3600LL * 1000)

/** The weight of one engagement: kind as in events.h, value as the event carries it. */
double ch_signals_weight(const char *kind, double value);
/** A score kept at score_ms, decayed to at_ms (unchanged when at_ms <= score_ms). */
double ch_signals_decay(double score, int64_t score_ms, int64_t at_ms, int64_t half_life_ms);

/** Affinity of viewer to author now (0 when none). One primary-key read. */
ch_err_t ch_signals_affinity(ch_svc_t *svc, uint64_t viewer, uint64_t author, double *out);
/** Affinity of viewer to author at unix ms at_ms (decayed from its last update). */
ch_err_t ch_signals_affinity_at(ch_svc_t *svc, uint64_t viewer, uint64_t author, int64_t at_ms, double *out);
/** Engagement velocity of a target now, weighted engagements per hour (0 when none). */
ch_err_t ch_signals_velocity(ch_svc_t *svc, ch_target_type_t type, uint64_t id, double *out);
/** Velocity of a target at unix ms at_ms. */
ch_err_t ch_signals_velocity_at(ch_svc_t *svc, ch_target_type_t type, uint64_t id, int64_t at_ms, double *out);

/** The consumer that folds the event log into affinity and velocity (svc/worker). */
extern const ch_consumer_t ch_signals_consumer;

#endif

/* The seed's deterministic randomness: splitmix64 streams. Same state -> same draws, on
 * every platform (no libc rand, no floating-point surprises beyond IEEE double). */
#ifndef CH_SVC_SEED_RNG_H
#define CH_SVC_SEED_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t state;
} ch_seed_rng_t;

/** The next 64 random bits of r (splitmix64). */
uint64_t ch_seed_next(ch_seed_rng_t *r);
/** A uniform double in [0, 1). */
double ch_seed_unit(ch_seed_rng_t *r);
/** A uniform index in [0, n); n > 0. */
size_t ch_seed_pick(ch_seed_rng_t *r, size_t n);
/** An index in [0, n) where low indexes are far more likely (n * u^3): the power law of
 * the community, in which user 0 is the most followed and the long tail has few. */
size_t ch_seed_popular(ch_seed_rng_t *r, size_t n);
/** An exponentially distributed double with the given mean (waiting times, the "quality"
 * of an item: most near the mean, a few far above it). */
double ch_seed_exp(ch_seed_rng_t *r, double mean);
/** x rounded up or down at random so that the mean is x (x >= 0): 2.3 gives 3 with
 * probability 0.3. */
size_t ch_seed_round(ch_seed_rng_t *r, double x);
/** Index of the weight drawn from w[0..n) (weights >= 0, not all zero). */
size_t ch_seed_weighted(ch_seed_rng_t *r, const double *w, size_t n);

#endif

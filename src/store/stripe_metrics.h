/* Counters of the Stripe client and pool (store/stripe.h), rendered on /metrics. Internal to
 * src/store/stripe*.c. */
#ifndef CH_STORE_STRIPE_METRICS_H
#define CH_STORE_STRIPE_METRICS_H

#include "core/err.h"

/** Counts one finished ch_stripe_call by its result, and the retries it made. */
void ch__stripe_metrics_call(ch_err_t result, int retries);
/** Counts a call cut short by the calling thread's deadline (request or graceful stop). */
void ch__stripe_metrics_deadline(void);
/** Counts a ch_stripe_pool_acquire that found no client within its wait. */
void ch__stripe_metrics_pool_empty(void);
/** Registers the renderer once (idempotent, thread-safe). */
void ch__stripe_metrics_init(void);

#endif

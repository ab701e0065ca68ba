/* Counters of the Stripe client (store/stripe_metrics.h): outcomes by result, retries,
 * deadline cuts, pool exhaustion. */
#include "store/stripe_metrics.h"

#include <stdatomic.h>

#include "core/buf.h"
#include "core/metrics.h"

enum { CH__R_OK, CH__R_REFUSED, CH__R_CONFLICT, CH__R_UNAVAILABLE, CH__R_ERROR, CH__R_COUNT };
static const char *const ch__result_names[CH__R_COUNT] = {"ok", "refused", "conflict", "unavailable", "error"};

static atomic_ullong ch__calls[CH__R_COUNT];
static atomic_ullong ch__retries, ch__deadline, ch__pool_empty;
static atomic_int ch__renderer_added;

static void ch__render(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out, "# HELP chorus_stripe_calls_total Stripe API calls by result (refused: Stripe's 4xx; "
                       "unavailable: no answer, 429 or 5xx after the retries).\n"
                       "# TYPE chorus_stripe_calls_total counter\n");
    for (int i = 0; i < CH__R_COUNT; i++)
        ch_buf_printf(out, "chorus_stripe_calls_total{result=\"%s\"} %llu\n", ch__result_names[i],
                      (unsigned long long)atomic_load(&ch__calls[i]));
    ch_buf_printf(out,
                  "# HELP chorus_stripe_retries_total Stripe API attempts after the first of their call.\n"
                  "# TYPE chorus_stripe_retries_total counter\nchorus_stripe_retries_total %llu\n"
                  "# HELP chorus_stripe_deadline_hits_total Stripe calls cut short by a request deadline or the "
                  "shutdown grace.\n"
                  "# TYPE chorus_stripe_deadline_hits_total counter\nchorus_stripe_deadline_hits_total %llu\n"
                  "# HELP chorus_stripe_pool_empty_total Waits for a Stripe client that found none free in time.\n"
                  "# TYPE chorus_stripe_pool_empty_total counter\nchorus_stripe_pool_empty_total %llu\n",
                  (unsigned long long)atomic_load(&ch__retries), (unsigned long long)atomic_load(&ch__deadline),
                  (unsigned long long)atomic_load(&ch__pool_empty));
}

void ch__stripe_metrics_init(void)
{
    if (!atomic_exchange(&ch__renderer_added, 1))
        ch_metrics_add_renderer(ch__render, NULL);
}

void ch__stripe_metrics_call(ch_err_t result, int retries)
{
    int r = result == CH_OK            ? CH__R_OK
            : result == CH_EINVAL      ? CH__R_REFUSED
            : result == CH_ECONFLICT   ? CH__R_CONFLICT
            : result == CH_EUNAVAILABLE ? CH__R_UNAVAILABLE
                                       : CH__R_ERROR;
    atomic_fetch_add(&ch__calls[r], 1);
    if (retries > 0)
        atomic_fetch_add(&ch__retries, (unsigned long long)retries);
}

void ch__stripe_metrics_deadline(void)
{
    atomic_fetch_add(&ch__deadline, 1);
}

void ch__stripe_metrics_pool_empty(void)
{
    atomic_fetch_add(&ch__pool_empty, 1);
}

#include "http/admission.h"

#include <stdatomic.h>

#include "core/buf.h"
#include "core/metrics.h"
#include "store/db.h"

static _Atomic size_t ch__queued;
static _Atomic uint64_t ch__counts[CH__ADMIT_COUNT];
static _Atomic int ch__renderer_added;

static void ch__render(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out,
                  "# HELP chorus_work_queued Requests waiting for a worker thread (bounded by CHORUS_QUEUE_MAX).\n"
                  "# TYPE chorus_work_queued gauge\nchorus_work_queued %zu\n"
                  "# HELP chorus_work_not_run_total Requests answered or dropped without running their handler: "
                  "queue full (503 overloaded), dequeued past the request deadline (503), client gone.\n"
                  "# TYPE chorus_work_not_run_total counter\n"
                  "chorus_work_not_run_total{reason=\"queue_full\"} %llu\n"
                  "chorus_work_not_run_total{reason=\"deadline\"} %llu\n"
                  "chorus_work_not_run_total{reason=\"client_gone\"} %llu\n"
                  "# HELP chorus_db_deadline_hits_total Database waits or statements ended by a request deadline "
                  "(CHORUS_REQUEST_TIMEOUT) or the shutdown grace.\n"
                  "# TYPE chorus_db_deadline_hits_total counter\nchorus_db_deadline_hits_total %llu\n",
                  atomic_load(&ch__queued), (unsigned long long)atomic_load(&ch__counts[CH_ADMIT_REFUSED_FULL]),
                  (unsigned long long)atomic_load(&ch__counts[CH_ADMIT_EXPIRED]),
                  (unsigned long long)atomic_load(&ch__counts[CH_ADMIT_CLIENT_GONE]),
                  (unsigned long long)ch_db_deadline_hits());
}

void ch_admission_init(void)
{
    if (!atomic_exchange(&ch__renderer_added, 1))
        ch_metrics_add_renderer(ch__render, NULL);
}

int ch_admission_enqueue(size_t max, int force)
{
    size_t n = atomic_load(&ch__queued);
    do {
        if (n >= max && !force) {
            ch_admission_count(CH_ADMIT_REFUSED_FULL);
            return 0;
        }
    } while (!atomic_compare_exchange_weak(&ch__queued, &n, n + 1));
    return 1;
}

void ch_admission_dequeue(void)
{
    atomic_fetch_sub(&ch__queued, 1);
}

void ch_admission_count(ch_admit_outcome_t why)
{
    atomic_fetch_add(&ch__counts[why], 1);
}

size_t ch_admission_queued(void)
{
    return atomic_load(&ch__queued);
}

uint64_t ch_admission_total(ch_admit_outcome_t why)
{
    return atomic_load(&ch__counts[why]);
}

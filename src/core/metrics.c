#include "core/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics_edge.h"

static const double ch__buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
#define CH__NBUCKETS (sizeof(ch__buckets) / sizeof(ch__buckets[0]))
#define CH__STATUS_SLOTS 16

typedef struct {
    _Atomic int status; /* 0 = slot free */
    _Atomic uint64_t buckets[CH__NBUCKETS];
    _Atomic uint64_t count;
    _Atomic uint64_t sum_ns;
} ch__status_slot_t;

typedef struct {
    const char *method;
    const char *route;
    ch__status_slot_t slots[CH__STATUS_SLOTS];
} ch__route_metrics_t;

static ch__route_metrics_t ch__routes[CH_METRICS_MAX_ROUTES];
static size_t ch__nroutes;
static _Atomic long ch__inflight, ch__connections, ch__queue;
static _Atomic uint64_t ch__backend_errors[CH__BACKEND_COUNT];
static _Atomic uint64_t ch__group_commits, ch__group_commit_writes;
static _Atomic long ch__reaction_queue;
/* A labelled value: its name slot is claimed once (compare-and-swap), then only the value
 * changes (ch__named_slot). */
typedef struct {
    _Atomic(const char *) name;
    _Atomic int64_t value;
} ch__named_t;
static ch__named_t ch__consumers[CH_METRICS_MAX_CONSUMERS]; /* oldest unapplied row's time (unix ms), 0: none */
/* Renderers added by modules (before serving, then only read). */
static struct {
    void (*fn)(ch_buf_t *out, void *arg);
    void *arg;
} ch__renderers[CH_METRICS_MAX_RENDERERS];
/* Modules add their renderer lazily, from whichever thread first counts something, while
 * another thread may render: slots are filled under a lock, then published by the count. */
static _Atomic size_t ch__nrenderers;
static pthread_mutex_t ch__renderers_mu = PTHREAD_MUTEX_INITIALIZER;
static ch__named_t ch__purged[CH_METRICS_MAX_TABLES]; /* rows deleted by retention */
static const char *const ch__backend_names[CH__BACKEND_COUNT] = {"db", "kv"};

size_t ch_metrics_register_route(const char *method, const char *route)
{
    for (size_t i = 0; i < ch__nroutes; i++)
        if (ch__routes[i].method == method && ch__routes[i].route == route)
            return i;
    if (ch__nroutes == CH_METRICS_MAX_ROUTES)
        return CH_METRICS_MAX_ROUTES - 1;
    ch__routes[ch__nroutes].method = method;
    ch__routes[ch__nroutes].route = route;
    return ch__nroutes++;
}

static ch__status_slot_t *ch__slot(ch__route_metrics_t *r, int status)
{
    for (int i = 0; i < CH__STATUS_SLOTS; i++) {
        int s = atomic_load(&r->slots[i].status);
        if (s == status)
            return &r->slots[i];
        if (s == 0) {
            int expected = 0;
            if (atomic_compare_exchange_strong(&r->slots[i].status, &expected, status) || expected == status)
                return &r->slots[i];
        }
    }
    return &r->slots[CH__STATUS_SLOTS - 1]; /* table full: fold into the last status */
}

void ch_metrics_observe(size_t route_index, int status, uint64_t duration_ns)
{
    if (route_index >= ch__nroutes)
        return;
    ch__status_slot_t *slot = ch__slot(&ch__routes[route_index], status);
    double secs = (double)duration_ns / 1e9;
    for (size_t b = 0; b < CH__NBUCKETS; b++)
        if (secs <= ch__buckets[b]) {
            atomic_fetch_add_explicit(&slot->buckets[b], 1, memory_order_relaxed);
            break;
        }
    atomic_fetch_add_explicit(&slot->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&slot->sum_ns, duration_ns, memory_order_relaxed);
}

void ch_metrics_inflight_add(long delta)
{
    atomic_fetch_add(&ch__inflight, delta);
}

long ch_metrics_inflight(void)
{
    return atomic_load(&ch__inflight);
}

void ch_metrics_connections_add(long delta)
{
    atomic_fetch_add(&ch__connections, delta);
}

void ch_metrics_queue_add(long delta)
{
    atomic_fetch_add(&ch__queue, delta);
}

void ch_metrics_backend_error(ch_backend_t backend)
{
    if (backend < CH__BACKEND_COUNT)
        atomic_fetch_add(&ch__backend_errors[backend], 1);
}

void ch_metrics_group_commit(size_t writes)
{
    atomic_fetch_add(&ch__group_commits, 1);
    atomic_fetch_add(&ch__group_commit_writes, writes);
}

void ch_metrics_reaction_queue_add(long delta)
{
    atomic_fetch_add(&ch__reaction_queue, delta);
}

/* The slot labelled name among n, claimed on first use; NULL when all n carry other names. */
static ch__named_t *ch__named_slot(ch__named_t *slots, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        const char *have = atomic_load(&slots[i].name);
        if (!have && atomic_compare_exchange_strong(&slots[i].name, &have, name))
            have = name;
        if (have == name || strcmp(have, name) == 0)
            return &slots[i];
    }
    return NULL;
}

void ch_metrics_consumer_oldest(const char *name, int64_t created_ms)
{
    ch__named_t *slot = ch__named_slot(ch__consumers, CH_METRICS_MAX_CONSUMERS, name);
    if (slot)
        atomic_store(&slot->value, created_ms > 0 ? created_ms : 0);
}

int ch_metrics_add_renderer(void (*fn)(ch_buf_t *out, void *arg), void *arg)
{
    pthread_mutex_lock(&ch__renderers_mu);
    size_t n = atomic_load_explicit(&ch__nrenderers, memory_order_relaxed);
    if (n == CH_METRICS_MAX_RENDERERS) {
        pthread_mutex_unlock(&ch__renderers_mu);
        ch_log_error("metrics: more than %d renderers; a module's metrics are missing (raise CH_METRICS_MAX_RENDERERS)",
                     CH_METRICS_MAX_RENDERERS);
        return -1;
    }
    ch__renderers[n].fn = fn;
    ch__renderers[n].arg = arg;
    atomic_store_explicit(&ch__nrenderers, n + 1, memory_order_release);
    pthread_mutex_unlock(&ch__renderers_mu);
    return 0;
}

void ch_metrics_purged(const char *table, uint64_t rows)
{
    ch__named_t *slot = ch__named_slot(ch__purged, CH_METRICS_MAX_TABLES, table);
    if (slot)
        atomic_fetch_add(&slot->value, (int64_t)rows);
}

void ch_metrics_render(ch_buf_t *out)
{
    ch_buf_printf(out, "# HELP http_server_request_duration_seconds Duration of HTTP requests.\n"
                       "# TYPE http_server_request_duration_seconds histogram\n");
    for (size_t i = 0; i < ch__nroutes; i++) {
        ch__route_metrics_t *r = &ch__routes[i];
        for (int s = 0; s < CH__STATUS_SLOTS; s++) {
            ch__status_slot_t *slot = &r->slots[s];
            int status = atomic_load(&slot->status);
            if (!status)
                continue;
            uint64_t cumulative = 0;
            for (size_t b = 0; b < CH__NBUCKETS; b++) {
                cumulative += atomic_load(&slot->buckets[b]);
                ch_buf_printf(out,
                              "http_server_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",status=\"%d\","
                              "le=\"%g\"} %llu\n",
                              r->method, r->route, status, ch__buckets[b], (unsigned long long)cumulative);
            }
            uint64_t count = atomic_load(&slot->count);
            ch_buf_printf(out,
                          "http_server_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",status=\"%d\","
                          "le=\"+Inf\"} %llu\n"
                          "http_server_request_duration_seconds_sum{method=\"%s\",route=\"%s\",status=\"%d\"} %.9f\n"
                          "http_server_request_duration_seconds_count{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
                          r->method, r->route, status, (unsigned long long)count, r->method, r->route, status,
                          (double)atomic_load(&slot->sum_ns) / 1e9, r->method, r->route, status,
                          (unsigned long long)count);
        }
    }
    ch_buf_printf(out,
                  "# HELP http_server_requests_in_flight Requests being served.\n"
                  "# TYPE http_server_requests_in_flight gauge\nhttp_server_requests_in_flight %ld\n"
                  "# HELP http_server_open_connections Open client connections.\n"
                  "# TYPE http_server_open_connections gauge\nhttp_server_open_connections %ld\n"
                  "# HELP chorus_worker_queue_depth Blocking calls queued for a worker thread.\n"
                  "# TYPE chorus_worker_queue_depth gauge\nchorus_worker_queue_depth %ld\n"
                  "# HELP chorus_backend_errors_total Failed calls to a backend.\n"
                  "# TYPE chorus_backend_errors_total counter\n",
                  atomic_load(&ch__inflight), atomic_load(&ch__connections), atomic_load(&ch__queue));
    for (int b = 0; b < CH__BACKEND_COUNT; b++)
        ch_buf_printf(out, "chorus_backend_errors_total{backend=\"%s\"} %llu\n", ch__backend_names[b],
                      (unsigned long long)atomic_load(&ch__backend_errors[b]));
    ch_buf_printf(out,
                  "# HELP chorus_group_commits_total Transactions committed by the reaction writer.\n"
                  "# TYPE chorus_group_commits_total counter\nchorus_group_commits_total %llu\n"
                  "# HELP chorus_group_commit_writes_total Reaction writes carried by those transactions.\n"
                  "# TYPE chorus_group_commit_writes_total counter\nchorus_group_commit_writes_total %llu\n",
                  (unsigned long long)atomic_load(&ch__group_commits),
                  (unsigned long long)atomic_load(&ch__group_commit_writes));
    ch_buf_printf(out, "# HELP chorus_consumer_lag_seconds Age of the oldest row a durable consumer has not "
                       "applied yet (0: caught up); keeps growing while the consumer cannot read.\n"
                       "# TYPE chorus_consumer_lag_seconds gauge\n");
    int64_t now_ms = ch_now_ms(); /* the age is taken now, not at the consumer's last read */
    for (size_t i = 0; i < CH_METRICS_MAX_CONSUMERS; i++) {
        const char *name = atomic_load(&ch__consumers[i].name);
        int64_t oldest_ms = atomic_load(&ch__consumers[i].value);
        int64_t lag_ms = oldest_ms > 0 && now_ms > oldest_ms ? now_ms - oldest_ms : 0;
        if (name)
            ch_buf_printf(out, "chorus_consumer_lag_seconds{consumer=\"%s\"} %.3f\n", name, (double)lag_ms / 1e3);
    }
    ch_metrics_edge_render(out, ch_mono_ms());
    ch_buf_printf(out, "# HELP chorus_reaction_queue Reaction writes queued for the group-commit writer, not yet in "
                       "a batch.\n# TYPE chorus_reaction_queue gauge\nchorus_reaction_queue %ld\n",
                  atomic_load(&ch__reaction_queue));
    ch_buf_printf(out, "# HELP chorus_retention_purged_rows_total Rows deleted by the retention sweeper.\n"
                       "# TYPE chorus_retention_purged_rows_total counter\n");
    for (size_t i = 0; i < CH_METRICS_MAX_TABLES; i++) {
        const char *name = atomic_load(&ch__purged[i].name);
        if (name)
            ch_buf_printf(out, "chorus_retention_purged_rows_total{table=\"%s\"} %llu\n", name,
                          (unsigned long long)atomic_load(&ch__purged[i].value));
    }
    ch_buf_printf(out,
                  "# HELP chorus_build_info Build information.\n# TYPE chorus_build_info gauge\n"
                  "chorus_build_info{version=\"%s\",revision=\"%s\"} 1\n",
                  CHORUS_VERSION, CHORUS_GIT_REV);
    size_t nrenderers = atomic_load_explicit(&ch__nrenderers, memory_order_acquire);
    for (size_t i = 0; i < nrenderers; i++)
        ch__renderers[i].fn(out, ch__renderers[i].arg);
}

#include "svc/worker/retention.h"

#include <stdatomic.h>
#include <string.h>

#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "core/metrics.h"
#include "svc/common/sql.h"
#include "svc/engage/notify.h"
#include "svc/engage/signals.h"
#include "svc/worker/consumer.h"

#define CH__MAX_CONSUMERS 4

/* A table under retention: who consumes it (keep in step with worker.c's consumers) and
 * its delete statement ($1 the bound, $2 the batch size; ids are the primary key, so each
 * batch is a range scan from the oldest row). */
typedef struct {
    const char *table;
    const ch_consumer_t *consumers[CH__MAX_CONSUMERS]; /* NULL-terminated */
    const char *delete_sql;
    const char *delete_shipped_sql; /* when shipping is on; NULL: not shipped */
} ch__retained_t;

/* The feed's fan-out (feed.fanout) does not hold the outbox back: its effects are a cache
 * (timelines are rebuilt from the tables), it may run in no process at all (an in-process
 * timeline store with api-only and worker-only processes, worker.c), and a post older than
 * the retention age is not worth pushing; with a cursor it never moves, the outbox would
 * grow for ever. */
static const ch__retained_t ch__outbox = {
    "outbox",
    {&ch_notify_outbox_consumer, NULL},
    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE id <= $1 ORDER BY id LIMIT $2)",
    NULL,
};

static const ch__retained_t ch__events = {
    "engagement_events",
    {&ch_notify_events_consumer, &ch_signals_consumer, NULL},
    "DELETE FROM engagement_events WHERE id IN (SELECT id FROM engagement_events WHERE id <= $1 ORDER BY id"
    " LIMIT $2)",
    "DELETE FROM engagement_events WHERE id IN (SELECT id FROM engagement_events WHERE id <= $1"
    " AND shipped_at IS NOT NULL ORDER BY id LIMIT $2)",
};

static const ch__retained_t *ch__find(const char *table)
{
    return strcmp(table, ch__outbox.table) == 0 ? &ch__outbox
           : strcmp(table, ch__events.table) == 0 ? &ch__events
                                                   : NULL;
}

static int64_t ch__age_s(const ch_svc_t *svc, const ch__retained_t *t)
{
    return t == &ch__outbox ? svc->cfg->retention_outbox_s : svc->cfg->retention_events_s;
}

ch_err_t ch_retention_bound(ch_svc_t *svc, const char *table, uint64_t *bound_out)
{
    const ch__retained_t *t = ch__find(table);
    *bound_out = 0;
    if (!t)
        return CH_EINVAL;
    int64_t age_s = ch__age_s(svc, t);
    if (age_s <= 0)
        return CH_OK; /* keep everything */
    /* Rows older than the age have ids below the floor of that moment. */
    uint64_t floor = ch_id_floor(ch_now_ms() - age_s * 1000);
    uint64_t bound = floor ? floor - 1 : 0;
    for (size_t i = 0; t->consumers[i] && bound; i++) {
        ch_db_rows_t *rows = NULL;
        ch_db_param_t p[] = {CH_DB_P_TEXT(t->consumers[i]->name)};
        ch_err_t err = ch_sql_run(svc, "SELECT last_id FROM consumer_offsets WHERE name = $1", p, 1, &rows, NULL);
        if (err) {
            ch_db_rows_free(rows);
            return err;
        }
        /* A consumer that never ran has passed nothing. */
        uint64_t wm = ch_db_rows_count(rows) ? (uint64_t)ch_db_rows_int(rows, 0, 0) : 0;
        ch_db_rows_free(rows);
        if (wm < bound)
            bound = wm;
    }
    *bound_out = bound;
    return CH_OK;
}

/* Deletes t's rows up to the bound, batch by batch; *purged gets how many, *more whether
 * it stopped at CH_RETENTION_MAX_BATCHES. */
static ch_err_t ch__sweep_table(ch_svc_t *svc, const ch__retained_t *t, const atomic_int *stopping,
                                uint64_t *purged, int *more)
{
    uint64_t bound = 0;
    *purged = 0;
    ch_err_t err = ch_retention_bound(svc, t->table, &bound);
    if (err || bound == 0)
        return err;
    const char *sql = t->delete_shipped_sql && svc->cfg->clickhouse_url[0] ? t->delete_shipped_sql : t->delete_sql;
    for (int batch = 0; batch < CH_RETENTION_MAX_BATCHES; batch++) {
        if (stopping && atomic_load(stopping))
            return CH_OK;
        int64_t changes = 0;
        ch_db_param_t p[] = {CH_DB_P_INT(bound), CH_DB_P_INT(CH_RETENTION_BATCH)};
        if ((err = ch_sql_run(svc, sql, p, CH_NPARAMS(p), NULL, &changes)) != CH_OK)
            return err;
        *purged += (uint64_t)(changes > 0 ? changes : 0);
        ch_metrics_purged(t->table, (uint64_t)(changes > 0 ? changes : 0));
        if (changes < CH_RETENTION_BATCH)
            return CH_OK;
    }
    *more = 1;
    return CH_OK;
}

/* stripe_events older than CH_RETENTION_STRIPE_EVENTS_MS, batch by batch by received_at. */
static ch_err_t ch__sweep_stripe_events(ch_svc_t *svc, const atomic_int *stopping, uint64_t *purged, int *more)
{
    static const char sql[] = "DELETE FROM stripe_events WHERE id IN (SELECT id FROM stripe_events"
                              " WHERE received_at < $1 ORDER BY received_at LIMIT $2)";
    int64_t bound = ch_now_ms() - CH_RETENTION_STRIPE_EVENTS_MS;
    *purged = 0;
    for (int batch = 0; batch < CH_RETENTION_MAX_BATCHES; batch++) {
        if (stopping && atomic_load(stopping))
            return CH_OK;
        int64_t changes = 0;
        ch_db_param_t p[] = {CH_DB_P_INT(bound), CH_DB_P_INT(CH_RETENTION_BATCH)};
        ch_err_t err = ch_sql_run(svc, sql, p, CH_NPARAMS(p), NULL, &changes);
        if (err != CH_OK)
            return err;
        *purged += (uint64_t)(changes > 0 ? changes : 0);
        ch_metrics_purged("stripe_events", (uint64_t)(changes > 0 ? changes : 0));
        if (changes < CH_RETENTION_BATCH)
            return CH_OK;
    }
    *more = 1;
    return CH_OK;
}

/* Completed sweeps (chorus_retention_sweeps_total): how a test, or an operator, knows that
 * a sweep ran after some point instead of sleeping "a few intervals". */
static atomic_ullong ch__sweeps;
static atomic_int ch__renderer_added;

static void ch__render(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out,
                  "# HELP chorus_retention_sweeps_total Retention sweeps completed (both tables swept).\n"
                  "# TYPE chorus_retention_sweeps_total counter\nchorus_retention_sweeps_total %llu\n",
                  (unsigned long long)atomic_load(&ch__sweeps));
}

ch_err_t ch_retention_sweep(ch_svc_t *svc, const atomic_int *stopping, ch_retention_stats_t *out)
{
    if (!atomic_exchange(&ch__renderer_added, 1))
        ch_metrics_add_renderer(ch__render, NULL);
    ch_retention_stats_t st = {0};
    ch_metrics_purged(ch__outbox.table, 0);
    ch_metrics_purged(ch__events.table, 0);
    ch_metrics_purged("stripe_events", 0);
    ch_err_t err = ch__sweep_table(svc, &ch__outbox, stopping, &st.outbox, &st.more);
    if (err == CH_OK)
        err = ch__sweep_table(svc, &ch__events, stopping, &st.events, &st.more);
    if (err == CH_OK)
        err = ch__sweep_stripe_events(svc, stopping, &st.stripe_events, &st.more);
    if (st.outbox || st.events || st.stripe_events)
        ch_log_info("retention: deleted %llu outbox, %llu engagement_events and %llu stripe_events rows",
                    (unsigned long long)st.outbox, (unsigned long long)st.events,
                    (unsigned long long)st.stripe_events);
    if (err && !(stopping && atomic_load(stopping)))
        ch_log_warn("retention: sweep failed (%s); it will be tried again", ch_err_code(err));
    if (err == CH_OK)
        atomic_fetch_add(&ch__sweeps, 1);
    if (out)
        *out = st;
    return err;
}

#include "svc/engage/shipper.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "core/metrics.h"
#include "store/clickhouse.h"
#include "svc/common/sql.h"

#define CH__MARK_CHUNK 50 /* ids per UPDATE ... WHERE id IN (...) */
/* The shipping lease: consumer_offsets row of this name, last_id = the holder's token,
 * updated_at = when the lease runs out (unix ms). */
#define CH__LEASE_NAME "clickhouse.lease"
/* Long enough to outlast one round's ClickHouse calls (the presence query and the insert,
 * each bounded by CH_CLICKHOUSE_TIMEOUT_MS) with margin for clock skew between replicas:
 * a replica's lease never runs out while its batch is in flight. Also how long the other
 * replicas wait before taking over from one that died. */
#define CH__LEASE_MS (6 * CH_CLICKHOUSE_TIMEOUT_MS)

static const char ch__ddl_table[] =
    "CREATE TABLE IF NOT EXISTS engagement_events (id UInt64, ts Int64, event_time DateTime, user_id UInt64, "
    "kind String, target_type String, target_id UInt64, author_id UInt64, value Float64) "
    "ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(event_time) ORDER BY id";

struct ch_shipper {
    ch_svc_t *svc;
    ch_clickhouse_t *ch;
    int ready; /* database and table made */
    int lease_row_made; /* consumer_offsets CH__LEASE_NAME exists */
    int64_t token;      /* this shipper's lease holder token */
    char *mark_sql;
};

ch_shipper_t *ch_shipper_create(ch_svc_t *svc, const _Atomic int *abort_flag)
{
    if (!svc->cfg->clickhouse_url[0])
        return NULL;
    ch_shipper_t *s = ch_calloc(1, sizeof(*s));
    if (!s || !(s->ch = ch_clickhouse_create(svc->cfg->clickhouse_url))) {
        free(s);
        return NULL;
    }
    ch_clickhouse_set_abort(s->ch, abort_flag);
    s->svc = svc;
    s->token = (int64_t)(ch_id_next() & INT64_MAX);
    ch_buf_t sql = CH_BUF_INIT;
    ch_buf_printf(&sql, "UPDATE engagement_events SET shipped_at = $1 WHERE id IN (");
    for (int i = 0; i < CH__MARK_CHUNK; i++)
        ch_buf_printf(&sql, "%s$%d", i ? ", " : "", i + 2);
    ch_buf_printf(&sql, ")");
    s->mark_sql = sql.data;
    return s;
}

void ch_shipper_destroy(ch_shipper_t *s)
{
    if (!s)
        return;
    ch_clickhouse_destroy(s->ch);
    free(s->mark_sql);
    free(s);
}

/* Makes the database (unless "default") and the table. */
static ch_err_t ch__ensure(ch_shipper_t *s)
{
    ch_err_t err = CH_OK;
    const char *db = ch_clickhouse_database(s->ch);
    if (strcmp(db, "default") != 0) {
        char ddl[200];
        snprintf(ddl, sizeof(ddl), "CREATE DATABASE IF NOT EXISTS %s", db);
        err = ch_clickhouse_exec(s->ch, NULL, ddl, strlen(ddl), 0, NULL);
    }
    if (err == CH_OK)
        err = ch_clickhouse_exec(s->ch, NULL, ch__ddl_table, strlen(ch__ddl_table), 1, NULL);
    if (err == CH_OK) {
        s->ready = 1;
        ch_log_info("clickhouse: shipping engagement events to %s.engagement_events", db);
    }
    return err;
}

/* The ids of rows (column 0) that ClickHouse already holds, as a sorted array of n
 * entries (caller frees). */
static ch_err_t ch__present(ch_shipper_t *s, const ch_db_rows_t *rows, uint64_t **ids_out, size_t *n_out)
{
    ch_buf_t q = CH_BUF_INIT;
    ch_buf_printf(&q, "SELECT id FROM engagement_events WHERE id IN (");
    for (size_t i = 0; i < ch_db_rows_count(rows); i++)
        ch_buf_printf(&q, "%s%s", i ? "," : "", ch_db_rows_text(rows, i, 0));
    ch_buf_printf(&q, ") ORDER BY id FORMAT TabSeparated");
    char *answer = NULL;
    ch_err_t err = ch_clickhouse_exec(s->ch, NULL, q.data, q.len, 1, &answer);
    ch_buf_clear(&q);
    *ids_out = NULL;
    *n_out = 0;
    if (err)
        return err;
    size_t cap = 0;
    for (char *line = answer, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (*n_out == cap) {
            cap = cap ? cap * 2 : 64;
            *ids_out = ch_realloc(*ids_out, cap * sizeof(**ids_out));
        }
        (*ids_out)[(*n_out)++] = strtoull(line, NULL, 10);
    }
    free(answer);
    return CH_OK;
}

static int ch__has(const uint64_t *ids, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] == id)
            return 1;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Sends the rows ClickHouse does not have yet. Columns: 0 id, 1 ts, 2 user_id, 3 kind,
 * 4 target_type, 5 target_id, 6 author_id, 7 value. */
static ch_err_t ch__send(ch_shipper_t *s, const ch_db_rows_t *rows)
{
    uint64_t *present = NULL;
    size_t npresent = 0;
    ch_err_t err = ch__present(s, rows, &present, &npresent);
    if (err)
        return err;
    ch_buf_t body = CH_BUF_INIT;
    size_t n = ch_db_rows_count(rows), sent = 0;
    for (size_t i = 0; i < n; i++) {
        if (ch__has(present, npresent, (uint64_t)ch_db_rows_int(rows, i, 0)))
            continue;
        int64_t ts = ch_db_rows_int(rows, i, 1);
        double value = strtod(ch_db_rows_text(rows, i, 7), NULL);
        json_t *row = json_pack("{s:I, s:I, s:I, s:I, s:s, s:s, s:I, s:I, s:f}", "id",
                                (json_int_t)ch_db_rows_int(rows, i, 0), "ts", (json_int_t)ts, "event_time",
                                (json_int_t)(ts > 0 ? ts / 1000 : 0), "user_id", (json_int_t)ch_db_rows_int(rows, i, 2),
                                "kind", ch_db_rows_text(rows, i, 3), "target_type", ch_db_rows_text(rows, i, 4),
                                "target_id", (json_int_t)ch_db_rows_int(rows, i, 5), "author_id",
                                (json_int_t)ch_db_rows_int(rows, i, 6), "value", isfinite(value) ? value : 0.0);
        char *line = row ? json_dumps(row, JSON_COMPACT) : NULL;
        if (line) {
            ch_buf_printf(&body, "%s\n", line);
            sent++;
        }
        free(line);
        json_decref(row);
    }
    if (sent)
        err = ch_clickhouse_exec(s->ch, "INSERT INTO engagement_events FORMAT JSONEachRow", body.data, body.len, 1,
                                 NULL);
    if (npresent)
        ch_log_warn("clickhouse: %zu event(s) of a batch were there already (shipped before a failed mark); "
                    "not sent again",
                    npresent);
    ch_buf_clear(&body);
    free(present);
    return err;
}

/* Marks every row of rows shipped, on conn (inside a transaction). */
static ch_err_t ch__mark(ch_shipper_t *s, ch_db_conn_t *conn, const ch_db_rows_t *rows)
{
    size_t n = ch_db_rows_count(rows);
    ch_err_t err = CH_OK;
    int64_t now = ch_now_ms();
    for (size_t at = 0; at < n && err == CH_OK; at += CH__MARK_CHUNK) {
        ch_db_param_t p[CH__MARK_CHUNK + 1];
        p[0] = CH_DB_P_INT(now);
        for (size_t k = 0; k < CH__MARK_CHUNK; k++) /* a short last chunk repeats its last id */
            p[k + 1] = CH_DB_P_INT(ch_db_rows_int(rows, at + k < n ? at + k : n - 1, 0));
        err = ch_sql_on(s->svc, conn, s->mark_sql, p, CH__MARK_CHUNK + 1, NULL, NULL);
    }
    return err;
}

/* Takes or renews the shipping lease in one short statement (its row lock lasts only that
 * long): *held is 1 when this shipper holds it until now + CH__LEASE_MS. */
static ch_err_t ch__lease(ch_shipper_t *s, ch_db_conn_t *conn, int *held)
{
    ch_svc_t *svc = s->svc;
    int64_t now = ch_now_ms();
    ch_err_t err = CH_OK;
    *held = 0;
    if (!s->lease_row_made) {
        ch_db_param_t p[] = {CH_DB_P_TEXT(CH__LEASE_NAME)};
        err = ch_sql_on(svc, conn,
                        "INSERT INTO consumer_offsets(name, last_id, updated_at) VALUES($1, 0, 0) "
                        "ON CONFLICT DO NOTHING",
                        p, CH_NPARAMS(p), NULL, NULL);
        s->lease_row_made = err == CH_OK;
    }
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {CH_DB_P_TEXT(CH__LEASE_NAME), CH_DB_P_INT(s->token), CH_DB_P_INT(now + CH__LEASE_MS),
                         CH_DB_P_INT(now)};
    if (err == CH_OK)
        err = ch_sql_on(svc, conn,
                        "UPDATE consumer_offsets SET last_id = $2, updated_at = $3 "
                        "WHERE name = $1 AND (last_id = $2 OR updated_at < $4) RETURNING last_id",
                        p, CH_NPARAMS(p), &rows, NULL);
    *held = err == CH_OK && ch_db_rows_count(rows) == 1;
    ch_db_rows_free(rows);
    return err;
}

/* The metric's name for the shipper's backlog (chorus_consumer_lag_seconds). */
#define CH__METRIC_NAME "clickhouse"

static const char ch__batch_sql[] =
    "SELECT id, ts, user_id, kind, target_type, target_id, author_id, value FROM engagement_events "
    "WHERE shipped_at IS NULL ORDER BY id LIMIT $1";

/* Whether anything waits to be shipped (*pending), and the age of the oldest such row for
 * the metric: one read of the database only, made whatever state ClickHouse is in, so the
 * backlog's age is known (and keeps growing) while ClickHouse is down. */
static ch_err_t ch__peek(ch_shipper_t *s, int *pending)
{
    ch_db_conn_t *conn = NULL;
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(s->svc->db, &conn));
    if (err)
        return err;
    ch_db_param_t one[] = {CH_DB_P_INT(1)};
    err = ch_sql_on(s->svc, conn, ch__batch_sql, one, 1, &rows, NULL);
    ch_db_release(s->svc->db, conn);
    *pending = err == CH_OK && ch_db_rows_count(rows) > 0;
    if (err == CH_OK) /* on failure the last known oldest row stays, and its age grows */
        ch_metrics_consumer_oldest(CH__METRIC_NAME,
                                   *pending ? ch_id_time_ms((uint64_t)ch_db_rows_int(rows, 0, 0)) : 0);
    ch_db_rows_free(rows);
    return err;
}

/* Shipping holds no database lock and no connection while it talks to ClickHouse: the
 * replicas take turns by a lease (ch__lease), the batch is read and later marked in short
 * statements of their own, and a batch sent again (a mark lost to a crash, or to the
 * database going away) is deduplicated by id against what ClickHouse already holds. */
ch_err_t ch_shipper_step(ch_shipper_t *s, int *shipped_out)
{
    *shipped_out = 0;
    ch_svc_t *svc = s->svc;
    int pending = 0;
    /* Peek first, so that an idle shipper writes nothing. */
    ch_err_t err = ch__peek(s, &pending);
    if (err == CH_OK && !s->ready)
        err = ch__ensure(s);
    if (err || !pending)
        return err;
    ch_db_conn_t *conn = NULL;
    ch_db_rows_t *rows = NULL;
    int held = 0;
    if ((err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(svc->db, &conn))) != CH_OK)
        return err;
    ch_db_param_t p[] = {CH_DB_P_INT(CH_SHIPPER_BATCH)};
    err = ch__lease(s, conn, &held);
    if (held)
        err = ch_sql_on(svc, conn, ch__batch_sql, p, 1, &rows, NULL);
    size_t n = held && err == CH_OK ? ch_db_rows_count(rows) : 0;
    ch_db_release(svc->db, conn);
    conn = NULL;
    if (n)
        err = ch__send(s, rows);
    /* Marked in one short transaction; if the lease ran out meanwhile (it should not), the
     * rows are in ClickHouse all the same and marking them is still right. */
    if (n && err == CH_OK && (err = ch_sql_begin(svc, 1, &conn)) == CH_OK) {
        err = ch__mark(s, conn, rows);
        err = ch_sql_end(svc, conn, err);
    }
    ch_db_rows_free(rows);
    if (err == CH_OK)
        *shipped_out = (int)n;
    return err;
}

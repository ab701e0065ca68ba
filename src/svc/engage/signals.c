/* Ranking signals: the weights, the decay, O(1) reads, and the consumer that folds the
 * event log into the affinity and velocity tables (see signals.h for the formulas). */
#include "svc/engage/signals.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "svc/common/sql.h"

#define CH__WEIGHT_REACTION 1.0
#define CH__WEIGHT_REACTION_MAX 10.0
#define CH__WEIGHT_COMMENT 4.0
#define CH__WEIGHT_REPLY 6.0
#define CH__WEIGHT_MENTION 2.0
#define CH__WEIGHT_VIEW 0.2
#define CH__WEIGHT_VIEW_PER_S 0.02
#define CH__WEIGHT_VIEW_MAX 1.0

/* ---- math ------------------------------------------------------------------------------- */

double ch_signals_weight(const char *kind, double value)
{
    if (strcmp(kind, "reaction") == 0)
        return value > 0 && value <= CH__WEIGHT_REACTION_MAX ? value : CH__WEIGHT_REACTION;
    if (strcmp(kind, "unreaction") == 0) /* takes back exactly what its reaction gave */
        return -(value > 0 && value <= CH__WEIGHT_REACTION_MAX ? value : CH__WEIGHT_REACTION);
    if (strcmp(kind, "comment") == 0)
        return CH__WEIGHT_COMMENT;
    if (strcmp(kind, "reply") == 0)
        return CH__WEIGHT_REPLY;
    if (strcmp(kind, "mention") == 0)
        return CH__WEIGHT_MENTION;
    if (strcmp(kind, "view") == 0) {
        double w = CH__WEIGHT_VIEW + (value > 0 && isfinite(value) ? value * CH__WEIGHT_VIEW_PER_S : 0);
        return w < CH__WEIGHT_VIEW_MAX ? w : CH__WEIGHT_VIEW_MAX;
    }
    return 0;
}

double ch_signals_decay(double score, int64_t score_ms, int64_t at_ms, int64_t half_life_ms)
{
    if (at_ms <= score_ms)
        return score;
    return score * exp2(-(double)(at_ms - score_ms) / (double)half_life_ms);
}

/* Folds weight w at time t into a score kept at score_ms; an event older than the score
 * (a late commit) is decayed to the score's time instead. Never below 0. */
static void ch__fold(double *score, int64_t *score_ms, double w, int64_t t, int64_t half_life_ms)
{
    if (t >= *score_ms) {
        *score = ch_signals_decay(*score, *score_ms, t, half_life_ms) + w;
        *score_ms = t;
    } else {
        *score += ch_signals_decay(w, t, *score_ms, half_life_ms);
    }
    if (!(*score > 0))
        *score = 0;
}

/* ---- reads -------------------------------------------------------------------------------- */

/* One row (score, updated_at) by primary key, decayed to at_ms; 0 when missing. */
static ch_err_t ch__read(ch_svc_t *svc, const char *sql, const ch_db_param_t *p, size_t np, int64_t half_life_ms,
                         int64_t at_ms, double *out)
{
    ch_db_rows_t *rows = NULL;
    ch_err_t err = ch_sql_run(svc, sql, p, np, &rows, NULL);
    *out = 0;
    if (err == CH_OK && ch_db_rows_count(rows) == 1)
        *out = ch_signals_decay(strtod(ch_db_rows_text(rows, 0, 0), NULL), ch_db_rows_int(rows, 0, 1), at_ms,
                                half_life_ms);
    ch_db_rows_free(rows);
    return err;
}

ch_err_t ch_signals_affinity_at(ch_svc_t *svc, uint64_t viewer, uint64_t author, int64_t at_ms, double *out)
{
    ch_db_param_t p[] = {CH_DB_P_INT(viewer), CH_DB_P_INT(author)};
    return ch__read(svc, "SELECT score, updated_at FROM affinity WHERE viewer_id = $1 AND author_id = $2", p,
                    CH_NPARAMS(p), CH_SIGNALS_AFFINITY_HALF_LIFE_MS, at_ms, out);
}

ch_err_t ch_signals_affinity(ch_svc_t *svc, uint64_t viewer, uint64_t author, double *out)
{
    return ch_signals_affinity_at(svc, viewer, author, ch_now_ms(), out);
}

ch_err_t ch_signals_velocity_at(ch_svc_t *svc, ch_target_type_t type, uint64_t id, int64_t at_ms, double *out)
{
    ch_db_param_t p[] = {CH_DB_P_TEXT(ch_target_type_name(type)), CH_DB_P_INT(id)};
    ch_err_t err = ch__read(svc, "SELECT score, updated_at FROM velocity WHERE target_type = $1 AND target_id = $2", p,
                            CH_NPARAMS(p), CH_SIGNALS_VELOCITY_HALF_LIFE_MS, at_ms, out);
    *out *= M_LN2 * 3600000.0 / (double)CH_SIGNALS_VELOCITY_HALF_LIFE_MS;
    return err;
}

ch_err_t ch_signals_velocity(ch_svc_t *svc, ch_target_type_t type, uint64_t id, double *out)
{
    return ch_signals_velocity_at(svc, type, id, ch_now_ms(), out);
}

/* ---- folding (the consumer) ------------------------------------------------------------------ */

/* Read-modify-write of one score row inside the batch transaction; the consumer's lock
 * makes it the only writer. sel takes the key as $1, $2; upsert takes $1, $2, score, time. */
static ch_err_t ch__update(ch_svc_t *svc, ch_db_conn_t *conn, const char *sel, const char *upsert, ch_db_param_t k1,
                           ch_db_param_t k2, double w, int64_t t, int64_t half_life_ms)
{
    ch_db_rows_t *rows = NULL;
    ch_db_param_t p[] = {k1, k2};
    ch_err_t err = ch_sql_on(svc, conn, sel, p, CH_NPARAMS(p), &rows, NULL);
    if (err)
        return err;
    double score = 0;
    int64_t score_ms = t;
    if (ch_db_rows_count(rows) == 1) {
        score = strtod(ch_db_rows_text(rows, 0, 0), NULL);
        score_ms = ch_db_rows_int(rows, 0, 1);
    }
    ch_db_rows_free(rows);
    ch__fold(&score, &score_ms, w, t, half_life_ms);
    char text[40];
    snprintf(text, sizeof(text), "%.17g", score);
    ch_db_param_t u[] = {k1, k2, CH_DB_P_TEXT(text), CH_DB_P_INT(score_ms)};
    return ch_sql_on(svc, conn, upsert, u, CH_NPARAMS(u), NULL, NULL);
}

/* Columns: 0 id, 1 ts, 2 user_id, 3 kind, 4 target_type, 5 target_id, 6 author_id, 7 value. */
static ch_err_t ch__apply(ch_svc_t *svc, ch_db_conn_t *conn, const ch_db_rows_t *rows, size_t row)
{
    int64_t ts = ch_db_rows_int(rows, row, 1);
    uint64_t user = (uint64_t)ch_db_rows_int(rows, row, 2), author = (uint64_t)ch_db_rows_int(rows, row, 6);
    double w = ch_signals_weight(ch_db_rows_text(rows, row, 3), strtod(ch_db_rows_text(rows, row, 7), NULL));
    if (w == 0 || !isfinite(w))
        return CH_OK;
    ch_err_t err = CH_OK;
    if (user && author && user != author)
        err = ch__update(svc, conn, "SELECT score, updated_at FROM affinity WHERE viewer_id = $1 AND author_id = $2",
                         "INSERT INTO affinity(viewer_id, author_id, score, updated_at) "
                         "VALUES($1, $2, CAST($3 AS DOUBLE PRECISION), $4) ON CONFLICT (viewer_id, author_id) "
                         "DO UPDATE SET score = excluded.score, updated_at = excluded.updated_at",
                         CH_DB_P_INT(user), CH_DB_P_INT(author), w, ts, CH_SIGNALS_AFFINITY_HALF_LIFE_MS);
    if (err == CH_OK)
        err = ch__update(svc, conn, "SELECT score, updated_at FROM velocity WHERE target_type = $1 AND target_id = $2",
                         "INSERT INTO velocity(target_type, target_id, score, updated_at) "
                         "VALUES($1, $2, CAST($3 AS DOUBLE PRECISION), $4) ON CONFLICT (target_type, target_id) "
                         "DO UPDATE SET score = excluded.score, updated_at = excluded.updated_at",
                         CH_DB_P_TEXT(ch_db_rows_text(rows, row, 4)), CH_DB_P_INT(ch_db_rows_int(rows, row, 5)), w,
                         ts, CH_SIGNALS_VELOCITY_HALF_LIFE_MS);
    return err;
}

const ch_consumer_t ch_signals_consumer = {
    "signals",
    "SELECT e.id, e.ts, e.user_id, e.kind, e.target_type, e.target_id, e.author_id, e.value FROM engagement_events e"
    " WHERE e.id > $1 AND NOT EXISTS (SELECT 1 FROM consumer_seen s WHERE s.name = $2 AND s.event_id = e.id)"
    " ORDER BY e.id LIMIT $3",
    ch__apply,
};

#include "svc/seed/batch.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "core/buf.h"

/* At most 7,000 parameters a statement: below SQLite's 32,766 and PostgreSQL's 65,535, and
 * small enough for libpq (15) to read the statement's ParameterDescription, 6 + 4 bytes per
 * parameter: it drops any such message over 30,000 bytes as "lost synchronization" (a
 * 500-row batch of the 15 item columns, 7,500 parameters, failed the seed on PostgreSQL). */
#define CH__MAX_PARAMS 7000
#define CH__MAX_ROWS 500

void ch_batch_init(ch_batch_t *b, ch_svc_t *svc, ch_db_conn_t *conn, const char *table_and_columns, size_t ncols,
                   const char *suffix)
{
    *b = (ch_batch_t){.svc = svc, .conn = conn, .table_and_columns = table_and_columns, .suffix = suffix,
                      .ncols = ncols};
    b->rows_per_statement = CH__MAX_PARAMS / ncols < CH__MAX_ROWS ? CH__MAX_PARAMS / ncols : CH__MAX_ROWS;
    b->params = ch_calloc(ncols * b->rows_per_statement, sizeof(*b->params));
    b->owned = ch_calloc(ncols * b->rows_per_statement, sizeof(*b->owned));
}

/* "INSERT INTO <table> VALUES ($1, ...), ...<suffix>" for rows rows. */
static void ch__batch_sql(const ch_batch_t *b, size_t rows, ch_buf_t *sql)
{
    ch_buf_printf(sql, "INSERT INTO %s VALUES ", b->table_and_columns);
    for (size_t r = 0, n = 1; r < rows; r++) {
        ch_buf_append(sql, r ? ",(" : "(", r ? 2 : 1);
        for (size_t c = 0; c < b->ncols; c++, n++)
            ch_buf_printf(sql, c ? ",$%zu" : "$%zu", n);
        ch_buf_append(sql, ")", 1);
    }
    ch_buf_printf(sql, "%s", b->suffix);
}

static void ch__batch_flush(ch_batch_t *b)
{
    if (b->rows && !b->err) {
        ch_buf_t sql = CH_BUF_INIT;
        if (b->rows == b->rows_per_statement && !b->full_sql) {
            ch__batch_sql(b, b->rows, &sql);
            b->full_sql = sql.data; /* kept: every full flush runs the same statement */
            sql = (ch_buf_t)CH_BUF_INIT;
        }
        if (b->rows < b->rows_per_statement)
            ch__batch_sql(b, b->rows, &sql);
        const char *text = b->rows == b->rows_per_statement ? b->full_sql : sql.data;
        b->err = text ? ch_sql_on(b->svc, b->conn, text, b->params, b->rows * b->ncols, NULL, NULL) : CH_EINTERNAL;
        ch_buf_clear(&sql);
    }
    for (size_t i = 0; i < b->nowned; i++)
        free(b->owned[i]);
    b->nowned = 0;
    b->rows = 0;
}

char *ch_batch_own(ch_batch_t *b, char *text)
{
    b->owned[b->nowned++] = text;
    return text;
}

void ch_batch_add(ch_batch_t *b, const ch_db_param_t *row)
{
    for (size_t c = 0; c < b->ncols; c++)
        b->params[b->rows * b->ncols + c] = row[c];
    if (++b->rows == b->rows_per_statement)
        ch__batch_flush(b);
}

ch_err_t ch_batch_finish(ch_batch_t *b)
{
    ch__batch_flush(b);
    free(b->params);
    free(b->owned);
    free(b->full_sql);
    return b->err;
}

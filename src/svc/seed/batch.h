/* Multi-row INSERTs for bulk loads: rows are collected and written as one statement of up
 * to `rows_per_statement` rows, on the caller's connection (inside its transaction). */
#ifndef CH_SVC_SEED_BATCH_H
#define CH_SVC_SEED_BATCH_H

#include <stddef.h>

#include "svc/common/sql.h"

typedef struct {
    ch_svc_t *svc;
    ch_db_conn_t *conn;
    const char *table_and_columns; /* "follows(follower_id, followee_id, id, created_at)" */
    const char *suffix;            /* "" or " ON CONFLICT DO NOTHING" */
    size_t ncols, rows, rows_per_statement;
    ch_db_param_t *params;  /* ncols * rows_per_statement */
    char **owned;           /* text parameters to free after the flush */
    size_t nowned;
    char *full_sql;         /* the statement of a full batch, made at its first flush */
    ch_err_t err;           /* first error; later calls do nothing */
} ch_batch_t;

/** Prepares a batch for `ncols` columns on conn (borrowed). */
void ch_batch_init(ch_batch_t *b, ch_svc_t *svc, ch_db_conn_t *conn, const char *table_and_columns, size_t ncols,
                   const char *suffix);
/** Adds one row of ncols parameters (copied; text is borrowed until the next flush unless
 * given to ch_batch_own). Flushes when the statement is full. */
void ch_batch_add(ch_batch_t *b, const ch_db_param_t *row);
/** Hands a malloc'd string (or NULL) to the batch, freed after the flush that uses it;
 * returns it. At most ncols strings per row. */
char *ch_batch_own(ch_batch_t *b, char *text);
/** Writes the remaining rows and frees the batch. Returns the first error of its life. */
ch_err_t ch_batch_finish(ch_batch_t *b);

#endif

#include "svc/engage/reactions_writer.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/metrics.h"
#include "svc/common/sql.h"

/* How often the checkpointer copies the WAL back into the database file. */
#define CH__CHECKPOINT_INTERVAL_MS 250
/* WAL pages after which a commit of the writer checkpoints itself (SQLite's default is
 * 1,000): by then the checkpointer has copied most frames, and this checkpoint lets the
 * next transaction restart the WAL from its beginning. Measured: +25 % writes/s. */
#define CH__WRITER_AUTOCHECKPOINT "PRAGMA wal_autocheckpoint=10000"
/* The writer's page cache (KiB when negative): the hot pages of every index it writes. */
#define CH__WRITER_CACHE "PRAGMA cache_size=-65536"

struct ch_reactions_writer {
    ch_svc_t *svc;
    pthread_t thread, checkpointer;
    pthread_mutex_t mu;
    pthread_cond_t wake;        /* the queue got an op, or stop was asked */
    pthread_cond_t tick;        /* stop was asked (checkpointer) */
    ch__reaction_op_t *head, *tail;
    ch_db_conn_t *conn;         /* the writer's own connection (writer thread only) */
    int sqlite;                 /* the database is SQLite: tune the connection, checkpoint */
    int stopping;
    int checkpointer_started;
    ch__reaction_op_t *batch[CH_REACTIONS_BATCH_MAX];
};

/* The writer's own connection, kept between batches so that its page cache stays warm,
 * and checkpointing on commit only rarely (the checkpointer thread does most of it, off
 * the writer's path); the pragmas only with SQLite. */
static ch_err_t ch__writer_conn(ch_reactions_writer_t *w)
{
    if (w->conn)
        return CH_OK;
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(w->svc->db, &w->conn));
    if (err == CH_OK && w->sqlite)
        err = ch_sql_on(w->svc, w->conn, CH__WRITER_AUTOCHECKPOINT, NULL, 0, NULL, NULL);
    if (err == CH_OK && w->sqlite)
        err = ch_sql_on(w->svc, w->conn, CH__WRITER_CACHE, NULL, 0, NULL, NULL);
    if (err) {
        ch_db_release(w->svc->db, w->conn);
        w->conn = NULL;
    }
    return err;
}

/* Copies committed WAL frames into the database file every CH__CHECKPOINT_INTERVAL_MS
 * (PASSIVE: never waits for readers or the writer), so that the copying and its fsyncs
 * mostly happen beside the writer, not in its commits. Other connections keep SQLite's
 * automatic checkpoints. */
static void *ch__checkpointer_main(void *arg)
{
    ch_reactions_writer_t *w = arg;
    ch_db_conn_t *conn = NULL;
    pthread_setname_np(pthread_self(), "ch-checkpoint");
    pthread_mutex_lock(&w->mu);
    while (!w->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += CH__CHECKPOINT_INTERVAL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&w->tick, &w->mu, &until);
        if (w->stopping)
            break;
        pthread_mutex_unlock(&w->mu);
        if (conn || ch_db_acquire(w->svc->db, &conn) == CH_OK) {
            ch_db_rows_t *rows = NULL;
            if (ch_sql_on(w->svc, conn, "PRAGMA wal_checkpoint(PASSIVE)", NULL, 0, &rows, NULL) != CH_OK) {
                ch_db_release(w->svc->db, conn);
                conn = NULL;
            }
            ch_db_rows_free(rows);
        }
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    ch_db_release(w->svc->db, conn);
    return NULL;
}

/* Takes up to CH_REACTIONS_BATCH_MAX ops off the queue (w->mu held); returns how many. */
static size_t ch__take(ch_reactions_writer_t *w)
{
    size_t n = 0;
    while (w->head && n < CH_REACTIONS_BATCH_MAX) {
        w->batch[n++] = w->head;
        w->head = w->head->next;
    }
    if (!w->head)
        w->tail = NULL;
    ch_metrics_reaction_queue_add(-(long)n);
    return n;
}

static void *ch__writer_main(void *arg)
{
    ch_reactions_writer_t *w = arg;
    pthread_setname_np(pthread_self(), "ch-reactions");
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->wake, &w->mu);
        if (!w->head)
            break; /* stopping and drained */
        size_t n = ch__take(w);
        pthread_mutex_unlock(&w->mu);

        ch_err_t err = ch__writer_conn(w);
        if (err == CH_OK)
            err = ch__reactions_run(w->svc, w->conn, w->batch, n);
        if (err == CH_OK)
            ch_metrics_group_commit(n);
        if (err) {
            ch_log_warn("reactions: a batch of %zu writes failed (%s); retrying them one by one", n,
                        ch_err_code(err));
            /* Start again on a fresh connection in case this one is the trouble. */
            ch_db_release(w->svc->db, w->conn);
            w->conn = NULL;
            ch__reactions_run_each(w->svc, NULL, w->batch, n);
        }
        /* Committed (or failed for good): answer. op may be freed by its completion. */
        for (size_t i = 0; i < n; i++)
            w->batch[i]->done(w->batch[i]);

        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    ch_db_release(w->svc->db, w->conn);
    w->conn = NULL;
    return NULL;
}

ch_reactions_writer_t *ch_reactions_writer_start(ch_svc_t *svc)
{
    ch_reactions_writer_t *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->svc = svc;
    w->sqlite = strcmp(ch_db_kind(svc->db), "sqlite") == 0;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->tick, NULL);
    if (pthread_create(&w->thread, NULL, ch__writer_main, w) != 0) {
        pthread_cond_destroy(&w->tick);
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    /* Without the checkpointer the writer's WAL is still checkpointed by the other
     * connections' automatic checkpoints: degraded, not wrong. */
    w->checkpointer_started = w->sqlite && pthread_create(&w->checkpointer, NULL, ch__checkpointer_main, w) == 0;
    if (w->sqlite && !w->checkpointer_started)
        ch_log_warn("reactions: cannot start the checkpointer thread");
    return w;
}

void ch_reactions_writer_stop(ch_reactions_writer_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->wake);
    pthread_cond_signal(&w->tick);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL); /* after it applied everything queued */
    if (w->checkpointer_started)
        pthread_join(w->checkpointer, NULL);
    pthread_cond_destroy(&w->tick);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

void ch_reactions_writer_submit(ch_reactions_writer_t *w, ch__reaction_op_t *op)
{
    op->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = op;
    else
        w->head = op;
    w->tail = op;
    ch_metrics_reaction_queue_add(1);
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
}

static void ch__post(ch__reaction_op_t *op)
{
    sem_post(op->arg);
}

void ch_reactions_writer_submit_wait(ch_reactions_writer_t *w, ch__reaction_op_t *op)
{
    sem_t done;
    sem_init(&done, 0, 0);
    op->done = ch__post;
    op->arg = &done;
    ch_reactions_writer_submit(w, op);
    while (sem_wait(&done) != 0)
        ; /* EINTR: keep waiting, the writer always posts */
    sem_destroy(&done);
}

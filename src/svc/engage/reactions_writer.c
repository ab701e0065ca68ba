#include "svc/engage/reactions_writer.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "svc/common/sql.h"

struct ch_reactions_writer {
    ch_svc_t *svc;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;        /* the queue got an op, or stop was asked */
    ch__reaction_op_t *head, *tail;
    ch_db_conn_t *conn;         /* the writer's own connection (writer thread only) */
    ch_db_maintainer_t *upkeep; /* the database's upkeep beside the writer (may be NULL) */
    int stopping;
    ch__reaction_op_t *batch[CH_REACTIONS_BATCH_MAX];
};

/* The writer's own connection, kept between batches so that its page cache stays warm,
 * tuned by the driver for a writer (SQLite: checkpointing on commit only rarely, as the
 * upkeep thread does most of it, off the writer's path). */
static ch_err_t ch__writer_conn(ch_reactions_writer_t *w)
{
    if (w->conn)
        return CH_OK;
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_acquire(w->svc->db, &w->conn));
    if (err == CH_OK)
        err = ch_backend_err(CH_BACKEND_DB, ch_db_tune(w->svc->db, w->conn, CH_DB_TUNE_WRITER));
    if (err) {
        ch_db_release(w->svc->db, w->conn);
        w->conn = NULL;
    }
    return err;
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

/* Answers the ops of batch[0..n) whose deadline has passed (503, nothing written) and
 * returns how many are left, kept in order at the front. */
static size_t ch__drop_expired(ch__reaction_op_t **batch, size_t n)
{
    int64_t now = ch_mono_ms();
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        ch__reaction_op_t *op = batch[i];
        if (op->deadline_ms && now >= op->deadline_ms) {
            op->err = ch_fault(&op->fault, CH_EUNAVAILABLE, NULL,
                               "the request's deadline passed before its reaction was written; nothing changed");
            op->done(op); /* op may be freed */
        } else {
            batch[kept++] = op;
        }
    }
    return kept;
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

        /* Ops whose request is past its deadline are answered 503 unwritten; the batch
         * runs under the earliest deadline of the others (a batch that misses it is retried
         * one op at a time, each under its own). */
        n = ch__drop_expired(w->batch, n);
        if (n == 0) {
            pthread_mutex_lock(&w->mu);
            continue;
        }
        int64_t deadline = 0;
        for (size_t i = 0; i < n; i++)
            if (w->batch[i]->deadline_ms && (!deadline || w->batch[i]->deadline_ms < deadline))
                deadline = w->batch[i]->deadline_ms;
        ch_db_deadline_set(deadline);
        int held = w->conn != NULL;
        ch_err_t err = ch__writer_conn(w);
        if (err == CH_OK)
            err = ch__reactions_run(w->svc, w->conn, w->batch, n);
        if (err == CH_EUNAVAILABLE && held) {
            /* The connection kept since the last batch may have died with a server restart
             * in between: the batch once more on a fresh one keeps it one commit. */
            ch_db_release(w->svc->db, w->conn);
            w->conn = NULL;
            if ((err = ch__writer_conn(w)) == CH_OK)
                err = ch__reactions_run(w->svc, w->conn, w->batch, n);
        }
        if (err == CH_OK)
            ch_metrics_group_commit(n);
        if (err) {
            ch_log_warn("reactions: a batch of %zu writes failed (%s); retrying them one by one", n,
                        ch_err_code(err));
            /* Start again on a fresh connection in case this one is the trouble. */
            ch_db_release(w->svc->db, w->conn);
            w->conn = NULL;
            for (size_t i = 0; i < n; i++) {
                ch_db_deadline_set(w->batch[i]->deadline_ms);
                ch__reactions_run_each(w->svc, NULL, &w->batch[i], 1);
            }
        }
        ch_db_deadline_set(0);
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
    ch_reactions_writer_t *w = ch_calloc(1, sizeof(*w));
    w->svc = svc;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, ch__writer_main, w) != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    /* Without it (none needed, or no thread) SQLite's WAL is still checkpointed by the
     * connections' automatic checkpoints: degraded, not wrong. */
    w->upkeep = ch_db_maintainer_start(svc->db);
    return w;
}

void ch_reactions_writer_stop(ch_reactions_writer_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL); /* after it applied everything queued */
    ch_db_maintainer_stop(w->upkeep);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

void ch_reactions_writer_submit(ch_reactions_writer_t *w, ch__reaction_op_t *op)
{
    op->next = NULL;
    op->deadline_ms = ch_db_deadline();
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

#include "svc/common/batch_writer.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "svc/common/sql.h"

struct ch_batch_writer {
    ch_svc_t *svc;
    ch_batch_spec_t spec;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* the queue got an item, or stop was asked */
    ch_batch_item_t *head, *tail;
    size_t queued, queued_bytes;
    uint64_t batches, items, refused;
    ch_db_conn_t *conn; /* the writer's own connection (writer thread only) */
    int stopping;
    ch_batch_item_t **batch; /* spec.batch_max slots */
};

/* The writer's own connection, kept between batches (warm page and statement caches), tuned
 * by the driver for a writer. */
static ch_err_t ch__conn(ch_batch_writer_t *w)
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

static void ch__drop_conn(ch_batch_writer_t *w)
{
    ch_db_release(w->svc->db, w->conn);
    w->conn = NULL;
}

/* Sets item's outcome to err with a fault saying why (see spec.fail). */
static void ch__fail(ch_batch_writer_t *w, ch_batch_item_t *item, ch_err_t err, const char *why)
{
    ch_fault_t f;
    memset(&f, 0, sizeof(f));
    ch_fault(&f, err, NULL, "%s", why);
    w->spec.fail(item, err, &f, w->spec.ctx);
}

/* Takes up to batch_max items off the queue (w->mu held); returns how many. */
static size_t ch__take(ch_batch_writer_t *w)
{
    size_t n = 0, bytes = 0;
    while (w->head && n < w->spec.batch_max) {
        bytes += w->head->bytes;
        w->batch[n++] = w->head;
        w->head = w->head->next;
    }
    if (!w->head)
        w->tail = NULL;
    w->queued -= n;
    w->queued_bytes -= bytes;
    if (w->spec.queued)
        w->spec.queued(-(long)n);
    return n;
}

/* Whether it can no longer be written in time (spec.expiry_margin_ms before its deadline). */
static int ch__expired(const ch_batch_writer_t *w, const ch_batch_item_t *it, int64_t now)
{
    return it->deadline_ms && now + w->spec.expiry_margin_ms >= it->deadline_ms;
}

/* Completes the items of batch[0..n) that can no longer be written in time (CH_EUNAVAILABLE,
 * nothing written) and returns how many are left, kept in order at the front. */
static size_t ch__drop_expired(ch_batch_writer_t *w, size_t n)
{
    int64_t now = ch_mono_ms();
    size_t kept = 0;
    char why[160];
    for (size_t i = 0; i < n; i++) {
        ch_batch_item_t *it = w->batch[i];
        if (ch__expired(w, it, now)) {
            snprintf(why, sizeof(why), "the request's deadline passed before its %s was written; nothing changed",
                     w->spec.what);
            ch__fail(w, it, CH_EUNAVAILABLE, why);
            it->done(it); /* may free it */
        } else {
            w->batch[kept++] = it;
        }
    }
    return kept;
}

/* The default run: one transaction, a savepoint per item; a refused item rolls back alone. */
static ch_err_t ch__run_savepoints(ch_batch_writer_t *w, ch_db_conn_t *conn, ch_batch_item_t **items, size_t n)
{
    ch_svc_t *svc = w->svc;
    ch_err_t err = ch_backend_err(CH_BACKEND_DB, ch_db_begin(svc->db, conn, 1));
    if (err)
        return err;
    for (size_t i = 0; i < n && err == CH_OK; i++) {
        if ((err = ch_sql_on(svc, conn, "SAVEPOINT ch_item", NULL, 0, NULL, NULL)) != CH_OK)
            break;
        err = w->spec.apply(svc, conn, items[i], w->spec.ctx);
        if (err != CH_OK && err != CH_EUNAVAILABLE) /* refused: this item alone */
            err = ch_sql_on(svc, conn, "ROLLBACK TO SAVEPOINT ch_item", NULL, 0, NULL, NULL);
        if (err == CH_OK)
            err = ch_sql_on(svc, conn, "RELEASE SAVEPOINT ch_item", NULL, 0, NULL, NULL);
    }
    return ch_sql_end_on(svc, conn, err);
}

static ch_err_t ch__run(ch_batch_writer_t *w, ch_batch_item_t **items, size_t n)
{
    ch_err_t err = ch__conn(w);
    if (err)
        return err;
    return w->spec.run ? w->spec.run(w->svc, w->conn, items, n, w->spec.ctx) : ch__run_savepoints(w, w->conn, items, n);
}

/* The deadline a batch runs under: the earliest of its items', or with spec.deadline_latest
 * the latest (none when one of them has none). */
static int64_t ch__deadline(const ch_batch_writer_t *w, ch_batch_item_t **items, size_t n)
{
    int64_t deadline = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t d = items[i]->deadline_ms;
        if (w->spec.deadline_latest) {
            if (!d)
                return 0;
            if (d > deadline)
                deadline = d;
        } else if (d && (!deadline || d < deadline)) {
            deadline = d;
        }
    }
    return deadline;
}

/* Counts a committed transaction of n items (read by ch_batch_writer_stats from any thread). */
static void ch__committed(ch_batch_writer_t *w, size_t n)
{
    __atomic_fetch_add(&w->batches, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&w->items, (uint64_t)n, __ATOMIC_RELAXED);
    if (w->spec.committed)
        w->spec.committed(n);
}

/* One batch to its outcome (see the header), then every item completed. */
static void ch__batch(ch_batch_writer_t *w, size_t n)
{
    ch_err_t err = CH_EUNAVAILABLE;
    for (int attempt = 0; attempt < w->spec.attempts && n; attempt++) {
        if (attempt) {
            /* The connection kept since the last batch may have died (a server restart). */
            ch__drop_conn(w);
            if (!(n = ch__drop_expired(w, n)))
                break;
            ch_log_warn("%s: a batch of %zu failed (%s); running it again", w->spec.name, n, ch_err_code(err));
        }
        ch_db_deadline_set(ch__deadline(w, w->batch, n));
        if ((err = ch__run(w, w->batch, n)) != CH_EUNAVAILABLE)
            break;
    }
    if (err == CH_OK && n) {
        ch__committed(w, n);
    } else if (n) {
        ch_log_warn("%s: a batch of %zu failed (%s); running them one by one", w->spec.name, n, ch_err_code(err));
        ch__drop_conn(w);
        for (size_t i = 0; i < n; i++) {
            ch_batch_item_t *it = w->batch[i];
            int64_t now = ch_mono_ms();
            ch_err_t e = ch__expired(w, it, now) ? CH_EUNAVAILABLE : CH_OK;
            if (e == CH_OK) {
                ch_db_deadline_set(it->deadline_ms);
                if ((e = ch__run(w, &w->batch[i], 1)) == CH_OK)
                    ch__committed(w, 1);
                else
                    ch__drop_conn(w);
            }
            if (e != CH_OK) {
                char why[160];
                snprintf(why, sizeof(why), "%s; nothing was stored",
                         e == CH_EUNAVAILABLE ? "the database is not answering" : "the write could not be stored");
                ch__fail(w, it, e, why);
            }
        }
    }
    ch_db_deadline_set(0);
    if (w->spec.finished && n)
        w->spec.finished(w->svc, w->batch, n, w->spec.ctx);
    for (size_t i = 0; i < n; i++)
        w->batch[i]->done(w->batch[i]); /* may free it */
}

static void *ch__main(void *arg)
{
    ch_batch_writer_t *w = arg;
    char name[16];
    snprintf(name, sizeof(name), "ch-%.12s", w->spec.name);
    pthread_setname_np(pthread_self(), name);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->wake, &w->mu);
        if (!w->head)
            break; /* stopping and drained */
        size_t n = ch__take(w);
        pthread_mutex_unlock(&w->mu);
        if ((n = ch__drop_expired(w, n)) != 0)
            ch__batch(w, n);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    ch__drop_conn(w);
    return NULL;
}

ch_batch_writer_t *ch_batch_writer_start(ch_svc_t *svc, const ch_batch_spec_t *spec)
{
    if (!spec->batch_max || spec->attempts < 1 || !spec->fail || !(spec->apply || spec->run) || !spec->name ||
        !spec->what)
        return NULL;
    ch_batch_writer_t *w = ch_calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->svc = svc;
    w->spec = *spec;
    if (!(w->batch = ch_calloc(spec->batch_max, sizeof(*w->batch)))) {
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, ch__main, w) != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->mu);
        free(w->batch);
        free(w);
        return NULL;
    }
    return w;
}

void ch_batch_writer_stop(ch_batch_writer_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL); /* after it applied everything queued */
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->mu);
    free(w->batch);
    free(w);
}

void ch_batch_writer_submit(ch_batch_writer_t *w, ch_batch_item_t *item)
{
    item->next = NULL;
    item->deadline_ms = ch_db_deadline();
    pthread_mutex_lock(&w->mu);
    if ((w->spec.queue_max && w->queued >= w->spec.queue_max) ||
        (w->spec.queue_bytes_max && (w->queued || w->spec.queue_bytes_strict) &&
         w->queued_bytes + item->bytes > w->spec.queue_bytes_max)) {
        w->refused++;
        pthread_mutex_unlock(&w->mu);
        char why[160];
        snprintf(why, sizeof(why), "too many writes are waiting to be stored; this %s was not stored, retry later",
                 w->spec.what);
        ch__fail(w, item, CH_EOVERLOADED, why);
        item->done(item);
        return;
    }
    w->queued++;
    w->queued_bytes += item->bytes;
    if (w->tail)
        w->tail->next = item;
    else
        w->head = item;
    w->tail = item;
    if (w->spec.queued)
        w->spec.queued(1);
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
}

static void ch__post(ch_batch_item_t *item)
{
    sem_post(item->arg);
}

void ch_batch_writer_submit_wait(ch_batch_writer_t *w, ch_batch_item_t *item)
{
    sem_t done;
    sem_init(&done, 0, 0);
    item->done = ch__post;
    item->arg = &done;
    ch_batch_writer_submit(w, item);
    while (sem_wait(&done) != 0)
        ; /* EINTR: keep waiting, the writer always posts */
    sem_destroy(&done);
}

void ch_batch_writer_stats(ch_batch_writer_t *w, ch_batch_stats_t *out)
{
    pthread_mutex_lock(&w->mu);
    out->queued = w->queued;
    out->queued_bytes = w->queued_bytes;
    out->refused = w->refused;
    pthread_mutex_unlock(&w->mu);
    out->batches = __atomic_load_n(&w->batches, __ATOMIC_RELAXED);
    out->items = __atomic_load_n(&w->items, __ATOMIC_RELAXED);
}

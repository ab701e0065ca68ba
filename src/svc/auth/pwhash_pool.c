#include "svc/auth/pwhash_pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"

/* A job lives on its caller's stack from submission until the caller returns. */
typedef struct ch__job {
    void (*fn)(void *arg);
    void *arg;
    const ch_client_watch_t *watch;
    int finished; /* set under the pool's lock, with the outcome */
    ch_pwhash_outcome_t outcome;
    pthread_cond_t cond;
    struct ch__job *next;
} ch__job_t;

struct ch_pwhash_pool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a job was queued, or stopping */
    ch__job_t *head, *tail;
    size_t queued, running, capacity; /* capacity: threads + queue_max jobs in the pool at once */
    int stopping, nice;
    unsigned nthreads;
    pthread_t *threads;
    unsigned long long ran, rejected, dropped;
};

unsigned ch_pwhash_concurrency(size_t budget, size_t per_job, long cores)
{
    size_t n = per_job ? budget / per_job : 1;
    size_t cap = cores > 1 ? (size_t)(cores - 1) : 1; /* a core is left to request work */
    if (cores > 0 && n > cap)
        n = cap;
    return n < 1 ? 1 : n > 1024 ? 1024 : (unsigned)n;
}

/* Under the lock: finishes a job that will not run and wakes its caller. */
static void ch__finish_unrun(ch__job_t *j, ch_pwhash_outcome_t outcome)
{
    j->outcome = outcome;
    j->finished = 1;
    pthread_cond_signal(&j->cond);
}

/* Under the lock: unlinks and drops every queued job whose client is gone. */
static void ch__purge_gone(ch_pwhash_pool_t *pool)
{
    ch__job_t **link = &pool->head, *prev = NULL;
    while (*link) {
        ch__job_t *j = *link;
        if (ch_client_watch_gone(j->watch)) {
            *link = j->next;
            pool->queued--;
            pool->dropped++;
            ch__finish_unrun(j, CH_PWHASH_DROPPED);
        } else {
            prev = j;
            link = &j->next;
        }
    }
    pool->tail = prev;
}

static void *ch__thread(void *arg)
{
    ch_pwhash_pool_t *pool = arg;
    /* Per-thread on Linux: only this thread yields the CPU to request work. */
    if (pool->nice && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), pool->nice) != 0)
        ch_log_warn("password hashing thread: setpriority failed");
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!pool->head && !pool->stopping)
            pthread_cond_wait(&pool->work, &pool->mu);
        if (pool->stopping)
            break;
        ch__job_t *j = pool->head;
        pool->head = j->next;
        if (!pool->head)
            pool->tail = NULL;
        pool->queued--;
        if (ch_client_watch_gone(j->watch)) {
            pool->dropped++;
            ch__finish_unrun(j, CH_PWHASH_DROPPED);
            continue;
        }
        pool->running++;
        pthread_mutex_unlock(&pool->mu);
        j->fn(j->arg);
        pthread_mutex_lock(&pool->mu);
        pool->running--;
        pool->ran++;
        j->outcome = CH_PWHASH_RAN;
        j->finished = 1;
        pthread_cond_signal(&j->cond);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

ch_pwhash_pool_t *ch_pwhash_pool_create(unsigned threads, size_t queue_max, int nice)
{
    ch_pwhash_pool_t *pool = ch_calloc(1, sizeof(*pool));
    if (threads < 1)
        threads = 1;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->work, NULL);
    pool->capacity = threads + queue_max;
    pool->nice = nice;
    pool->threads = ch_calloc(threads, sizeof(*pool->threads));
    /* The threads take no signals (main waits for them with sigwait). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int failed = 0;
    for (; pool->nthreads < threads && !failed; pool->nthreads++)
        failed = pthread_create(&pool->threads[pool->nthreads], NULL, ch__thread, pool) != 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (failed) {
        pool->nthreads--;
        ch_pwhash_pool_destroy(pool);
        return NULL;
    }
    return pool;
}

void ch_pwhash_pool_shutdown(ch_pwhash_pool_t *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->work);
    /* Whatever is queued will never run: answer its callers now. */
    for (ch__job_t *j = pool->head, *next; j; j = next) {
        next = j->next;
        ch__finish_unrun(j, CH_PWHASH_STOPPED);
    }
    pool->head = pool->tail = NULL;
    pool->queued = 0;
    pthread_mutex_unlock(&pool->mu);
}

void ch_pwhash_pool_destroy(ch_pwhash_pool_t *pool)
{
    if (!pool)
        return;
    ch_pwhash_pool_shutdown(pool);
    for (unsigned i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    free(pool->threads);
    pthread_cond_destroy(&pool->work);
    pthread_mutex_destroy(&pool->mu);
    free(pool);
}

ch_pwhash_outcome_t ch_pwhash_pool_run(ch_pwhash_pool_t *pool, void (*fn)(void *arg), void *arg,
                                       const ch_client_watch_t *watch)
{
    ch__job_t j = {.fn = fn, .arg = arg, .watch = watch};
    pthread_mutex_lock(&pool->mu);
    if (pool->stopping) {
        pthread_mutex_unlock(&pool->mu);
        return CH_PWHASH_STOPPED;
    }
    if (pool->queued + pool->running >= pool->capacity)
        ch__purge_gone(pool); /* places held by clients that left are free again */
    if (pool->queued + pool->running >= pool->capacity) {
        pool->rejected++;
        pthread_mutex_unlock(&pool->mu);
        return CH_PWHASH_FULL;
    }
    pthread_cond_init(&j.cond, NULL);
    if (pool->tail)
        pool->tail->next = &j;
    else
        pool->head = &j;
    pool->tail = &j;
    pool->queued++;
    pthread_cond_signal(&pool->work);
    while (!j.finished)
        pthread_cond_wait(&j.cond, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
    pthread_cond_destroy(&j.cond);
    return j.outcome;
}

int ch_pwhash_pool_full(ch_pwhash_pool_t *pool)
{
    pthread_mutex_lock(&pool->mu);
    if (pool->queued + pool->running >= pool->capacity)
        ch__purge_gone(pool);
    int full = pool->stopping || pool->queued + pool->running >= pool->capacity;
    if (full && !pool->stopping)
        pool->rejected++;
    pthread_mutex_unlock(&pool->mu);
    return full;
}

void ch_pwhash_pool_stats(ch_pwhash_pool_t *pool, ch_pwhash_stats_t *out)
{
    pthread_mutex_lock(&pool->mu);
    out->queued = pool->queued;
    out->running = pool->running;
    out->ran = pool->ran;
    out->rejected = pool->rejected;
    out->dropped = pool->dropped;
    pthread_mutex_unlock(&pool->mu);
}

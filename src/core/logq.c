#include "core/logq.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

struct ch_logq_chunk {
    ch_logq_chunk_t *next; /* in the FIFO or in the owner's free list */
    ch_logq_producer_t *owner;
    size_t len;
    int64_t first_ms; /* when its first line was appended */
    char data[];
};

struct ch_logq_producer {
    ch_logq_t *q;
    ch_logq_producer_t *next_all; /* the queue's list of producers (only grows) */
    pthread_mutex_t mu;
    ch_logq_chunk_t *cur;  /* being filled; NULL when the last one was sealed */
    ch_logq_chunk_t *free; /* written and released, ready to fill */
    unsigned nchunks;      /* allocated so far, at most CH_LOGQ_CHUNKS */
    atomic_int in_use;     /* a thread holds it */
};

struct ch_logq {
    size_t chunk_size;
    _Atomic(ch_logq_producer_t *) producers;
    pthread_mutex_t mu; /* the FIFO */
    ch_logq_chunk_t *head, *tail;
    void (*wake)(void *arg);
    void *wake_arg;
    atomic_int closed;
    _Atomic uint64_t dropped;
    _Atomic size_t pending;
};

ch_logq_t *ch_logq_create(size_t budget)
{
    if (budget < CH_LOGQ_MIN_BUDGET)
        budget = CH_LOGQ_MIN_BUDGET;
    if (budget > CH_LOGQ_MAX_BUDGET)
        budget = CH_LOGQ_MAX_BUDGET;
    ch_logq_t *q = ch_calloc(1, sizeof(*q));
    q->chunk_size = budget / CH_LOGQ_CHUNKS;
    pthread_mutex_init(&q->mu, NULL);
    return q;
}

void ch_logq_destroy(ch_logq_t *q)
{
    if (!q)
        return;
    /* Every chunk is in exactly one place: the FIFO, a free list or a producer's cur
     * (taken chunks must have been released). */
    for (ch_logq_chunk_t *c = q->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    for (ch_logq_producer_t *p = atomic_load(&q->producers), *pn; p; p = pn) {
        pn = p->next_all;
        for (ch_logq_chunk_t *c = p->free, *next; c; c = next) {
            next = c->next;
            free(c);
        }
        free(p->cur);
        pthread_mutex_destroy(&p->mu);
        free(p);
    }
    pthread_mutex_destroy(&q->mu);
    free(q);
}

size_t ch_logq_chunk_size(const ch_logq_t *q)
{
    return q->chunk_size;
}

void ch_logq_set_wake(ch_logq_t *q, void (*wake)(void *arg), void *arg)
{
    q->wake = wake;
    q->wake_arg = arg;
}

ch_logq_producer_t *ch_logq_acquire(ch_logq_t *q)
{
    for (ch_logq_producer_t *p = atomic_load(&q->producers); p; p = p->next_all) {
        int idle = 0;
        if (atomic_compare_exchange_strong(&p->in_use, &idle, 1))
            return p;
    }
    ch_logq_producer_t *p = ch_calloc(1, sizeof(*p));
    p->q = q;
    pthread_mutex_init(&p->mu, NULL);
    atomic_init(&p->in_use, 1);
    p->next_all = atomic_load(&q->producers);
    while (!atomic_compare_exchange_weak(&q->producers, &p->next_all, p)) {
    }
    return p;
}

void ch_logq_abandon(ch_logq_producer_t *p)
{
    if (p)
        atomic_store(&p->in_use, 0);
}

/* Appends c to the FIFO. Called with c's producer locked (keeps its chunks in order). */
static void ch__enqueue(ch_logq_t *q, ch_logq_chunk_t *c)
{
    c->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
    pthread_mutex_unlock(&q->mu);
}

int ch_logq_append(ch_logq_producer_t *p, const char *line, size_t len, int64_t now_ms)
{
    ch_logq_t *q = p->q;
    int sealed = 0, rc = 0;
    if (len == 0)
        return 0;
    if (len > q->chunk_size)
        len = q->chunk_size; /* cut; its last byte becomes a newline below */
    pthread_mutex_lock(&p->mu);
    if (atomic_load(&q->closed)) { /* checked under p->mu: ch_logq_close waits for it */
        pthread_mutex_unlock(&p->mu);
        return 1;
    }
    if (p->cur && p->cur->len + len > q->chunk_size) {
        ch__enqueue(q, p->cur);
        p->cur = NULL;
        sealed = 1;
    }
    if (!p->cur) {
        if (p->free) {
            p->cur = p->free;
            p->free = p->cur->next;
        } else if (p->nchunks < CH_LOGQ_CHUNKS) {
            p->cur = ch_malloc(sizeof(*p->cur) + q->chunk_size);
            p->cur->owner = p;
            p->nchunks++;
        }
        if (p->cur) {
            p->cur->len = 0;
            p->cur->next = NULL;
        }
    }
    if (p->cur) {
        if (p->cur->len == 0)
            p->cur->first_ms = now_ms;
        memcpy(p->cur->data + p->cur->len, line, len);
        p->cur->len += len;
        p->cur->data[p->cur->len - 1] = '\n';
        atomic_fetch_add(&q->pending, len);
    } else {
        atomic_fetch_add(&q->dropped, 1);
        rc = -1;
    }
    pthread_mutex_unlock(&p->mu);
    if (sealed && q->wake)
        q->wake(q->wake_arg);
    return rc;
}

void ch_logq_close(ch_logq_t *q, int closed)
{
    atomic_store(&q->closed, closed);
    for (ch_logq_producer_t *p = atomic_load(&q->producers); p; p = p->next_all) {
        pthread_mutex_lock(&p->mu); /* an append that saw it open has finished */
        pthread_mutex_unlock(&p->mu);
    }
}

void ch_logq_seal(ch_logq_t *q, int64_t now_ms, int64_t older_ms)
{
    for (ch_logq_producer_t *p = atomic_load(&q->producers); p; p = p->next_all) {
        pthread_mutex_lock(&p->mu);
        if (p->cur && p->cur->len && (older_ms <= 0 || now_ms - p->cur->first_ms >= older_ms)) {
            ch__enqueue(q, p->cur);
            p->cur = NULL;
        }
        pthread_mutex_unlock(&p->mu);
    }
}

size_t ch_logq_take(ch_logq_t *q, ch_logq_chunk_t **chunks, struct iovec *iov, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&q->mu);
    while (n < max && q->head) {
        ch_logq_chunk_t *c = q->head;
        q->head = c->next;
        if (!q->head)
            q->tail = NULL;
        c->next = NULL;
        chunks[n] = c;
        iov[n].iov_base = c->data;
        iov[n].iov_len = c->len;
        n++;
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

void ch_logq_release(ch_logq_t *q, ch_logq_chunk_t **chunks, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ch_logq_chunk_t *c = chunks[i];
        ch_logq_producer_t *p = c->owner;
        atomic_fetch_sub(&q->pending, c->len);
        pthread_mutex_lock(&p->mu);
        c->len = 0;
        c->next = p->free;
        p->free = c;
        pthread_mutex_unlock(&p->mu);
    }
}

uint64_t ch_logq_dropped(const ch_logq_t *q)
{
    return atomic_load(&((ch_logq_t *)q)->dropped);
}

size_t ch_logq_pending_bytes(ch_logq_t *q)
{
    return atomic_load(&q->pending);
}

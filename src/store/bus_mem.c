/* The in-process bus (embedded mode): a publish queues the frame for each subscribed user;
 * one delivery thread hands them to the receiver, so that a publisher never runs the
 * gateway's code nor waits for it. The queue is bounded in bytes (CH_BUS_MEM_QUEUE_BYTES):
 * past it a frame is dropped and counted, as Redis drops a subscriber whose output buffer
 * fills, and its user is marked: once the queue is below half the bound again, the receiver
 * gets a CH_BUS_CTL_RESYNC for each marked user (its devices fetch what they missed). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "store/bus_driver.h"

#define CH_BUS_MEM_QUEUE_BYTES (16u << 20) /* bytes of frames (and their headers) waiting for delivery */

typedef struct ch__bus_item {
    uint64_t user_id;
    struct ch__bus_item *next;
    size_t len;
    char frame[];
} ch__bus_item_t;

typedef struct {
    ch_bus_t base;
    pthread_t thread;
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    ch__bus_item_t *head, *tail;
    size_t queued; /* bytes */
    int lost_any;  /* a frame was dropped: some subscription is marked lost */
    int stopping;
    atomic_ullong dropped;
} ch__bus_mem_t;

/* The delivery thread: a resync to every user whose frames were dropped. */
static void ch__bus_mem_resync(ch__bus_mem_t *m)
{
    size_t n = 0;
    uint64_t *ids = ch__bus_take_lost(&m->base, &n);
    for (size_t i = 0; i < n; i++)
        ch__bus_hand(&m->base, ids[i], CH_BUS_CTL_RESYNC, sizeof(CH_BUS_CTL_RESYNC) - 1);
    free(ids);
}

static void *ch__bus_mem_main(void *arg)
{
    ch__bus_mem_t *m = arg;
    pthread_mutex_lock(&m->qmu);
    for (;;) {
        while (!m->head && !m->stopping)
            pthread_cond_wait(&m->qcv, &m->qmu);
        if (!m->head)
            break; /* stopping, and everything queued was delivered */
        ch__bus_item_t *it = m->head;
        m->head = it->next;
        if (!m->head)
            m->tail = NULL;
        m->queued -= sizeof(*it) + it->len;
        int resync = m->lost_any && m->queued < CH_BUS_MEM_QUEUE_BYTES / 2;
        if (resync)
            m->lost_any = 0;
        pthread_mutex_unlock(&m->qmu);
        pthread_mutex_lock(&m->base.mu);
        ch_bus_receive_fn fn = m->base.receive;
        void *ctx = m->base.receive_ctx;
        pthread_mutex_unlock(&m->base.mu);
        if (fn && ch__bus_subscribed(&m->base, it->user_id))
            fn(ctx, it->user_id, it->frame, it->len);
        free(it);
        if (resync)
            ch__bus_mem_resync(m);
        pthread_mutex_lock(&m->qmu);
    }
    pthread_mutex_unlock(&m->qmu);
    return NULL;
}

static ch_err_t ch__bus_mem_subscribe(ch_bus_t *bus, uint64_t user_id, int first)
{
    (void)bus;
    (void)user_id;
    (void)first;
    return CH_OK;
}

static void ch__bus_mem_unsubscribe(ch_bus_t *bus, uint64_t user_id, int last)
{
    (void)bus;
    (void)user_id;
    (void)last;
}

static ch_err_t ch__bus_mem_publish_many(ch_bus_t *bus, const uint64_t *user_ids, size_t n, const char *frame,
                                         size_t len)
{
    ch__bus_mem_t *m = (ch__bus_mem_t *)bus;
    for (size_t i = 0; i < n; i++) {
        if (!ch__bus_subscribed(bus, user_ids[i]))
            continue; /* nobody on this node: nothing to deliver */
        ch__bus_item_t *it = ch_malloc(sizeof(*it) + len + 1);
        it->user_id = user_ids[i];
        it->next = NULL;
        it->len = len;
        memcpy(it->frame, frame, len);
        it->frame[len] = '\0';
        pthread_mutex_lock(&m->qmu);
        if (m->queued + sizeof(*it) + len > CH_BUS_MEM_QUEUE_BYTES) {
            m->lost_any = 1;
            pthread_mutex_unlock(&m->qmu);
            free(it);
            ch__bus_mark_lost(bus, user_ids[i]);
            if (atomic_fetch_add(&m->dropped, 1) % 1000 == 0)
                ch_log_warn("bus: delivery queue full (%u bytes); frames dropped, their users resync",
                            CH_BUS_MEM_QUEUE_BYTES);
            continue;
        }
        if (m->tail)
            m->tail->next = it;
        else
            m->head = it;
        m->tail = it;
        m->queued += sizeof(*it) + len;
        pthread_cond_signal(&m->qcv);
        pthread_mutex_unlock(&m->qmu);
    }
    return CH_OK;
}

static void ch__bus_mem_destroy(ch_bus_t *bus)
{
    ch__bus_mem_t *m = (ch__bus_mem_t *)bus;
    pthread_mutex_lock(&m->qmu);
    m->stopping = 1;
    pthread_cond_signal(&m->qcv);
    pthread_mutex_unlock(&m->qmu);
    pthread_join(m->thread, NULL);
    pthread_mutex_destroy(&m->qmu);
    pthread_cond_destroy(&m->qcv);
    ch__bus_clear(bus);
    free(m);
}

static const ch__bus_driver_t ch__bus_mem_driver = {
    .name = "mem",
    .subscribe = ch__bus_mem_subscribe,
    .unsubscribe = ch__bus_mem_unsubscribe,
    .publish_many = ch__bus_mem_publish_many,
    .destroy = ch__bus_mem_destroy,
};

ch_bus_t *ch_bus_mem_create(void)
{
    ch__bus_mem_t *m = ch_calloc(1, sizeof(*m));
    ch__bus_init(&m->base, &ch__bus_mem_driver);
    pthread_mutex_init(&m->qmu, NULL);
    pthread_cond_init(&m->qcv, NULL);
    if (pthread_create(&m->thread, NULL, ch__bus_mem_main, m) != 0) {
        pthread_mutex_destroy(&m->qmu);
        pthread_cond_destroy(&m->qcv);
        ch__bus_clear(&m->base);
        free(m);
        return NULL;
    }
    return &m->base;
}

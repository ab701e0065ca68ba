/* The bus's handle and subscription counting, shared by its drivers (bus_mem.c, bus_redis.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "store/bus_driver.h"

static size_t ch__bus_bucket(uint64_t user_id)
{
    return (size_t)((user_id * 0x9E3779B97F4A7C15ull) >> 52) % CH__BUS_BUCKETS;
}

void ch__bus_init(ch_bus_t *bus, const ch__bus_driver_t *drv)
{
    bus->drv = drv;
    pthread_mutex_init(&bus->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&bus->confirmed_cv, &ca);
    pthread_condattr_destroy(&ca);
}

void ch__bus_clear(ch_bus_t *bus)
{
    for (size_t i = 0; i < CH__BUS_BUCKETS; i++)
        for (ch__bus_sub_t *s = bus->subs[i], *next; s; s = next) {
            next = s->next;
            free(s);
        }
    pthread_cond_destroy(&bus->confirmed_cv);
    pthread_mutex_destroy(&bus->mu);
}

int ch__bus_subscribed(ch_bus_t *bus, uint64_t user_id)
{
    pthread_mutex_lock(&bus->mu);
    ch__bus_sub_t *s = bus->subs[ch__bus_bucket(user_id)];
    while (s && s->user_id != user_id)
        s = s->next;
    pthread_mutex_unlock(&bus->mu);
    return s != NULL;
}

uint64_t *ch__bus_subscribed_all(ch_bus_t *bus, size_t *n)
{
    pthread_mutex_lock(&bus->mu);
    uint64_t *ids = ch_malloc((bus->nsubs ? bus->nsubs : 1) * sizeof(*ids));
    size_t k = 0;
    for (size_t i = 0; i < CH__BUS_BUCKETS; i++)
        for (ch__bus_sub_t *s = bus->subs[i]; s; s = s->next)
            ids[k++] = s->user_id;
    pthread_mutex_unlock(&bus->mu);
    *n = k;
    return ids;
}

const char *ch_bus_kind(const ch_bus_t *bus)
{
    return bus->drv->name;
}

void ch_bus_set_receiver_many(ch_bus_t *bus, ch_bus_receive_many_fn fn)
{
    pthread_mutex_lock(&bus->mu);
    bus->receive_many = fn;
    pthread_mutex_unlock(&bus->mu);
}

void ch_bus_set_receiver(ch_bus_t *bus, ch_bus_receive_fn fn, void *ctx)
{
    pthread_mutex_lock(&bus->mu);
    bus->receive = fn;
    bus->receive_ctx = ctx;
    pthread_mutex_unlock(&bus->mu);
}

/* The driver is told about the first subscribe and the last unsubscribe while bus->mu is
 * held, so that a subscribe and an unsubscribe of one user from two threads reach it in the
 * order they were counted (its slots only queue work, they never block). */
ch_err_t ch_bus_subscribe(ch_bus_t *bus, uint64_t user_id)
{
    pthread_mutex_lock(&bus->mu);
    ch__bus_sub_t **slot = &bus->subs[ch__bus_bucket(user_id)];
    ch__bus_sub_t *s = *slot;
    while (s && s->user_id != user_id)
        s = s->next;
    int first = s == NULL;
    if (first) {
        s = ch_calloc(1, sizeof(*s));
        s->user_id = user_id;
        s->next = *slot;
        *slot = s;
        bus->nsubs++;
    }
    s->count++;
    if (!bus->drv->confirms)
        s->confirmed = 1;
    ch_err_t e = bus->drv->subscribe(bus, user_id, first);
    if (e != CH_OK && bus->drv->confirms)
        s->lost = 1; /* its device may miss events until the bus is back: a resync then */
    pthread_mutex_unlock(&bus->mu);
    return e;
}

void ch_bus_unsubscribe(ch_bus_t *bus, uint64_t user_id)
{
    pthread_mutex_lock(&bus->mu);
    ch__bus_sub_t **slot = &bus->subs[ch__bus_bucket(user_id)];
    while (*slot && (*slot)->user_id != user_id)
        slot = &(*slot)->next;
    ch__bus_sub_t *s = *slot;
    if (s && --s->count == 0) {
        *slot = s->next;
        free(s);
        bus->nsubs--;
        bus->drv->unsubscribe(bus, user_id, 1);
    }
    pthread_mutex_unlock(&bus->mu);
}

ch_err_t ch_bus_publish(ch_bus_t *bus, uint64_t user_id, const char *frame, size_t len)
{
    return bus->drv->publish_many(bus, &user_id, 1, frame, len);
}

ch_err_t ch_bus_publish_many(ch_bus_t *bus, const uint64_t *user_ids, size_t n, const char *frame, size_t len)
{
    return n ? bus->drv->publish_many(bus, user_ids, n, frame, len) : CH_OK;
}

void ch_bus_destroy(ch_bus_t *bus)
{
    if (bus)
        bus->drv->destroy(bus);
}

ch_err_t ch_bus_publish_revoke(ch_bus_t *bus, uint64_t user_id, uint64_t session_id)
{
    char frame[64];
    int n = snprintf(frame, sizeof(frame), CH_BUS_CTL_REVOKE "%llu", (unsigned long long)session_id);
    return ch_bus_publish(bus, user_id, frame, (size_t)n);
}

int ch_bus_ctl_revoked(const char *frame, size_t len, uint64_t *session_id)
{
    size_t plen = sizeof(CH_BUS_CTL_REVOKE) - 1;
    if (len <= plen || len > plen + 20 || memcmp(frame, CH_BUS_CTL_REVOKE, plen) != 0)
        return 0;
    uint64_t v = 0;
    for (size_t i = plen; i < len; i++) {
        if (frame[i] < '0' || frame[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(frame[i] - '0');
    }
    *session_id = v;
    return 1;
}

static ch__bus_sub_t *ch__bus_sub(ch_bus_t *bus, uint64_t user_id)
{
    ch__bus_sub_t *s = bus->subs[ch__bus_bucket(user_id)];
    while (s && s->user_id != user_id)
        s = s->next;
    return s;
}

int ch__bus_confirm(ch_bus_t *bus, uint64_t user_id)
{
    pthread_mutex_lock(&bus->mu);
    ch__bus_sub_t *s = ch__bus_sub(bus, user_id);
    int lost = 0;
    if (s) {
        lost = s->lost;
        s->lost = 0;
        s->confirmed = 1;
        pthread_cond_broadcast(&bus->confirmed_cv);
    }
    pthread_mutex_unlock(&bus->mu);
    return lost;
}

void ch__bus_unconfirm_all(ch_bus_t *bus)
{
    pthread_mutex_lock(&bus->mu);
    for (size_t i = 0; i < CH__BUS_BUCKETS; i++)
        for (ch__bus_sub_t *s = bus->subs[i]; s; s = s->next) {
            s->lost = s->lost || s->confirmed;
            s->confirmed = 0;
        }
    pthread_mutex_unlock(&bus->mu);
}

void ch__bus_hand(ch_bus_t *bus, uint64_t user_id, const char *frame, size_t len)
{
    pthread_mutex_lock(&bus->mu);
    ch_bus_receive_fn fn = bus->receive;
    void *ctx = bus->receive_ctx;
    pthread_mutex_unlock(&bus->mu);
    if (fn)
        fn(ctx, user_id, frame, len);
}

#define CH__BUS_HAND_STACK 64 /* users of one hand-over kept on the stack; more are malloc'd */

void ch__bus_hand_subscribed(ch_bus_t *bus, const uint64_t *user_ids, size_t n, const char *frame, size_t len)
{
    uint64_t stack[CH__BUS_HAND_STACK];
    uint64_t *ids = n <= CH__BUS_HAND_STACK ? stack : malloc(n * sizeof(*ids));
    if (!ids) { /* out of memory: one by one, as before */
        for (size_t i = 0; i < n; i++)
            if (ch__bus_subscribed(bus, user_ids[i]))
                ch__bus_hand(bus, user_ids[i], frame, len);
        return;
    }
    size_t k = 0;
    pthread_mutex_lock(&bus->mu);
    for (size_t i = 0; i < n; i++)
        if (ch__bus_sub(bus, user_ids[i])) /* nobody on this node: nothing to deliver */
            ids[k++] = user_ids[i];
    ch_bus_receive_fn fn = bus->receive;
    ch_bus_receive_many_fn many = bus->receive_many;
    void *ctx = bus->receive_ctx;
    pthread_mutex_unlock(&bus->mu);
    if (many && k)
        many(ctx, ids, k, frame, len);
    else if (fn)
        for (size_t i = 0; i < k; i++)
            fn(ctx, ids[i], frame, len);
    if (ids != stack)
        free(ids);
}

int ch_bus_wait_subscribed(ch_bus_t *bus, uint64_t user_id, int64_t wait_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += wait_ms / 1000;
    ts.tv_nsec += (wait_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&bus->mu);
    ch__bus_sub_t *s;
    int rc = 0;
    while ((s = ch__bus_sub(bus, user_id)) && !s->confirmed && rc == 0)
        rc = pthread_cond_timedwait(&bus->confirmed_cv, &bus->mu, &ts);
    int ok = s && s->confirmed;
    pthread_mutex_unlock(&bus->mu);
    return ok;
}

void ch__bus_mark_lost(ch_bus_t *bus, uint64_t user_id)
{
    pthread_mutex_lock(&bus->mu);
    ch__bus_sub_t *s = ch__bus_sub(bus, user_id);
    if (s)
        s->lost = 1;
    pthread_mutex_unlock(&bus->mu);
}

uint64_t *ch__bus_take_lost(ch_bus_t *bus, size_t *n)
{
    pthread_mutex_lock(&bus->mu);
    uint64_t *ids = ch_malloc((bus->nsubs ? bus->nsubs : 1) * sizeof(*ids));
    size_t k = 0;
    for (size_t i = 0; i < CH__BUS_BUCKETS; i++)
        for (ch__bus_sub_t *s = bus->subs[i]; s; s = s->next)
            if (s->lost) {
                s->lost = 0;
                ids[k++] = s->user_id;
            }
    pthread_mutex_unlock(&bus->mu);
    *n = k;
    return ids;
}

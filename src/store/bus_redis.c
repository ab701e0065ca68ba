/* The Redis pub/sub bus (cluster mode). A channel per user ("chorus:bus:u:<id>").
 * Publishing goes through a pool of the kv driver's connections (kv_redis.h), n frames in
 * one pipeline. Receiving: one subscriber connection per node, owned by its own thread,
 * which polls the connection and a wake-up eventfd; subscribe/unsubscribe only queue a
 * command for that thread. When the connection breaks (Redis restarted, network) or stops
 * answering its PINGs, the thread reconnects with backoff and subscribes again to every
 * user counted in the bus's table. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/bus_driver.h"
#include "store/kv.h"
#include "store/kv_redis.h"

#define CH_BUS_CHANNEL_PREFIX "chorus:bus:" /* then "<db>:u:<user id>": pub/sub ignores SELECT */
#define CH_BUS_CHANNEL_MAX 48
#define CH_BUS_BACKOFF_MIN_MS 100    /* first wait before reconnecting */
#define CH_BUS_BACKOFF_MAX_MS 2000   /* longest wait between reconnects */
#define CH_BUS_PING_MS 5000          /* a quiet subscriber connection is pinged this often */
#define CH_BUS_DEAD_MS 10000         /* and dropped when nothing came back for this long */
#define CH_BUS_SUBSCRIBE_BATCH 512   /* channels per SUBSCRIBE when subscribing again */

typedef struct ch__bus_op {
    uint64_t user_id;
    int subscribe; /* 1 SUBSCRIBE, 0 UNSUBSCRIBE */
    struct ch__bus_op *next;
} ch__bus_op_t;

typedef struct {
    ch_bus_t base;
    void *pool; /* kv Redis driver impl: the publishers' connections */
    pthread_t thread;
    int efd;
    atomic_int stopping;
    atomic_int connected;
    int db; /* the URL's database number: channels are per Redis server, the data per db */
    pthread_mutex_t opmu; /* guards ops */
    ch__bus_op_t *ops, *ops_tail;
} ch__bus_redis_t;

static int ch__bus_channel(const ch__bus_redis_t *r, char *buf, uint64_t user_id)
{
    return snprintf(buf, CH_BUS_CHANNEL_MAX, CH_BUS_CHANNEL_PREFIX "%d:u:%llu", r->db, (unsigned long long)user_id);
}

static void ch__bus_wake(ch__bus_redis_t *r)
{
    uint64_t one = 1;
    ssize_t w = write(r->efd, &one, sizeof(one));
    (void)w;
}

static void ch__bus_ops_free(ch__bus_op_t *op)
{
    while (op) {
        ch__bus_op_t *next = op->next;
        free(op);
        op = next;
    }
}

/* ---- the subscriber thread ----------------------------------------------------------- */

/* Writes what hiredis buffered; 0 on success. */
static int ch__bus_flush(redisContext *c)
{
    int done = 0;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return -1;
    return 0;
}

/* Connects and subscribes to every counted user; NULL when Redis cannot be reached. */
static redisContext *ch__bus_connect(ch__bus_redis_t *r)
{
    ch__kv_rconn_t *h;
    if (!ch__kv_redis_conn_acquire(r->pool, &h))
        return NULL;
    redisContext *c = ch__kv_redis_conn_detach(r->pool, h);
    /* The table and the queued ops change together under base.mu: what is queued now is
     * in the snapshot already. */
    pthread_mutex_lock(&r->base.mu);
    pthread_mutex_lock(&r->opmu);
    ch__bus_op_t *stale = r->ops;
    r->ops = r->ops_tail = NULL;
    pthread_mutex_unlock(&r->opmu);
    pthread_mutex_unlock(&r->base.mu);
    ch__bus_ops_free(stale);
    size_t n;
    uint64_t *ids = ch__bus_subscribed_all(&r->base, &n);
    char(*names)[CH_BUS_CHANNEL_MAX] = ch_malloc(CH_BUS_SUBSCRIBE_BATCH * sizeof(*names));
    const char *argv[CH_BUS_SUBSCRIBE_BATCH + 1];
    int ok = 1;
    for (size_t i = 0; i < n && ok; i += CH_BUS_SUBSCRIBE_BATCH) {
        size_t k = n - i < CH_BUS_SUBSCRIBE_BATCH ? n - i : CH_BUS_SUBSCRIBE_BATCH;
        argv[0] = "SUBSCRIBE";
        for (size_t j = 0; j < k; j++) {
            ch__bus_channel(r, names[j], ids[i + j]);
            argv[j + 1] = names[j];
        }
        ok = redisAppendCommandArgv(c, (int)k + 1, argv, NULL) == REDIS_OK && ch__bus_flush(c) == 0;
    }
    free(names);
    free(ids);
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    if (n)
        ch_log_info("bus: subscribed again to %zu user channel(s) after connecting to Redis", n);
    return c;
}

/* Sends the queued SUBSCRIBE/UNSUBSCRIBE commands; 0 on success. */
static int ch__bus_send_ops(ch__bus_redis_t *r, redisContext *c)
{
    pthread_mutex_lock(&r->opmu);
    ch__bus_op_t *ops = r->ops;
    r->ops = r->ops_tail = NULL;
    pthread_mutex_unlock(&r->opmu);
    int rc = 0;
    for (ch__bus_op_t *op = ops; op && rc == 0; op = op->next) {
        char chan[CH_BUS_CHANNEL_MAX];
        ch__bus_channel(r, chan, op->user_id);
        rc = redisAppendCommand(c, op->subscribe ? "SUBSCRIBE %s" : "UNSUBSCRIBE %s", chan) == REDIS_OK ? 0 : -1;
    }
    ch__bus_ops_free(ops);
    return rc == 0 ? ch__bus_flush(c) : -1;
}

/* Hands a "message" reply to the receiver. */
static void ch__bus_deliver(ch__bus_redis_t *r, redisReply *rep)
{
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 && rep->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(rep->element[0]->str, "subscribe") == 0 && rep->element[1]->type == REDIS_REPLY_STRING) {
        const char *u = strstr(rep->element[1]->str, ":u:");
        uint64_t user_id = u ? strtoull(u + 3, NULL, 10) : 0;
        /* subscribed again after a break: frames of the gap may be lost, the devices resync */
        if (user_id && ch__bus_confirm(&r->base, user_id))
            ch__bus_hand(&r->base, user_id, CH_BUS_CTL_RESYNC, sizeof(CH_BUS_CTL_RESYNC) - 1);
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 || rep->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(rep->element[0]->str, "message") != 0 || rep->element[1]->type != REDIS_REPLY_STRING ||
        rep->element[2]->type != REDIS_REPLY_STRING)
        return; /* subscribe/unsubscribe confirmations, pong */
    const char *u = strstr(rep->element[1]->str, ":u:");
    if (!u)
        return;
    uint64_t user_id = strtoull(u + 3, NULL, 10);
    pthread_mutex_lock(&r->base.mu);
    ch_bus_receive_fn fn = r->base.receive;
    void *ctx = r->base.receive_ctx;
    pthread_mutex_unlock(&r->base.mu);
    if (fn)
        fn(ctx, user_id, rep->element[2]->str, rep->element[2]->len);
}

/* Waits up to ms for the wake fd (stop or new ops); drains it. */
static void ch__bus_sleep(ch__bus_redis_t *r, int ms)
{
    struct pollfd p = {.fd = r->efd, .events = POLLIN};
    if (poll(&p, 1, ms) > 0) {
        uint64_t v;
        ssize_t n = read(r->efd, &v, sizeof(v));
        (void)n;
    }
}

static void *ch__bus_redis_main(void *arg)
{
    ch__bus_redis_t *r = arg;
    redisContext *c = NULL;
    int backoff = CH_BUS_BACKOFF_MIN_MS, was_up = 0;
    int64_t last_heard = 0, last_ping = 0;
    while (!atomic_load(&r->stopping)) {
        if (!c) {
            if (!(c = ch__bus_connect(r))) {
                if (was_up)
                    ch_log_warn("bus: the Redis subscriber connection is down; reconnecting");
                was_up = 0;
                ch__bus_sleep(r, backoff);
                backoff = backoff * 2 > CH_BUS_BACKOFF_MAX_MS ? CH_BUS_BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            backoff = CH_BUS_BACKOFF_MIN_MS;
            was_up = 1;
            atomic_store(&r->connected, 1);
            last_heard = last_ping = ch_mono_ms();
        }
        struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN}, {.fd = r->efd, .events = POLLIN}};
        int n = poll(p, 2, 1000);
        int broken = n < 0 && errno != EINTR;
        if (!broken && n > 0 && (p[1].revents & POLLIN)) {
            uint64_t v;
            ssize_t k = read(r->efd, &v, sizeof(v));
            (void)k;
            if (atomic_load(&r->stopping))
                break;
            broken = ch__bus_send_ops(r, c) != 0;
        }
        if (!broken && n > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            broken = redisBufferRead(c) != REDIS_OK;
            void *rep = NULL;
            while (!broken && redisGetReplyFromReader(c, &rep) == REDIS_OK && rep) {
                last_heard = ch_mono_ms();
                ch__bus_deliver(r, rep);
                freeReplyObject(rep);
                rep = NULL;
            }
            broken = broken || c->err;
        }
        int64_t now = ch_mono_ms();
        if (!broken && now - last_heard > CH_BUS_DEAD_MS)
            broken = 1; /* a stopped or unreachable server: nothing, not even the pongs */
        else if (!broken && now - last_ping >= CH_BUS_PING_MS && now - last_heard >= CH_BUS_PING_MS) {
            last_ping = now;
            broken = redisAppendCommand(c, "PING") != REDIS_OK || ch__bus_flush(c) != 0;
        }
        if (broken) {
            ch_log_warn("bus: lost the Redis subscriber connection (%s); reconnecting",
                        c->err ? c->errstr : "no answer");
            atomic_store(&r->connected, 0);
            ch__bus_unconfirm_all(&r->base);
            redisFree(c);
            c = NULL;
            was_up = 0;
        }
    }
    if (c)
        redisFree(c);
    return NULL;
}

/* ---- the driver ------------------------------------------------------------------------ */

static void ch__bus_redis_queue(ch__bus_redis_t *r, uint64_t user_id, int subscribe)
{
    ch__bus_op_t *op = ch_calloc(1, sizeof(*op));
    op->user_id = user_id;
    op->subscribe = subscribe;
    pthread_mutex_lock(&r->opmu);
    if (r->ops_tail)
        r->ops_tail->next = op;
    else
        r->ops = op;
    r->ops_tail = op;
    pthread_mutex_unlock(&r->opmu);
    ch__bus_wake(r);
}

static ch_err_t ch__bus_redis_subscribe(ch_bus_t *bus, uint64_t user_id, int first)
{
    ch__bus_redis_t *r = (ch__bus_redis_t *)bus;
    if (first)
        ch__bus_redis_queue(r, user_id, 1);
    return atomic_load(&r->connected) ? CH_OK : CH_EUNAVAILABLE;
}

static void ch__bus_redis_unsubscribe(ch_bus_t *bus, uint64_t user_id, int last)
{
    if (last)
        ch__bus_redis_queue((ch__bus_redis_t *)bus, user_id, 0);
}

static ch_err_t ch__bus_redis_publish_many(ch_bus_t *bus, const uint64_t *user_ids, size_t n, const char *frame,
                                           size_t len)
{
    ch__bus_redis_t *r = (ch__bus_redis_t *)bus;
    ch__kv_rconn_t *h;
    redisContext *c = ch__kv_redis_conn_acquire(r->pool, &h);
    if (!c)
        return CH_EUNAVAILABLE;
    for (size_t i = 0; i < n; i++) {
        char chan[CH_BUS_CHANNEL_MAX];
        ch__bus_channel(r, chan, user_ids[i]);
        if (redisAppendCommand(c, "PUBLISH %s %b", chan, frame, len) != REDIS_OK)
            return ch__kv_redis_conn_broken(r->pool, h, "PUBLISH");
    }
    ch_err_t e = CH_OK;
    for (size_t i = 0; i < n; i++) {
        void *rep = NULL;
        if (redisGetReply(c, &rep) != REDIS_OK || !rep)
            return ch__kv_redis_conn_broken(r->pool, h, "PUBLISH");
        if (((redisReply *)rep)->type == REDIS_REPLY_ERROR)
            e = CH_EUNAVAILABLE;
        freeReplyObject(rep);
    }
    ch__kv_redis_conn_release(r->pool, h);
    return e;
}

static void ch__bus_redis_destroy(ch_bus_t *bus)
{
    ch__bus_redis_t *r = (ch__bus_redis_t *)bus;
    atomic_store(&r->stopping, 1);
    ch__bus_wake(r);
    pthread_join(r->thread, NULL);
    close(r->efd);
    ch_kv_redis_driver.close(r->pool);
    ch__bus_ops_free(r->ops);
    pthread_mutex_destroy(&r->opmu);
    ch__bus_clear(bus);
    free(r);
}

static const ch__bus_driver_t ch__bus_redis_driver = {
    .name = "redis",
    .subscribe = ch__bus_redis_subscribe,
    .unsubscribe = ch__bus_redis_unsubscribe,
    .publish_many = ch__bus_redis_publish_many,
    .destroy = ch__bus_redis_destroy,
    .confirms = 1,
};

ch_bus_t *ch_bus_redis_create(const char *url, char *err, size_t errlen)
{
    ch__bus_redis_t *r = ch_calloc(1, sizeof(*r));
    if (ch_kv_redis_driver.open(url, &r->pool, err, errlen) != CH_OK) {
        free(r);
        return NULL;
    }
    ch__bus_init(&r->base, &ch__bus_redis_driver);
    pthread_mutex_init(&r->opmu, NULL);
    const char *hostpart = strstr(url, "://"), *slash = hostpart ? strchr(hostpart + 3, '/') : NULL;
    r->db = slash ? atoi(slash + 1) : 0;
    r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->efd < 0 || pthread_create(&r->thread, NULL, ch__bus_redis_main, r) != 0) {
        snprintf(err, errlen, "cannot start the bus's subscriber thread");
        if (r->efd >= 0)
            close(r->efd);
        ch_kv_redis_driver.close(r->pool);
        pthread_mutex_destroy(&r->opmu);
        ch__bus_clear(&r->base);
        free(r);
        return NULL;
    }
    return &r->base;
}

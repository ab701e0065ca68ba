/* Cluster mode's two-level hydration cache (store/hcache.h, ch_hcache_l1_create): an
 * in-process L1 (the memory driver, bounded in bytes and entries, short TTL) in front of the
 * Redis cache (L2), so that a warm list read costs no Redis round trip.
 *
 * Coherence across nodes: every forget drops the keys from this node's L1, from Redis (the
 * L2's epoch-safe DELs), from the L1 once more (a local reader may have refilled it from
 * Redis between the two), and is published (the PUBLISH in the DELs' round trip) on one pub/sub channel ("chorus:hc:<db>"),
 * all keys of the call in one message ("<origin>\n<key>\n<key>..."); every node's subscriber
 * thread drops them from its L1 (its own messages skipped). A put into the L1 uses a lease
 * taken before the L2 was read, so a forget that arrives while a reader fills the L1 voids
 * the fill. Values reach the L1 only from L2 hits (a miss is put into the L2 by its reader
 * and reaches the L1 on the next read).
 *
 * The subscription is the guard: the L1 is used only while this node's SUBSCRIBE is
 * confirmed and the connection answered within CH__L1_STALE_MS (it is pinged every
 * CH__L1_PING_MS), so a silent partition stops L1 hits after at most that long. When the
 * subscriber connection breaks (Redis down or restarted, no answer to its PINGs for
 * CH__L1_DEAD_MS, an error reply), the L1 is flushed (every lease voided) and bypassed: gets
 * and puts go to the L2 alone (which has its own outage rules). Once subscribed again it is
 * flushed once more and used. A message published and lost while the connection still
 * answered in time is not detected this way: the epoch below covers lost forgets.
 *
 * The L1 holds what the L2 read under one key epoch: the subscriber thread reads hc:epoch
 * every CH__L1_EPOCH_POLL_MS (and each L2 call reports the epoch it uses); when it moved
 * (a lost forget healed by any node, Redis back from an outage) the L1 is flushed.
 * A forget whose PUBLISH failed while other nodes' subscriptions held (this node's kv
 * breaker still open after an outage, a partial partition): once the L2 has healed (its
 * epoch moved), the subscriber thread publishes a flush-all message ("<origin>\n*") through
 * its own pool and every node empties its L1; until then the L1's TTL bounds it. */
#include "store/hcache.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "store/hcache_driver.h"
#include "store/kv_redis.h"

#define CH__L1_CHANNEL_PREFIX "chorus:hc:" /* then the db number: pub/sub ignores SELECT */
#define CH__L1_CHANNEL_MAX 32
#define CH__L1_BACKOFF_MIN_MS 50   /* first wait before reconnecting the subscriber */
#define CH__L1_BACKOFF_MAX_MS 1000 /* longest wait between reconnects */
#define CH__L1_PING_MS 250         /* the subscriber connection is pinged this often */
#define CH__L1_STALE_MS 600        /* gets bypass the L1 when it has heard nothing this long */
#define CH__L1_DEAD_MS 3000        /* and it is dropped (L1 flushed, bypassed) when silent this long */
#define CH__L1_EPOCH_POLL_MS 250   /* how often the subscriber thread reads the L2's key epoch */
/* The message body that empties every node's L1 (no key is "*": keys have a ':'). */
#define CH__L1_FLUSH_ALL "*"

/* ---- metrics --------------------------------------------------------------------------- */

enum { CH__L1_HIT, CH__L1_MISS, CH__L1_BYPASS, CH__L1_GETS };
static const char *const ch__l1_get_names[CH__L1_GETS] = {"hit", "miss", "bypass"};
static atomic_ullong ch__l1_gets[CH__L1_GETS];
static atomic_ullong ch__l1_fills, ch__l1_flushes, ch__l1_received, ch__l1_published, ch__l1_publish_failed;
static atomic_int ch__l1_renderer_added;
static pthread_mutex_t ch__l1_current_mu = PTHREAD_MUTEX_INITIALIZER;
static const ch_hcache_t *ch__l1_current; /* under the mutex: the L1 whose size /metrics shows */

typedef struct {
    ch_hcache_t *l1, *l2; /* owned */
    void *pool;           /* kv's connection pool (borrowed): the PUBLISHes */
    void *sub_pool;       /* a pool of its own (owned) for the subscriber connection, so that
                             its reconnects while Redis is away never mark kv's pool down */
    ch_kv_breaker_t *brk;
    char channel[CH__L1_CHANNEL_MAX];
    char origin[17]; /* this process's tag on what it publishes */
    atomic_int live;        /* subscription confirmed and L1 flushed since: the L1 is used */
    atomic_ullong gen;      /* bumped at every loss and every confirmation */
    atomic_int lost;        /* a forget's PUBLISH failed: every node's L1 is to be flushed */
    atomic_llong last_heard; /* ch_mono_ms of the subscriber connection's last reply */
    atomic_llong l2_epoch;  /* the L2's key epoch the L1's content was read under */
    pthread_t thread;
    int thread_on;
    int efd;
    atomic_int stopping;
} ch__l1_t;

static void ch__l1_render(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out, "# HELP chorus_hcache_l1_gets_total In-process L1 lookups in front of Redis by result "
                       "(bypass: the L1 is off while the invalidation channel is not subscribed).\n"
                       "# TYPE chorus_hcache_l1_gets_total counter\n");
    for (int i = 0; i < CH__L1_GETS; i++)
        ch_buf_printf(out, "chorus_hcache_l1_gets_total{result=\"%s\"} %llu\n", ch__l1_get_names[i],
                      (unsigned long long)atomic_load_explicit(&ch__l1_gets[i], memory_order_relaxed));
    size_t bytes = 0, entries = 0;
    int live = 0;
    pthread_mutex_lock(&ch__l1_current_mu);
    if (ch__l1_current) {
        const ch__l1_t *w = ch__l1_current->impl;
        bytes = w->l1->driver->bytes(w->l1->impl);
        entries = w->l1->driver->entries(w->l1->impl);
        live = atomic_load(&w->live);
    }
    pthread_mutex_unlock(&ch__l1_current_mu);
    ch_buf_printf(out,
                  "# HELP chorus_hcache_l1_bytes Bytes held by the in-process L1.\n"
                  "# TYPE chorus_hcache_l1_bytes gauge\nchorus_hcache_l1_bytes %zu\n"
                  "# HELP chorus_hcache_l1_entries Entries held by the in-process L1.\n"
                  "# TYPE chorus_hcache_l1_entries gauge\nchorus_hcache_l1_entries %zu\n"
                  "# HELP chorus_hcache_l1_live 1 while the L1 is used (invalidation channel subscribed).\n"
                  "# TYPE chorus_hcache_l1_live gauge\nchorus_hcache_l1_live %d\n"
                  "# HELP chorus_hcache_l1_fills_total Redis hits offered to the L1 (not in "
                  "chorus_hcache_puts_total; a forget since the lookup voids the fill).\n"
                  "# TYPE chorus_hcache_l1_fills_total counter\nchorus_hcache_l1_fills_total %llu\n"
                  "# HELP chorus_hcache_l1_flushes_total Times the L1 was emptied (subscription lost or made).\n"
                  "# TYPE chorus_hcache_l1_flushes_total counter\nchorus_hcache_l1_flushes_total %llu\n"
                  "# HELP chorus_hcache_l1_invalidations_total Forget messages by direction (failed: not "
                  "published, other nodes rely on their L1 TTL).\n"
                  "# TYPE chorus_hcache_l1_invalidations_total counter\n"
                  "chorus_hcache_l1_invalidations_total{direction=\"received\"} %llu\n"
                  "chorus_hcache_l1_invalidations_total{direction=\"published\"} %llu\n"
                  "chorus_hcache_l1_invalidations_total{direction=\"failed\"} %llu\n",
                  bytes, entries, live, (unsigned long long)atomic_load(&ch__l1_fills),
                  (unsigned long long)atomic_load(&ch__l1_flushes),
                  (unsigned long long)atomic_load(&ch__l1_received),
                  (unsigned long long)atomic_load(&ch__l1_published),
                  (unsigned long long)atomic_load(&ch__l1_publish_failed));
}

/* ---- the L1's state -------------------------------------------------------------------- */

/* Off (or on again): a new generation, and nothing of the L1 kept. */
static void ch__l1_reset(ch__l1_t *w, int live)
{
    if (!live)
        atomic_store(&w->live, 0);
    atomic_fetch_add(&w->gen, 1);
    w->l1->driver->flush(w->l1->impl);
    atomic_fetch_add(&ch__l1_flushes, 1);
    if (live)
        atomic_store(&w->live, 1);
}

/* Empties the L1 and voids its leases without touching live (any thread). */
static void ch__l1_flush(ch__l1_t *w)
{
    atomic_fetch_add(&w->gen, 1);
    w->l1->driver->flush(w->l1->impl);
    atomic_fetch_add(&ch__l1_flushes, 1);
}

/* The L1 holds what the L2 served under one key epoch: when the L2 has moved to another (a
 * lost forget healed, here or on another node; Redis came back), everything is flushed.
 * refresh: read the epoch from Redis (the subscriber thread's poll), else the L2's own. */
static void ch__l1_check_epoch(ch__l1_t *w, int refresh)
{
    if (!w->l2->driver->epoch)
        return;
    long long e = w->l2->driver->epoch(w->l2->impl, refresh);
    if (atomic_load(&w->l2_epoch) != e && atomic_exchange(&w->l2_epoch, e) != e)
        ch__l1_flush(w);
}

/* Drops the keys of one received message ("<origin>\n<key>\n..."), unless it is ours. */
static void ch__l1_apply(ch__l1_t *w, const char *msg, size_t len)
{
    const char *nl = memchr(msg, '\n', len);
    if (!nl || ((size_t)(nl - msg) == strlen(w->origin) && memcmp(msg, w->origin, (size_t)(nl - msg)) == 0))
        return;
    atomic_fetch_add(&ch__l1_received, 1);
    if ((size_t)(msg + len - nl) == sizeof(CH__L1_FLUSH_ALL) &&
        memcmp(nl + 1, CH__L1_FLUSH_ALL, sizeof(CH__L1_FLUSH_ALL) - 1) == 0) {
        ch__l1_reset(w, atomic_load(&w->live)); /* another node lost a forget */
        return;
    }
    const char *keys[CH_HCACHE_BATCH_MAX];
    char buf[CH_HCACHE_BATCH_MAX][CH_HCACHE_KEY_MAX + 1];
    size_t n = 0;
    const char *p = nl + 1, *end = msg + len;
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        size_t kl = (size_t)((e ? e : end) - p);
        if (kl > 0 && kl <= CH_HCACHE_KEY_MAX) {
            memcpy(buf[n], p, kl);
            buf[n][kl] = '\0';
            keys[n] = buf[n];
            if (++n == CH_HCACHE_BATCH_MAX) {
                w->l1->driver->forget_many(w->l1->impl, keys, n);
                n = 0;
            }
        }
        p = (e ? e : end) + 1;
    }
    if (n)
        w->l1->driver->forget_many(w->l1->impl, keys, n);
}

/* ---- the subscriber thread ------------------------------------------------------------- */

static int ch__l1_flush_out(redisContext *c)
{
    int done = 0;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return -1;
    return 0;
}

static void ch__l1_sleep(ch__l1_t *w, int ms)
{
    struct pollfd p = {.fd = w->efd, .events = POLLIN};
    if (poll(&p, 1, ms) > 0) {
        uint64_t v;
        ssize_t n = read(w->efd, &v, sizeof(v));
        (void)n;
    }
}

/* One reply of the subscriber connection; -1 when the connection is to be dropped (an
 * error reply: the SUBSCRIBE was refused). */
static int ch__l1_on_reply(ch__l1_t *w, const redisReply *rep)
{
    if (rep->type == REDIS_REPLY_ERROR) {
        ch_log_warn("hydration cache: the invalidation channel %s answered an error (%.*s): reconnecting", w->channel,
                    (int)rep->len, rep->str);
        return -1;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 || rep->element[0]->type != REDIS_REPLY_STRING)
        return 0; /* a PONG */
    const char *kind = rep->element[0]->str;
    if (strcmp(kind, "subscribe") == 0) {
        ch__l1_reset(w, 1); /* what was sent before the subscription is not known: nothing kept */
        ch_log_info("hydration cache: L1 in use (subscribed to %s)", w->channel);
    } else if (strcmp(kind, "message") == 0 && rep->element[2]->type == REDIS_REPLY_STRING) {
        ch__l1_apply(w, rep->element[2]->str, rep->element[2]->len);
    }
    return 0;
}

/* A forget's PUBLISH failed: once the L2 has healed (its epoch moved, so Redis no longer
 * serves what the forget should have removed), every node is told to empty its L1, through
 * the subscriber's own pool (kv's breaker may still be down). Retried each turn until sent. */
static void ch__l1_tell_lost(ch__l1_t *w)
{
    if (w->l2->driver->dirty && w->l2->driver->dirty(w->l2->impl))
        return;
    ch__kv_rconn_t *h;
    redisContext *c = ch__kv_redis_conn_acquire(w->sub_pool, &h);
    if (!c)
        return;
    atomic_store(&w->lost, 0);
    redisReply *rep = redisCommand(c, "PUBLISH %s %s\n" CH__L1_FLUSH_ALL, w->channel, w->origin);
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
        atomic_store(&w->lost, 1);
        if (rep)
            freeReplyObject(rep);
        (void)ch__kv_redis_conn_broken(w->sub_pool, h, "PUBLISH");
        return;
    }
    freeReplyObject(rep);
    ch__kv_redis_conn_release(w->sub_pool, h);
    ch_log_info("hydration cache: told every node to empty its L1 (a forget could not be published)");
}

static void *ch__l1_main(void *arg)
{
    ch__l1_t *w = arg;
    redisContext *c = NULL;
    int backoff = CH__L1_BACKOFF_MIN_MS;
    int64_t last_ping = 0, last_epoch = 0;
    while (!atomic_load(&w->stopping)) {
        if (!c) {
            ch__kv_rconn_t *h;
            if (ch__kv_redis_conn_acquire(w->sub_pool, &h))
                c = ch__kv_redis_conn_detach(w->sub_pool, h);
            if (c && (redisAppendCommand(c, "SUBSCRIBE %s", w->channel) != REDIS_OK || ch__l1_flush_out(c) != 0)) {
                redisFree(c);
                c = NULL;
            }
            if (!c) {
                ch__l1_sleep(w, backoff);
                backoff = backoff * 2 > CH__L1_BACKOFF_MAX_MS ? CH__L1_BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            last_ping = ch_mono_ms();
            atomic_store(&w->last_heard, last_ping);
        }
        struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN}, {.fd = w->efd, .events = POLLIN}};
        int n = poll(p, 2, CH__L1_PING_MS / 2);
        int broken = n < 0 && errno != EINTR, refused = 0;
        if (atomic_load(&w->stopping))
            break;
        if (!broken && n > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            broken = redisBufferRead(c) != REDIS_OK;
            void *rep = NULL;
            while (!broken && redisGetReplyFromReader(c, &rep) == REDIS_OK && rep) {
                atomic_store(&w->last_heard, ch_mono_ms());
                broken = refused = ch__l1_on_reply(w, rep) != 0;
                freeReplyObject(rep);
                rep = NULL;
            }
            broken = broken || c->err;
            if (!broken && atomic_load(&w->live))
                backoff = CH__L1_BACKOFF_MIN_MS; /* reconnects wait longer until subscribed */
        }
        if (!broken && atomic_load(&w->lost))
            ch__l1_tell_lost(w);
        int64_t now = ch_mono_ms();
        if (!broken && now - last_epoch >= CH__L1_EPOCH_POLL_MS) {
            last_epoch = now;
            ch__l1_check_epoch(w, 1); /* another node healed a lost forget */
            now = ch_mono_ms();
        }
        if (!broken && now - atomic_load(&w->last_heard) > CH__L1_DEAD_MS)
            broken = 1; /* a stopped or unreachable server */
        else if (!broken && now - last_ping >= CH__L1_PING_MS) {
            last_ping = now;
            broken = redisAppendCommand(c, "PING") != REDIS_OK || ch__l1_flush_out(c) != 0;
        }
        if (broken) {
            int was_live = atomic_load(&w->live);
            ch__l1_reset(w, 0);
            if (was_live)
                ch_log_warn("hydration cache: lost the invalidation channel (%s): L1 flushed and bypassed until "
                            "subscribed again",
                            c->err ? c->errstr : "no answer");
            redisFree(c);
            c = NULL;
            if (refused) { /* the server answers at once: back off before asking again */
                ch__l1_sleep(w, backoff);
                backoff = backoff * 2 > CH__L1_BACKOFF_MAX_MS ? CH__L1_BACKOFF_MAX_MS : backoff * 2;
            }
        }
    }
    if (c)
        redisFree(c);
    return NULL;
}

/* ---- the driver ------------------------------------------------------------------------ */

static ch_err_t ch__l1_get_many(void *impl, const char *const *keys, size_t n, ch_hcache_got_t *got)
{
    ch__l1_t *w = impl;
    /* not subscribed, or nothing heard from the channel lately (a partition without a
     * disconnect): what was published meanwhile may not have arrived */
    if (!atomic_load(&w->live) || ch_mono_ms() - atomic_load(&w->last_heard) > CH__L1_STALE_MS) {
        atomic_fetch_add_explicit(&ch__l1_gets[CH__L1_BYPASS], n, memory_order_relaxed);
        return w->l2->driver->get_many(w->l2->impl, keys, n, got);
    }
    uint64_t gen = atomic_load(&w->gen);
    (void)w->l1->driver->get_many(w->l1->impl, keys, n, got); /* never fails */
    const char *miss[CH_HCACHE_BATCH_MAX];
    size_t at[CH_HCACHE_BATCH_MAX], m = 0;
    uint64_t l1_lease[CH_HCACHE_BATCH_MAX];
    for (size_t i = 0; i < n; i++)
        if (!got[i].val) {
            miss[m] = keys[i];
            l1_lease[m] = got[i].lease;
            got[i].lease = 0;
            at[m++] = i;
        }
    atomic_fetch_add_explicit(&ch__l1_gets[CH__L1_HIT], n - m, memory_order_relaxed);
    if (m == 0)
        return CH_OK;
    atomic_fetch_add_explicit(&ch__l1_gets[CH__L1_MISS], m, memory_order_relaxed);
    ch_hcache_got_t tmp[CH_HCACHE_BATCH_MAX];
    memset(tmp, 0, m * sizeof(*tmp));
    ch_err_t err = w->l2->driver->get_many(w->l2->impl, miss, m, tmp);
    if (err != CH_OK) {
        for (size_t j = 0; j < m; j++)
            free(tmp[j].val);
        return err; /* hcache.c frees the L1's hits */
    }
    ch__l1_check_epoch(w, 0); /* the L2 moved its epoch: what the L1 has is flushed, this fill void */
    /* The L2's hits go into the L1 under the leases taken before the L2 was read: a forget
     * (local or received) since then voids them, and so does a loss of the channel. */
    const char *pk[CH_HCACHE_BATCH_MAX], *pv[CH_HCACHE_BATCH_MAX];
    size_t pl[CH_HCACHE_BATCH_MAX], np = 0;
    uint64_t pe[CH_HCACHE_BATCH_MAX];
    for (size_t j = 0; j < m; j++) {
        got[at[j]] = tmp[j];
        if (tmp[j].val && l1_lease[j]) {
            pk[np] = miss[j];
            pv[np] = tmp[j].val;
            pl[np] = tmp[j].len;
            pe[np++] = l1_lease[j];
        }
    }
    if (np && atomic_load(&w->live) && atomic_load(&w->gen) == gen) {
        w->l1->driver->put_many(w->l1->impl, pk, pv, pl, pe, np);
        atomic_fetch_add_explicit(&ch__l1_fills, np, memory_order_relaxed);
    }
    return CH_OK;
}

/* The L1 alone (an event loop's read): hits, and misses without lease; unavailable while the
 * L1 is bypassed (not subscribed, or the channel silent), as ch__l1_get_many decides. */
static ch_err_t ch__l1_get_local(void *impl, const char *const *keys, size_t n, ch_hcache_got_t *got)
{
    ch__l1_t *w = impl;
    if (!atomic_load(&w->live) || ch_mono_ms() - atomic_load(&w->last_heard) > CH__L1_STALE_MS)
        return CH_EUNAVAILABLE;
    (void)w->l1->driver->get_many(w->l1->impl, keys, n, got); /* never fails */
    size_t hits = 0;
    for (size_t i = 0; i < n; i++) {
        got[i].lease = 0;
        hits += got[i].val != NULL;
    }
    atomic_fetch_add_explicit(&ch__l1_gets[CH__L1_HIT], hits, memory_order_relaxed);
    atomic_fetch_add_explicit(&ch__l1_gets[CH__L1_MISS], n - hits, memory_order_relaxed);
    return CH_OK;
}

static void ch__l1_put_many(void *impl, const char *const *keys, const char *const *vals, const size_t *lens,
                            const uint64_t *leases, size_t n)
{
    ch__l1_t *w = impl;
    w->l2->driver->put_many(w->l2->impl, keys, vals, lens, leases, n);
}

/* The message of a forget: "<origin>\n<key>\n<key>..." (the caller clears b). */
static void ch__l1_message(const ch__l1_t *w, const char *const *keys, size_t n, ch_buf_t *b)
{
    ch_buf_append(b, w->origin, strlen(w->origin));
    for (size_t i = 0; i < n; i++) {
        ch_buf_append(b, "\n", 1);
        ch_buf_append(b, keys[i], strlen(keys[i]));
    }
}

typedef struct {
    const ch__l1_t *w;
    const char *const *keys;
    size_t n;
} ch__l1_pub_arg_t;

static int ch__l1_pub_build(redisContext *c, void *arg, char sha[][41])
{
    (void)sha;
    ch__l1_pub_arg_t *a = arg;
    ch_buf_t b = CH_BUF_INIT;
    ch__l1_message(a->w, a->keys, a->n, &b);
    int ok = redisAppendCommand(c, "PUBLISH %s %b", a->w->channel, b.data, b.len) == REDIS_OK;
    ch_buf_clear(&b);
    return ok ? 1 : -1;
}

static ch_err_t ch__l1_pub_take(redisReply **reps, int n, void *arg)
{
    (void)arg;
    return n == 1 && reps[0]->type == REDIS_REPLY_INTEGER ? CH_OK : CH_EINTERNAL;
}

static void ch__l1_forget_many(void *impl, const char *const *keys, size_t n)
{
    ch__l1_t *w = impl;
    w->l1->driver->forget_many(w->l1->impl, keys, n);
    int published;
    if (w->l2->driver->forget_pub) { /* the PUBLISH in the DELs' round trip */
        ch_buf_t b = CH_BUF_INIT;
        ch__l1_message(w, keys, n, &b);
        published = w->l2->driver->forget_pub(w->l2->impl, keys, n, w->channel, b.data, b.len);
        ch_buf_clear(&b);
    } else {
        w->l2->driver->forget_many(w->l2->impl, keys, n);
        ch__l1_pub_arg_t a = {.w = w, .keys = keys, .n = n};
        published = ch__kv_redis_pipeline(w->pool, w->brk, NULL, "hcache invalidation PUBLISH", ch__l1_pub_build,
                                          ch__l1_pub_take, &a) == CH_OK;
    }
    /* once more: a reader that missed after the first forget may have read the old value
     * from Redis before its DEL and filled the L1 under a lease taken after that forget */
    w->l1->driver->forget_many(w->l1->impl, keys, n);
    ch__l1_check_epoch(w, 0);
    if (published)
        atomic_fetch_add(&ch__l1_published, 1);
    else {
        atomic_fetch_add(&ch__l1_publish_failed, 1);
        atomic_store(&w->lost, 1); /* the subscriber thread tells every node once it can */
    }
}

static size_t ch__l1_bytes(const void *impl)
{
    const ch__l1_t *w = impl;
    return w->l1->driver->bytes(w->l1->impl);
}

static size_t ch__l1_entries(const void *impl)
{
    const ch__l1_t *w = impl;
    return w->l1->driver->entries(w->l1->impl);
}

static void ch__l1_destroy(void *impl)
{
    ch__l1_t *w = impl;
    pthread_mutex_lock(&ch__l1_current_mu);
    if (ch__l1_current && ch__l1_current->impl == w)
        ch__l1_current = NULL;
    pthread_mutex_unlock(&ch__l1_current_mu);
    if (w->thread_on) {
        atomic_store(&w->stopping, 1);
        uint64_t one = 1;
        ssize_t k = write(w->efd, &one, sizeof(one));
        (void)k;
        pthread_join(w->thread, NULL);
    }
    if (w->efd >= 0)
        close(w->efd);
    if (w->sub_pool)
        ch_kv_redis_driver.close(w->sub_pool);
    ch_hcache_destroy(w->l1);
    ch_hcache_destroy(w->l2);
    free(w);
}

static const ch_hcache_driver_t ch__l1_driver = {
    .name = "redis+l1",
    .get_many = ch__l1_get_many,
    .put_many = ch__l1_put_many,
    .forget_many = ch__l1_forget_many,
    .bytes = ch__l1_bytes,
    .destroy = ch__l1_destroy,
    .entries = ch__l1_entries,
    .get_local = ch__l1_get_local,
};

int ch_hcache_l1_live(const ch_hcache_t *c)
{
    return c && c->driver == &ch__l1_driver && atomic_load(&((const ch__l1_t *)c->impl)->live);
}

ch_hcache_t *ch_hcache_l1_create(ch_hcache_t *l2, ch_kv_t *kv, const char *url, size_t max_bytes,
                                 size_t max_entries, int64_t ttl_ms)
{
    void *pool = l2 ? ch__kv_redis_pool_of(kv) : NULL;
    if (!pool) {
        ch_hcache_destroy(l2);
        return NULL;
    }
    ch__l1_t *w = ch_calloc(1, sizeof(*w));
    w->l2 = l2;
    w->pool = pool;
    w->brk = ch__kv_redis_breaker_of(kv);
    w->l1 = ch_hcache_mem_create_bounded(max_bytes, max_entries, ttl_ms);
    if (w->l1)
        ch__hcache_mem_uncounted(w->l1);
    const char *hostpart = url ? strstr(url, "://") : NULL, *slash = hostpart ? strchr(hostpart + 3, '/') : NULL;
    snprintf(w->channel, sizeof(w->channel), CH__L1_CHANNEL_PREFIX "%d", slash ? atoi(slash + 1) : 0);
    uint64_t tag;
    if (getrandom(&tag, sizeof(tag), 0) != (ssize_t)sizeof(tag))
        tag = (uint64_t)time(NULL) * 0x100000001b3ULL ^ (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)w;
    snprintf(w->origin, sizeof(w->origin), "%016llx", (unsigned long long)tag);
    atomic_init(&w->live, 0);
    atomic_init(&w->gen, 1);
    atomic_init(&w->stopping, 0);
    atomic_init(&w->last_heard, 0);
    atomic_init(&w->l2_epoch, l2->driver->epoch ? l2->driver->epoch(l2->impl, 0) : 0);
    char err[256];
    if (!url || ch_kv_redis_driver.open(url, &w->sub_pool, err, sizeof(err)) != CH_OK)
        w->sub_pool = NULL;
    w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    w->thread_on = w->sub_pool && w->efd >= 0 && pthread_create(&w->thread, NULL, ch__l1_main, w) == 0;
    if (!w->thread_on)
        ch_log_warn("hydration cache: no invalidation subscriber thread: the L1 stays bypassed");
    ch_hcache_t *c = ch__hcache_wrap(&ch__l1_driver, w);
    if (!atomic_exchange(&ch__l1_renderer_added, 1))
        ch_metrics_add_renderer(ch__l1_render, NULL);
    pthread_mutex_lock(&ch__l1_current_mu);
    ch__l1_current = c;
    pthread_mutex_unlock(&ch__l1_current_mu);
    return c;
}

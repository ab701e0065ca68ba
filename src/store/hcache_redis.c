/* The hydration cache's Redis driver (store/hcache.h), for cluster mode: one cache shared by
 * every replica, on the kv store's connection pool and circuit breaker (kv_redis.h).
 *
 * Keys: a value is "hc:<epoch>:{<key>}" and its lease "hc:<epoch>:{<key>}~l" (the hash tag
 * keeps both in one slot). Every call is one pipelined round trip (a get with misses, two):
 *   get     GET hc:epoch, then one plain GET per key (a warm key costs Redis a GET; a script
 *           per key cost it about 3.5 times the CPU, bench/hcache). When hc:epoch is not the
 *           epoch the keys were built with, every key is a miss with lease 0 and the process
 *           adopts the epoch read (larger only) and goes once more. Else the hits are served
 *           and, when some missed, a second round trip of GET hc:epoch and one EVALSHA per
 *           miss: -1 when hc:epoch is not the keys' epoch (all misses, lease 0, adopt, once
 *           more), else the value (put meanwhile), or SET lease <token> NX PX 10 s and the
 *           token if it was set (else lease 0: another reader is loading the key);
 *   put     one EVALSHA per key: if hc:epoch is still the epoch of the keys and the lease
 *           still holds the token, SET the value PX ttl and drop the lease (a forget since the
 *           get deleted it, or the epoch moved: the put is lost);
 *   forget  GET hc:epoch, then DEL value lease per key; when the epoch read is not the one
 *           this process used, the DELs go once more under it (another replica moved it:
 *           replicas that already use it must lose the key too); with the L1
 *           (hcache_l1.c), its invalidation PUBLISH follows the DELs in the same round trip
 *           (and again after the second one's DELs).
 *
 * The epoch (see the header): "hc:epoch", absent = 0, checked by every get and put in the
 * same round trip (atomically, inside the scripts), so no replica reads or stores under an
 * epoch another replica has left. The epoch a process uses only ever grows (adopted with a
 * CAS to the larger); hc:epoch found below it (Redis lost it) counts as a failure. A forget
 * that fails leaves values that may be stale under the current epoch, and so does a Redis
 * that came back (its dataset may be an older snapshot): both count a failure, and while a
 * failure is not healed get answers CH_EUNAVAILABLE (the caller reads the database) and put
 * stores nothing. A heal moves hc:epoch above every epoch seen (INCR, at least to the
 * process's epoch + 1) and covers the failures counted before it was sent; one thread at a
 * time heals (a get that finds another thread healing answers CH_EUNAVAILABLE); it is tried
 * by each get and by a background thread every CH__HCR_HEAL_EVERY_MS while a failure is not
 * healed (so other replicas stop serving stale entries even if this process never reads),
 * and once more at destroy (an error logged if it fails). Entries of older epochs are never
 * read again and expire by their TTL. Outages cost a caller at most the pool's 1 s timeout
 * once: the breaker then fails calls at once until its probe finds Redis back. */
#include "store/hcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/hcache_driver.h"
#include "store/kv_redis.h"

#define CH__HCR_EPOCH_KEY "hc:epoch"
/* How often the background thread tries to heal while a failure is not healed. */
#define CH__HCR_HEAL_EVERY_MS 200
/* How long a lease blocks other readers from loading the key (a reader that never puts). */
#define CH__HCR_LEASE_MS 10000
/* "hc:" + epoch + ":{" + key + "}~l" */
#define CH__HCR_KEY_BUF (3 + 20 + 2 + CH_HCACHE_KEY_MAX + 3 + 1)
#define CH__HCR_DEFAULT_TTL_MS 600000

enum { CH__HCR_GET, CH__HCR_PUT, CH__HCR_HEAL, CH__HCR_NSCRIPTS };

static const char *const ch__hcr_scripts[CH__HCR_NSCRIPTS] = {
    /* KEYS: value, lease, hc:epoch; ARGV: token, lease ms, epoch. -1 when hc:epoch is not
     * epoch; the value; 1 when the lease is ours, 0 when another reader holds it. */
    [CH__HCR_GET] = "if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[3] then return -1 end\n"
                    "local v = redis.call('GET', KEYS[1])\n"
                    "if v then return v end\n"
                    "if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end\n"
                    "return 0\n",
    /* KEYS: value, lease, hc:epoch; ARGV: token, value, ttl ms, epoch. 1 when stored, 0 when
     * the lease is gone or the epoch moved. */
    [CH__HCR_PUT] = "if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[4] then return 0 end\n"
                    "if redis.call('GET', KEYS[2]) == ARGV[1] then\n"
                    "  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])\n"
                    "  redis.call('DEL', KEYS[2])\n"
                    "  return 1\n"
                    "end\n"
                    "return 0\n",
    /* KEYS: hc:epoch; ARGV: the process's epoch. Moves hc:epoch up, above ARGV[1] too. */
    [CH__HCR_HEAL] = "local v = redis.call('INCR', KEYS[1])\n"
                     "local floor = tonumber(ARGV[1])\n"
                     "if v <= floor then v = floor + 1; redis.call('SET', KEYS[1], v) end\n"
                     "return v\n",
};

typedef struct {
    ch_kv_t *kv;          /* borrowed */
    void *pool;           /* kv's connection pool */
    ch_kv_breaker_t *brk; /* kv's breaker */
    int64_t ttl_ms;
    ch__kv_redis_scripts_t scripts;
    atomic_llong epoch;         /* the key epoch in use; only grows */
    atomic_int healing;         /* a thread is moving it (the heal script) */
    atomic_ullong failures;     /* forgets lost and returns of Redis seen */
    atomic_ullong healed;       /* the failures an epoch move has covered */
    atomic_llong recovery_seen; /* ch_kv_recovered_at when last looked at */
    uint64_t token_base;
    atomic_ullong token_seq;
    /* the background healer */
    pthread_t healer;
    int healer_on;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop; /* under mu */
} ch__hcr_t;

static size_t ch__hcr_key(char *buf, long long epoch, const char *key, int lease)
{
    return (size_t)snprintf(buf, CH__HCR_KEY_BUF, "hc:%lld:{%s}%s", epoch, key, lease ? "~l" : "");
}

/* A lease token: unique in this process, random across processes, never 0. */
static uint64_t ch__hcr_token(ch__hcr_t *r)
{
    for (;;) {
        uint64_t t = r->token_base + atomic_fetch_add_explicit(&r->token_seq, 1, memory_order_relaxed) *
                                         0x9e3779b97f4a7c15ULL;
        if (t)
            return t;
    }
}

/* The integer of a reply to GET or INCR (nil: 0); -1 when it is not one. */
static int ch__hcr_int_reply(const redisReply *rep, long long *out)
{
    if (rep->type == REDIS_REPLY_INTEGER) {
        *out = rep->integer;
        return 0;
    }
    if (rep->type == REDIS_REPLY_NIL) {
        *out = 0;
        return 0;
    }
    if (rep->type != REDIS_REPLY_STRING)
        return -1;
    char *end;
    *out = strtoll(rep->str, &end, 10);
    return end != rep->str && *end == '\0' ? 0 : -1;
}

/* ---- the epoch ------------------------------------------------------------------------- */

typedef struct {
    long long floor; /* the process's epoch when sent */
    long long value;
} ch__hcr_heal_arg_t;

static int ch__hcr_heal_build(redisContext *c, void *arg, char sha[][41])
{
    ch__hcr_heal_arg_t *a = arg;
    return redisAppendCommand(c, "EVALSHA %s 1 " CH__HCR_EPOCH_KEY " %lld", sha[CH__HCR_HEAL], a->floor) ==
                   REDIS_OK
               ? 1
               : -1;
}

static ch_err_t ch__hcr_heal_take(redisReply **reps, int n, void *arg)
{
    ch__hcr_heal_arg_t *a = arg;
    return n == 1 && ch__hcr_int_reply(reps[0], &a->value) == 0 ? CH_OK : CH_EINTERNAL;
}

/* Adopts epoch when it is larger than the one in use (never moves back). */
static void ch__hcr_use_epoch(ch__hcr_t *r, long long epoch)
{
    long long cur = atomic_load(&r->epoch);
    while (cur < epoch && !atomic_compare_exchange_weak(&r->epoch, &cur, epoch))
        ;
}

/* Counts a failure when Redis came back (or is another one) since last looked at: its
 * entries may be stale. */
static void ch__hcr_check_recovery(ch__hcr_t *r)
{
    int64_t back = ch_kv_recovered_at(r->kv);
    long long seen = atomic_load(&r->recovery_seen);
    if (back != seen && atomic_compare_exchange_strong(&r->recovery_seen, &seen, back))
        atomic_fetch_add(&r->failures, 1);
}

static int ch__hcr_dirty(ch__hcr_t *r)
{
    return atomic_load(&r->failures) != atomic_load(&r->healed);
}

/* Heals the failures counted so far by moving hc:epoch (when any), one thread at a time.
 * CH_EUNAVAILABLE when Redis did not answer or another thread is healing (still dirty). */
static ch_err_t ch__hcr_heal(ch__hcr_t *r)
{
    ch__hcr_check_recovery(r);
    uint64_t failures = atomic_load(&r->failures), healed = atomic_load(&r->healed);
    if (failures == healed)
        return CH_OK;
    if (atomic_exchange(&r->healing, 1)) /* another thread is moving the epoch */
        return CH_EUNAVAILABLE;
    /* read after taking the guard: failures healed meanwhile by the thread that held it */
    failures = atomic_load(&r->failures);
    healed = atomic_load(&r->healed);
    if (failures == healed) {
        atomic_store(&r->healing, 0);
        return CH_OK;
    }
    ch__hcr_heal_arg_t a = {.floor = atomic_load(&r->epoch)};
    ch_err_t err = ch__kv_redis_pipeline(r->pool, r->brk, &r->scripts, "hcache epoch INCR", ch__hcr_heal_build,
                                         ch__hcr_heal_take, &a);
    if (err == CH_OK) {
        ch__hcr_use_epoch(r, a.value);
        /* only the failures counted before the INCR was sent are covered by it */
        while (healed < failures && !atomic_compare_exchange_weak(&r->healed, &healed, failures))
            ;
    }
    atomic_store(&r->healing, 0);
    if (err != CH_OK)
        return CH_EUNAVAILABLE;
    ch_log_warn("hydration cache: moved to key epoch %lld (a forget was lost, or Redis came back): entries "
                "cached before are no longer read",
                a.value);
    return CH_OK;
}

/* Tries to heal every CH__HCR_HEAL_EVERY_MS while dirty, until destroy. */
static void *ch__hcr_healer(void *arg)
{
    ch__hcr_t *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)CH__HCR_HEAL_EVERY_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        int rc = 0;
        while (!r->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&r->cv, &r->mu, &until);
        if (r->stop)
            break;
        pthread_mutex_unlock(&r->mu);
        (void)ch__hcr_heal(r);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- get ------------------------------------------------------------------------------- */

typedef struct {
    const char *const *keys;
    const size_t *idx; /* the keys looked up are keys[idx[0..n)]; NULL: keys[0..n) */
    size_t n;
    long long epoch;
    const uint64_t *tokens; /* per looked-up key; NULL: plain GETs */
    ch_hcache_got_t *got;   /* indexed as keys */
    long long current;      /* hc:epoch as read first */
    int moved;              /* hc:epoch is not epoch (read first, or found by a script) */
} ch__hcr_get_arg_t;

static size_t ch__hcr_at(const ch__hcr_get_arg_t *a, size_t j)
{
    return a->idx ? a->idx[j] : j;
}

static int ch__hcr_get_build(redisContext *c, void *arg, char sha[][41])
{
    ch__hcr_get_arg_t *a = arg;
    if (redisAppendCommand(c, "GET " CH__HCR_EPOCH_KEY) != REDIS_OK)
        return -1;
    char k[CH__HCR_KEY_BUF], l[CH__HCR_KEY_BUF], tok[24], ep[24];
    snprintf(ep, sizeof(ep), "%lld", a->epoch);
    for (size_t j = 0; j < a->n; j++) {
        const char *key = a->keys[ch__hcr_at(a, j)];
        size_t kl = ch__hcr_key(k, a->epoch, key, 0);
        int ok;
        if (!a->tokens) {
            ok = redisAppendCommand(c, "GET %b", k, kl) == REDIS_OK;
        } else {
            size_t ll = ch__hcr_key(l, a->epoch, key, 1);
            snprintf(tok, sizeof(tok), "%llu", (unsigned long long)a->tokens[j]);
            ok = redisAppendCommand(c, "EVALSHA %s 3 %b %b " CH__HCR_EPOCH_KEY " %s %d %s", sha[CH__HCR_GET], k, kl,
                                    l, ll, tok, CH__HCR_LEASE_MS, ep) == REDIS_OK;
        }
        if (!ok)
            return -1;
    }
    return (int)a->n + 1;
}

static ch_err_t ch__hcr_get_take(redisReply **reps, int n, void *arg)
{
    ch__hcr_get_arg_t *a = arg;
    if ((size_t)n != a->n + 1 || ch__hcr_int_reply(reps[0], &a->current) != 0)
        return CH_EINTERNAL;
    a->moved = a->current != a->epoch;
    for (int j = 1; j < n; j++) {
        redisReply *rep = reps[j];
        ch_hcache_got_t *g = &a->got[ch__hcr_at(a, (size_t)j - 1)];
        if (rep->type == REDIS_REPLY_STRING) {
            g->val = ch_malloc(rep->len + 1);
            memcpy(g->val, rep->str, rep->len);
            g->val[rep->len] = '\0';
            g->len = rep->len;
        } else if (!a->tokens && rep->type == REDIS_REPLY_NIL) {
            /* a miss: its lease comes with the second round trip */
        } else if (a->tokens && rep->type == REDIS_REPLY_INTEGER && (rep->integer == 0 || rep->integer == 1)) {
            g->lease = rep->integer ? a->tokens[j - 1] : 0;
        } else if (a->tokens && rep->type == REDIS_REPLY_INTEGER && rep->integer == -1) {
            a->moved = 1;
        } else {
            return CH_EINTERNAL;
        }
    }
    return CH_OK;
}

/* Every key a miss with lease 0 (what was read under an epoch that is not hc:epoch). */
static void ch__hcr_all_misses(ch_hcache_got_t *got, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(got[i].val);
        got[i] = (ch_hcache_got_t){0};
    }
}

/* Two round trips at most per attempt: GET hc:epoch and plain GETs (a warm read costs Redis
 * what a GET does; a script per key costs it three to four times more, bench/hcache); then,
 * when some missed, GET hc:epoch and the lease script per miss, which checks hc:epoch too
 * and returns a value put meanwhile. When either finds hc:epoch is not the keys' epoch,
 * nothing read counts (all misses with lease 0), the epoch read is adopted (larger only) and
 * the get goes once more. */
static ch_err_t ch__hcr_get_many(void *impl, const char *const *keys, size_t n, ch_hcache_got_t *got)
{
    ch__hcr_t *r = impl;
    if (ch__hcr_heal(r) != CH_OK)
        return CH_EUNAVAILABLE;
    for (int attempt = 0; attempt < 2; attempt++) {
        ch__hcr_get_arg_t a = {.keys = keys, .n = n, .epoch = atomic_load(&r->epoch), .got = got};
        if (ch__kv_redis_pipeline(r->pool, r->brk, NULL, "hcache get", ch__hcr_get_build, ch__hcr_get_take, &a) !=
            CH_OK)
            return CH_EUNAVAILABLE; /* hcache.c frees what a failed call left in got */
        if (!a.moved) {
            size_t idx[CH_HCACHE_BATCH_MAX], m = 0;
            uint64_t tokens[CH_HCACHE_BATCH_MAX];
            for (size_t i = 0; i < n; i++) {
                if (!got[i].val) {
                    tokens[m] = ch__hcr_token(r);
                    idx[m++] = i;
                }
            }
            if (m == 0)
                return CH_OK;
            a.idx = idx;
            a.n = m;
            a.tokens = tokens;
            if (ch__kv_redis_pipeline(r->pool, r->brk, &r->scripts, "hcache lease", ch__hcr_get_build,
                                      ch__hcr_get_take, &a) != CH_OK)
                return CH_EUNAVAILABLE;
            if (!a.moved)
                return CH_OK;
        }
        /* read under an epoch that is not hc:epoch: nothing of it counts */
        ch__hcr_all_misses(got, n);
        if (a.current < a.epoch) { /* Redis lost hc:epoch (a restart, a flush): the heal moves it above ours */
            atomic_fetch_add(&r->failures, 1);
            return CH_OK;
        }
        ch__hcr_use_epoch(r, a.current);
    }
    return CH_OK;
}

/* ---- put ------------------------------------------------------------------------------- */

typedef struct {
    const char *const *keys, *const *vals;
    const size_t *lens;
    const uint64_t *leases;
    size_t n;
    long long epoch;
    int64_t ttl_ms;
    uint64_t stored;
} ch__hcr_put_arg_t;

static int ch__hcr_put_build(redisContext *c, void *arg, char sha[][41])
{
    ch__hcr_put_arg_t *a = arg;
    char k[CH__HCR_KEY_BUF], l[CH__HCR_KEY_BUF], tok[24];
    for (size_t i = 0; i < a->n; i++) {
        size_t kl = ch__hcr_key(k, a->epoch, a->keys[i], 0), ll = ch__hcr_key(l, a->epoch, a->keys[i], 1);
        snprintf(tok, sizeof(tok), "%llu", (unsigned long long)a->leases[i]);
        if (redisAppendCommand(c, "EVALSHA %s 3 %b %b " CH__HCR_EPOCH_KEY " %s %b %lld %lld", sha[CH__HCR_PUT], k, kl,
                               l, ll, tok, a->vals[i], a->lens[i], (long long)a->ttl_ms, a->epoch) != REDIS_OK)
            return -1;
    }
    return (int)a->n;
}

static ch_err_t ch__hcr_put_take(redisReply **reps, int n, void *arg)
{
    ch__hcr_put_arg_t *a = arg;
    if ((size_t)n != a->n)
        return CH_EINTERNAL;
    a->stored = 0;
    for (int i = 0; i < n; i++) {
        if (reps[i]->type != REDIS_REPLY_INTEGER)
            return CH_EINTERNAL;
        a->stored += reps[i]->integer == 1;
    }
    return CH_OK;
}

static void ch__hcr_put_many(void *impl, const char *const *keys, const char *const *vals, const size_t *lens,
                             const uint64_t *leases, size_t n)
{
    ch__hcr_t *r = impl;
    if (ch__hcr_dirty(r)) { /* the next get moves the epoch first */
        ch__hcache_count_puts(CH__HCACHE_PUT_ERROR, n);
        return;
    }
    ch__hcr_put_arg_t a = {.keys = keys, .vals = vals, .lens = lens, .leases = leases, .n = n,
                           .epoch = atomic_load(&r->epoch), .ttl_ms = r->ttl_ms};
    if (ch__kv_redis_pipeline(r->pool, r->brk, &r->scripts, "hcache put", ch__hcr_put_build, ch__hcr_put_take, &a) !=
        CH_OK) {
        ch__hcache_count_puts(CH__HCACHE_PUT_ERROR, n);
        return;
    }
    ch__hcache_count_puts(CH__HCACHE_PUT_STORED, a.stored);
    ch__hcache_count_puts(CH__HCACHE_PUT_LOST_LEASE, n - a.stored);
}

/* ---- forget ---------------------------------------------------------------------------- */

typedef struct {
    const char *const *keys;
    size_t n;
    long long epoch;  /* the DELs go under it */
    int read_epoch;   /* GET hc:epoch first */
    long long current; /* what it answered */
    const char *pub_channel, *pub_msg; /* a PUBLISH after the DELs (hcache_l1.c); NULL: none */
    size_t pub_len;
    int published; /* the PUBLISH was taken */
} ch__hcr_forget_arg_t;

static int ch__hcr_forget_build(redisContext *c, void *arg, char sha[][41])
{
    (void)sha;
    ch__hcr_forget_arg_t *a = arg;
    if (a->read_epoch && redisAppendCommand(c, "GET " CH__HCR_EPOCH_KEY) != REDIS_OK)
        return -1;
    char k[CH__HCR_KEY_BUF], l[CH__HCR_KEY_BUF];
    for (size_t i = 0; i < a->n; i++) {
        size_t kl = ch__hcr_key(k, a->epoch, a->keys[i], 0), ll = ch__hcr_key(l, a->epoch, a->keys[i], 1);
        if (redisAppendCommand(c, "DEL %b %b", k, kl, l, ll) != REDIS_OK)
            return -1;
    }
    if (a->pub_msg && redisAppendCommand(c, "PUBLISH %s %b", a->pub_channel, a->pub_msg, a->pub_len) != REDIS_OK)
        return -1;
    return (int)a->n + (a->read_epoch ? 1 : 0) + (a->pub_msg ? 1 : 0);
}

static ch_err_t ch__hcr_forget_take(redisReply **reps, int n, void *arg)
{
    ch__hcr_forget_arg_t *a = arg;
    int first = a->read_epoch ? 1 : 0, pub = a->pub_msg ? 1 : 0;
    if ((size_t)n != a->n + (size_t)first + (size_t)pub)
        return CH_EINTERNAL;
    if (first && ch__hcr_int_reply(reps[0], &a->current) != 0)
        return CH_EINTERNAL;
    for (int i = first; i < n; i++)
        if (reps[i]->type != REDIS_REPLY_INTEGER)
            return CH_EINTERNAL;
    if (pub)
        a->published = 1;
    return CH_OK;
}

/* The forget (and the PUBLISH, when given: again after the DELs of a second round trip, so
 * that no node refills its L1 from what those DELs remove). 1 when a PUBLISH was taken. */
static int ch__hcr_forget_pub(void *impl, const char *const *keys, size_t n, const char *channel, const char *msg,
                              size_t len)
{
    ch__hcr_t *r = impl;
    ch__hcr_forget_arg_t a = {.keys = keys, .n = n, .epoch = atomic_load(&r->epoch), .read_epoch = 1,
                              .pub_channel = channel, .pub_msg = msg, .pub_len = len};
    if (ch__kv_redis_pipeline(r->pool, r->brk, NULL, "hcache forget", ch__hcr_forget_build, ch__hcr_forget_take,
                              &a) != CH_OK) {
        atomic_fetch_add(&r->failures, 1);
        return 0;
    }
    if (a.current == a.epoch)
        return a.published;
    /* another replica moved the epoch (or this process has not read it yet); below ours:
     * Redis lost it (the next heal moves it above) */
    if (a.current < a.epoch)
        atomic_fetch_add(&r->failures, 1);
    ch__hcr_use_epoch(r, a.current);
    a.epoch = a.current;
    a.read_epoch = 0;
    a.published = 0;
    if (ch__kv_redis_pipeline(r->pool, r->brk, NULL, "hcache forget", ch__hcr_forget_build, ch__hcr_forget_take,
                              &a) != CH_OK)
        atomic_fetch_add(&r->failures, 1);
    return a.published;
}

static void ch__hcr_forget_many(void *impl, const char *const *keys, size_t n)
{
    (void)ch__hcr_forget_pub(impl, keys, n, NULL, NULL, 0);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static size_t ch__hcr_bytes(const void *impl)
{
    (void)impl;
    return 0;
}

static void ch__hcr_destroy(void *impl)
{
    ch__hcr_t *r = impl;
    if (r->healer_on) {
        pthread_mutex_lock(&r->mu);
        r->stop = 1;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->healer, NULL);
    }
    /* a lost forget not healed yet: one last try, else other replicas may serve what it
     * should have removed until the entries' TTL */
    if (ch__hcr_heal(r) != CH_OK)
        ch_log_error("hydration cache: a lost forget could not be healed before exit (Redis unreachable): other "
                     "replicas may serve stale entries until they expire or the epoch moves");
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    ch__kv_redis_scripts_clear(&r->scripts);
    free(r);
}

static int ch__hcr_dirty_slot(void *impl)
{
    ch__hcr_t *r = impl;
    ch__hcr_check_recovery(r);
    return ch__hcr_dirty(r);
}

static int ch__hcr_epoch_build(redisContext *c, void *arg, char sha[][41])
{
    (void)arg;
    (void)sha;
    return redisAppendCommand(c, "GET " CH__HCR_EPOCH_KEY) == REDIS_OK ? 1 : -1;
}

static ch_err_t ch__hcr_epoch_take(redisReply **reps, int n, void *arg)
{
    return n == 1 && ch__hcr_int_reply(reps[0], arg) == 0 ? CH_OK : CH_EINTERNAL;
}

/* The epoch in use; refresh: GET hc:epoch first and adopt it (larger only; below ours:
 * Redis lost it, a failure the next heal covers, as a get would count it). */
static long long ch__hcr_epoch(void *impl, int refresh)
{
    ch__hcr_t *r = impl;
    long long cur;
    if (refresh && ch__kv_redis_pipeline(r->pool, r->brk, NULL, "hcache epoch", ch__hcr_epoch_build,
                                         ch__hcr_epoch_take, &cur) == CH_OK) {
        if (cur < atomic_load(&r->epoch))
            atomic_fetch_add(&r->failures, 1);
        ch__hcr_use_epoch(r, cur);
    }
    return atomic_load(&r->epoch);
}

static const ch_hcache_driver_t ch__hcr_driver = {
    .name = "redis",
    .dirty = ch__hcr_dirty_slot,
    .epoch = ch__hcr_epoch,
    .forget_pub = ch__hcr_forget_pub,
    .get_many = ch__hcr_get_many,
    .put_many = ch__hcr_put_many,
    .forget_many = ch__hcr_forget_many,
    .bytes = ch__hcr_bytes,
    .destroy = ch__hcr_destroy,
};

ch_hcache_t *ch_hcache_redis_create(ch_kv_t *kv, int64_t ttl_ms)
{
    void *pool = ch__kv_redis_pool_of(kv);
    if (!pool)
        return NULL;
    ch__hcr_t *r = ch_calloc(1, sizeof(*r));
    r->kv = kv;
    r->pool = pool;
    r->brk = ch__kv_redis_breaker_of(kv);
    r->ttl_ms = ttl_ms > 0 ? ttl_ms : CH__HCR_DEFAULT_TTL_MS;
    ch__kv_redis_scripts_init(&r->scripts, ch__hcr_scripts, CH__HCR_NSCRIPTS);
    atomic_init(&r->epoch, 0);
    atomic_init(&r->healing, 0);
    atomic_init(&r->failures, 0);
    atomic_init(&r->healed, 0);
    atomic_init(&r->recovery_seen, ch_kv_recovered_at(kv));
    atomic_init(&r->token_seq, 1);
    if (getrandom(&r->token_base, sizeof(r->token_base), 0) != (ssize_t)sizeof(r->token_base))
        r->token_base = (uint64_t)time(NULL) * 0x100000001b3ULL ^ (uint64_t)getpid() << 32;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->healer_on = pthread_create(&r->healer, NULL, ch__hcr_healer, r) == 0;
    if (!r->healer_on)
        ch_log_warn("hydration cache: no background healer thread: a lost forget is healed by the next get");
    return ch__hcache_wrap(&ch__hcr_driver, r);
}

/* Key-value store: the in-process driver.
 *
 * A hash map split into 64 shards by key hash, each with its own mutex and chained buckets,
 * so threads touching different keys rarely meet on a lock. Keys are hashed with keyed
 * SipHash (libsodium crypto_shorthash, random key per store): keys carry client-chosen text
 * (IPs, handles), and an unkeyed hash would let a client pile every key into one chain.
 *
 * Expiry uses CLOCK_MONOTONIC so wall-clock steps never expire or revive keys. Expired
 * entries are dropped lazily when touched, and every write also sweeps a few buckets of its
 * shard (round-robin cursor), so keys nobody reads again do not accumulate.
 *
 * Counters are ordinary values holding decimal text, as in Redis: GET on a counter answers
 * "42", and INCR on a non-integer value answers CH_EINVAL. */
#include "store/kv.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CH__KV_MEM_SHARDS 64                /* power of two */
#define CH__KV_MEM_INITIAL_BUCKETS 16       /* per shard, power of two */
#define CH__KV_MEM_SWEEP_BUCKETS 4          /* buckets visited per write */
#define CH__KV_MEM_SWEEP_MAX_ENTRIES 16     /* hard bound on entries examined per write */

typedef struct ch__kv_ent {
    struct ch__kv_ent *next;
    uint64_t hash;
    int64_t expires_at; /* CLOCK_MONOTONIC ms; 0 = never */
    char *val;          /* vlen bytes + a NUL, so get can copy it as a C string too */
    size_t vlen;
    size_t klen;
    char key[]; /* klen bytes + a NUL */
} ch__kv_ent_t;

/* Aligned to a cache line so two shards' mutexes never share one. */
typedef struct {
    alignas(64) pthread_mutex_t mu;
    ch__kv_ent_t **buckets;
    size_t nbuckets;
    size_t count;
    size_t sweep_cursor;
} ch__kv_shard_t;

typedef struct {
    ch__kv_shard_t shards[CH__KV_MEM_SHARDS];
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
} ch__kv_mem_t;

/* ---- helpers ------------------------------------------------------------------------ */

static int64_t ch__kv_mem_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ch__kv_mem_expired(const ch__kv_ent_t *e, int64_t now)
{
    return e->expires_at != 0 && e->expires_at <= now;
}

static uint64_t ch__kv_mem_hash(const ch__kv_mem_t *m, const char *key, size_t klen)
{
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t h;
    crypto_shorthash(out, (const unsigned char *)key, klen, m->hash_key);
    memcpy(&h, out, sizeof(h));
    return h;
}

static ch__kv_shard_t *ch__kv_mem_shard(ch__kv_mem_t *m, uint64_t hash)
{
    return &m->shards[hash & (CH__KV_MEM_SHARDS - 1)];
}

/* The low bits chose the shard; the bucket uses the next ones so a shard's buckets fill. */
static size_t ch__kv_mem_bucket(const ch__kv_shard_t *s, uint64_t hash)
{
    return (size_t)(hash >> 6) & (s->nbuckets - 1);
}

static void ch__kv_mem_free_ent(ch__kv_ent_t *e)
{
    free(e->val);
    free(e);
}

/* Finds key in the shard (lock held). Drops it and answers NULL when it has expired.
 * prev_out (may be NULL) gets the link that points at the entry. */
static ch__kv_ent_t *ch__kv_mem_find(ch__kv_shard_t *s, uint64_t hash, const char *key, size_t klen, int64_t now)
{
    ch__kv_ent_t **link = &s->buckets[ch__kv_mem_bucket(s, hash)];
    for (ch__kv_ent_t *e = *link; e; link = &e->next, e = e->next) {
        if (e->hash != hash || e->klen != klen || memcmp(e->key, key, klen) != 0)
            continue;
        if (ch__kv_mem_expired(e, now)) {
            *link = e->next;
            s->count--;
            ch__kv_mem_free_ent(e);
            return NULL;
        }
        return e;
    }
    return NULL;
}

/* Doubles the bucket array when the average chain passes one entry (lock held). Failure to
 * grow is harmless: chains just get longer. */
static void ch__kv_mem_maybe_grow(ch__kv_shard_t *s)
{
    if (s->count <= s->nbuckets)
        return;
    size_t nb = s->nbuckets * 2;
    ch__kv_ent_t **b = calloc(nb, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        ch__kv_ent_t *e = s->buckets[i];
        while (e) {
            ch__kv_ent_t *next = e->next;
            size_t j = (size_t)(e->hash >> 6) & (nb - 1);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
    s->sweep_cursor &= nb - 1;
}

/* Frees expired entries in the next few buckets (lock held); bounded work per write. */
static void ch__kv_mem_sweep(ch__kv_shard_t *s, int64_t now)
{
    if (s->count == 0)
        return;
    size_t examined = 0;
    for (int i = 0; i < CH__KV_MEM_SWEEP_BUCKETS && examined < CH__KV_MEM_SWEEP_MAX_ENTRIES; i++) {
        ch__kv_ent_t **link = &s->buckets[s->sweep_cursor];
        while (*link && examined < CH__KV_MEM_SWEEP_MAX_ENTRIES) {
            ch__kv_ent_t *e = *link;
            examined++;
            if (ch__kv_mem_expired(e, now)) {
                *link = e->next;
                s->count--;
                ch__kv_mem_free_ent(e);
            } else {
                link = &e->next;
            }
        }
        /* A bucket cut short by the entry bound is finished on a later write. */
        if (!*link)
            s->sweep_cursor = (s->sweep_cursor + 1) & (s->nbuckets - 1);
    }
}

/* Adds a new entry taking ownership of val (lock held). Answers CH_EINTERNAL on OOM,
 * leaving val with the caller. */
static ch_err_t ch__kv_mem_insert(ch__kv_shard_t *s, uint64_t hash, const char *key, size_t klen, char *val,
                                  size_t vlen, int64_t expires_at)
{
    ch__kv_ent_t *e = malloc(sizeof(*e) + klen + 1);
    if (!e)
        return CH_EINTERNAL;
    e->hash = hash;
    e->expires_at = expires_at;
    e->val = val;
    e->vlen = vlen;
    e->klen = klen;
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    size_t b = ch__kv_mem_bucket(s, hash);
    e->next = s->buckets[b];
    s->buckets[b] = e;
    s->count++;
    ch__kv_mem_maybe_grow(s);
    return CH_OK;
}

/* Strict decimal int64: optional '-', at least one digit, nothing else, no overflow. */
static int ch__kv_mem_parse_i64(const char *p, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (len > 0 && p[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == len || len > 20)
        return -1;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (lim - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}

/* ---- driver ------------------------------------------------------------------------- */

static void ch__kv_mem_close(void *impl);

static ch_err_t ch__kv_mem_open(const char *url, void **impl_out, char *errbuf, size_t errlen)
{
    *impl_out = NULL;
    if (sodium_init() < 0) {
        snprintf(errbuf, errlen, "kv memory: libsodium failed to initialise");
        return CH_EINTERNAL;
    }
    ch__kv_mem_t *m = aligned_alloc(alignof(ch__kv_mem_t), sizeof(ch__kv_mem_t));
    if (!m) {
        snprintf(errbuf, errlen, "kv memory: out of memory");
        return CH_EINTERNAL;
    }
    memset(m, 0, sizeof(*m));
    crypto_shorthash_keygen(m->hash_key);
    for (int i = 0; i < CH__KV_MEM_SHARDS; i++) {
        ch__kv_shard_t *s = &m->shards[i];
        s->buckets = calloc(CH__KV_MEM_INITIAL_BUCKETS, sizeof(*s->buckets));
        int rc = s->buckets ? pthread_mutex_init(&s->mu, NULL) : ENOMEM;
        if (rc != 0) {
            free(s->buckets);
            s->buckets = NULL;
            ch__kv_mem_close(m); /* stops at the first shard without buckets */
            snprintf(errbuf, errlen, "kv memory: cannot initialise shard: %s", strerror(rc));
            return CH_EINTERNAL;
        }
        s->nbuckets = CH__KV_MEM_INITIAL_BUCKETS;
    }
    *impl_out = m;
    return CH_OK;
}

static void ch__kv_mem_close(void *impl)
{
    ch__kv_mem_t *m = impl;
    if (!m)
        return;
    for (int i = 0; i < CH__KV_MEM_SHARDS; i++) {
        ch__kv_shard_t *s = &m->shards[i];
        if (!s->buckets)
            break;
        for (size_t b = 0; b < s->nbuckets; b++) {
            ch__kv_ent_t *e = s->buckets[b];
            while (e) {
                ch__kv_ent_t *next = e->next;
                ch__kv_mem_free_ent(e);
                e = next;
            }
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    sodium_memzero(m->hash_key, sizeof(m->hash_key));
    free(m);
}

static ch_err_t ch__kv_mem_get(void *impl, const char *key, char **val_out, size_t *len_out)
{
    ch__kv_mem_t *m = impl;
    size_t klen = strlen(key);
    uint64_t h = ch__kv_mem_hash(m, key, klen);
    ch__kv_shard_t *s = ch__kv_mem_shard(m, h);
    ch_err_t err = CH_OK;

    pthread_mutex_lock(&s->mu);
    ch__kv_ent_t *e = ch__kv_mem_find(s, h, key, klen, ch__kv_mem_now_ms());
    if (e) {
        char *copy = malloc(e->vlen + 1);
        if (copy) {
            memcpy(copy, e->val, e->vlen + 1);
            *val_out = copy;
            if (len_out)
                *len_out = e->vlen;
        } else {
            err = CH_EINTERNAL;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return err;
}

static ch_err_t ch__kv_mem_set(void *impl, const char *key, const char *val, size_t len, int64_t ttl_ms)
{
    ch__kv_mem_t *m = impl;
    size_t klen = strlen(key);
    uint64_t h = ch__kv_mem_hash(m, key, klen);
    ch__kv_shard_t *s = ch__kv_mem_shard(m, h);

    /* Copy outside the lock: values may be large. */
    char *copy = malloc(len + 1);
    if (!copy)
        return CH_EINTERNAL;
    memcpy(copy, val, len);
    copy[len] = '\0';

    ch_err_t err = CH_OK;
    char *old = NULL;
    pthread_mutex_lock(&s->mu);
    int64_t now = ch__kv_mem_now_ms();
    int64_t expires_at = ttl_ms > 0 ? now + ttl_ms : 0;
    ch__kv_ent_t *e = ch__kv_mem_find(s, h, key, klen, now);
    if (e) {
        old = e->val;
        e->val = copy;
        e->vlen = len;
        e->expires_at = expires_at; /* as Redis SET: a new value brings its own ttl (or none) */
    } else {
        err = ch__kv_mem_insert(s, h, key, klen, copy, len, expires_at);
        if (err != CH_OK)
            old = copy;
    }
    ch__kv_mem_sweep(s, now);
    pthread_mutex_unlock(&s->mu);
    free(old);
    return err;
}

static ch_err_t ch__kv_mem_del(void *impl, const char *key)
{
    ch__kv_mem_t *m = impl;
    size_t klen = strlen(key);
    uint64_t h = ch__kv_mem_hash(m, key, klen);
    ch__kv_shard_t *s = ch__kv_mem_shard(m, h);
    ch__kv_ent_t *victim = NULL;

    pthread_mutex_lock(&s->mu);
    int64_t now = ch__kv_mem_now_ms();
    ch__kv_ent_t **link = &s->buckets[ch__kv_mem_bucket(s, h)];
    for (; *link; link = &(*link)->next) {
        ch__kv_ent_t *e = *link;
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) {
            *link = e->next;
            s->count--;
            victim = e;
            break;
        }
    }
    ch__kv_mem_sweep(s, now);
    pthread_mutex_unlock(&s->mu);
    if (victim)
        ch__kv_mem_free_ent(victim);
    return CH_OK;
}

/* Fixed window: a missing or expired key starts at 1 with expiry now + ttl_ms; otherwise the
 * value goes up by one and the expiry stays. A live key without expiry (written by set with
 * no ttl) gets one, as Redis PEXPIRE ... NX does, so both drivers agree. ttl_ms 0 means a
 * counter that never expires (ttl_left -1). */
static ch_err_t ch__kv_mem_incr(void *impl, const char *key, int64_t ttl_ms, int64_t *value_out,
                                int64_t *ttl_left_ms_out)
{
    ch__kv_mem_t *m = impl;
    size_t klen = strlen(key);
    uint64_t h = ch__kv_mem_hash(m, key, klen);
    ch__kv_shard_t *s = ch__kv_mem_shard(m, h);
    char text[24];
    ch_err_t err = CH_OK;
    int64_t value = 0, expires_at = 0;

    pthread_mutex_lock(&s->mu);
    int64_t now = ch__kv_mem_now_ms();
    ch__kv_ent_t *e = ch__kv_mem_find(s, h, key, klen, now);
    if (!e) {
        char *val = malloc(2);
        if (!val) {
            err = CH_EINTERNAL;
        } else {
            memcpy(val, "1", 2);
            value = 1;
            expires_at = ttl_ms > 0 ? now + ttl_ms : 0;
            err = ch__kv_mem_insert(s, h, key, klen, val, 1, expires_at);
            if (err != CH_OK)
                free(val);
        }
    } else if (ch__kv_mem_parse_i64(e->val, e->vlen, &value) != 0 || value == INT64_MAX) {
        err = CH_EINVAL; /* not an integer, or would overflow: left as it was */
    } else {
        value++;
        int n = snprintf(text, sizeof(text), "%lld", (long long)value);
        char *val = (size_t)n == e->vlen ? e->val : realloc(e->val, (size_t)n + 1);
        if (!val) {
            err = CH_EINTERNAL;
        } else {
            memcpy(val, text, (size_t)n + 1);
            e->val = val;
            e->vlen = (size_t)n;
            if (e->expires_at == 0 && ttl_ms > 0)
                e->expires_at = now + ttl_ms;
            expires_at = e->expires_at;
        }
    }
    if (err == CH_OK)
        ch__kv_mem_sweep(s, now);
    pthread_mutex_unlock(&s->mu);

    if (err != CH_OK)
        return err;
    *value_out = value;
    if (ttl_left_ms_out)
        *ttl_left_ms_out = expires_at ? expires_at - now : -1;
    return CH_OK;
}

static ch_err_t ch__kv_mem_ping(void *impl)
{
    return CH_OK;
}

const ch_kv_driver_t ch_kv_mem_driver = {
    .name = "memory",
    .open = ch__kv_mem_open,
    .close = ch__kv_mem_close,
    .get = ch__kv_mem_get,
    .set = ch__kv_mem_set,
    .del = ch__kv_mem_del,
    .incr = ch__kv_mem_incr,
    .ping = ch__kv_mem_ping,
};

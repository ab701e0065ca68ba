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
 * "42", and INCR on a non-integer value answers CH_EINVAL.
 *
 * Memory is bounded like Redis's maxmemory: every entry is accounted (its struct, key, value
 * and CH__KV_MEM_ALLOC_OVERHEAD per allocation) to its shard, and a shard may hold
 * max_memory / CH__KV_MEM_SHARDS bytes (keyed hashing spreads keys evenly, and a per-shard
 * budget needs no global lock). A write that takes its shard past the budget evicts, under
 * the shard lock: expired entries first (the usual sweep, then any expired one sampled),
 * then an approximation of LRU as Redis does it: CH__KV_MEM_EVICT_SAMPLES entries picked
 * from random buckets, the one used longest ago goes. Keys under a prefix of
 * ch__kv_mem_pinned are never evicted (see kv.h); when nothing else can go, a new key is
 * refused with CH_EUNAVAILABLE, a pinned one is kept over the budget. */
#include "store/kv.h"
#include "store/kv_mem.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"

#define CH__KV_MEM_SHARDS 64                /* power of two */
#define CH__KV_MEM_INITIAL_BUCKETS 16       /* per shard, power of two */
#define CH__KV_MEM_SWEEP_BUCKETS 4          /* buckets visited per write */
#define CH__KV_MEM_SWEEP_MAX_ENTRIES 16     /* hard bound on entries examined per write */
#define CH__KV_MEM_ALLOC_OVERHEAD 16        /* malloc's header per allocation (glibc, 64-bit) */
#define CH__KV_MEM_EVICT_SAMPLES 5          /* candidates per eviction, as Redis's default */
#define CH__KV_MEM_EVICT_PROBES 64          /* buckets looked at per sample before giving up */
#define CH__KV_MEM_EVICT_MAX 64             /* evictions per write at most (bounded work) */

/* Never evicted (kv.h): revocation marks (an evicted one could, in a race with a request
 * that had just read the session as active, let a revoked session through for up to a
 * minute) and the failed-login counters and locks (evicting them would reset a lockout).
 * Both are small and expire on their own (access-token lifetime, login window). */
static const char *const ch__kv_mem_pinned[] = {"sess:rev:", "login:"};

typedef struct ch__kv_ent {
    struct ch__kv_ent *next;
    uint64_t hash;
    int64_t expires_at; /* CLOCK_MONOTONIC ms; 0 = never */
    uint64_t used;      /* shard's use clock at the last read or write (LRU) */
    int pinned;         /* never evicted */
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
    size_t bytes;       /* accounted: entries and the bucket array */
    size_t limit;       /* bytes; 0 = none */
    uint64_t clock;     /* use clock, one tick per access */
    uint64_t rng;       /* xorshift state for sampling */
    uint64_t evictions;
} ch__kv_shard_t;

typedef struct {
    ch__kv_shard_t shards[CH__KV_MEM_SHARDS];
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
    size_t max_memory;
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

/* What an entry costs: its struct and key, its value, each with malloc's header. */
static size_t ch__kv_mem_cost(size_t klen, size_t vlen)
{
    return sizeof(ch__kv_ent_t) + klen + 1 + vlen + 1 + 2 * CH__KV_MEM_ALLOC_OVERHEAD;
}

/* Unlinks nothing: frees e and takes it out of the shard's accounting (lock held). */
static void ch__kv_mem_drop(ch__kv_shard_t *s, ch__kv_ent_t *e)
{
    s->count--;
    s->bytes -= ch__kv_mem_cost(e->klen, e->vlen);
    ch__kv_mem_free_ent(e);
}

static int ch__kv_mem_is_pinned(const char *key, size_t klen)
{
    for (size_t i = 0; i < sizeof(ch__kv_mem_pinned) / sizeof(ch__kv_mem_pinned[0]); i++) {
        size_t n = strlen(ch__kv_mem_pinned[i]);
        if (klen >= n && memcmp(key, ch__kv_mem_pinned[i], n) == 0)
            return 1;
    }
    return 0;
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
            ch__kv_mem_drop(s, e);
            return NULL;
        }
        e->used = ++s->clock;
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
    ch__kv_ent_t **b = ch_calloc(nb, sizeof(*b));
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
    s->bytes += (nb - s->nbuckets) * sizeof(*b);
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
                ch__kv_mem_drop(s, e);
            } else {
                link = &e->next;
            }
        }
        /* A bucket cut short by the entry bound is finished on a later write. */
        if (!*link)
            s->sweep_cursor = (s->sweep_cursor + 1) & (s->nbuckets - 1);
    }
}

/* Adds a new entry taking ownership of val (lock held); *out (may be NULL) gets it. Answers
 * CH_EINTERNAL on OOM, leaving val with the caller. */
static ch_err_t ch__kv_mem_insert(ch__kv_shard_t *s, uint64_t hash, const char *key, size_t klen, char *val,
                                  size_t vlen, int64_t expires_at, ch__kv_ent_t **out)
{
    ch__kv_ent_t *e = ch_malloc(sizeof(*e) + klen + 1);
    e->hash = hash;
    e->expires_at = expires_at;
    e->used = ++s->clock;
    e->pinned = ch__kv_mem_is_pinned(key, klen);
    e->val = val;
    e->vlen = vlen;
    e->klen = klen;
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    size_t b = ch__kv_mem_bucket(s, hash);
    e->next = s->buckets[b];
    s->buckets[b] = e;
    s->count++;
    s->bytes += ch__kv_mem_cost(klen, vlen);
    ch__kv_mem_maybe_grow(s);
    if (out)
        *out = e;
    return CH_OK;
}

/* ---- eviction ----------------------------------------------------------------------- */

static uint64_t ch__kv_mem_rand(ch__kv_shard_t *s)
{
    uint64_t x = s->rng; /* xorshift64: sampling needs spread, not secrecy */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s->rng = x;
    return x;
}

/* Unlinks e from its chain (lock held). */
static void ch__kv_mem_unlink(ch__kv_shard_t *s, ch__kv_ent_t *e)
{
    ch__kv_ent_t **link = &s->buckets[ch__kv_mem_bucket(s, e->hash)];
    while (*link != e)
        link = &(*link)->next;
    *link = e->next;
}

/* Picks the entry to evict among a few sampled (lock held): an expired one if any (its
 * *expired set), else the one used longest ago; never a pinned one nor `keep`. NULL when
 * the samples found nothing evictable. */
static ch__kv_ent_t *ch__kv_mem_victim(ch__kv_shard_t *s, const ch__kv_ent_t *keep, int64_t now, int *expired)
{
    ch__kv_ent_t *best = NULL;
    *expired = 0;
    for (int sample = 0; sample < CH__KV_MEM_EVICT_SAMPLES; sample++) {
        size_t b = (size_t)ch__kv_mem_rand(s) & (s->nbuckets - 1);
        ch__kv_ent_t *pick = NULL;
        for (int probe = 0; probe < CH__KV_MEM_EVICT_PROBES && !pick; probe++, b = (b + 1) & (s->nbuckets - 1)) {
            size_t len = 0, skip;
            for (ch__kv_ent_t *e = s->buckets[b]; e; e = e->next)
                len++;
            if (len == 0)
                continue;
            skip = (size_t)ch__kv_mem_rand(s) % len;
            for (ch__kv_ent_t *e = s->buckets[b]; e && !pick; e = e->next, skip = skip ? skip - 1 : 0)
                if (skip == 0 && e != keep && !e->pinned)
                    pick = e;
        }
        if (!pick)
            continue;
        if (ch__kv_mem_expired(pick, now)) {
            *expired = 1;
            return pick;
        }
        if (!best || pick->used < best->used)
            best = pick;
    }
    return best;
}

/* Brings the shard back under its budget after a write of `keep` (lock held). Answers -1
 * when it cannot (everything left is pinned, or the samples kept missing). */
static int ch__kv_mem_evict(ch__kv_shard_t *s, const ch__kv_ent_t *keep, int64_t now)
{
    if (!s->limit || s->bytes <= s->limit)
        return 0;
    ch__kv_mem_sweep(s, now);
    for (int n = 0; s->bytes > s->limit && n < CH__KV_MEM_EVICT_MAX; n++) {
        int expired;
        ch__kv_ent_t *victim = ch__kv_mem_victim(s, keep, now, &expired);
        if (!victim)
            break;
        ch__kv_mem_unlink(s, victim);
        ch__kv_mem_drop(s, victim);
        if (!expired)
            s->evictions++;
    }
    return s->bytes <= s->limit ? 0 : -1;
}

/* After a write of e (lock held): evicts as needed; a write that still does not fit is
 * undone when e is not pinned (set: the key is gone, as if evicted first; incr: likewise)
 * and answers CH_EUNAVAILABLE, as Redis answers OOM. */
static ch_err_t ch__kv_mem_fit(ch__kv_shard_t *s, ch__kv_ent_t *e, int64_t now)
{
    if (ch__kv_mem_evict(s, e, now) == 0 || e->pinned)
        return CH_OK;
    ch__kv_mem_unlink(s, e);
    ch__kv_mem_drop(s, e);
    ch__kv_mem_evict(s, NULL, now);
    return CH_EUNAVAILABLE;
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

void ch__kv_mem_set_max_memory(void *impl, size_t bytes)
{
    ch__kv_mem_t *m = impl;
    m->max_memory = bytes;
    for (int i = 0; i < CH__KV_MEM_SHARDS; i++) {
        pthread_mutex_lock(&m->shards[i].mu);
        m->shards[i].limit = bytes / CH__KV_MEM_SHARDS;
        pthread_mutex_unlock(&m->shards[i].mu);
    }
}

void ch__kv_mem_stats(void *impl, ch_kv_stats_t *out)
{
    ch__kv_mem_t *m = impl;
    memset(out, 0, sizeof(*out));
    out->max_memory = m->max_memory;
    for (int i = 0; i < CH__KV_MEM_SHARDS; i++) {
        ch__kv_shard_t *s = &m->shards[i];
        pthread_mutex_lock(&s->mu);
        out->memory += s->bytes;
        out->keys += s->count;
        out->evictions += s->evictions;
        pthread_mutex_unlock(&s->mu);
    }
}

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
        s->buckets = ch_calloc(CH__KV_MEM_INITIAL_BUCKETS, sizeof(*s->buckets));
        int rc = s->buckets ? pthread_mutex_init(&s->mu, NULL) : ENOMEM;
        if (rc != 0) {
            free(s->buckets);
            s->buckets = NULL;
            ch__kv_mem_close(m); /* stops at the first shard without buckets */
            snprintf(errbuf, errlen, "kv memory: cannot initialise shard: %s", strerror(rc));
            return CH_EINTERNAL;
        }
        s->nbuckets = CH__KV_MEM_INITIAL_BUCKETS;
        s->bytes = CH__KV_MEM_INITIAL_BUCKETS * sizeof(*s->buckets);
        randombytes_buf(&s->rng, sizeof(s->rng));
        s->rng |= 1; /* xorshift must not start at 0 */
    }
    ch__kv_mem_set_max_memory(m, CH_KV_DEFAULT_MAX_MEMORY);
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
        char *copy = ch_malloc(e->vlen + 1);
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

/* Writes key in its shard s (lock held), taking ownership of copy; *old_out gets what the
 * caller frees after unlocking (the replaced value, or copy itself on failure). */
static ch_err_t ch__kv_mem_set_locked(ch__kv_shard_t *s, uint64_t h, const char *key, size_t klen, char *copy,
                                      size_t len, int64_t ttl_ms, int64_t now, char **old_out)
{
    ch_err_t err = CH_OK;
    int64_t expires_at = ttl_ms > 0 ? now + ttl_ms : 0;
    ch__kv_ent_t *e = ch__kv_mem_find(s, h, key, klen, now);
    *old_out = NULL;
    if (e) {
        *old_out = e->val;
        s->bytes += ch__kv_mem_cost(klen, len) - ch__kv_mem_cost(klen, e->vlen);
        e->val = copy;
        e->vlen = len;
        e->expires_at = expires_at; /* as Redis SET: a new value brings its own ttl (or none) */
    } else {
        err = ch__kv_mem_insert(s, h, key, klen, copy, len, expires_at, &e);
        if (err != CH_OK)
            *old_out = copy;
    }
    ch__kv_mem_sweep(s, now);
    if (err == CH_OK)
        err = ch__kv_mem_fit(s, e, now);
    return err;
}

/* Unlinks key from its shard s (lock held); answers the entry the caller frees after
 * unlocking, NULL when there was none. */
static ch__kv_ent_t *ch__kv_mem_del_locked(ch__kv_shard_t *s, uint64_t h, const char *key, size_t klen, int64_t now)
{
    ch__kv_ent_t *victim = NULL;
    ch__kv_ent_t **link = &s->buckets[ch__kv_mem_bucket(s, h)];
    for (; *link; link = &(*link)->next) {
        ch__kv_ent_t *e = *link;
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) {
            *link = e->next;
            s->count--;
            s->bytes -= ch__kv_mem_cost(e->klen, e->vlen);
            victim = e;
            break;
        }
    }
    ch__kv_mem_sweep(s, now);
    return victim;
}

static char *ch__kv_mem_copy(const char *val, size_t len)
{
    char *copy = ch_malloc(len + 1);
    memcpy(copy, val, len);
    copy[len] = '\0';
    return copy;
}

static ch_err_t ch__kv_mem_set(void *impl, const char *key, const char *val, size_t len, int64_t ttl_ms)
{
    ch__kv_mem_t *m = impl;
    size_t klen = strlen(key);
    uint64_t h = ch__kv_mem_hash(m, key, klen);
    ch__kv_shard_t *s = ch__kv_mem_shard(m, h);
    char *copy = ch__kv_mem_copy(val, len), *old = NULL; /* outside the lock: values may be large */

    pthread_mutex_lock(&s->mu);
    ch_err_t err = ch__kv_mem_set_locked(s, h, key, klen, copy, len, ttl_ms, ch__kv_mem_now_ms(), &old);
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

    pthread_mutex_lock(&s->mu);
    ch__kv_ent_t *victim = ch__kv_mem_del_locked(s, h, key, klen, ch__kv_mem_now_ms());
    pthread_mutex_unlock(&s->mu);
    if (victim)
        ch__kv_mem_free_ent(victim);
    return CH_OK;
}

/* Both writes under both shards' locks (taken in address order, one when the keys share a
 * shard), so no reader sees one without the other. The delete goes first: a refused set
 * (too big for the bound) then still removes del_key, the safe half for a revocation. */
static ch_err_t ch__kv_mem_set_del(void *impl, const char *set_key, const char *val, size_t len, int64_t ttl_ms,
                                   const char *del_key)
{
    ch__kv_mem_t *m = impl;
    size_t sklen = strlen(set_key), dklen = strlen(del_key);
    uint64_t sh = ch__kv_mem_hash(m, set_key, sklen), dh = ch__kv_mem_hash(m, del_key, dklen);
    ch__kv_shard_t *ss = ch__kv_mem_shard(m, sh), *ds = ch__kv_mem_shard(m, dh);
    ch__kv_shard_t *first = ss < ds ? ss : ds, *second = ss < ds ? ds : ss;
    char *copy = ch__kv_mem_copy(val, len), *old = NULL;

    pthread_mutex_lock(&first->mu);
    if (second != first)
        pthread_mutex_lock(&second->mu);
    int64_t now = ch__kv_mem_now_ms();
    ch__kv_ent_t *victim = ch__kv_mem_del_locked(ds, dh, del_key, dklen, now);
    ch_err_t err = ch__kv_mem_set_locked(ss, sh, set_key, sklen, copy, len, ttl_ms, now, &old);
    if (second != first)
        pthread_mutex_unlock(&second->mu);
    pthread_mutex_unlock(&first->mu);
    free(old);
    if (victim)
        ch__kv_mem_free_ent(victim);
    return err;
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
        char *val = ch_malloc(2);
        if (!val) {
            err = CH_EINTERNAL;
        } else {
            memcpy(val, "1", 2);
            value = 1;
            expires_at = ttl_ms > 0 ? now + ttl_ms : 0;
            err = ch__kv_mem_insert(s, h, key, klen, val, 1, expires_at, &e);
            if (err != CH_OK)
                free(val);
        }
    } else if (ch__kv_mem_parse_i64(e->val, e->vlen, &value) != 0 || value == INT64_MAX) {
        err = CH_EINVAL; /* not an integer, or would overflow: left as it was */
    } else {
        value++;
        int n = snprintf(text, sizeof(text), "%lld", (long long)value);
        char *val = (size_t)n == e->vlen ? e->val : ch_realloc(e->val, (size_t)n + 1);
        if (!val) {
            err = CH_EINTERNAL;
        } else {
            memcpy(val, text, (size_t)n + 1);
            s->bytes += ch__kv_mem_cost(klen, (size_t)n) - ch__kv_mem_cost(klen, e->vlen);
            e->val = val;
            e->vlen = (size_t)n;
            if (e->expires_at == 0 && ttl_ms > 0)
                e->expires_at = now + ttl_ms;
            expires_at = e->expires_at;
        }
    }
    if (err == CH_OK) {
        ch__kv_mem_sweep(s, now);
        err = ch__kv_mem_fit(s, e, now);
    }
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

/* The in-process store is this process's own: it never changes under it. */
static int64_t ch__kv_mem_server_changed_at(void *impl)
{
    (void)impl;
    return 0;
}

const ch_kv_driver_t ch_kv_mem_driver = {
    .name = "memory",
    .open = ch__kv_mem_open,
    .close = ch__kv_mem_close,
    .get = ch__kv_mem_get,
    .set = ch__kv_mem_set,
    .del = ch__kv_mem_del,
    .set_del = ch__kv_mem_set_del,
    .incr = ch__kv_mem_incr,
    .ping = ch__kv_mem_ping,
    .server_changed_at = ch__kv_mem_server_changed_at,
};

/* The hydration cache's in-process driver (store/hcache.h), for embedded mode.
 *
 * Up to 256 shards chosen by the key's hash, one mutex each (no global lock); each a chained
 * hash table whose bucket array doubles when it holds more entries than buckets. Memory: each
 * shard may hold max_bytes / shards, counting the key, the value, the entry header, the
 * allocator's overhead and the bucket array; a store that goes over evicts the least recently
 * used of CH__HCM_SAMPLES entries sampled from a random bucket onward (expired entries first),
 * until it is under again (as Redis's allkeys-lru). Shards are fewer for a small cache, so
 * that each can hold a few values of CH_HCACHE_VALUE_MAX.
 *
 * Leases are a version per shard, starting at 1 and bumped by every forget of a key of the
 * shard whether or not it is present: a miss hands out the version it saw, and a put stores
 * only if the version is still that (the scheme of the former embedded profile cache). A forget
 * thus also voids the leases of unrelated keys of its shard, which only costs them one put.
 * A get copies the value out under the lock (get_visit instead lets the caller decode it in
 * place under the lock: no copy); memory is allocated and freed outside it where that is
 * possible. */
#include "store/hcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "store/hcache_driver.h"

#define CH__HCM_SHARDS_MAX 256
/* A shard holds at least this many bytes (four of the largest values), or the whole bound. */
#define CH__HCM_SHARD_MIN_BYTES ((size_t)4 * CH_HCACHE_VALUE_MAX)
#define CH__HCM_MIN_BUCKETS 16
#define CH__HCM_SAMPLES 5
/* What malloc adds to every block (glibc: 8-16 bytes); counted against the bound. */
#define CH__HCM_MALLOC_OVERHEAD 16

typedef struct ch__hce {
    struct ch__hce *next; /* bucket chain; after removal, the list freed outside the lock */
    uint64_t hash;
    uint64_t used;   /* the shard's clock at the last get or put */
    int64_t born_ms; /* monotonic ms of the put */
    uint32_t klen, vlen;
    char data[];     /* key, NUL, value, NUL */
} ch__hce_t;

typedef struct {
    pthread_mutex_t mu;
    uint64_t version; /* leases; never 0 */
    uint64_t clock;
    uint64_t rng;
    ch__hce_t **buckets;
    size_t nbuckets, count;
    atomic_size_t bytes; /* written under mu; read without it by ch_hcache_bytes */
    char pad[64];        /* keeps two shards' locks off one cache line */
} ch__hcm_shard_t;

typedef struct {
    size_t shard_max;
    size_t shard_max_entries; /* 0 = no count bound */
    int64_t ttl_ms;
    int uncounted; /* an L1's: its fills are not chorus_hcache_puts_total (hcache_l1.c counts them) */
    unsigned nshards; /* a power of two */
    ch__hcm_shard_t shards[CH__HCM_SHARDS_MAX];
} ch__hcm_t;

/* ---- hashing, entries ------------------------------------------------------------------ */

static uint64_t ch__hcm_hash(const char *key, size_t len)
{
    /* eight bytes per step (keys are 5-50 bytes; FNV-1a's byte per step was most of a hit's
     * cost), then murmur3's finalizer to spread the high bits (the shard) and the low (the
     * bucket). Not keyed, as FNV-1a before it was not: the keys are ids and validated
     * handles that chorus formats, and the bucket array doubles with the entries. */
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    for (unsigned sh = 0; i < len; i++, sh += 8)
        w |= (uint64_t)(unsigned char)key[i] << sh;
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

static size_t ch__hcm_cost(const ch__hce_t *e)
{
    return sizeof(*e) + e->klen + e->vlen + 2 + CH__HCM_MALLOC_OVERHEAD;
}

static ch__hcm_shard_t *ch__hcm_shard(ch__hcm_t *m, uint64_t hash)
{
    return &m->shards[(hash >> 56) & (m->nshards - 1)];
}

/* The link that points at key's entry in its bucket (*link is NULL when absent). */
static ch__hce_t **ch__hcm_find(ch__hcm_shard_t *s, uint64_t hash, const char *key, size_t klen)
{
    ch__hce_t **link = &s->buckets[hash & (s->nbuckets - 1)];
    for (; *link; link = &(*link)->next) {
        ch__hce_t *e = *link;
        if (e->hash == hash && e->klen == klen && memcmp(e->data, key, klen) == 0)
            break;
    }
    return link;
}

/* Unlinks *link's entry and puts it on *freed (freed by the caller outside the lock). */
static void ch__hcm_unlink(ch__hcm_shard_t *s, ch__hce_t **link, ch__hce_t **freed)
{
    ch__hce_t *e = *link;
    *link = e->next;
    e->next = *freed;
    *freed = e;
    s->count--;
    atomic_store_explicit(&s->bytes, atomic_load_explicit(&s->bytes, memory_order_relaxed) - ch__hcm_cost(e),
                          memory_order_relaxed);
}

static void ch__hcm_free_list(ch__hce_t *e)
{
    while (e) {
        ch__hce_t *next = e->next;
        free(e);
        e = next;
    }
}

static int ch__hcm_expired(const ch__hcm_t *m, const ch__hce_t *e, int64_t now)
{
    return m->ttl_ms > 0 && now - e->born_ms >= m->ttl_ms;
}

/* Doubles the bucket array (the chains are split by one more bit of the hash). */
static void ch__hcm_grow(ch__hcm_shard_t *s)
{
    size_t n = s->nbuckets * 2;
    ch__hce_t **b = ch_calloc(n, sizeof(*b));
    for (size_t i = 0; i < s->nbuckets; i++) {
        for (ch__hce_t *e = s->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(s->buckets);
    s->buckets = b;
    atomic_store_explicit(&s->bytes,
                          atomic_load_explicit(&s->bytes, memory_order_relaxed) + (n - s->nbuckets) * sizeof(*b),
                          memory_order_relaxed);
    s->nbuckets = n;
}

/* The link of the entry to evict: an expired one met while sampling, else the least recently
 * used of CH__HCM_SAMPLES entries from a random bucket onward. NULL when the shard is empty. */
static ch__hce_t **ch__hcm_victim(ch__hcm_t *m, ch__hcm_shard_t *s, int64_t now)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    size_t start = (size_t)s->rng, seen = 0;
    ch__hce_t **best = NULL;
    for (size_t i = 0; i < s->nbuckets && seen < CH__HCM_SAMPLES; i++) {
        for (ch__hce_t **link = &s->buckets[(start + i) & (s->nbuckets - 1)]; *link; link = &(*link)->next) {
            if (ch__hcm_expired(m, *link, now))
                return link;
            if (!best || (*link)->used < (*best)->used)
                best = link;
            seen++;
        }
    }
    return best;
}

/* The live entry at link (ch__hcm_find's answer), or NULL: an expired one is unlinked onto
 * *freed. The answer is taken before the unlink, never re-read from link: after it, link
 * holds the next entry of the bucket's chain, another key's (returning that was a wrong-key
 * hit: another item's record, another pair's relation). Called with the shard's lock held. */
static ch__hce_t *ch__hcm_live(const ch__hcm_t *m, ch__hcm_shard_t *s, ch__hce_t **link, int64_t now,
                               ch__hce_t **freed)
{
    ch__hce_t *e = *link;
    if (e && ch__hcm_expired(m, e, now)) {
        ch__hcm_unlink(s, link, freed);
        return NULL;
    }
    return e;
}

/* ---- driver ---------------------------------------------------------------------------- */

static ch_err_t ch__hcm_get_many(void *impl, const char *const *keys, size_t n, ch_hcache_got_t *got)
{
    ch__hcm_t *m = impl;
    int64_t now = m->ttl_ms > 0 ? ch_mono_ms() : 0;
    ch__hce_t *freed = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t klen = strlen(keys[i]);
        uint64_t h = ch__hcm_hash(keys[i], klen);
        ch__hcm_shard_t *s = ch__hcm_shard(m, h);
        pthread_mutex_lock(&s->mu);
        ch__hce_t *e = ch__hcm_live(m, s, ch__hcm_find(s, h, keys[i], klen), now, &freed);
        if (e) {
            e->used = ++s->clock;
            got[i].val = ch_malloc(e->vlen + 1);
            memcpy(got[i].val, e->data + e->klen + 1, e->vlen + 1);
            got[i].len = e->vlen;
        } else {
            got[i].lease = s->version;
        }
        pthread_mutex_unlock(&s->mu);
    }
    ch__hcm_free_list(freed);
    return CH_OK;
}

/* get_many without the copies: fn reads each hit's bytes in place, under the shard's lock
 * (the entry cannot be freed or changed while it is held). */
static size_t ch__hcm_get_visit(void *impl, const char *const *keys, const size_t *klens, size_t n,
                                ch_hcache_visit_fn fn, void *arg, uint64_t *leases)
{
    ch__hcm_t *m = impl;
    int64_t now = m->ttl_ms > 0 ? ch_mono_ms() : 0;
    ch__hce_t *freed = NULL;
    size_t hits = 0;
    for (size_t i = 0; i < n; i++) {
        size_t klen = klens[i];
        uint64_t h = ch__hcm_hash(keys[i], klen);
        ch__hcm_shard_t *s = ch__hcm_shard(m, h);
        pthread_mutex_lock(&s->mu);
        ch__hce_t *e = ch__hcm_live(m, s, ch__hcm_find(s, h, keys[i], klen), now, &freed);
        if (e) {
            e->used = ++s->clock;
            (void)fn(arg, i, e->data + e->klen + 1, e->vlen); /* refused: a miss without lease */
            hits++;
        } else {
            leases[i] = s->version;
        }
        pthread_mutex_unlock(&s->mu);
    }
    ch__hcm_free_list(freed);
    return hits;
}

static void ch__hcm_put_many(void *impl, const char *const *keys, const char *const *vals, const size_t *lens,
                             const uint64_t *leases, size_t n)
{
    ch__hcm_t *m = impl;
    int64_t now = ch_mono_ms();
    uint64_t stored = 0, lost = 0, too_big = 0;
    for (size_t i = 0; i < n; i++) {
        size_t klen = strlen(keys[i]);
        ch__hce_t *e = ch_malloc(sizeof(*e) + klen + lens[i] + 2);
        e->next = NULL;
        e->hash = ch__hcm_hash(keys[i], klen);
        e->born_ms = now;
        e->klen = (uint32_t)klen;
        e->vlen = (uint32_t)lens[i];
        memcpy(e->data, keys[i], klen + 1);
        memcpy(e->data + klen + 1, vals[i], lens[i]);
        e->data[klen + 1 + lens[i]] = '\0';
        size_t cost = ch__hcm_cost(e);
        if (cost > m->shard_max) { /* a cache smaller than CH__HCM_SHARD_MIN_BYTES */
            free(e);
            too_big++;
            continue;
        }

        ch__hcm_shard_t *s = ch__hcm_shard(m, e->hash);
        ch__hce_t *freed = NULL;
        pthread_mutex_lock(&s->mu);
        if (s->version != leases[i]) {
            pthread_mutex_unlock(&s->mu);
            free(e);
            lost++;
            continue;
        }
        ch__hce_t **link = ch__hcm_find(s, e->hash, keys[i], klen);
        if (*link)
            ch__hcm_unlink(s, link, &freed);
        ch__hce_t **head = &s->buckets[e->hash & (s->nbuckets - 1)];
        e->next = *head;
        *head = e;
        e->used = ++s->clock;
        s->count++;
        atomic_store_explicit(&s->bytes, atomic_load_explicit(&s->bytes, memory_order_relaxed) + cost,
                              memory_order_relaxed);
        if (s->count > s->nbuckets)
            ch__hcm_grow(s);
        while (atomic_load_explicit(&s->bytes, memory_order_relaxed) > m->shard_max ||
               (m->shard_max_entries && s->count > m->shard_max_entries)) {
            ch__hce_t **victim = ch__hcm_victim(m, s, now);
            /* e, the newest, is chosen only when it is alone: its cost fits the bound, so the
             * bucket array is then what is over it, which the bound's minimum rules out */
            if (!victim || *victim == e)
                break;
            ch__hcm_unlink(s, victim, &freed);
        }
        pthread_mutex_unlock(&s->mu);
        ch__hcm_free_list(freed);
        stored++;
    }
    if (m->uncounted)
        return;
    ch__hcache_count_puts(CH__HCACHE_PUT_STORED, stored);
    ch__hcache_count_puts(CH__HCACHE_PUT_LOST_LEASE, lost);
    ch__hcache_count_puts(CH__HCACHE_PUT_TOO_BIG, too_big);
}

static void ch__hcm_forget_many(void *impl, const char *const *keys, size_t n)
{
    ch__hcm_t *m = impl;
    ch__hce_t *freed = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t klen = strlen(keys[i]);
        uint64_t h = ch__hcm_hash(keys[i], klen);
        ch__hcm_shard_t *s = ch__hcm_shard(m, h);
        pthread_mutex_lock(&s->mu);
        s->version++;
        ch__hce_t **link = ch__hcm_find(s, h, keys[i], klen);
        if (*link)
            ch__hcm_unlink(s, link, &freed);
        pthread_mutex_unlock(&s->mu);
    }
    ch__hcm_free_list(freed);
}

/* Drops every entry and bumps every shard's version (voids the leases handed out). */
static void ch__hcm_flush(void *impl)
{
    ch__hcm_t *m = impl;
    for (unsigned i = 0; i < m->nshards; i++) {
        ch__hcm_shard_t *s = &m->shards[i];
        ch__hce_t *freed = NULL;
        pthread_mutex_lock(&s->mu);
        s->version++;
        for (size_t b = 0; b < s->nbuckets; b++)
            while (s->buckets[b])
                ch__hcm_unlink(s, &s->buckets[b], &freed);
        pthread_mutex_unlock(&s->mu);
        ch__hcm_free_list(freed);
    }
}

static size_t ch__hcm_entries(const void *impl)
{
    ch__hcm_t *m = (ch__hcm_t *)impl;
    size_t total = 0;
    for (unsigned i = 0; i < m->nshards; i++) {
        pthread_mutex_lock(&m->shards[i].mu);
        total += m->shards[i].count;
        pthread_mutex_unlock(&m->shards[i].mu);
    }
    return total;
}

static size_t ch__hcm_bytes(const void *impl)
{
    const ch__hcm_t *m = impl;
    size_t total = 0;
    for (unsigned i = 0; i < m->nshards; i++)
        total += atomic_load_explicit(&m->shards[i].bytes, memory_order_relaxed);
    return total;
}

static void ch__hcm_destroy(void *impl)
{
    ch__hcm_t *m = impl;
    for (unsigned i = 0; i < m->nshards; i++) {
        ch__hcm_shard_t *s = &m->shards[i];
        for (size_t b = 0; b < s->nbuckets; b++)
            ch__hcm_free_list(s->buckets[b]);
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    free(m);
}

static const ch_hcache_driver_t ch__hcm_driver = {
    .name = "memory",
    .get_many = ch__hcm_get_many,
    .get_visit = ch__hcm_get_visit,
    .put_many = ch__hcm_put_many,
    .forget_many = ch__hcm_forget_many,
    .bytes = ch__hcm_bytes,
    .destroy = ch__hcm_destroy,
    .flush = ch__hcm_flush,
    .entries = ch__hcm_entries,
};

ch_hcache_t *ch_hcache_mem_create(size_t max_bytes, int64_t ttl_ms)
{
    return ch_hcache_mem_create_bounded(max_bytes, 0, ttl_ms);
}

ch_hcache_t *ch_hcache_mem_create_bounded(size_t max_bytes, size_t max_entries, int64_t ttl_ms)
{
    ch__hcm_t *m = ch_calloc(1, sizeof(*m));
    m->ttl_ms = ttl_ms > 0 ? ttl_ms : 0;
    m->nshards = 1;
    while (m->nshards < CH__HCM_SHARDS_MAX && max_bytes / (m->nshards * 2) >= CH__HCM_SHARD_MIN_BYTES)
        m->nshards *= 2;
    m->shard_max = max_bytes / m->nshards;
    m->shard_max_entries = max_entries ? (max_entries + m->nshards - 1) / m->nshards : 0;
    for (unsigned i = 0; i < m->nshards; i++) {
        ch__hcm_shard_t *s = &m->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        s->version = 1;
        s->rng = 0x9e3779b97f4a7c15ULL * (i + 1);
        s->nbuckets = CH__HCM_MIN_BUCKETS;
        s->buckets = ch_calloc(s->nbuckets, sizeof(*s->buckets));
        atomic_init(&s->bytes, s->nbuckets * sizeof(*s->buckets));
    }
    return ch__hcache_wrap(&ch__hcm_driver, m);
}

void ch__hcache_mem_uncounted(ch_hcache_t *c)
{
    ((ch__hcm_t *)c->impl)->uncounted = 1;
}

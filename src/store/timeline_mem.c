/* Home timelines: the in-process driver.
 *
 * 256 shards by a hash of the user id, each with its own mutex and a chained hash table of
 * timelines: no global lock, and a fan-out batch takes each shard lock for one insert.
 *
 * A timeline keeps its entries ascending by item id in three parallel arrays (item ids,
 * author ids, types) with a moving start: the newest usually goes at the end (O(1)), the
 * oldest falls off by advancing start (O(1)), and the live window is moved back to the
 * front only when it reaches the end of the arrays, once per CH__TL_SLACK pushes. Duplicates
 * are found by binary search. A slot is 17 bytes: a 16-byte struct would need the type
 * packed into spare bits of the author id, and ids use 63 bits (core/id.h), which leaves
 * one; entries are kept exact instead.
 *
 * Recency (used_ms, the store's clock at the last replace or touch) drives both idle expiry
 * (CH_TIMELINE_IDLE_TTL_MS: lazily when a timeline is looked up, and by a small sweep of one
 * shard every CH__TL_SWEEP_EVERY writes) and eviction under the memory bound (the least
 * recently used of a few sampled, as Redis's allkeys-lru; eviction loses nothing: the read
 * path rebuilds a missing timeline from the database). */
#include "store/timeline.h"
#include "store/timeline_mem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"

#define CH__TL_SHARDS 256
#define CH__TL_MIN_CAP 16
/* Room past CH_TIMELINE_MAX_ENTRIES so that dropping the oldest is a start++, not a memmove. */
#define CH__TL_SLACK (CH_TIMELINE_MAX_ENTRIES / 8)
#define CH__TL_MAX_CAP (CH_TIMELINE_MAX_ENTRIES + CH__TL_SLACK)
/* Eviction under the memory bound: timelines sampled per eviction, and evictions per call. */
#define CH__TL_EVICT_SAMPLE 16
#define CH__TL_EVICT_PER_SHARD 4
#define CH__TL_EVICT_MAX_PER_CALL 4096
/* Idle sweep: one shard's next buckets every this many writes. */
#define CH__TL_SWEEP_EVERY 64
#define CH__TL_SWEEP_BUCKETS 32

typedef struct ch__tl {
    struct ch__tl *next; /* bucket chain */
    uint64_t user;
    int64_t used_ms; /* store clock at the last replace or touch */
    int64_t last_read_ms;
    double read_rate;
    uint32_t start, n, cap; /* live entries: [start, start + n) */
    uint64_t *items;        /* one block of cap * CH_TIMELINE_MEM_SLOT_BYTES: items, authors, types */
    uint64_t *authors;
    uint8_t *types;
} ch__tl_t;

typedef struct {
    pthread_mutex_t mu;
    ch__tl_t **buckets;
    size_t nbuckets, count, entries, sweep_at;
    uint64_t pushes, evicted_idle, evicted_memory, rng;
} __attribute__((aligned(64))) ch__tl_shard_t;

typedef struct {
    ch__tl_shard_t shards[CH__TL_SHARDS];
    atomic_size_t bytes;
    atomic_size_t max_bytes;
    atomic_uint evict_at, writes, sweep_shard;
    int64_t (*now_ms)(void);
} ch__tl_mem_t;

static uint64_t ch__tl_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static ch__tl_shard_t *ch__tl_shard(ch__tl_mem_t *m, uint64_t user)
{
    return &m->shards[ch__tl_mix(user) & (CH__TL_SHARDS - 1)];
}

static size_t ch__tl_bucket(const ch__tl_shard_t *sh, uint64_t user)
{
    return (size_t)(ch__tl_mix(user) >> 8) & (sh->nbuckets - 1);
}

static size_t ch__tl_block_bytes(uint32_t cap)
{
    return (size_t)cap * CH_TIMELINE_MEM_SLOT_BYTES;
}

/* ---- one timeline -------------------------------------------------------------------- */

static void ch__tl_alloc_arrays(ch__tl_t *t, uint32_t cap)
{
    char *block = ch_malloc(ch__tl_block_bytes(cap));
    t->items = (uint64_t *)block;
    t->authors = (uint64_t *)(block + (size_t)cap * sizeof(uint64_t));
    t->types = (uint8_t *)(block + (size_t)cap * 2 * sizeof(uint64_t));
    t->cap = cap;
}

static size_t ch__tl_bytes(const ch__tl_t *t)
{
    return sizeof(*t) + ch__tl_block_bytes(t->cap);
}

static void ch__tl_free(ch__tl_mem_t *m, ch__tl_t *t)
{
    atomic_fetch_sub(&m->bytes, ch__tl_bytes(t));
    free(t->items);
    free(t);
}

/* Moves the live window to new arrays of cap (>= n) starting at 0. */
static void ch__tl_realloc(ch__tl_mem_t *m, ch__tl_t *t, uint32_t cap)
{
    ch__tl_t old = *t;
    ch__tl_alloc_arrays(t, cap);
    memcpy(t->items, old.items + old.start, old.n * sizeof(uint64_t));
    memcpy(t->authors, old.authors + old.start, old.n * sizeof(uint64_t));
    memcpy(t->types, old.types + old.start, old.n);
    t->start = 0;
    free(old.items);
    if (cap > old.cap)
        atomic_fetch_add(&m->bytes, ch__tl_block_bytes(cap) - ch__tl_block_bytes(old.cap));
    else
        atomic_fetch_sub(&m->bytes, ch__tl_block_bytes(old.cap) - ch__tl_block_bytes(cap));
}

/* First index in [start, start + n) whose item id is >= id (start + n if none). */
static uint32_t ch__tl_lower(const ch__tl_t *t, uint64_t id)
{
    uint32_t lo = t->start, hi = t->start + t->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->items[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Inserts e keeping order and the bound; 1 when it went in, 0 when it was there already or
 * is older than everything a full timeline keeps. */
static int ch__tl_insert(ch__tl_mem_t *m, ch__tl_t *t, const ch_timeline_entry_t *e)
{
    uint32_t end = t->start + t->n, pos;
    if (t->n == 0 || e->item_id > t->items[end - 1]) {
        pos = end;
    } else {
        pos = ch__tl_lower(t, e->item_id);
        if (pos < end && t->items[pos] == e->item_id)
            return 0;
        if (pos == t->start && t->n >= CH_TIMELINE_MAX_ENTRIES)
            return 0;
    }
    if (end == t->cap) { /* no room at the end: move the window to the front, or grow */
        uint32_t shift = t->start;
        if (shift > 0) {
            memmove(t->items, t->items + shift, t->n * sizeof(uint64_t));
            memmove(t->authors, t->authors + shift, t->n * sizeof(uint64_t));
            memmove(t->types, t->types + shift, t->n);
            t->start = 0;
        } else {
            uint32_t cap = t->cap * 2 > CH__TL_MAX_CAP ? CH__TL_MAX_CAP : t->cap * 2;
            ch__tl_realloc(m, t, cap);
        }
        pos -= shift;
        end = t->start + t->n;
    }
    if (pos < end) {
        memmove(t->items + pos + 1, t->items + pos, (end - pos) * sizeof(uint64_t));
        memmove(t->authors + pos + 1, t->authors + pos, (end - pos) * sizeof(uint64_t));
        memmove(t->types + pos + 1, t->types + pos, end - pos);
    }
    t->items[pos] = e->item_id;
    t->authors[pos] = e->author_id;
    t->types[pos] = e->type;
    t->n++;
    if (t->n > CH_TIMELINE_MAX_ENTRIES) { /* the oldest falls off */
        t->start++;
        t->n--;
    }
    return 1;
}

/* Removes the entry at index i of the live window. */
static void ch__tl_erase(ch__tl_t *t, uint32_t i)
{
    uint32_t end = t->start + t->n;
    memmove(t->items + i, t->items + i + 1, (end - i - 1) * sizeof(uint64_t));
    memmove(t->authors + i, t->authors + i + 1, (end - i - 1) * sizeof(uint64_t));
    memmove(t->types + i, t->types + i + 1, end - i - 1);
    t->n--;
}

/* ---- shards -------------------------------------------------------------------------- */

static int ch__tl_idle(const ch__tl_t *t, int64_t now)
{
    return now - t->used_ms > CH_TIMELINE_IDLE_TTL_MS;
}

/* Unlinks *link (a node of sh) and frees it. */
static void ch__tl_unlink(ch__tl_mem_t *m, ch__tl_shard_t *sh, ch__tl_t **link)
{
    ch__tl_t *t = *link;
    *link = t->next;
    sh->count--;
    sh->entries -= t->n;
    ch__tl_free(m, t);
}

/* The link that points at user's timeline, or at the NULL ending its chain; NULL when the
 * shard has no buckets yet. */
static ch__tl_t **ch__tl_link(ch__tl_shard_t *sh, uint64_t user)
{
    if (!sh->nbuckets)
        return NULL;
    ch__tl_t **link = &sh->buckets[ch__tl_bucket(sh, user)];
    while (*link && (*link)->user != user)
        link = &(*link)->next;
    return link;
}

/* user's timeline, NULL if none; an idle one is dropped here (lazy expiry) and is none. */
static ch__tl_t *ch__tl_find(ch__tl_mem_t *m, ch__tl_shard_t *sh, uint64_t user, int64_t now)
{
    ch__tl_t **link = ch__tl_link(sh, user);
    if (!link || !*link)
        return NULL;
    if (ch__tl_idle(*link, now)) {
        ch__tl_unlink(m, sh, link);
        sh->evicted_idle++;
        return NULL;
    }
    return *link;
}

/* Doubles the bucket array when the shard holds more timelines than buckets. */
static void ch__tl_maybe_grow(ch__tl_mem_t *m, ch__tl_shard_t *sh)
{
    if (sh->count < sh->nbuckets)
        return;
    size_t nb = sh->nbuckets ? sh->nbuckets * 2 : 16;
    ch__tl_t **b = ch_calloc(nb, sizeof(*b));
    for (size_t i = 0; i < sh->nbuckets; i++) {
        for (ch__tl_t *t = sh->buckets[i], *next; t; t = next) {
            next = t->next;
            size_t j = (size_t)(ch__tl_mix(t->user) >> 8) & (nb - 1);
            t->next = b[j];
            b[j] = t;
        }
    }
    free(sh->buckets);
    atomic_fetch_add(&m->bytes, (nb - sh->nbuckets) * sizeof(*b));
    sh->buckets = b;
    sh->nbuckets = nb;
}

/* Drops the idle timelines of the next few buckets of one shard (round robin). */
static void ch__tl_sweep(ch__tl_mem_t *m)
{
    if (atomic_fetch_add_explicit(&m->writes, 1, memory_order_relaxed) % CH__TL_SWEEP_EVERY != 0)
        return;
    ch__tl_shard_t *sh = &m->shards[atomic_fetch_add(&m->sweep_shard, 1) % CH__TL_SHARDS];
    int64_t now = m->now_ms();
    pthread_mutex_lock(&sh->mu);
    for (size_t k = 0; k < CH__TL_SWEEP_BUCKETS && sh->nbuckets; k++) {
        size_t b = sh->sweep_at++ & (sh->nbuckets - 1);
        for (ch__tl_t **link = &sh->buckets[b]; *link;) {
            if (ch__tl_idle(*link, now)) {
                ch__tl_unlink(m, sh, link);
                sh->evicted_idle++;
            } else {
                link = &(*link)->next;
            }
        }
    }
    pthread_mutex_unlock(&sh->mu);
}

/* Evicts the least recently used of CH__TL_EVICT_SAMPLE timelines sampled from the next
 * shards (round robin, a few per shard: shards are small, sampling one alone would evict
 * whatever it holds); 1 if one went. The candidate is checked again under its shard lock. */
static int ch__tl_evict_one(ch__tl_mem_t *m)
{
    uint64_t best_user = 0;
    int64_t best_used = 0;
    ch__tl_shard_t *best_sh = NULL;
    int seen = 0;
    for (int k = 0; k < CH__TL_SHARDS && seen < CH__TL_EVICT_SAMPLE; k++) {
        ch__tl_shard_t *sh = &m->shards[atomic_fetch_add(&m->evict_at, 1) % CH__TL_SHARDS];
        pthread_mutex_lock(&sh->mu);
        if (sh->count) {
            sh->rng = ch__tl_mix(sh->rng + 0x9e3779b97f4a7c15ULL);
            int here = 0;
            for (size_t j = 0; j < sh->nbuckets && here < CH__TL_EVICT_PER_SHARD; j++) {
                for (ch__tl_t *t = sh->buckets[(size_t)(sh->rng + j) & (sh->nbuckets - 1)];
                     t && here < CH__TL_EVICT_PER_SHARD; t = t->next, here++) {
                    if (!best_sh || t->used_ms < best_used) {
                        best_sh = sh;
                        best_user = t->user;
                        best_used = t->used_ms;
                    }
                }
            }
            seen += here;
        }
        pthread_mutex_unlock(&sh->mu);
    }
    if (!best_sh)
        return 0;
    pthread_mutex_lock(&best_sh->mu);
    ch__tl_t **link = ch__tl_link(best_sh, best_user);
    int done = link && *link && (*link)->used_ms == best_used; /* not touched meanwhile */
    if (done) {
        ch__tl_unlink(m, best_sh, link);
        best_sh->evicted_memory++;
    }
    pthread_mutex_unlock(&best_sh->mu);
    return done;
}

/* Past the bound, evicts until under it (a bounded number per call; the next writes go on).
 * Called with no lock held. */
static void ch__tl_enforce(ch__tl_mem_t *m)
{
    size_t max = atomic_load_explicit(&m->max_bytes, memory_order_relaxed);
    if (!max)
        return;
    int misses = 0;
    for (int i = 0; i < CH__TL_EVICT_MAX_PER_CALL && atomic_load(&m->bytes) > max && misses < 4; i++)
        misses = ch__tl_evict_one(m) ? 0 : misses + 1;
}

/* ---- driver -------------------------------------------------------------------------- */

static ch_err_t ch__tl_mem_open(const char *url, void **impl_out, char *errbuf, size_t errlen)
{
    ch__tl_mem_t *m = ch_calloc(1, sizeof(*m));
    for (size_t i = 0; i < CH__TL_SHARDS; i++) {
        pthread_mutex_init(&m->shards[i].mu, NULL);
        m->shards[i].rng = i;
    }
    atomic_init(&m->bytes, sizeof(*m));
    atomic_init(&m->max_bytes, 0);
    atomic_init(&m->evict_at, 0);
    atomic_init(&m->writes, 0);
    atomic_init(&m->sweep_shard, 0);
    m->now_ms = ch_now_ms;
    *impl_out = m;
    return CH_OK;
}

static void ch__tl_mem_close(void *impl)
{
    ch__tl_mem_t *m = impl;
    for (size_t i = 0; i < CH__TL_SHARDS; i++) {
        ch__tl_shard_t *sh = &m->shards[i];
        for (size_t b = 0; b < sh->nbuckets; b++)
            while (sh->buckets[b])
                ch__tl_unlink(m, sh, &sh->buckets[b]);
        free(sh->buckets);
        pthread_mutex_destroy(&sh->mu);
    }
    free(m);
}

static ch_err_t ch__tl_mem_meta_many(void *impl, const uint64_t *users, size_t n, ch_timeline_meta_t *out)
{
    ch__tl_mem_t *m = impl;
    int64_t now = m->now_ms();
    for (size_t i = 0; i < n; i++) {
        ch__tl_shard_t *sh = ch__tl_shard(m, users[i]);
        pthread_mutex_lock(&sh->mu);
        ch__tl_t *t = ch__tl_find(m, sh, users[i], now);
        out[i] = t ? (ch_timeline_meta_t){.exists = 1, .last_read_ms = t->last_read_ms, .read_rate = t->read_rate}
                   : (ch_timeline_meta_t){0};
        pthread_mutex_unlock(&sh->mu);
    }
    return CH_OK;
}

static ch_err_t ch__tl_mem_push_many(void *impl, const uint64_t *users, size_t n, const ch_timeline_entry_t *e,
                                     size_t *pushed_out)
{
    ch__tl_mem_t *m = impl;
    int64_t now = m->now_ms();
    size_t pushed = 0;
    for (size_t i = 0; i < n; i++) {
        ch__tl_shard_t *sh = ch__tl_shard(m, users[i]);
        pthread_mutex_lock(&sh->mu);
        ch__tl_t *t = ch__tl_find(m, sh, users[i], now);
        if (t) {
            uint32_t before = t->n;
            if (ch__tl_insert(m, t, e)) {
                sh->pushes++;
                sh->entries += t->n - before;
                pushed++;
            }
        }
        pthread_mutex_unlock(&sh->mu);
    }
    if (pushed_out)
        *pushed_out = pushed;
    ch__tl_enforce(m);
    ch__tl_sweep(m);
    return CH_OK;
}

static ch_err_t ch__tl_mem_read(void *impl, uint64_t user, uint64_t before_id, size_t max, ch_timeline_entry_t *out,
                                size_t *n_out, ch_timeline_meta_t *meta_out)
{
    ch__tl_mem_t *m = impl;
    ch__tl_shard_t *sh = ch__tl_shard(m, user);
    size_t k = 0;
    pthread_mutex_lock(&sh->mu);
    ch__tl_t *t = ch__tl_find(m, sh, user, m->now_ms());
    if (t) {
        uint32_t i = before_id ? ch__tl_lower(t, before_id) : t->start + t->n;
        for (; i > t->start && k < max; i--, k++)
            out[k] = (ch_timeline_entry_t){.item_id = t->items[i - 1], .author_id = t->authors[i - 1],
                                           .type = t->types[i - 1]};
    }
    if (meta_out)
        *meta_out = t ? (ch_timeline_meta_t){.exists = 1, .last_read_ms = t->last_read_ms, .read_rate = t->read_rate}
                      : (ch_timeline_meta_t){0};
    pthread_mutex_unlock(&sh->mu);
    *n_out = k;
    return CH_OK;
}

static int ch__tl_entry_cmp(const void *a, const void *b)
{
    uint64_t x = ((const ch_timeline_entry_t *)a)->item_id, y = ((const ch_timeline_entry_t *)b)->item_id;
    return x < y ? -1 : x > y;
}

static ch_err_t ch__tl_mem_replace(void *impl, uint64_t user, const ch_timeline_entry_t *entries, size_t n,
                                   const ch_timeline_meta_t *meta)
{
    ch__tl_mem_t *m = impl;
    /* The new timeline is built without the lock, then swapped in. */
    ch_timeline_entry_t *sorted = n ? ch_malloc(n * sizeof(*sorted)) : NULL;
    if (n) {
        memcpy(sorted, entries, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), ch__tl_entry_cmp);
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) /* dedupe: the first of equal ids stays */
        if (kept == 0 || sorted[kept - 1].item_id != sorted[i].item_id)
            sorted[kept++] = sorted[i];
    size_t from = kept > CH_TIMELINE_MAX_ENTRIES ? kept - CH_TIMELINE_MAX_ENTRIES : 0;
    uint32_t cnt = (uint32_t)(kept - from), cap = CH__TL_MIN_CAP;
    while (cap <= cnt && cap < CH__TL_MAX_CAP)
        cap = cap * 2 > CH__TL_MAX_CAP ? CH__TL_MAX_CAP : cap * 2;
    ch__tl_t *t = ch_calloc(1, sizeof(*t));
    ch__tl_alloc_arrays(t, cap);
    for (uint32_t i = 0; i < cnt; i++) {
        t->items[i] = sorted[from + i].item_id;
        t->authors[i] = sorted[from + i].author_id;
        t->types[i] = sorted[from + i].type;
    }
    free(sorted);
    t->n = cnt;
    t->user = user;
    t->used_ms = m->now_ms();
    t->last_read_ms = meta ? meta->last_read_ms : 0;
    t->read_rate = meta ? meta->read_rate : 0;
    atomic_fetch_add(&m->bytes, ch__tl_bytes(t));

    ch__tl_shard_t *sh = ch__tl_shard(m, user);
    pthread_mutex_lock(&sh->mu);
    ch__tl_t **link = ch__tl_link(sh, user);
    if (link && *link) { /* replaces the old one in its place in the chain */
        ch__tl_t *old = *link;
        t->next = old->next;
        *link = t;
        sh->entries -= old->n;
        ch__tl_free(m, old);
    } else {
        sh->count++;
        ch__tl_maybe_grow(m, sh);
        size_t b = ch__tl_bucket(sh, user);
        t->next = sh->buckets[b];
        sh->buckets[b] = t;
    }
    sh->entries += t->n;
    pthread_mutex_unlock(&sh->mu);
    ch__tl_enforce(m);
    ch__tl_sweep(m);
    return CH_OK;
}

static ch_err_t ch__tl_mem_touch(void *impl, uint64_t user, int64_t now_ms, double read_rate)
{
    ch__tl_mem_t *m = impl;
    ch__tl_shard_t *sh = ch__tl_shard(m, user);
    int64_t now = m->now_ms();
    pthread_mutex_lock(&sh->mu);
    ch__tl_t *t = ch__tl_find(m, sh, user, now);
    if (t) {
        t->last_read_ms = now_ms;
        t->read_rate = read_rate;
        t->used_ms = now;
    }
    pthread_mutex_unlock(&sh->mu);
    return CH_OK;
}

static ch_err_t ch__tl_mem_remove_author(void *impl, uint64_t user, uint64_t author_id)
{
    ch__tl_mem_t *m = impl;
    ch__tl_shard_t *sh = ch__tl_shard(m, user);
    pthread_mutex_lock(&sh->mu);
    ch__tl_t *t = ch__tl_find(m, sh, user, m->now_ms());
    if (t) {
        uint32_t w = t->start, end = t->start + t->n;
        for (uint32_t r = t->start; r < end; r++) {
            if (t->authors[r] == author_id)
                continue;
            t->items[w] = t->items[r];
            t->authors[w] = t->authors[r];
            t->types[w] = t->types[r];
            w++;
        }
        sh->entries -= end - w;
        t->n = w - t->start;
    }
    pthread_mutex_unlock(&sh->mu);
    return CH_OK;
}

static ch_err_t ch__tl_mem_remove_item(void *impl, const uint64_t *users, size_t n, uint64_t item_id)
{
    ch__tl_mem_t *m = impl;
    int64_t now = m->now_ms();
    for (size_t i = 0; i < n; i++) {
        ch__tl_shard_t *sh = ch__tl_shard(m, users[i]);
        pthread_mutex_lock(&sh->mu);
        ch__tl_t *t = ch__tl_find(m, sh, users[i], now);
        if (t) {
            uint32_t pos = ch__tl_lower(t, item_id);
            if (pos < t->start + t->n && t->items[pos] == item_id) {
                ch__tl_erase(t, pos);
                sh->entries--;
            }
        }
        pthread_mutex_unlock(&sh->mu);
    }
    return CH_OK;
}

static ch_err_t ch__tl_mem_drop(void *impl, uint64_t user)
{
    ch__tl_mem_t *m = impl;
    ch__tl_shard_t *sh = ch__tl_shard(m, user);
    pthread_mutex_lock(&sh->mu);
    ch__tl_t **link = ch__tl_link(sh, user);
    if (link && *link)
        ch__tl_unlink(m, sh, link);
    pthread_mutex_unlock(&sh->mu);
    return CH_OK;
}

void ch__timeline_mem_stats(void *impl, ch_timeline_mem_stats_t *out)
{
    ch__tl_mem_t *m = impl;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < CH__TL_SHARDS; i++) {
        ch__tl_shard_t *sh = &m->shards[i];
        pthread_mutex_lock(&sh->mu);
        out->timelines += sh->count;
        out->entries += sh->entries;
        out->pushes += sh->pushes;
        out->evicted_idle += sh->evicted_idle;
        out->evicted_memory += sh->evicted_memory;
        pthread_mutex_unlock(&sh->mu);
    }
    out->bytes = atomic_load(&m->bytes);
    out->max_bytes = atomic_load(&m->max_bytes);
}

static void ch__tl_mem_render_metrics(void *impl, ch_buf_t *out)
{
    ch_timeline_mem_stats_t st;
    ch__timeline_mem_stats(impl, &st);
    ch_buf_printf(out,
                  "# HELP chorus_timelines Home timelines held in process.\n"
                  "# TYPE chorus_timelines gauge\nchorus_timelines %zu\n"
                  "# HELP chorus_timeline_entries Entries in the home timelines held in process.\n"
                  "# TYPE chorus_timeline_entries gauge\nchorus_timeline_entries %zu\n"
                  "# HELP chorus_timeline_bytes Bytes held by the in-process timeline store (entries with their "
                  "slack, headers, hash buckets).\n"
                  "# TYPE chorus_timeline_bytes gauge\nchorus_timeline_bytes %zu\n"
                  "# HELP chorus_timeline_max_bytes Bound of the in-process timeline store (0: none).\n"
                  "# TYPE chorus_timeline_max_bytes gauge\nchorus_timeline_max_bytes %zu\n"
                  "# HELP chorus_timeline_pushes_total Entries inserted into home timelines by fan-out.\n"
                  "# TYPE chorus_timeline_pushes_total counter\nchorus_timeline_pushes_total %llu\n"
                  "# HELP chorus_timeline_evictions_total Home timelines dropped (rebuilt at the next read).\n"
                  "# TYPE chorus_timeline_evictions_total counter\n"
                  "chorus_timeline_evictions_total{reason=\"idle\"} %llu\n"
                  "chorus_timeline_evictions_total{reason=\"memory\"} %llu\n",
                  st.timelines, st.entries, st.bytes, st.max_bytes, (unsigned long long)st.pushes,
                  (unsigned long long)st.evicted_idle, (unsigned long long)st.evicted_memory);
}

void ch__timeline_mem_set_max_memory(void *impl, size_t bytes)
{
    ch__tl_mem_t *m = impl;
    atomic_store(&m->max_bytes, bytes);
    ch__tl_enforce(m);
}

void ch__timeline_mem_set_clock(void *impl, int64_t (*now_ms)(void))
{
    ((ch__tl_mem_t *)impl)->now_ms = now_ms ? now_ms : ch_now_ms;
}

const ch_timeline_driver_t ch_timeline_mem_driver = {
    .name = "memory",
    .open = ch__tl_mem_open,
    .close = ch__tl_mem_close,
    .meta_many = ch__tl_mem_meta_many,
    .push_many = ch__tl_mem_push_many,
    .read = ch__tl_mem_read,
    .replace = ch__tl_mem_replace,
    .touch = ch__tl_mem_touch,
    .remove_author = ch__tl_mem_remove_author,
    .remove_item = ch__tl_mem_remove_item,
    .drop = ch__tl_mem_drop,
    .render_metrics = ch__tl_mem_render_metrics,
};

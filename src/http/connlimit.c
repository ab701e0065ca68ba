#include "http/connlimit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define CH__MIN_BUCKETS 16 /* per shard; the table grows by doubling past 1 entry per bucket */

typedef struct ch__entry {
    struct ch__entry *next;
    ch_netaddr_t addr;
    unsigned count;
} ch__entry_t;

typedef struct {
    pthread_mutex_t mu;
    ch__entry_t **buckets;
    size_t nbuckets, nentries;
} ch__shard_t;

struct ch_connlimit {
    unsigned per_addr, total_cap;
    _Atomic unsigned total;
    ch__shard_t shards[CH_CONNLIMIT_SHARDS];
};

/* FNV-1a over the 16 bytes: cheap and spreads neighbouring addresses. */
static uint64_t ch__hash(const ch_netaddr_t *a)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < 16; i++)
        h = (h ^ a->b[i]) * 1099511628211ULL;
    return h;
}

ch_connlimit_t *ch_connlimit_create(unsigned per_addr, unsigned total)
{
    ch_connlimit_t *cl = ch_calloc(1, sizeof(*cl));
    cl->per_addr = per_addr;
    cl->total_cap = total ? total : 1;
    for (int i = 0; i < CH_CONNLIMIT_SHARDS; i++) {
        pthread_mutex_init(&cl->shards[i].mu, NULL);
        cl->shards[i].nbuckets = CH__MIN_BUCKETS;
        cl->shards[i].buckets = ch_calloc(CH__MIN_BUCKETS, sizeof(ch__entry_t *));
    }
    return cl;
}

void ch_connlimit_destroy(ch_connlimit_t *cl)
{
    if (!cl)
        return;
    for (int i = 0; i < CH_CONNLIMIT_SHARDS; i++) {
        ch__shard_t *s = &cl->shards[i];
        for (size_t b = 0; b < s->nbuckets; b++)
            for (ch__entry_t *e = s->buckets[b], *next; e; e = next) {
                next = e->next;
                free(e);
            }
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    free(cl);
}

static void ch__grow(ch__shard_t *s)
{
    size_t n = s->nbuckets * 2;
    ch__entry_t **nb = ch_calloc(n, sizeof(*nb));
    for (size_t b = 0; b < s->nbuckets; b++)
        for (ch__entry_t *e = s->buckets[b], *next; e; e = next) {
            next = e->next;
            size_t i = (ch__hash(&e->addr) / CH_CONNLIMIT_SHARDS) & (n - 1);
            e->next = nb[i];
            nb[i] = e;
        }
    free(s->buckets);
    s->buckets = nb;
    s->nbuckets = n;
}

/* The bucket slot of a in its shard (the shard is locked). */
static ch__entry_t **ch__find(ch__shard_t *s, const ch_netaddr_t *a, uint64_t h)
{
    ch__entry_t **pp = &s->buckets[(h / CH_CONNLIMIT_SHARDS) & (s->nbuckets - 1)];
    while (*pp && memcmp((*pp)->addr.b, a->b, 16) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* The key an address is counted under: IPv4 as it is, IPv6 by its /64 (one subscriber's
 * prefix; counting single IPv6 addresses would let one host open 2^64 times the cap). */
static ch_netaddr_t ch__key(const ch_netaddr_t *a)
{
    static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    ch_netaddr_t k = *a;
    if (memcmp(k.b, v4_prefix, 12) != 0)
        memset(k.b + 8, 0, 8);
    return k;
}

ch_conn_admit_t ch_connlimit_acquire(ch_connlimit_t *cl, const ch_netaddr_t *addr, int exempt)
{
    if (atomic_fetch_add(&cl->total, 1) >= cl->total_cap) {
        atomic_fetch_sub(&cl->total, 1);
        return CH_CONN_REFUSED_GLOBAL;
    }
    if (exempt || cl->per_addr == 0)
        return CH_CONN_ADMITTED;
    ch_netaddr_t key = ch__key(addr), *a = &key;
    uint64_t h = ch__hash(a);
    ch__shard_t *s = &cl->shards[h % CH_CONNLIMIT_SHARDS];
    ch_conn_admit_t rc = CH_CONN_ADMITTED;
    pthread_mutex_lock(&s->mu);
    ch__entry_t **pp = ch__find(s, a, h);
    if (*pp && (*pp)->count >= cl->per_addr) {
        rc = CH_CONN_REFUSED_PER_ADDR;
    } else if (*pp) {
        (*pp)->count++;
    } else {
        ch__entry_t *e = ch_malloc(sizeof(*e));
        e->addr = *a;
        e->count = 1;
        e->next = NULL;
        *pp = e;
        if (++s->nentries > s->nbuckets)
            ch__grow(s);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != CH_CONN_ADMITTED)
        atomic_fetch_sub(&cl->total, 1);
    return rc;
}

void ch_connlimit_release(ch_connlimit_t *cl, const ch_netaddr_t *addr, int exempt)
{
    atomic_fetch_sub(&cl->total, 1);
    if (exempt || cl->per_addr == 0)
        return;
    ch_netaddr_t key = ch__key(addr), *a = &key;
    uint64_t h = ch__hash(a);
    ch__shard_t *s = &cl->shards[h % CH_CONNLIMIT_SHARDS];
    pthread_mutex_lock(&s->mu);
    ch__entry_t **pp = ch__find(s, a, h);
    if (*pp && --(*pp)->count == 0) {
        ch__entry_t *e = *pp;
        *pp = e->next;
        free(e);
        s->nentries--;
    }
    pthread_mutex_unlock(&s->mu);
}

unsigned ch_connlimit_total(ch_connlimit_t *cl)
{
    return atomic_load(&cl->total);
}

size_t ch_connlimit_addresses(ch_connlimit_t *cl)
{
    size_t n = 0;
    for (int i = 0; i < CH_CONNLIMIT_SHARDS; i++) {
        pthread_mutex_lock(&cl->shards[i].mu);
        n += cl->shards[i].nentries;
        pthread_mutex_unlock(&cl->shards[i].mu);
    }
    return n;
}

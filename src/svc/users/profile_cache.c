#include "svc/users/profile_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define CH__SHARDS 64

typedef struct {
    uint64_t id; /* 0 = empty */
    char *json;
    size_t len;
} ch__slot_t;

typedef struct {
    pthread_mutex_t lock;
    uint64_t version;
    ch__slot_t *slots;
} __attribute__((aligned(64))) ch__shard_t;

struct ch_profile_cache {
    size_t slots_per_shard;
    ch__shard_t shards[CH__SHARDS];
};

/* Ids are time-sortable: mix the bits so consecutive ids spread over shards and slots. */
static uint64_t ch__mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

ch_profile_cache_t *ch_profile_cache_create(size_t capacity)
{
    ch_profile_cache_t *c = ch_calloc(1, sizeof(*c));
    c->slots_per_shard = capacity / CH__SHARDS ? capacity / CH__SHARDS : 1;
    for (int i = 0; i < CH__SHARDS; i++) {
        pthread_mutex_init(&c->shards[i].lock, NULL);
        c->shards[i].slots = ch_calloc(c->slots_per_shard, sizeof(ch__slot_t));
    }
    return c;
}

void ch_profile_cache_destroy(ch_profile_cache_t *c)
{
    if (!c)
        return;
    for (int i = 0; i < CH__SHARDS; i++) {
        for (size_t j = 0; j < c->slots_per_shard; j++)
            free(c->shards[i].slots[j].json);
        free(c->shards[i].slots);
        pthread_mutex_destroy(&c->shards[i].lock);
    }
    free(c);
}

static ch__shard_t *ch__locate(ch_profile_cache_t *c, uint64_t id, ch__slot_t **slot)
{
    uint64_t h = ch__mix(id);
    ch__shard_t *s = &c->shards[h % CH__SHARDS];
    *slot = &s->slots[(h / CH__SHARDS) % c->slots_per_shard];
    return s;
}

char *ch_profile_cache_get(ch_profile_cache_t *c, uint64_t id, uint64_t *version_out)
{
    ch__slot_t *slot;
    ch__shard_t *s = ch__locate(c, id, &slot);
    char *copy = NULL;
    pthread_mutex_lock(&s->lock);
    *version_out = s->version;
    if (slot->id == id && slot->json) {
        copy = ch_malloc(slot->len + 1);
        memcpy(copy, slot->json, slot->len + 1);
    }
    pthread_mutex_unlock(&s->lock);
    return copy;
}

void ch_profile_cache_put(ch_profile_cache_t *c, uint64_t id, const char *json, size_t len, uint64_t version_seen)
{
    ch__slot_t *slot;
    ch__shard_t *s = ch__locate(c, id, &slot);
    char *copy = ch_malloc(len + 1);
    memcpy(copy, json, len);
    copy[len] = '\0';
    pthread_mutex_lock(&s->lock);
    if (s->version == version_seen) {
        free(slot->json);
        slot->id = id;
        slot->json = copy;
        slot->len = len;
        copy = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    free(copy);
}

void ch_profile_cache_forget(ch_profile_cache_t *c, uint64_t id)
{
    ch__slot_t *slot;
    ch__shard_t *s = ch__locate(c, id, &slot);
    pthread_mutex_lock(&s->lock);
    s->version++;
    if (slot->id == id) {
        free(slot->json);
        slot->json = NULL;
        slot->id = 0;
    }
    pthread_mutex_unlock(&s->lock);
}

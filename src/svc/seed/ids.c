#include "svc/seed/ids.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "core/id.h"

#define CH__SEQ_MAX ((1u << CH_ID_SEQ_BITS) - 1)

void ch_seed_ids_init(ch_seed_ids_t *ids)
{
    *ids = (ch_seed_ids_t){0};
}

static size_t ch__slot(uint64_t key, size_t cap)
{
    key ^= key >> 31;
    key *= 0x7fb5d329728ea185ULL;
    key ^= key >> 27;
    return (size_t)key & (cap - 1);
}

/* Finds key: its slot, which is empty when the key is not there. */
static size_t ch__find(const ch_seed_ids_t *ids, uint64_t key)
{
    size_t i = ch__slot(key, ids->cap);
    while (ids->slots[i] && ids->slots[i] != key + 1)
        i = (i + 1) & (ids->cap - 1);
    return i;
}

/* Keeps the load at most one half. */
static int ch__grow(ch_seed_ids_t *ids)
{
    if (ids->cap && (ids->n + 1) * 2 <= ids->cap)
        return 0;
    ch_seed_ids_t bigger = {ch_calloc(ids->cap ? ids->cap * 2 : 1u << 16, sizeof(uint64_t)),
                            ids->cap ? ids->cap * 2 : 1u << 16, ids->n};
    if (!bigger.slots)
        return -1;
    for (size_t i = 0; i < ids->cap; i++)
        if (ids->slots[i])
            bigger.slots[ch__find(&bigger, ids->slots[i] - 1)] = ids->slots[i];
    free(ids->slots);
    *ids = bigger;
    return 0;
}

uint64_t ch_seed_ids_take(ch_seed_ids_t *ids, int64_t *at_ms)
{
    if (ch__grow(ids) != 0)
        return 0;
    uint64_t key = ((uint64_t)*at_ms << CH_ID_SEQ_BITS) | CH_SEED_IDS_FIRST_SEQ;
    size_t slot;
    while (ids->slots[slot = ch__find(ids, key)]) {
        key++;
        if ((key & CH__SEQ_MAX) == 0) /* this millisecond is full: the next one */
            key |= CH_SEED_IDS_FIRST_SEQ;
    }
    ids->slots[slot] = key + 1;
    ids->n++;
    *at_ms = (int64_t)(key >> CH_ID_SEQ_BITS);
    return ch_id_at(*at_ms, (unsigned)(key & CH__SEQ_MAX));
}

void ch_seed_ids_free(ch_seed_ids_t *ids)
{
    free(ids->slots);
    *ids = (ch_seed_ids_t){0};
}

/* The in-process timeline driver's extras beyond the vtable (store/timeline.c forwards to
 * them when the store is the memory one; tests use the clock hook). */
#ifndef CH_STORE_TIMELINE_MEM_H
#define CH_STORE_TIMELINE_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "store/timeline.h"

/** Bytes the in-process driver accounts per entry slot: item id, author id, type, kept in
 * three parallel arrays (timeline_mem.c says why not a 16-byte struct). */
#define CH_TIMELINE_MEM_SLOT_BYTES (sizeof(uint64_t) * 2 + sizeof(uint8_t))

/** What the in-process store holds. */
typedef struct {
    size_t timelines;
    size_t entries;
    size_t bytes;          /* timeline headers, entry arrays (with their slack), bucket arrays */
    size_t max_bytes;      /* the bound; 0 = none */
    uint64_t pushes;       /* entries inserted by push_many */
    uint64_t evicted_idle; /* timelines dropped after CH_TIMELINE_IDLE_TTL_MS without a read */
    uint64_t evicted_memory; /* timelines dropped to stay under max_bytes */
} ch_timeline_mem_stats_t;

/** Sets the memory bound of impl (a memory driver's impl) in bytes, 0 = none. */
void ch__timeline_mem_set_max_memory(void *impl, size_t bytes);
/** Replaces the clock (unix ms) impl uses for idle expiry and recency; NULL = ch_now_ms. */
void ch__timeline_mem_set_clock(void *impl, int64_t (*now_ms)(void));
/** Sums the shards' figures of impl into *out (takes each shard lock briefly). */
void ch__timeline_mem_stats(void *impl, ch_timeline_mem_stats_t *out);
/** The driver's impl behind tl (tests; borrowed). */
void *ch__timeline_impl(ch_timeline_t *tl);

#endif

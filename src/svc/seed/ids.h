/* Ids for seeded engagement (reactions, comments, events): time-sortable ids of past
 * moments (core/id.h, ch_id_at), unique among themselves. A moment's first sequence
 * numbers belong to the community's own rows (users 0, follows 1, items 2, stories 3), so
 * these start at CH_SEED_IDS_FIRST_SEQ and never collide with them; being in the past,
 * they never collide with ch_id_next's either. */
#ifndef CH_SVC_SEED_IDS_H
#define CH_SVC_SEED_IDS_H

#include <stddef.h>
#include <stdint.h>

#define CH_SEED_IDS_FIRST_SEQ 8

/** The ids handed out so far (an open-addressing set of (ms, seq) keys). Owns its memory. */
typedef struct {
    uint64_t *slots; /* key + 1; 0 = empty */
    size_t cap, n;
} ch_seed_ids_t;

/** An empty set. */
void ch_seed_ids_init(ch_seed_ids_t *ids);
/** A new id for the moment *at_ms: the first free sequence number of that millisecond, or
 * of the next one when all are taken, in which case *at_ms moves with it (so that the row's
 * time is its id's time). Returns 0 when out of memory. */
uint64_t ch_seed_ids_take(ch_seed_ids_t *ids, int64_t *at_ms);
/** Frees the set. */
void ch_seed_ids_free(ch_seed_ids_t *ids);

#endif

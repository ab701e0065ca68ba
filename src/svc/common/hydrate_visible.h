/* Whether a viewer may see an item, decided from cached facts (svc/common/hydrate.h) with
 * exactly the rules of svc/graph/visibility.h: a pure function, so that every rule is
 * unit-tested without a database. Internal to svc/common/hydrate*.c and its tests. */
#ifndef CH_SVC_COMMON_HYDRATE_VISIBLE_H
#define CH_SVC_COMMON_HYDRATE_VISIBLE_H

#include <stdint.h>

#include "svc/common/hydrate_facts.h"
#include "svc/common/items.h"

/** The facts one decision needs (all borrowed). */
typedef struct {
    const ch_item_record_t *rec;    /* the item (NULL = not found) */
    const ch_huser_t *author;       /* its author's summary facts (NULL = not found) */
    unsigned rel;                   /* CH_HREL_* of the viewer with the author */
    const ch_item_record_t *parent; /* comments: the item they are on (NULL = not found) */
    const ch_huser_t *parent_author;
    unsigned parent_rel;
} ch_hvis_t;

/** ch_graph_may_see_content from facts: viewer is author, or no block either way and, for
 * followers-only content or a private author, viewer follows author (approved). */
int ch_hydrate_may_see_content(uint64_t viewer, uint64_t author, int author_private, unsigned rel,
                               int followers_only);
/** Whether viewer sees v's item at now_ms (flags: CH_HYDRATE_PLACEHOLDERS): found, not
 * expired, a placeholder only with the flag; an item on no other item by the content rule
 * above; a comment when its author and the viewer do not block each other and the viewer
 * sees the item it is on (found, live, content rule for that item's author). */
int ch_hydrate_visible(uint64_t viewer, int64_t now_ms, unsigned flags, const ch_hvis_t *v);

#endif

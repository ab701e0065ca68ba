/* The registry of engageable item types (docs/design.md, "Item types"): each content
 * domain registers, for its types, how to resolve one item for a viewer, how to check
 * visibility and how to render many items at once. Engagement, the feed and later
 * livestreams and listings go through this registry, never into another domain's files.
 *
 * Type numbers are the target types of svc/engage/target.h (CH_TARGET_POST ...), until
 * the registry owns that list too. */
#ifndef CH_SVC_COMMON_ITEMS_H
#define CH_SVC_COMMON_ITEMS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "svc/context.h"

/* Keys per ch_items_hydrate call. */
#define CH_ITEMS_HYDRATE_MAX 500

/** An item addressed polymorphically. */
typedef struct {
    uint8_t type; /* target type number */
    uint64_t id;
} ch_item_key_t;

/** What ranking needs to know about an item, read by the same statement that renders it. */
typedef struct {
    uint64_t author_id;
    int64_t created_at_ms;
    int64_t reactions;  /* all kinds */
    int64_t comments;   /* comments and replies */
    int64_t views;
    int followers_only;
    int seen;           /* stories: the viewer saw it */
} ch_item_facts_t;

/** Renders keys[0..n) (n <= CH_ITEMS_HYDRATE_MAX) as viewer sees them, in a constant number
 * of statements (one per type present, never one per item). out[i] receives the item
 * object (caller owns it) or NULL when the item does not exist, was deleted or expired, or
 * the viewer may not see it (blocked either way, private without approval, followers-only).
 * facts (may be NULL) receives, for every non-NULL out[i], facts[i]. Muting is the caller's
 * rule, not applied here. */
ch_err_t ch_items_hydrate(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, size_t n, json_t **out,
                          ch_item_facts_t *facts, ch_fault_t *f);

#endif

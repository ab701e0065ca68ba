/* The hydration layer's reads of facts (svc/common/hydrate.h): from the hydration cache,
 * the misses from the database through the domains' loaders (one statement per kind and
 * per CH_ITEMS_IN_MAX ids), put back with their leases. Internal to svc/common/hydrate*.c. */
#ifndef CH_SVC_COMMON_HYDRATE_FETCH_H
#define CH_SVC_COMMON_HYDRATE_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "svc/common/hydrate_facts.h"
#include "svc/common/items.h"

/* The kinds of fact, as the metric chorus_hydrate_facts_total labels them. */
enum { CH_HKIND_ITEM, CH_HKIND_USER, CH_HKIND_REL, CH_HKIND_VIEWER, CH_HKIND_COUNT };

/** Counts n facts of kind read from the cache (from_db 0) or the database (1). */
void ch__hydrate_metric(int kind, int from_db, uint64_t n);

/** Whether key can name an item: its type has a load_many and its id is in 1..INT64_MAX. */
int ch__hydrate_loadable(const ch_item_key_t *key);
/** Reads the records of keys[0..n) (distinct, loadable) into recs[0..n) (zeroed by the call;
 * free with ch__hydrate_records_free). On error recs[] is left zeroed. */
ch_err_t ch__hydrate_records(ch_svc_t *svc, const ch_item_key_t *keys, size_t n, ch_item_record_t *recs,
                             ch_fault_t *f);
/** Frees the bodies of recs[0..n). */
void ch__hydrate_records_free(ch_item_record_t *recs, size_t n);

/** One batch of user, relation and viewer-state facts (arrays borrowed; outputs zeroed by
 * the call, user summaries owned by the caller: ch_huser_clear). */
typedef struct {
    uint64_t viewer;
    const uint64_t *users; /* distinct */
    size_t nusers;
    ch_huser_t *user_out;
    const uint64_t *others; /* distinct, the viewer's relation with each; viewer != 0 */
    size_t nothers;
    unsigned *rel_out;
    const ch_item_key_t *items; /* distinct, the viewer's state on each; viewer != 0 */
    size_t nitems;
    ch_hviewer_t *viewer_out;
} ch__hfacts_t;

/** Reads q's facts: ONE cache round trip for all of them (per CH_HCACHE_BATCH_MAX keys), then
 * one statement per kind for the misses (per CH_ITEMS_IN_MAX ids), then one put. */
ch_err_t ch__hydrate_facts(ch_svc_t *svc, const ch__hfacts_t *q, ch_fault_t *f);

#endif

/* A viewer's own state on many items for the hydration layer (svc/common/hydrate.h). */
#ifndef CH_SVC_ENGAGE_VIEWER_STATE_LOAD_H
#define CH_SVC_ENGAGE_VIEWER_STATE_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "svc/common/hydrate_facts.h"
#include "svc/common/items.h"
#include "svc/context.h"

/** Reads viewer's reaction kind on each of keys[0..n) (n <= CH_ITEMS_IN_MAX) and, for
 * stories, whether viewer saw it (a story_views row; the author's own story is the caller's
 * rule), in ONE statement, into out[0..n) (zeroed by the call). */
ch_err_t ch_engage_viewer_state_load(ch_svc_t *svc, uint64_t viewer, const ch_item_key_t *keys, size_t n,
                                     ch_hviewer_t *out, ch_fault_t *f);

#endif

/* Relations of one viewer with many users for the hydration layer (svc/common/hydrate.h). */
#ifndef CH_SVC_GRAPH_REL_LOAD_H
#define CH_SVC_GRAPH_REL_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "svc/common/hydrate_facts.h"
#include "svc/context.h"

/** Reads what is true between viewer and each of others[0..n) (n <= CH_ITEMS_IN_MAX) in ONE
 * statement into bits[0..n) (CH_HREL_*; 0 for a user that does not exist). */
ch_err_t ch_graph_rel_load(ch_svc_t *svc, uint64_t viewer, const uint64_t *others, size_t n, unsigned *bits,
                           ch_fault_t *f);

#endif

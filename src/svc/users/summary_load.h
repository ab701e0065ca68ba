/* User summaries for the hydration layer (svc/common/hydrate.h): many users, one statement. */
#ifndef CH_SVC_USERS_SUMMARY_LOAD_H
#define CH_SVC_USERS_SUMMARY_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "svc/common/hydrate_facts.h"
#include "svc/context.h"

/** Reads users ids[0..n) (n <= CH_ITEMS_IN_MAX) in ONE statement into out[0..n) (zeroed by
 * the call): found, is_private and the summary text (caller frees: ch_huser_clear); a
 * missing user stays found 0. On error out[] is left zeroed. */
ch_err_t ch_users_summary_load(ch_svc_t *svc, const uint64_t *ids, size_t n, ch_huser_t *out, ch_fault_t *f);

#endif

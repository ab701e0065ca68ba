/* The in-process kv driver's extras beyond the vtable (store/kv.c forwards to them when the
 * store is the memory one). */
#ifndef CH_STORE_KV_MEM_H
#define CH_STORE_KV_MEM_H

#include "store/kv.h"

/** Sets the memory bound of impl (a memory driver's impl) to bytes, 0 = none. */
void ch__kv_mem_set_max_memory(void *impl, size_t bytes);
/** Sums the shards' figures of impl into *out. */
void ch__kv_mem_stats(void *impl, ch_kv_stats_t *out);

#endif

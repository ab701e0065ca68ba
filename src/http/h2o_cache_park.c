#include "http/h2o_cache_park.h"

#if defined(__SANITIZE_ADDRESS__)
#include <stdatomic.h>
#include <h2o.h>

#define CH_H2O_PARK_THREADS 256 /* CHORUS_THREADS' maximum */
/* h2o 2.2.5's per-thread free list holds at most 16 chunks of 4096 bytes; a request below
 * a quarter of a chunk is carved from a chunk (four of 1008 bytes fit in one), so 64 of
 * them take 16 chunks: every cached one first, fresh ones when fewer were cached. */
#define CH_H2O_PARK_CHUNKS 16
#define CH_H2O_PARK_PIECE 1000
#define CH_H2O_PARK_PIECES_PER_CHUNK 4

static h2o_mem_pool_t ch__parked[CH_H2O_PARK_THREADS]; /* reachable: LeakSanitizer scans globals */
static atomic_uint ch__nparked;

void ch_h2o_cache_park(void)
{
    unsigned i = atomic_fetch_add(&ch__nparked, 1);
    if (i >= CH_H2O_PARK_THREADS)
        return;
    h2o_mem_init_pool(&ch__parked[i]);
    for (int k = 0; k < CH_H2O_PARK_CHUNKS * CH_H2O_PARK_PIECES_PER_CHUNK; k++)
        (void)h2o_mem_alloc_pool(&ch__parked[i], CH_H2O_PARK_PIECE);
}
#else
void ch_h2o_cache_park(void)
{
}
#endif

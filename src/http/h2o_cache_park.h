/* LeakSanitizer and h2o's per-thread memory cache. h2o 2.2.5 keeps, per thread, a free
 * list of up to 16 pool chunks (h2o_mem_alloc_recycle) that it never releases; when a loop
 * thread ends that list is unreachable and LeakSanitizer reports it. A suppression
 * (main.c, `leak:h2o_mem_alloc_recycle`) covers it, but matching a suppression means
 * symbolizing the report: the sanitizer's in-process symbolizer then reads the whole
 * binary's DWARF (40 MB of memory, 0.3 s of CPU and 1-3 s of a loaded machine's wall time)
 * at every exit of a sanitizer build. Parking the cache where LeakSanitizer sees it (a
 * static pool that takes the chunks off the list) leaves nothing to report, so nothing is
 * symbolized; a leak of ours is still reported (and symbolized) as before. */
#ifndef CH_HTTP_H2O_CACHE_PARK_H
#define CH_HTTP_H2O_CACHE_PARK_H

/** Takes the calling thread's cached h2o pool chunks into a static pool that lives until
 * the process exits (at most 16 chunks of 4 KiB per thread, for at most
 * CH_H2O_PARK_THREADS threads; later threads are left to the suppression). Call on a
 * loop thread after its last use of h2o. A no-op outside AddressSanitizer builds. */
void ch_h2o_cache_park(void);

#endif

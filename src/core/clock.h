/* Time: int64 unix milliseconds everywhere in storage, RFC 3339 UTC strings in the API. */
#ifndef CH_CORE_CLOCK_H
#define CH_CORE_CLOCK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CH_RFC3339_LEN 64

/** Wall-clock time in unix milliseconds. */
int64_t ch_now_ms(void);
/** Monotonic time in milliseconds (for intervals and expiry, never stored). */
int64_t ch_mono_ms(void);
/** Monotonic time in nanoseconds (for latency measurement). */
uint64_t ch_mono_ns(void);
/** The CLOCK_MONOTONIC time ms from now, as pthread_cond_timedwait wants it for a condition
 * variable made by ch_cond_init_monotonic. */
struct timespec ch_mono_timespec_after(int64_t ms);
/** Initialises *cv (caller owns it, destroys it with pthread_cond_destroy) so that its timed
 * waits run on CLOCK_MONOTONIC: wall-clock steps neither shorten nor stretch them. Returns
 * pthread_cond_init's result. */
int ch_cond_init_monotonic(pthread_cond_t *cv);
/** Formats unix ms as "2026-11-28T08:51:00.123Z" (UTC, proleptic Gregorian; years outside
 * 0..9999 as printf's %04d writes them) into buf (>= CH_RFC3339_LEN bytes, NUL-terminated)
 * and returns the length written (24 for years 0..9999). No printf on that path: lists
 * format a time per item. */
size_t ch_format_rfc3339(int64_t unix_ms, char *buf);

#endif

/* 64-bit time-sortable ids: 41 bits of milliseconds since 2024-01-01 UTC, 10 bits of node
 * id, 12 bits of sequence (4096 ids per ms per node). Sent in JSON as decimal strings. */
#ifndef CH_CORE_ID_H
#define CH_CORE_ID_H

#include <stdint.h>

#define CH_ID_EPOCH_MS 1704067200000LL
#define CH_ID_NODE_BITS 10
#define CH_ID_SEQ_BITS 12
#define CH_ID_MAX_NODE ((1 << CH_ID_NODE_BITS) - 1)
#define CH_ID_STR_LEN 21 /* 20 digits + NUL */

/** Sets this process's node id (0..CH_ID_MAX_NODE); call once before any ch_id_next. */
void ch_id_set_node(unsigned node);
/** A new id, strictly greater than every id this process made before. Thread-safe, lock-free. */
uint64_t ch_id_next(void);
/** An id for a past moment (seeding, imports): unix_ms with `seq` in the sequence bits.
 * Callers keep (unix_ms, seq) unique; such ids never collide with ch_id_next's, which
 * are made from the current time. */
uint64_t ch_id_at(int64_t unix_ms, unsigned seq);
/** The smallest id any node can make at unix_ms (0 before the epoch): every id made at
 * or after that moment is at least this. */
uint64_t ch_id_floor(int64_t unix_ms);
/** The creation time (unix ms) encoded in an id. */
int64_t ch_id_time_ms(uint64_t id);
/** Parses a decimal id; returns 0 for anything that is not 1..20 digits of a non-zero uint64. */
uint64_t ch_id_parse(const char *s);
/** Writes the decimal form into buf (>= CH_ID_STR_LEN bytes); returns buf. */
char *ch_id_format(uint64_t id, char *buf);
/** Writes the decimal digits of v at p (room for 20, no NUL) and returns the end: for hot
 * paths (cache keys, ids in rendered text) where snprintf costs ten times as much. */
char *ch_u64_put(char *p, uint64_t v);

#endif

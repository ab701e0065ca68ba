/* 64-bit integers in byte buffers, for values this process writes into caches and stores and
 * reads back: little-endian (svc/common/id_page.c, svc/engage/comments_top_fact.c, the item
 * records of svc/common/hydrate_codec.c, the handle facts of svc/users/profile_fact.c) and
 * big-endian, where byte order must sort as the numbers do (store/timeline_redis.c's members,
 * svc/feed/facts.c's timeline heads). The caller checks that 8 bytes are there. */
#ifndef CH_CORE_U64_BYTES_H
#define CH_CORE_U64_BYTES_H

#include <stdint.h>

/** The 64-bit integer stored little-endian at p[0..8). */
static inline uint64_t ch_le64_get(const unsigned char *p)
{
    uint64_t v = 0;
    for (int b = 7; b >= 0; b--)
        v = v << 8 | p[b];
    return v;
}

/** Stores v little-endian at p[0..8). */
static inline void ch_le64_put(char *p, uint64_t v)
{
    for (int b = 0; b < 8; b++)
        p[b] = (char)(v >> (8 * b) & 0xff);
}

/** The 64-bit integer stored big-endian at p[0..8). */
static inline uint64_t ch_be64_get(const unsigned char *p)
{
    uint64_t v = 0;
    for (int b = 0; b < 8; b++)
        v = v << 8 | p[b];
    return v;
}

/** Stores v big-endian at p[0..8). */
static inline void ch_be64_put(unsigned char *p, uint64_t v)
{
    for (int b = 7; b >= 0; b--, v >>= 8)
        p[b] = (unsigned char)(v & 0xff);
}

#endif

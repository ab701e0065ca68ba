#include "core/id.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"

static unsigned ch__id_node;
/* Last issued (ms since epoch << SEQ_BITS | seq); the node bits are added on output. */
static _Atomic uint64_t ch__id_last;

void ch_id_set_node(unsigned node)
{
    ch__id_node = node & CH_ID_MAX_NODE;
}

uint64_t ch_id_next(void)
{
    uint64_t prev = atomic_load(&ch__id_last), next;
    do {
        uint64_t now = (uint64_t)(ch_now_ms() - CH_ID_EPOCH_MS) << CH_ID_SEQ_BITS;
        /* Same ms (or clock went back): take the next sequence number, borrowing from the
         * next millisecond when 4096 are used up. Ids stay unique and increasing. */
        next = now > prev ? now : prev + 1;
    } while (!atomic_compare_exchange_weak(&ch__id_last, &prev, next));
    uint64_t ms = next >> CH_ID_SEQ_BITS, seq = next & ((1u << CH_ID_SEQ_BITS) - 1);
    return (ms << (CH_ID_NODE_BITS + CH_ID_SEQ_BITS)) | ((uint64_t)ch__id_node << CH_ID_SEQ_BITS) | seq;
}

uint64_t ch_id_at(int64_t unix_ms, unsigned seq)
{
    return ((uint64_t)(unix_ms - CH_ID_EPOCH_MS) << (CH_ID_NODE_BITS + CH_ID_SEQ_BITS)) |
           ((uint64_t)ch__id_node << CH_ID_SEQ_BITS) | (seq & ((1u << CH_ID_SEQ_BITS) - 1));
}

uint64_t ch_id_floor(int64_t unix_ms)
{
    if (unix_ms <= CH_ID_EPOCH_MS)
        return 0;
    return (uint64_t)(unix_ms - CH_ID_EPOCH_MS) << (CH_ID_NODE_BITS + CH_ID_SEQ_BITS);
}

int64_t ch_id_time_ms(uint64_t id)
{
    return (int64_t)(id >> (CH_ID_NODE_BITS + CH_ID_SEQ_BITS)) + CH_ID_EPOCH_MS;
}

uint64_t ch_id_parse(const char *s)
{
    uint64_t v = 0;
    int n = 0;
    if (!s)
        return 0;
    for (; *s; s++, n++) {
        if (*s < '0' || *s > '9' || n >= 20)
            return 0;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    return v;
}

/* "00".."99": two digits per table read (cache keys and ids are written by the hundred per
 * page; one division per digit was most of their cost). */
static const char ch__digits2[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                  "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                  "8081828384858687888990919293949596979899";

/* Writes the two digits of v (< 100) at p. */
static inline void ch__put2(char *p, uint32_t v)
{
    memcpy(p, ch__digits2 + 2 * v, 2);
}

/* Writes the four digits of v (< 10^4), leading zeros kept, at p. */
static inline void ch__put4(char *p, uint32_t v)
{
    ch__put2(p, v / 100);
    ch__put2(p + 2, v % 100);
}

/* Writes the eight digits of v (< 10^8), leading zeros kept, at p: 32-bit arithmetic only. */
static inline void ch__put8(char *p, uint32_t v)
{
    ch__put4(p, v / 10000);
    ch__put4(p + 4, v % 10000);
}

/* Writes v (< 10^4) without leading zeros at p; returns the end. */
static inline char *ch__put_upto4(char *p, uint32_t v)
{
    if (v < 10) {
        *p = (char)('0' + v);
        return p + 1;
    }
    if (v < 100) {
        ch__put2(p, v);
        return p + 2;
    }
    if (v < 1000) {
        *p = (char)('0' + v / 100);
        ch__put2(p + 1, v % 100);
        return p + 3;
    }
    ch__put4(p, v);
    return p + 4;
}

/* Writes v (< 10^8) without leading zeros at p; returns the end. */
static inline char *ch__put_upto8(char *p, uint32_t v)
{
    if (v < 10000)
        return ch__put_upto4(p, v);
    p = ch__put_upto4(p, v / 10000);
    ch__put4(p, v % 10000);
    return p + 4;
}

char *ch_u64_put(char *p, uint64_t v)
{
    /* Ids are 18-19 digits: split into 8-digit groups by two 64-bit divisions by constants
     * (multiplications), then each group with 32-bit arithmetic and the 2-digit table. */
    if (v < 100000000u)
        return ch__put_upto8(p, (uint32_t)v);
    if (v < 10000000000000000ULL) {
        p = ch__put_upto8(p, (uint32_t)(v / 100000000u));
        ch__put8(p, (uint32_t)(v % 100000000u));
        return p + 8;
    }
    uint64_t low16 = v % 10000000000000000ULL;
    p = ch__put_upto4(p, (uint32_t)(v / 10000000000000000ULL)); /* <= 1844 */
    ch__put8(p, (uint32_t)(low16 / 100000000u));
    ch__put8(p + 8, (uint32_t)(low16 % 100000000u));
    return p + 16;
}

char *ch_id_format(uint64_t id, char *buf)
{
    *ch_u64_put(buf, id) = '\0';
    return buf;
}

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

/* "00".."99": two digits per division (cache keys and ids are written by the hundred per
 * page; one division per digit was most of their cost). */
static const char ch__digits2[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                  "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                  "8081828384858687888990919293949596979899";

/* The number of decimal digits of v (1..20). */
static unsigned ch__u64_digits(uint64_t v)
{
    unsigned n = 1;
    for (;;) { /* four digits per step: ids have 18-19 */
        if (v < 10)
            return n;
        if (v < 100)
            return n + 1;
        if (v < 1000)
            return n + 2;
        if (v < 10000)
            return n + 3;
        v /= 10000;
        n += 4;
    }
}

char *ch_u64_put(char *p, uint64_t v)
{
    /* written from the end straight into p: no copy through a scratch buffer */
    char *end = p + ch__u64_digits(v), *q = end;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        *--q = ch__digits2[d + 1];
        *--q = ch__digits2[d];
    }
    if (v >= 10) {
        unsigned d = (unsigned)v * 2;
        *--q = ch__digits2[d + 1];
        *--q = ch__digits2[d];
    } else {
        *--q = (char)('0' + v);
    }
    return end;
}

char *ch_id_format(uint64_t id, char *buf)
{
    *ch_u64_put(buf, id) = '\0';
    return buf;
}

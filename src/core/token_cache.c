/* Verified access tokens per thread: see token_cache.h. */
#include "core/token_cache.h"

#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#include "core/metrics.h"

typedef struct {
    uint16_t len; /* 0: empty */
    char token[CH_TOKEN_CACHE_TOKEN_MAX];
    uint8_t key[CH_TOKEN_KEY_LEN];
    ch_token_claims_t claims;
} ch__tok_slot_t;

static _Thread_local ch__tok_slot_t ch__slots[CH_TOKEN_CACHE_SLOTS];

/* Hit and miss counts, one cache line per thread (summed at render): the first
 * CH_TOKEN_CACHE_COUNTERS - 1 threads that check a token each own one and only they write it;
 * later threads share the last (atomic additions). */
#define CH_TOKEN_CACHE_COUNTERS 64
typedef struct {
    _Alignas(64) _Atomic uint64_t hits;
    _Atomic uint64_t misses;
} ch__tok_count_t;
static ch__tok_count_t ch__counts[CH_TOKEN_CACHE_COUNTERS];
static atomic_uint ch__counts_used;
static _Thread_local ch__tok_count_t *ch__my_count;
static atomic_int ch__renderer_added;

static void ch__count(int hit)
{
    if (!ch__my_count) {
        unsigned i = atomic_fetch_add_explicit(&ch__counts_used, 1, memory_order_relaxed);
        ch__my_count = &ch__counts[i < CH_TOKEN_CACHE_COUNTERS - 1 ? i : CH_TOKEN_CACHE_COUNTERS - 1];
    }
    _Atomic uint64_t *c = hit ? &ch__my_count->hits : &ch__my_count->misses;
    if (ch__my_count == &ch__counts[CH_TOKEN_CACHE_COUNTERS - 1])
        atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
    else /* this thread is the only writer: no locked instruction */
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

static void ch__render(ch_buf_t *out, void *arg)
{
    (void)arg;
    uint64_t hits = 0, misses = 0;
    for (size_t i = 0; i < CH_TOKEN_CACHE_COUNTERS; i++) {
        hits += atomic_load_explicit(&ch__counts[i].hits, memory_order_relaxed);
        misses += atomic_load_explicit(&ch__counts[i].misses, memory_order_relaxed);
    }
    ch_buf_printf(out,
                  "# HELP chorus_token_cache_total Access-token checks answered from the per-thread cache of "
                  "verified tokens (hit) or verified (miss).\n# TYPE chorus_token_cache_total counter\n"
                  "chorus_token_cache_total{result=\"hit\"} %llu\nchorus_token_cache_total{result=\"miss\"} %llu\n",
                  (unsigned long long)hits, (unsigned long long)misses);
}

/* FNV-1a over the token's last bytes (its MAC: what differs between tokens). */
static size_t ch__slot(const char *token, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    size_t from = len > 32 ? len - 32 : 0;
    for (size_t i = from; i < len; i++)
        h = (h ^ (unsigned char)token[i]) * 1099511628211ULL;
    return (size_t)(h % CH_TOKEN_CACHE_SLOTS);
}

int ch_token_cache_get(const uint8_t key[CH_TOKEN_KEY_LEN], const char *token, size_t len, ch_token_claims_t *claims)
{
    /* a plain load first: the exchange (a locked write to a shared line) happens once */
    if (!atomic_load_explicit(&ch__renderer_added, memory_order_relaxed) && !atomic_exchange(&ch__renderer_added, 1))
        ch_metrics_add_renderer(ch__render, NULL);
    const ch__tok_slot_t *s = &ch__slots[ch__slot(token, len)];
    int hit = len && len <= CH_TOKEN_CACHE_TOKEN_MAX && s->len == len &&
              sodium_memcmp(s->token, token, len) == 0 && memcmp(s->key, key, CH_TOKEN_KEY_LEN) == 0;
    if (hit)
        *claims = s->claims;
    ch__count(hit);
    return hit;
}

void ch_token_cache_put(const uint8_t key[CH_TOKEN_KEY_LEN], const char *token, size_t len,
                        const ch_token_claims_t *claims)
{
    if (!len || len > CH_TOKEN_CACHE_TOKEN_MAX)
        return;
    ch__tok_slot_t *s = &ch__slots[ch__slot(token, len)];
    memcpy(s->token, token, len);
    memcpy(s->key, key, CH_TOKEN_KEY_LEN);
    s->claims = *claims;
    s->len = (uint16_t)len;
}

/* bench_hcache: lookups per second of the hydration cache (store/hcache.h), and of a baseline
 * measured the same way, for bench/hcache/run.sh to print as ratios.
 *
 *   bench_hcache --driver mem|kvmem|redis|rawget [--url redis://...] [--threads T]
 *                [--seconds S] [--keys K] [--batch B] [--value-bytes V] [--reset-stats 1]
 *
 * Every driver first holds K keys of V bytes; then T threads look up batches of B random keys
 * for S seconds. mem: the in-process hcache (get_many); kvmem: the in-process kv store, one
 * ch_kv_get per key (the baseline of mem); redis: the Redis hcache (one pipelined EVALSHA per
 * key per batch); rawget: plain GETs, B pipelined per round trip, one hiredis connection per
 * thread (the baseline of redis). --reset-stats 1: CONFIG RESETSTAT after the fill (run.sh
 * reads the server's CPU per command after). Prints "keys_per_s=X hits=Y". */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "store/hcache.h"
#include "store/kv.h"

typedef struct {
    const char *driver, *url;
    int threads, keys, batch, value_bytes, reset_stats;
    double seconds;
    ch_hcache_t *c;
    ch_kv_t *kv;
    char host[128];
    int port;
    atomic_ullong looked, hits;
} bench_t;

static void key_of(char *buf, int i)
{
    snprintf(buf, CH_HCACHE_KEY_MAX + 1, "i:1:%d", 1000000 + i);
}

static void fill(bench_t *b)
{
    char *val = malloc((size_t)b->value_bytes);
    memset(val, 'v', (size_t)b->value_bytes);
    char keys[64][CH_HCACHE_KEY_MAX + 1];
    for (int i = 0; i < b->keys; i += 64) {
        int n = b->keys - i < 64 ? b->keys - i : 64;
        const char *kp[64], *vp[64];
        size_t lens[64];
        uint64_t leases[64];
        for (int j = 0; j < n; j++) {
            key_of(keys[j], i + j);
            kp[j] = keys[j];
            vp[j] = val;
            lens[j] = (size_t)b->value_bytes;
        }
        if (b->kv) {
            for (int j = 0; j < n; j++)
                ch_kv_set(b->kv, kp[j], val, lens[j], 0);
            continue;
        }
        ch_hcache_got_t got[64];
        if (ch_hcache_get_many(b->c, kp, (size_t)n, got) != CH_OK) {
            fprintf(stderr, "bench_hcache: the cache is unavailable\n");
            exit(1);
        }
        for (int j = 0; j < n; j++) {
            leases[j] = got[j].lease;
            free(got[j].val);
        }
        ch_hcache_put_many(b->c, kp, vp, lens, leases, (size_t)n);
    }
    free(val);
}

static void *run(void *p)
{
    bench_t *b = p;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    char (*keys)[CH_HCACHE_KEY_MAX + 1] = calloc((size_t)b->batch, sizeof(*keys));
    const char **kp = calloc((size_t)b->batch, sizeof(*kp));
    ch_hcache_got_t *got = calloc((size_t)b->batch, sizeof(*got));
    redisContext *rc = strcmp(b->driver, "rawget") == 0 ? redisConnect(b->host, b->port) : NULL;
    uint64_t looked = 0, hits = 0;
    int64_t end = ch_mono_ms() + (int64_t)(b->seconds * 1000);
    while (ch_mono_ms() < end) {
        for (int j = 0; j < b->batch; j++) {
            seed = seed * 1103515245u + 12345u;
            key_of(keys[j], (int)((seed >> 8) % (unsigned)b->keys));
            kp[j] = keys[j];
        }
        if (rc) {
            for (int j = 0; j < b->batch; j++)
                redisAppendCommand(rc, "GET %s", kp[j]);
            for (int j = 0; j < b->batch; j++) {
                redisReply *r;
                if (redisGetReply(rc, (void **)&r) != REDIS_OK) {
                    fprintf(stderr, "bench_hcache: redis: %s\n", rc->errstr);
                    exit(1);
                }
                hits += r->type == REDIS_REPLY_STRING;
                freeReplyObject(r);
            }
        } else if (b->kv) {
            for (int j = 0; j < b->batch; j++) {
                char *v = NULL;
                ch_kv_get(b->kv, kp[j], &v, NULL);
                hits += v != NULL;
                free(v);
            }
        } else {
            ch_hcache_get_many(b->c, kp, (size_t)b->batch, got);
            for (int j = 0; j < b->batch; j++) {
                hits += got[j].val != NULL;
                free(got[j].val);
            }
        }
        looked += (uint64_t)b->batch;
    }
    atomic_fetch_add(&b->looked, looked);
    atomic_fetch_add(&b->hits, hits);
    if (rc)
        redisFree(rc);
    free(keys);
    free(kp);
    free(got);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_t b = {.driver = "mem", .threads = 1, .keys = 100000, .batch = 20, .value_bytes = 300, .seconds = 3};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--driver"))
            b.driver = v;
        else if (!strcmp(a, "--url"))
            b.url = v;
        else if (!strcmp(a, "--threads"))
            b.threads = atoi(v);
        else if (!strcmp(a, "--seconds"))
            b.seconds = atof(v);
        else if (!strcmp(a, "--keys"))
            b.keys = atoi(v);
        else if (!strcmp(a, "--batch"))
            b.batch = atoi(v);
        else if (!strcmp(a, "--value-bytes"))
            b.value_bytes = atoi(v);
        else if (!strcmp(a, "--reset-stats"))
            b.reset_stats = atoi(v);
        else {
            fprintf(stderr, "bench_hcache: unknown option %s\n", a);
            return 2;
        }
    }
    if (b.threads < 1 || b.threads > 64 || b.keys < 1 || b.batch < 1 || b.batch > CH_HCACHE_BATCH_MAX ||
        b.value_bytes < 1 || b.value_bytes > CH_HCACHE_VALUE_MAX) {
        fprintf(stderr, "bench_hcache: bad arguments\n");
        return 2;
    }
    char err[256];
    int redis = !strcmp(b.driver, "redis") || !strcmp(b.driver, "rawget");
    if (redis && (!b.url || sscanf(b.url, "redis://%127[^:/]:%d", b.host, &b.port) != 2)) {
        fprintf(stderr, "bench_hcache: --url redis://host:port needed\n");
        return 2;
    }
    ch_kv_t *kv = NULL;
    if (redis || !strcmp(b.driver, "kvmem")) {
        if (ch_kv_open(redis ? b.url : NULL, &kv, err, sizeof(err)) != CH_OK) {
            fprintf(stderr, "bench_hcache: %s\n", err);
            return 1;
        }
    }
    if (!strcmp(b.driver, "mem"))
        b.c = ch_hcache_mem_create((size_t)1 << 30, 0);
    else if (!strcmp(b.driver, "redis"))
        b.c = ch_hcache_redis_create(kv, 600000);
    else if (!strcmp(b.driver, "kvmem") || !strcmp(b.driver, "rawget")) /* rawget: the kv store fills */
        b.kv = kv;
    else {
        fprintf(stderr, "bench_hcache: unknown driver %s\n", b.driver);
        return 2;
    }
    fill(&b);
    if (redis && b.reset_stats) { /* the server's counters then hold the lookups only */
        redisContext *rc = redisConnect(b.host, b.port);
        redisReply *r = rc && !rc->err ? redisCommand(rc, "CONFIG RESETSTAT") : NULL;
        if (r)
            freeReplyObject(r);
        if (rc)
            redisFree(rc);
    }
    pthread_t th[64];
    for (int t = 0; t < b.threads; t++)
        pthread_create(&th[t], NULL, run, &b);
    for (int t = 0; t < b.threads; t++)
        pthread_join(th[t], NULL);
    printf("keys_per_s=%.0f hits=%.3f\n", (double)atomic_load(&b.looked) / b.seconds,
           atomic_load(&b.looked) ? (double)atomic_load(&b.hits) / (double)atomic_load(&b.looked) : 0);
    ch_hcache_destroy(b.c);
    ch_kv_close(kv);
    return 0;
}

/* kv_multi.h: several GETs in one round trip; a counter that only moves up. */
#include "store/kv_multi.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/kv_redis.h"

/* ---- get many ------------------------------------------------------------------------ */

typedef struct {
    const char *const *keys;
    size_t n;
    char **vals;
} ch__kvm_get_arg_t;

static int ch__kvm_get_build(redisContext *c, void *arg, char sha[][41])
{
    (void)sha;
    ch__kvm_get_arg_t *a = arg;
    for (size_t i = 0; i < a->n; i++)
        if (redisAppendCommand(c, "GET %s", a->keys[i]) != REDIS_OK)
            return -1;
    return (int)a->n;
}

static ch_err_t ch__kvm_get_take(redisReply **reps, int n, void *arg)
{
    ch__kvm_get_arg_t *a = arg;
    if ((size_t)n != a->n)
        return CH_EINTERNAL;
    for (int i = 0; i < n; i++) {
        if (reps[i]->type == REDIS_REPLY_NIL)
            continue;
        if (reps[i]->type != REDIS_REPLY_STRING || !(a->vals[i] = malloc(reps[i]->len + 1)))
            return CH_EINTERNAL;
        memcpy(a->vals[i], reps[i]->str, reps[i]->len);
        a->vals[i][reps[i]->len] = '\0';
    }
    return CH_OK;
}

static void ch__kvm_clear(char **vals, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(vals[i]);
        vals[i] = NULL;
    }
}

ch_err_t ch_kv_get_many(ch_kv_t *kv, const char *const *keys, size_t n, char **vals)
{
    memset(vals, 0, n * sizeof(*vals));
    if (n == 0)
        return CH_OK;
    void *pool = ch__kv_redis_pool_of(kv);
    ch_err_t err = CH_OK;
    if (pool) {
        ch__kvm_get_arg_t a = {keys, n, vals};
        err = ch__kv_redis_pipeline(pool, ch__kv_redis_breaker_of(kv), NULL, "kv get many", ch__kvm_get_build,
                                    ch__kvm_get_take, &a);
    } else {
        for (size_t i = 0; err == CH_OK && i < n; i++)
            err = ch_kv_get(kv, keys[i], &vals[i], NULL);
    }
    if (err)
        ch__kvm_clear(vals, n);
    return err;
}

/* ---- set max ------------------------------------------------------------------------- */

static const char *const ch__kvm_scripts_src[] = {
    "local v = tonumber(redis.call('GET', KEYS[1]))\n"
    "local n = tonumber(ARGV[1])\n"
    "local ttl = tonumber(ARGV[2])\n"
    "if v == nil or v < n then v = n redis.call('SET', KEYS[1], ARGV[1]) end\n"
    "if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end\n"
    "return v\n"};

static ch__kv_redis_scripts_t ch__kvm_scripts;
static pthread_once_t ch__kvm_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t ch__kvm_mem_mu = PTHREAD_MUTEX_INITIALIZER;

static void ch__kvm_init(void)
{
    ch__kv_redis_scripts_init(&ch__kvm_scripts, ch__kvm_scripts_src, 1);
}

typedef struct {
    const char *key;
    long long value, ttl, now;
} ch__kvm_max_arg_t;

static int ch__kvm_max_build(redisContext *c, void *arg, char sha[][41])
{
    ch__kvm_max_arg_t *a = arg;
    return redisAppendCommand(c, "EVALSHA %s 1 %s %lld %lld", sha[0], a->key, a->value, a->ttl) == REDIS_OK ? 1 : -1;
}

static ch_err_t ch__kvm_max_take(redisReply **reps, int n, void *arg)
{
    ch__kvm_max_arg_t *a = arg;
    if (n != 1 || reps[0]->type != REDIS_REPLY_INTEGER)
        return CH_EINTERNAL;
    a->now = reps[0]->integer;
    return CH_OK;
}

ch_err_t ch_kv_set_max(ch_kv_t *kv, const char *key, int64_t value, int64_t ttl_ms, int64_t *now_out)
{
    void *pool = ch__kv_redis_pool_of(kv);
    ch__kvm_max_arg_t a = {key, value, ttl_ms > 0 ? ttl_ms : 0, value};
    ch_err_t err;
    if (pool) {
        pthread_once(&ch__kvm_once, ch__kvm_init);
        err = ch__kv_redis_pipeline(pool, ch__kv_redis_breaker_of(kv), &ch__kvm_scripts, "kv set max",
                                    ch__kvm_max_build, ch__kvm_max_take, &a);
    } else {
        char *v = NULL, buf[24];
        pthread_mutex_lock(&ch__kvm_mem_mu);
        err = ch_kv_get(kv, key, &v, NULL);
        if (err == CH_OK && v && strtoll(v, NULL, 10) >= value)
            a.now = strtoll(v, NULL, 10);
        int len = snprintf(buf, sizeof(buf), "%lld", a.now);
        if (err == CH_OK)
            err = ch_kv_set(kv, key, buf, (size_t)len, ttl_ms);
        pthread_mutex_unlock(&ch__kvm_mem_mu);
        free(v);
    }
    if (err == CH_OK && now_out)
        *now_out = a.now;
    return err;
}

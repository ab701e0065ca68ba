/* Pipelined calls with Lua scripts on the kv Redis driver's connection pool (kv_redis.h),
 * for the stores that share it: one round trip per call, scripts loaded with SCRIPT LOAD on
 * first use and again after NOSCRIPT, through a circuit breaker (the kv store's, or the
 * store's own as timeline_redis.c's). */
#include "store/kv_redis.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"

void ch__kv_redis_scripts_init(ch__kv_redis_scripts_t *s, const char *const *src, int n)
{
    memset(s, 0, sizeof(*s));
    s->src = src;
    s->n = n < CH__KV_REDIS_SCRIPTS_MAX ? n : CH__KV_REDIS_SCRIPTS_MAX;
    pthread_mutex_init(&s->mu, NULL);
}

void ch__kv_redis_scripts_clear(ch__kv_redis_scripts_t *s)
{
    pthread_mutex_destroy(&s->mu);
}

static int ch__is_error(const redisReply *rep, const char *prefix)
{
    size_t n = strlen(prefix);
    return rep->type == REDIS_REPLY_ERROR && rep->len >= n && strncmp(rep->str, prefix, n) == 0;
}

/* SCRIPT LOAD of every script on c (pipelined) when they are not known yet. *gave_back is
 * set when the connection was released or dropped (then the answer is the call's). */
static ch_err_t ch__load_scripts(void *pool, ch__kv_redis_scripts_t *s, ch__kv_rconn_t *h, redisContext *c,
                                 int *gave_back)
{
    pthread_mutex_lock(&s->mu);
    int loaded = s->sha[s->n - 1][0] != '\0';
    pthread_mutex_unlock(&s->mu);
    if (loaded)
        return CH_OK;
    for (int i = 0; i < s->n; i++)
        if (redisAppendCommand(c, "SCRIPT LOAD %s", s->src[i]) != REDIS_OK)
            return *gave_back = 1, ch__kv_redis_conn_broken(pool, h, "SCRIPT LOAD");
    redisReply *reps[CH__KV_REDIS_SCRIPTS_MAX] = {0};
    for (int i = 0; i < s->n; i++) {
        if (redisGetReply(c, (void **)&reps[i]) != REDIS_OK) {
            for (int j = 0; j < i; j++)
                freeReplyObject(reps[j]);
            return *gave_back = 1, ch__kv_redis_conn_broken(pool, h, "SCRIPT LOAD");
        }
    }
    redisReply *bad = NULL;
    for (int i = 0; i < s->n; i++) {
        if (!bad && (reps[i]->type != REDIS_REPLY_STRING || reps[i]->len != 40)) {
            bad = reps[i];
            reps[i] = NULL;
        }
    }
    if (!bad) {
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < s->n; i++)
            memcpy(s->sha[i], reps[i]->str, 41);
        pthread_mutex_unlock(&s->mu);
    }
    for (int i = 0; i < s->n; i++)
        if (reps[i])
            freeReplyObject(reps[i]);
    if (!bad)
        return CH_OK;
    *gave_back = 1;
    if (bad->type == REDIS_REPLY_ERROR)
        return ch__kv_redis_conn_error_reply(pool, h, bad, "SCRIPT LOAD", CH_EINTERNAL);
    freeReplyObject(bad);
    return ch__kv_redis_conn_broken(pool, h, "SCRIPT LOAD");
}

static ch_err_t ch__exec(void *pool, ch__kv_redis_scripts_t *scripts, const char *op, ch__kv_redis_build_fn build,
                         ch__kv_redis_take_fn take, void *arg)
{
    for (int attempt = 0;; attempt++) {
        ch__kv_rconn_t *h;
        redisContext *c = ch__kv_redis_conn_acquire(pool, &h);
        if (!c)
            return CH_EUNAVAILABLE;
        char sha[CH__KV_REDIS_SCRIPTS_MAX][41] = {{0}};
        if (scripts) {
            int gave_back = 0;
            ch_err_t err = ch__load_scripts(pool, scripts, h, c, &gave_back);
            if (gave_back)
                return err != CH_OK ? err : CH_EINTERNAL;
            pthread_mutex_lock(&scripts->mu);
            memcpy(sha, scripts->sha, sizeof(sha));
            pthread_mutex_unlock(&scripts->mu);
        }
        int n = build(c, arg, sha);
        if (n < 0)
            return ch__kv_redis_conn_broken(pool, h, op);
        redisReply **reps = ch_calloc((size_t)n + 1, sizeof(*reps));
        for (int i = 0; i < n; i++) {
            if (redisGetReply(c, (void **)&reps[i]) != REDIS_OK) {
                for (int j = 0; j < i; j++)
                    freeReplyObject(reps[j]);
                free(reps);
                return ch__kv_redis_conn_broken(pool, h, op);
            }
        }
        int noscript = 0;
        redisReply *bad = NULL;
        for (int i = 0; i < n; i++) {
            if (scripts && ch__is_error(reps[i], "NOSCRIPT"))
                noscript = 1;
            else if (!bad && reps[i]->type == REDIS_REPLY_ERROR)
                bad = reps[i];
        }
        if (bad) {
            for (int i = 0; i < n; i++)
                if (reps[i] != bad)
                    freeReplyObject(reps[i]);
            free(reps);
            return ch__kv_redis_conn_error_reply(pool, h, bad, op, CH_EINTERNAL);
        }
        if (noscript) {
            for (int i = 0; i < n; i++)
                freeReplyObject(reps[i]);
            free(reps);
            ch__kv_redis_conn_release(pool, h);
            pthread_mutex_lock(&scripts->mu);
            memset(scripts->sha, 0, sizeof(scripts->sha));
            pthread_mutex_unlock(&scripts->mu);
            if (attempt == 0)
                continue;
            ch_log_warn("redis %s: scripts missing right after SCRIPT LOAD", op);
            return CH_EINTERNAL;
        }
        ch_err_t err = take(reps, n, arg);
        for (int i = 0; i < n; i++)
            freeReplyObject(reps[i]);
        free(reps);
        if (err != CH_OK)
            return ch__kv_redis_conn_broken(pool, h, op); /* not the replies we sent for */
        ch__kv_redis_conn_release(pool, h);
        return CH_OK;
    }
}

ch_err_t ch__kv_redis_pipeline(void *pool, ch_kv_breaker_t *brk, ch__kv_redis_scripts_t *scripts, const char *op,
                               ch__kv_redis_build_fn build, ch__kv_redis_take_fn take, void *arg)
{
    if (brk && !ch_kv_breaker_allow(brk))
        return CH_EUNAVAILABLE;
    ch_err_t err = ch__exec(pool, scripts, op, build, take, arg);
    if (brk && err == CH_EUNAVAILABLE)
        ch_kv_breaker_trip(brk, op);
    return err;
}

/* The Redis kv driver's connection pool, shared with the other Redis-backed stores
 * (store/timeline_redis.c), so that lazy connecting, the 1 s timeouts, retiring dead
 * connections, AUTH/SELECT and server-change detection live in one place (kv_redis.c).
 * A store opens a pool of its own with ch_kv_redis_driver.open(url, &impl, ...), closes it
 * with ch_kv_redis_driver.close(impl), and may hand impl to a breaker (kv_breaker.h), whose
 * probe pings through it. */
#ifndef CH_STORE_KV_REDIS_H
#define CH_STORE_KV_REDIS_H

#include <hiredis/hiredis.h>
#include <pthread.h>

#include "store/kv.h"
#include "store/kv_breaker.h"

/* A pooled connection (opaque outside kv_redis.c). */
typedef struct ch__kv_rconn ch__kv_rconn_t;

/** Takes a connection of the pool impl (or makes one); returns its context (borrowed) and
 * sets *handle, or NULL (logged) when Redis cannot be reached. Give it back with exactly one
 * of the three calls below. */
redisContext *ch__kv_redis_conn_acquire(void *impl, ch__kv_rconn_t **handle);
/** Gives back a connection that is in step (every reply read). */
void ch__kv_redis_conn_release(void *impl, ch__kv_rconn_t *handle);
/** Drops a connection after an I/O or protocol error (and retires the idle ones); returns
 * CH_EUNAVAILABLE. */
ch_err_t ch__kv_redis_conn_broken(void *impl, ch__kv_rconn_t *handle, const char *cmd);
/** Classifies an error reply on a connection in step: a refusal (LOADING, NOAUTH, OOM, ...)
 * drops it and answers CH_EUNAVAILABLE; anything else gives it back and answers other.
 * Takes ownership of rep and handle. */
ch_err_t ch__kv_redis_conn_error_reply(void *impl, ch__kv_rconn_t *handle, redisReply *rep, const char *cmd,
                                       ch_err_t other);

/** Takes a connection out of the pool for good (a subscriber connection, store/bus_redis.c):
 * returns its context, which the caller owns (redisFree), and frees handle. */
redisContext *ch__kv_redis_conn_detach(void *impl, ch__kv_rconn_t *handle);

/** The pool (a kv Redis driver impl) and the breaker of kv, for a store that shares the kv
 * store's connections and outage state (store/hcache_redis.c); NULL when kv is not a Redis
 * store. Borrowed: owned by kv. */
void *ch__kv_redis_pool_of(ch_kv_t *kv);
ch_kv_breaker_t *ch__kv_redis_breaker_of(ch_kv_t *kv);

/* ---- pipelines with scripts (kv_redis_pipe.c) ---------------------------------------- */

#define CH__KV_REDIS_SCRIPTS_MAX 8

/* A store's Lua scripts, loaded with SCRIPT LOAD on first use and again after NOSCRIPT (a
 * restarted or flushed server). */
typedef struct {
    const char *const *src; /* n sources, static */
    int n;
    pthread_mutex_t mu;
    char sha[CH__KV_REDIS_SCRIPTS_MAX][41]; /* under mu; "" = not loaded */
} ch__kv_redis_scripts_t;

/** Prepares s for the n (<= CH__KV_REDIS_SCRIPTS_MAX) scripts src (borrowed, static). */
void ch__kv_redis_scripts_init(ch__kv_redis_scripts_t *s, const char *const *src, int n);
/** Frees what init made. */
void ch__kv_redis_scripts_clear(ch__kv_redis_scripts_t *s);

/* Appends a call's commands to c (sha: the loaded scripts' digests); returns how many, -1 on
 * OOM. */
typedef int (*ch__kv_redis_build_fn)(redisContext *c, void *arg, char sha[][41]);
/* Reads the replies (none an error at the top level); CH_EINTERNAL if their shape is wrong
 * (the connection is then dropped). */
typedef ch_err_t (*ch__kv_redis_take_fn)(redisReply **reps, int n, void *arg);

/** One pipelined round trip on a connection of pool (plus SCRIPT LOAD of scripts, when not
 * NULL and not loaded; once more after NOSCRIPT), through the breaker brk (may be NULL):
 * refused at once while Redis is down, and an unavailable answer trips it. An error reply
 * fails the call (a refusal as CH_EUNAVAILABLE); op names the call in logs. */
ch_err_t ch__kv_redis_pipeline(void *pool, ch_kv_breaker_t *brk, ch__kv_redis_scripts_t *scripts, const char *op,
                               ch__kv_redis_build_fn build, ch__kv_redis_take_fn take, void *arg);

#endif

/* The Redis kv driver's connection pool, shared with the other Redis-backed stores
 * (store/timeline_redis.c), so that lazy connecting, the 1 s timeouts, retiring dead
 * connections, AUTH/SELECT and server-change detection live in one place (kv_redis.c).
 * A store opens a pool of its own with ch_kv_redis_driver.open(url, &impl, ...), closes it
 * with ch_kv_redis_driver.close(impl), and may hand impl to a breaker (kv_breaker.h), whose
 * probe pings through it. */
#ifndef CH_STORE_KV_REDIS_H
#define CH_STORE_KV_REDIS_H

#include <hiredis/hiredis.h>

#include "store/kv.h"

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

#endif

/* Key-value store: the Redis driver (hiredis, blocking).
 *
 * A pool of redisContext: a mutex-guarded free list that grows on demand, so the pool ends
 * up with one connection per thread that calls concurrently (the worker pool bounds it).
 * Nothing connects at open(): Redis may be down when chorusd starts, and must be allowed to
 * come back later without reopening the store. So:
 *   - a connection that sees an I/O or protocol error (refused, reset, timeout, garbage) is
 *     freed, never returned to the pool, and the call answers CH_EUNAVAILABLE;
 *   - such an error also retires every idle connection (a generation counter), since they
 *     most likely point at the same dead server;
 *   - an idle connection is checked with a zero-timeout poll() before reuse; a readable
 *     idle socket means the server closed it (restart, idle timeout), so it is dropped
 *     before a command is sent on it;
 *   - the next call simply connects again;
 *   - every new connection reads the server's run_id (INFO server), which Redis draws at
 *     random at each start: a different one than the last connection saw means a restarted
 *     server or another one (failover), whose dataset may be older than what this process saw
 *     (an RDB/AOF restore brings back keys deleted since). server_changed_at() then answers
 *     the time, before any command on the new server answers; ch_kv_recovered_at() counts
 *     it as a recovery, so session ok marks written before it no longer vouch. A restart
 *     quick enough that no call failed (the pooled sockets were found closed and silently
 *     replaced) is caught this way. A server that refuses INFO (ACL): the first connection
 *     after a pooled one was found closed by the server counts as a change instead.
 * Connect and command timeouts are 1 s, so a black-holed server costs a caller at most ~1 s;
 * store/kv_breaker.c then makes further calls fail at once until a probe finds it back.
 * Failures are logged once per up->down change and once when the server is back. */
#include "store/kv.h"
#include "store/kv_redis.h"

#include <ctype.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

#define CH__KV_REDIS_DEFAULT_PORT 6379
#define CH__KV_REDIS_TIMEOUT_MS 1000
#define CH__KV_REDIS_MAX_HOST 255
#define CH__KV_REDIS_MAX_SECRET 512
#define CH__KV_REDIS_RUN_ID_LEN 40 /* hex digits of INFO server's run_id */

typedef struct ch__kv_rconn {
    redisContext *c;
    uint64_t gen; /* pool generation when it was made */
} ch__kv_rconn_t;

typedef struct {
    char *host;
    int port;
    int db;
    char *user; /* NULL: AUTH with the password alone */
    char *pass; /* NULL: no AUTH */

    pthread_mutex_t mu;
    ch__kv_rconn_t **idle; /* free list, a stack */
    size_t nidle, idle_cap;
    uint64_t gen;
    char run_id[CH__KV_REDIS_RUN_ID_LEN + 1]; /* under mu: the server's, as last seen; "" unknown */
    int lost;                                 /* under mu: a pooled connection was found closed */
    atomic_llong changed_at_ms;               /* unix ms of the last change of server; 0 never */

    atomic_int down; /* 1 after a failure was logged, back to 0 (logged) on success */
} ch__kv_redis_t;

/* ---- URL parsing -------------------------------------------------------------------- */

static int ch__kv_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Copies [p, p+n) with %XX decoded into a new string; NULL on bad escape or OOM. */
static char *ch__kv_pct_decode(const char *p, size_t n)
{
    char *out = ch_malloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%') {
            int hi = i + 2 < n ? ch__kv_hexval((unsigned char)p[i + 1]) : -1;
            int lo = hi >= 0 ? ch__kv_hexval((unsigned char)p[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = p[i];
        }
    }
    *o = '\0';
    return out;
}

/* Parses a decimal in [lo, hi] spanning exactly [p, p+n). */
static int ch__kv_parse_int(const char *p, size_t n, long lo, long hi, int *out)
{
    if (n == 0 || n > 10)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* redis://[[user]:password@]host[:port][/db]. Error messages never repeat the password. */
static int ch__kv_redis_parse_url(ch__kv_redis_t *r, const char *url, char *errbuf, size_t errlen)
{
    const char *p = url + strlen("redis://");
    const char *auth_end = p + strcspn(p, "/?#");
    if (*auth_end == '?' || *auth_end == '#') {
        snprintf(errbuf, errlen, "kv redis: URL query strings and fragments are not supported");
        return -1;
    }

    const char *at = NULL;
    for (const char *q = p; q < auth_end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon) {
            snprintf(errbuf, errlen, "kv redis: credentials in the URL must be ':password@' or 'user:password@'");
            return -1;
        }
        if ((size_t)(at - colon - 1) > CH__KV_REDIS_MAX_SECRET || (size_t)(colon - p) > CH__KV_REDIS_MAX_SECRET) {
            snprintf(errbuf, errlen, "kv redis: credentials in the URL are too long");
            return -1;
        }
        if (colon > p) {
            r->user = ch__kv_pct_decode(p, (size_t)(colon - p));
            if (!r->user) {
                snprintf(errbuf, errlen, "kv redis: bad %%-escape in the URL user name");
                return -1;
            }
        }
        r->pass = ch__kv_pct_decode(colon + 1, (size_t)(at - colon - 1));
        if (!r->pass) {
            snprintf(errbuf, errlen, "kv redis: bad %%-escape in the URL password");
            return -1;
        }
        if (!r->user && !r->pass[0]) { /* "redis://:@host": no password at all */
            free(r->pass);
            r->pass = NULL;
        }
        p = at + 1;
    }

    /* host[:port], host may be a bracketed IPv6 literal */
    const char *host = p, *host_end, *port = NULL;
    if (*p == '[') {
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(auth_end - host));
        if (!host_end) {
            snprintf(errbuf, errlen, "kv redis: unterminated '[' in the URL host");
            return -1;
        }
        if (host_end + 1 < auth_end) {
            if (host_end[1] != ':') {
                snprintf(errbuf, errlen, "kv redis: unexpected text after ']' in the URL host");
                return -1;
            }
            port = host_end + 2;
        }
    } else {
        host_end = memchr(host, ':', (size_t)(auth_end - host));
        if (host_end)
            port = host_end + 1;
        else
            host_end = auth_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen > CH__KV_REDIS_MAX_HOST) {
        snprintf(errbuf, errlen, "kv redis: the URL needs a host, e.g. redis://127.0.0.1:6379");
        return -1;
    }
    r->port = CH__KV_REDIS_DEFAULT_PORT;
    if (port && ch__kv_parse_int(port, (size_t)(auth_end - port), 1, 65535, &r->port) != 0) {
        snprintf(errbuf, errlen, "kv redis: the URL port must be a number in 1..65535");
        return -1;
    }
    r->host = ch_strndup(host, hlen);
    if (!r->host) {
        snprintf(errbuf, errlen, "kv redis: out of memory");
        return -1;
    }

    r->db = 0;
    if (*auth_end == '/' && auth_end[1] &&
        ch__kv_parse_int(auth_end + 1, strlen(auth_end + 1), 0, 1000000, &r->db) != 0) {
        snprintf(errbuf, errlen, "kv redis: the URL path must be a database number, e.g. redis://host:6379/0");
        return -1;
    }
    return 0;
}

/* ---- connection pool ---------------------------------------------------------------- */

/* Logs the first failure after a healthy period; later ones stay quiet until recovery. */
static void ch__kv_redis_mark_down(ch__kv_redis_t *r, const char *what, const char *detail)
{
    if (atomic_exchange(&r->down, 1) == 0)
        ch_log_warn("kv redis %s:%d unavailable (%s: %s)", r->host, r->port,
                    what, detail ? detail : "?");
}

static void ch__kv_redis_mark_up(ch__kv_redis_t *r)
{
    if (atomic_load_explicit(&r->down, memory_order_relaxed) && atomic_exchange(&r->down, 0) == 1)
        ch_log_warn("kv redis %s:%d is reachable again", r->host, r->port);
}

static void ch__kv_rconn_free(ch__kv_rconn_t *rc)
{
    if (!rc)
        return;
    if (rc->c)
        redisFree(rc->c);
    free(rc);
}

/* A healthy idle connection has nothing to read; readable means EOF, reset or stray data. */
static int ch__kv_rconn_stale(const ch__kv_rconn_t *rc)
{
    if (rc->c->err)
        return 1;
    struct pollfd pfd = {.fd = rc->c->fd, .events = POLLIN};
    return poll(&pfd, 1, 0) != 0;
}

static int ch__kv_redis_unavailable_reply(const redisReply *rep);

/* Compares the run_id in an INFO server reply (or an error: unknown) with the last one seen
 * and records a change of server (see the top of the file). */
static void ch__kv_redis_note_server(ch__kv_redis_t *r, const redisReply *rep)
{
    char id[CH__KV_REDIS_RUN_ID_LEN + 1] = "";
    const char *p = rep->type == REDIS_REPLY_STRING ? rep->str : NULL;
    if (p && (p = strstr(p, "run_id:")) != NULL) {
        p += strlen("run_id:");
        size_t n = strspn(p, "0123456789abcdefABCDEF");
        if (n == CH__KV_REDIS_RUN_ID_LEN)
            memcpy(id, p, n);
    }
    pthread_mutex_lock(&r->mu);
    int changed = id[0] ? r->run_id[0] && strcmp(id, r->run_id) != 0 : r->lost;
    if (id[0])
        memcpy(r->run_id, id, sizeof(id));
    r->lost = 0;
    if (changed)
        atomic_store(&r->changed_at_ms, ch_now_ms());
    pthread_mutex_unlock(&r->mu);
    if (changed)
        ch_log_warn("kv redis %s:%d is %s; values written before now are not trusted to be current", r->host,
                    r->port, id[0] ? "another server or a restarted one (run_id changed)"
                                   : "back after closing a connection (INFO refused: run_id unknown)");
}

/* Runs AUTH / SELECT on a fresh connection, then notes the server's run_id; 0 on success. */
static int ch__kv_redis_handshake(ch__kv_redis_t *r, redisContext *c, const char **what, char *detail, size_t dlen)
{
    redisReply *rep = NULL;
    if (r->pass) {
        *what = "AUTH";
        rep = r->user ? redisCommand(c, "AUTH %s %s", r->user, r->pass) : redisCommand(c, "AUTH %s", r->pass);
        if (!rep || rep->type == REDIS_REPLY_ERROR)
            goto fail;
        freeReplyObject(rep);
    }
    if (r->db != 0) {
        *what = "SELECT";
        rep = redisCommand(c, "SELECT %d", r->db);
        if (!rep || rep->type == REDIS_REPLY_ERROR)
            goto fail;
        freeReplyObject(rep);
    }
    *what = "INFO";
    rep = redisCommand(c, "INFO server");
    if (!rep || (rep->type == REDIS_REPLY_ERROR && ch__kv_redis_unavailable_reply(rep) &&
                 strncmp(rep->str, "NOPERM", 6) != 0))
        goto fail;
    ch__kv_redis_note_server(r, rep);
    freeReplyObject(rep);
    return 0;
fail:
    snprintf(detail, dlen, "%s", rep ? rep->str : c->errstr);
    if (rep)
        freeReplyObject(rep);
    return -1;
}

/* Takes an idle connection or makes a new one. NULL (logged) when Redis cannot be reached. */
static ch__kv_rconn_t *ch__kv_redis_acquire(ch__kv_redis_t *r)
{
    for (;;) {
        pthread_mutex_lock(&r->mu);
        ch__kv_rconn_t *rc = r->nidle ? r->idle[--r->nidle] : NULL;
        pthread_mutex_unlock(&r->mu);
        if (!rc)
            break;
        if (!ch__kv_rconn_stale(rc))
            return rc;
        ch__kv_rconn_free(rc);
        pthread_mutex_lock(&r->mu);
        r->lost = 1;
        pthread_mutex_unlock(&r->mu);
    }

    ch__kv_rconn_t *rc = ch_calloc(1, sizeof(*rc));
    pthread_mutex_lock(&r->mu);
    rc->gen = r->gen;
    pthread_mutex_unlock(&r->mu);

    const struct timeval tv = {.tv_sec = CH__KV_REDIS_TIMEOUT_MS / 1000,
                               .tv_usec = (CH__KV_REDIS_TIMEOUT_MS % 1000) * 1000};
    const char *what = "connect";
    char detail[256];
    rc->c = redisConnectWithTimeout(r->host, r->port, tv);
    if (!rc->c || rc->c->err) {
        snprintf(detail, sizeof(detail), "%s", rc->c ? rc->c->errstr : "out of memory");
        goto fail;
    }
    if (redisSetTimeout(rc->c, tv) != REDIS_OK) {
        snprintf(detail, sizeof(detail), "cannot set socket timeout");
        goto fail;
    }
    redisEnableKeepAlive(rc->c); /* best effort: finds half-open sockets of idle connections */
    if (ch__kv_redis_handshake(r, rc->c, &what, detail, sizeof(detail)) != 0)
        goto fail;
    return rc;
fail:
    ch__kv_redis_mark_down(r, what, detail);
    ch__kv_rconn_free(rc);
    return NULL;
}

/* Gives a healthy connection back. One made before the last failure is dropped instead
 * (as is one that does not fit when the free list cannot grow). */
static void ch__kv_redis_release(ch__kv_redis_t *r, ch__kv_rconn_t *rc)
{
    pthread_mutex_lock(&r->mu);
    if (rc->gen == r->gen) {
        if (r->nidle == r->idle_cap) {
            size_t cap = r->idle_cap ? r->idle_cap * 2 : 16;
            ch__kv_rconn_t **idle = ch_realloc(r->idle, cap * sizeof(*idle));
            if (idle) {
                r->idle = idle;
                r->idle_cap = cap;
            }
        }
        if (r->nidle < r->idle_cap) {
            r->idle[r->nidle++] = rc;
            rc = NULL;
        }
    }
    pthread_mutex_unlock(&r->mu);
    ch__kv_rconn_free(rc);
    ch__kv_redis_mark_up(r);
}

/* Drops a connection after an I/O or protocol error, and retires the idle ones with it. */
static ch_err_t ch__kv_redis_broken(ch__kv_redis_t *r, ch__kv_rconn_t *rc, const char *cmd)
{
    ch__kv_redis_mark_down(r, cmd, rc->c->err ? rc->c->errstr : "unexpected reply");
    pthread_mutex_lock(&r->mu);
    ch__kv_rconn_t **drop = r->idle;
    size_t n = r->nidle;
    r->idle = NULL;
    r->nidle = r->idle_cap = 0;
    r->gen++;
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < n; i++) /* outside the lock: redisFree closes sockets */
        ch__kv_rconn_free(drop[i]);
    free(drop);
    ch__kv_rconn_free(rc);
    return CH_EUNAVAILABLE;
}

/* Server-side states that make Redis refuse commands for a while: answer 503 and reconnect. */
static int ch__kv_redis_unavailable_reply(const redisReply *rep)
{
    static const char *const prefixes[] = {"LOADING", "BUSY",    "MASTERDOWN", "TRYAGAIN",  "OOM",
                                           "MISCONF", "READONLY", "NOAUTH",    "WRONGPASS", "NOPERM"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t n = strlen(prefixes[i]);
        if (rep->len >= n && strncmp(rep->str, prefixes[i], n) == 0 &&
            (rep->str[n] == ' ' || rep->str[n] == '\0'))
            return 1;
    }
    return 0;
}

/* Classifies an error reply from a command that the connection survived. A refusal
 * (LOADING, NOAUTH, ...) answers CH_EUNAVAILABLE and drops the connection; anything else is a
 * caller or data problem, logged and answered `other`. Takes ownership of rep and rc. */
static ch_err_t ch__kv_redis_error_reply(ch__kv_redis_t *r, ch__kv_rconn_t *rc, redisReply *rep, const char *cmd,
                                         ch_err_t other)
{
    ch_err_t err = other;
    if (ch__kv_redis_unavailable_reply(rep)) {
        ch__kv_redis_mark_down(r, cmd, rep->str);
        ch__kv_rconn_free(rc);
        err = CH_EUNAVAILABLE;
    } else {
        if (other != CH_EINVAL)
            ch_log_warn("kv redis %s: %s", cmd, rep->str);
        ch__kv_redis_release(r, rc);
    }
    freeReplyObject(rep);
    return err;
}

/* ---- driver ------------------------------------------------------------------------- */

static void ch__kv_redis_close(void *impl);

static ch_err_t ch__kv_redis_open(const char *url, void **impl_out, char *errbuf, size_t errlen)
{
    *impl_out = NULL;
    ch__kv_redis_t *r = ch_calloc(1, sizeof(*r));
    if (!r) {
        snprintf(errbuf, errlen, "kv redis: out of memory");
        return CH_EINTERNAL;
    }
    if (pthread_mutex_init(&r->mu, NULL) != 0) {
        free(r);
        snprintf(errbuf, errlen, "kv redis: cannot create the pool mutex");
        return CH_EINTERNAL;
    }
    atomic_init(&r->down, 0);
    atomic_init(&r->changed_at_ms, 0);
    if (ch__kv_redis_parse_url(r, url, errbuf, errlen) != 0) {
        ch__kv_redis_close(r);
        return CH_EINVAL;
    }
    *impl_out = r;
    return CH_OK;
}

static void ch__kv_redis_close(void *impl)
{
    ch__kv_redis_t *r = impl;
    if (!r)
        return;
    for (size_t i = 0; i < r->nidle; i++)
        ch__kv_rconn_free(r->idle[i]);
    free(r->idle);
    pthread_mutex_destroy(&r->mu);
    free(r->host);
    free(r->user);
    if (r->pass) {
        memset(r->pass, 0, strlen(r->pass)); /* best effort */
        free(r->pass);
    }
    free(r);
}

static ch_err_t ch__kv_redis_get(void *impl, const char *key, char **val_out, size_t *len_out)
{
    ch__kv_redis_t *r = impl;
    ch__kv_rconn_t *rc = ch__kv_redis_acquire(r);
    if (!rc)
        return CH_EUNAVAILABLE;
    redisReply *rep = redisCommand(rc->c, "GET %b", key, strlen(key));
    if (!rep)
        return ch__kv_redis_broken(r, rc, "GET");
    if (rep->type == REDIS_REPLY_ERROR)
        return ch__kv_redis_error_reply(r, rc, rep, "GET", CH_EINTERNAL);
    if (rep->type != REDIS_REPLY_NIL && rep->type != REDIS_REPLY_STRING) {
        freeReplyObject(rep);
        return ch__kv_redis_broken(r, rc, "GET");
    }
    ch_err_t err = CH_OK;
    if (rep->type == REDIS_REPLY_STRING) {
        char *copy = ch_malloc(rep->len + 1);
        if (copy) {
            memcpy(copy, rep->str, rep->len);
            copy[rep->len] = '\0';
            *val_out = copy;
            if (len_out)
                *len_out = rep->len;
        } else {
            err = CH_EINTERNAL;
        }
    }
    freeReplyObject(rep);
    ch__kv_redis_release(r, rc);
    return err;
}

static ch_err_t ch__kv_redis_set(void *impl, const char *key, const char *val, size_t len, int64_t ttl_ms)
{
    ch__kv_redis_t *r = impl;
    ch__kv_rconn_t *rc = ch__kv_redis_acquire(r);
    if (!rc)
        return CH_EUNAVAILABLE;
    redisReply *rep = ttl_ms > 0
                          ? redisCommand(rc->c, "SET %b %b PX %lld", key, strlen(key), val, len, (long long)ttl_ms)
                          : redisCommand(rc->c, "SET %b %b", key, strlen(key), val, len);
    if (!rep)
        return ch__kv_redis_broken(r, rc, "SET");
    if (rep->type == REDIS_REPLY_ERROR)
        return ch__kv_redis_error_reply(r, rc, rep, "SET", CH_EINTERNAL);
    int ok = rep->type == REDIS_REPLY_STATUS;
    freeReplyObject(rep);
    if (!ok)
        return ch__kv_redis_broken(r, rc, "SET");
    ch__kv_redis_release(r, rc);
    return CH_OK;
}

static ch_err_t ch__kv_redis_del(void *impl, const char *key)
{
    ch__kv_redis_t *r = impl;
    ch__kv_rconn_t *rc = ch__kv_redis_acquire(r);
    if (!rc)
        return CH_EUNAVAILABLE;
    redisReply *rep = redisCommand(rc->c, "DEL %b", key, strlen(key));
    if (!rep)
        return ch__kv_redis_broken(r, rc, "DEL");
    if (rep->type == REDIS_REPLY_ERROR)
        return ch__kv_redis_error_reply(r, rc, rep, "DEL", CH_EINTERNAL);
    int ok = rep->type == REDIS_REPLY_INTEGER;
    freeReplyObject(rep);
    if (!ok)
        return ch__kv_redis_broken(r, rc, "DEL");
    ch__kv_redis_release(r, rc);
    return CH_OK;
}

/* Reads the nsent (2 < nsent <= 8) replies of a pipelined MULTI ... EXEC sent on rc. On
 * CH_OK, *exec_out is EXEC's array of nsent - 2 replies (caller frees it) and rc is still
 * borrowed; on an error rc was released or dropped. Every reply is read, even after a bad
 * one, so the connection stays in step; a refusal while queueing (NOAUTH, NOPERM, OOM, ...)
 * explains the EXECABORT that follows, so it is the error worth classifying. */
static ch_err_t ch__kv_redis_exec_replies(ch__kv_redis_t *r, ch__kv_rconn_t *rc, int nsent, const char *cmd,
                                          redisReply **exec_out)
{
    redisReply *replies[8] = {0};
    for (int i = 0; i < nsent; i++) {
        if (redisGetReply(rc->c, (void **)&replies[i]) != REDIS_OK) {
            for (int j = 0; j < i; j++)
                freeReplyObject(replies[j]);
            return ch__kv_redis_broken(r, rc, cmd);
        }
    }
    redisReply *exec = replies[nsent - 1], *refusal = NULL;
    for (int i = 0; i < nsent - 1; i++) {
        if (!refusal && replies[i]->type == REDIS_REPLY_ERROR)
            refusal = replies[i];
        else
            freeReplyObject(replies[i]);
    }
    if (refusal) {
        freeReplyObject(exec);
        return ch__kv_redis_error_reply(r, rc, refusal, cmd, CH_EINTERNAL);
    }
    if (exec->type == REDIS_REPLY_ERROR)
        return ch__kv_redis_error_reply(r, rc, exec, cmd, CH_EINTERNAL);
    if (exec->type != REDIS_REPLY_ARRAY || exec->elements != (size_t)(nsent - 2)) {
        freeReplyObject(exec);
        return ch__kv_redis_broken(r, rc, cmd);
    }
    *exec_out = exec;
    return CH_OK;
}

/* One round trip: MULTI, INCR, PEXPIRE NX, PTTL, EXEC. The transaction makes the three
 * atomic: without it the key could expire (or be deleted) between INCR and PEXPIRE and the
 * window would be lost. PEXPIRE ... NX (Redis 7) sets the expiry only when the key has none,
 * i.e. when INCR just created it, so the window stays fixed. ttl_ms 0 skips PEXPIRE. */
static ch_err_t ch__kv_redis_incr(void *impl, const char *key, int64_t ttl_ms, int64_t *value_out,
                                  int64_t *ttl_left_ms_out)
{
    ch__kv_redis_t *r = impl;
    size_t klen = strlen(key);
    ch__kv_rconn_t *rc = ch__kv_redis_acquire(r);
    if (!rc)
        return CH_EUNAVAILABLE;

    int nsent = 0, ok = 1;
    ok &= redisAppendCommand(rc->c, "MULTI") == REDIS_OK;
    nsent++;
    ok &= redisAppendCommand(rc->c, "INCR %b", key, klen) == REDIS_OK;
    nsent++;
    if (ttl_ms > 0) {
        ok &= redisAppendCommand(rc->c, "PEXPIRE %b %lld NX", key, klen, (long long)ttl_ms) == REDIS_OK;
        nsent++;
    }
    ok &= redisAppendCommand(rc->c, "PTTL %b", key, klen) == REDIS_OK;
    nsent++;
    ok &= redisAppendCommand(rc->c, "EXEC") == REDIS_OK;
    nsent++;
    if (!ok) /* only on OOM; the output buffer is in an unknown state */
        return ch__kv_redis_broken(r, rc, "INCR");

    redisReply *exec = NULL;
    ch_err_t err = ch__kv_redis_exec_replies(r, rc, nsent, "INCR", &exec);
    if (err)
        return err;
    redisReply *incr = exec->element[0], *pttl = exec->element[exec->elements - 1];
    if (incr->type == REDIS_REPLY_ERROR) {
        /* "value is not an integer" or "would overflow": the caller's problem, not Redis's */
        err = ch__kv_redis_unavailable_reply(incr) ? CH_EUNAVAILABLE : CH_EINVAL;
        if (err == CH_EUNAVAILABLE) {
            ch__kv_redis_mark_down(r, "INCR", incr->str);
            ch__kv_rconn_free(rc);
        } else {
            ch__kv_redis_release(r, rc);
        }
        freeReplyObject(exec);
        return err;
    }
    if (incr->type != REDIS_REPLY_INTEGER || pttl->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(exec);
        return ch__kv_redis_broken(r, rc, "INCR");
    }
    *value_out = (int64_t)incr->integer;
    if (ttl_left_ms_out)
        *ttl_left_ms_out = pttl->integer >= 0 ? (int64_t)pttl->integer : -1;
    freeReplyObject(exec);
    ch__kv_redis_release(r, rc);
    return CH_OK;
}

/* One round trip: MULTI, SET, DEL, EXEC, so that no client ever sees one without the other
 * and a failure (the connection lost before EXEC) applies neither. */
static ch_err_t ch__kv_redis_set_del(void *impl, const char *set_key, const char *val, size_t len, int64_t ttl_ms,
                                     const char *del_key)
{
    ch__kv_redis_t *r = impl;
    ch__kv_rconn_t *rc = ch__kv_redis_acquire(r);
    if (!rc)
        return CH_EUNAVAILABLE;
    int ok = redisAppendCommand(rc->c, "MULTI") == REDIS_OK;
    ok &= (ttl_ms > 0 ? redisAppendCommand(rc->c, "SET %b %b PX %lld", set_key, strlen(set_key), val, len,
                                           (long long)ttl_ms)
                      : redisAppendCommand(rc->c, "SET %b %b", set_key, strlen(set_key), val, len)) == REDIS_OK;
    ok &= redisAppendCommand(rc->c, "DEL %b", del_key, strlen(del_key)) == REDIS_OK;
    ok &= redisAppendCommand(rc->c, "EXEC") == REDIS_OK;
    if (!ok) /* only on OOM; the output buffer is in an unknown state */
        return ch__kv_redis_broken(r, rc, "SET+DEL");

    redisReply *exec = NULL;
    ch_err_t err = ch__kv_redis_exec_replies(r, rc, 4, "SET+DEL", &exec);
    if (err)
        return err;
    int good = exec->element[0]->type == REDIS_REPLY_STATUS && exec->element[1]->type == REDIS_REPLY_INTEGER;
    freeReplyObject(exec);
    if (!good)
        return ch__kv_redis_broken(r, rc, "SET+DEL");
    ch__kv_redis_release(r, rc);
    return CH_OK;
}

static int64_t ch__kv_redis_server_changed_at(void *impl)
{
    ch__kv_redis_t *r = impl;
    return atomic_load(&r->changed_at_ms);
}

static ch_err_t ch__kv_redis_ping(void *impl)
{
    ch__kv_redis_t *r = impl;
    ch__kv_rconn_t *rc = ch__kv_redis_acquire(r);
    if (!rc)
        return CH_EUNAVAILABLE;
    redisReply *rep = redisCommand(rc->c, "PING");
    if (!rep)
        return ch__kv_redis_broken(r, rc, "PING");
    if (rep->type == REDIS_REPLY_ERROR)
        return ch__kv_redis_error_reply(r, rc, rep, "PING", CH_EUNAVAILABLE);
    int ok = rep->type == REDIS_REPLY_STATUS && strcasecmp(rep->str, "PONG") == 0;
    freeReplyObject(rep);
    if (!ok)
        return ch__kv_redis_broken(r, rc, "PING");
    ch__kv_redis_release(r, rc);
    return CH_OK;
}

const ch_kv_driver_t ch_kv_redis_driver = {
    .name = "redis",
    .open = ch__kv_redis_open,
    .close = ch__kv_redis_close,
    .get = ch__kv_redis_get,
    .set = ch__kv_redis_set,
    .del = ch__kv_redis_del,
    .set_del = ch__kv_redis_set_del,
    .incr = ch__kv_redis_incr,
    .ping = ch__kv_redis_ping,
    .server_changed_at = ch__kv_redis_server_changed_at,
};

/* ---- the pool for other Redis stores (kv_redis.h) ----------------------------------- */

redisContext *ch__kv_redis_conn_acquire(void *impl, ch__kv_rconn_t **handle)
{
    *handle = ch__kv_redis_acquire(impl);
    return *handle ? (*handle)->c : NULL;
}

void ch__kv_redis_conn_release(void *impl, ch__kv_rconn_t *handle)
{
    ch__kv_redis_release(impl, handle);
}

ch_err_t ch__kv_redis_conn_broken(void *impl, ch__kv_rconn_t *handle, const char *cmd)
{
    return ch__kv_redis_broken(impl, handle, cmd);
}

redisContext *ch__kv_redis_conn_detach(void *impl, ch__kv_rconn_t *handle)
{
    (void)impl;
    redisContext *c = handle->c;
    free(handle);
    return c;
}

ch_err_t ch__kv_redis_conn_error_reply(void *impl, ch__kv_rconn_t *handle, redisReply *rep, const char *cmd,
                                       ch_err_t other)
{
    return ch__kv_redis_error_reply(impl, handle, rep, cmd, other);
}

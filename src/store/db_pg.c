/* PostgreSQL driver (cluster mode), over libpq. A bounded pool of connections made lazily,
 * so that chorusd starts while the server is down; a thread that finds every connection
 * borrowed waits at most pool_wait_ms, then gets CH_EUNAVAILABLE. Every call has a deadline:
 * the server cancels a statement after statement_timeout, and the client gives up on a
 * server that stops answering altogether (stopped, partitioned) CH__PG_GRACE_MS later,
 * dropping the connection; connecting is bounded by connect_timeout, and TCP keepalives and
 * tcp_user_timeout notice a peer that vanished while the connection is idle or sending.
 * A connection that fails at the connection level (lost socket, server shutting down, no
 * answer in time) is marked broken and closed on release instead of being pooled, and idle
 * pooled connections are checked for a server hang-up before they are handed out: after a
 * server restart the pool heals itself. A request's deadline (ch_db_deadline_set) shortens
 * the pool wait and the connect timeout, and a statement still running at it is cancelled
 * (PQcancel) so that the connection can be reused; except a COMMIT or a write outside a
 * transaction once sent (see ch__pg_wait_mode_t), whose outcome a cancel would make
 * unknown. */
#include "store/db.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

/* Connection settings; the URL's own values win. */
#define CH__PG_CONNECT_TIMEOUT "3"   /* seconds, for the whole handshake */
#define CH__PG_KEEPALIVES_IDLE "10"  /* seconds idle before the first probe */
#define CH__PG_KEEPALIVES_INTERVAL "5"
#define CH__PG_KEEPALIVES_COUNT "3"
#define CH__PG_TCP_USER_TIMEOUT "10000" /* ms that sent data may stay unacknowledged */
/* How much longer than statement_timeout the client waits for an answer before it decides
 * the server is gone (the server's own cancel, and its answer, come first). */
#define CH__PG_GRACE_MS 2000
/* After cancelling a statement at the request deadline, how long to wait for its error
 * before dropping the connection instead; and how many cancels may be under way at once
 * (each needs a thread: PQcancel waits for the postmaster, which may not answer). */
#define CH__PG_CANCEL_WAIT_MS 500
#define CH__PG_CANCELS_MAX 16
/* Longest single sleep of a wait: deadlines are read again this often, since a graceful
 * stop may set one (ch_db_deadline_set_all) while a thread waits. */
#define CH__PG_DEADLINE_RECHECK_MS 100
#define CH__PG_CANCEL_POLL_NS 1000000L /* how often the end of a cancel is checked */
#define CH__PG_CONNECT_TIMEOUT_MIN_S 2 /* libpq treats anything lower as 2 s */
#define CH__PG_SCHEMA_LOCK "7242001"
#define CH__PG_LOG_SQL_MAX 200
#define CH__PG_INT_BUF 24 /* "-9223372036854775808" + NUL */

typedef struct {
    char name[24]; /* server-side prepared statement name */
    int nparams;
} ch__pg_stmt_t;

/* Text form of one parameter, when it needs storage of its own. */
typedef struct {
    char num[CH__PG_INT_BUF];
    char *copy;
} ch__pg_arg_t;

/* How the deadlines end a wait for an answer (ch__pg_wait). */
typedef enum {
    CH__PG_WAIT_CANCEL,   /* a read or a statement in a transaction: cancelled at the deadline */
    CH__PG_WAIT_COMMIT,   /* a COMMIT, or a write outside a transaction (it commits by itself):
                           * never cut off by the request deadline (its outcome would be
                           * unknown); at the stop deadline the connection is dropped */
    CH__PG_WAIT_ROLLBACK, /* a ROLLBACK: cut off at either deadline, CH_DB_ROLLBACK_GRACE_MS
                           * after it was sent at the earliest, by dropping the connection */
} ch__pg_wait_mode_t;

typedef struct ch__pg_conn {
    struct ch__pg_conn *next; /* free list */
    PGconn *pg;
    ch__db_cache_t *cache;
    int64_t timeout_ms; /* the pool's statement_timeout_ms (0: none) */
    unsigned next_stmt; /* numbers prepared statement names */
    int broken;         /* connection-level failure: close, never pool */
    int untimed;        /* tuned for bulk work: no deadline; closed on release */
    int txn_untimed;    /* this transaction runs without a deadline (migration) */
    int in_txn;
    ch_err_t txn_err; /* first error inside the transaction; CH_OK while healthy */
    int wait_mode;    /* how deadlines end the wait for an answer (ch__pg_wait_mode_t) */
    int64_t cancel_until_ms; /* a cancel was sent: wait for its answer until then (0: none) */
    struct ch__pg_cancel *cancel; /* the cancel under way, shared with its thread */
} ch__pg_conn_t;

typedef struct {
    char *url;
    ch_db_options_t opts;
    char options_kv[64]; /* "-c statement_timeout=N" */
    pthread_mutex_t mu;
    pthread_cond_t freed; /* a connection was released or closed */
    ch__pg_conn_t *free;
    size_t nopen; /* connections alive, idle or borrowed */
} ch__pg_pool_t;

static ch__pg_conn_t *ch__pg(ch_db_conn_t *conn)
{
    return (ch__pg_conn_t *)(void *)conn;
}

/* libpq messages end with a newline; logs want one line. Copies into buf. */
static const char *ch__pg_oneline(const char *msg, char *buf, size_t len)
{
    snprintf(buf, len, "%s", msg ? msg : "");
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == ' ')
        buf[--n] = '\0';
    return buf;
}

/* ---- errors ------------------------------------------------------------------------- */

/* Whether a SQLSTATE means the connection itself is gone (class 08, server shutdown). */
static int ch__pg_state_fatal(const char *state)
{
    return strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
           strcmp(state, "57P03") == 0;
}

/* Whether a SQLSTATE is a transient refusal worth retrying later: serialization failure,
 * deadlock, lock or statement timeout, insufficient resources (disk full, too many
 * connections). SQLite's busy timeout and full disk map to the same error. */
static int ch__pg_state_transient(const char *state)
{
    return strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0 ||
           strcmp(state, "57014") == 0 || strncmp(state, "53", 2) == 0;
}

/* Maps a failed result (res may be NULL) of what on c, logs it, records it as the
 * transaction's error, and marks the connection broken when it is gone. */
static ch_err_t ch__pg_fail(ch__pg_conn_t *c, const PGresult *res, const char *what, const char *sql)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    ch_err_t err;
    if (c->broken || PQstatus(c->pg) == CONNECTION_BAD || (state && ch__pg_state_fatal(state))) {
        c->broken = 1;
        err = CH_EUNAVAILABLE;
    } else if (state && strcmp(state, "23505") == 0) {
        err = CH_ECONFLICT;
    } else if (state && ch__pg_state_transient(state)) {
        err = CH_EUNAVAILABLE;
    } else {
        err = CH_EINTERNAL;
    }
    /* A unique violation is an expected answer (handle taken, replayed request). */
    ch_log_level_t level = err == CH_ECONFLICT ? CH_LOG_DEBUG : CH_LOG_ERROR;
    if (ch_log_enabled(level)) {
        char msg[512];
        const char *raw = res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : PQerrorMessage(c->pg);
        ch_log(level, "postgres: %s failed: %s (sqlstate %s) [sql: %.*s]", what,
               ch__pg_oneline(raw, msg, sizeof(msg)), state ? state : "none", CH__PG_LOG_SQL_MAX, sql);
    }
    if (c->in_txn && c->txn_err == CH_OK)
        c->txn_err = err;
    return err;
}

/* A caller error detected before reaching the server. */
static ch_err_t ch__pg_misuse(ch__pg_conn_t *c, ch_err_t err, const char *why, const char *sql)
{
    ch_log_error("postgres: %s [sql: %.*s]", why, CH__PG_LOG_SQL_MAX, sql);
    if (c->in_txn && c->txn_err == CH_OK)
        c->txn_err = err;
    return err;
}

/* ---- deadlines ---------------------------------------------------------------------- */

/* A cancel request in flight: PQcancel blocks until the postmaster has handled it (closed
 * the cancel connection), which a stopped server never does, so it runs on a thread of its
 * own. The connection is reused only if the cancel was handled: a late one could hit the
 * next statement sent on it. Shared by the connection and the thread (refs). */
typedef struct ch__pg_cancel {
    PGcancel *cancel;
    _Atomic int done;
    _Atomic int refs;
} ch__pg_cancel_t;

static _Atomic int ch__pg_cancels; /* cancel threads alive */

static void ch__pg_cancel_unref(ch__pg_cancel_t *k)
{
    if (atomic_fetch_sub(&k->refs, 1) == 1) {
        PQfreeCancel(k->cancel);
        free(k);
    }
}

static void *ch__pg_cancel_main(void *arg)
{
    ch__pg_cancel_t *k = arg;
    char errbuf[256];
    if (!PQcancel(k->cancel, errbuf, sizeof(errbuf)))
        ch_log_warn("postgres: cancel request failed: %s", errbuf);
    atomic_store(&k->done, 1);
    ch__pg_cancel_unref(k);
    atomic_fetch_sub(&ch__pg_cancels, 1);
    return NULL;
}

/* Asks the server to cancel what c runs; 0 when the request is on its way, -1 when it
 * could not be sent (then only dropping the connection ends the wait). */
static int ch__pg_cancel_start(ch__pg_conn_t *c)
{
    if (atomic_fetch_add(&ch__pg_cancels, 1) >= CH__PG_CANCELS_MAX) {
        atomic_fetch_sub(&ch__pg_cancels, 1);
        return -1;
    }
    ch__pg_cancel_t *k = ch_calloc(1, sizeof(*k));
    atomic_init(&k->refs, 2);
    pthread_attr_t attr;
    pthread_t t;
    int ok = (k->cancel = PQgetCancel(c->pg)) != NULL && pthread_attr_init(&attr) == 0;
    if (ok) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        ok = pthread_create(&t, &attr, ch__pg_cancel_main, k) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!ok) {
        PQfreeCancel(k->cancel);
        free(k);
        atomic_fetch_sub(&ch__pg_cancels, 1);
        return -1;
    }
    c->cancel = k;
    return 0;
}

/* After an answer (or giving up on one): forgets the cancel; a cancel the postmaster has
 * not handled yet makes the connection unusable. */
static void ch__pg_cancel_finish(ch__pg_conn_t *c)
{
    if (c->cancel) {
        /* The backend's error and the postmaster's closing of the cancel connection race:
         * give the latter until the end of the cancel wait. */
        while (!atomic_load(&c->cancel->done) && ch_mono_ms() < c->cancel_until_ms) {
            struct timespec nap = {0, CH__PG_CANCEL_POLL_NS};
            nanosleep(&nap, NULL);
        }
        if (!atomic_load(&c->cancel->done))
            c->broken = 1;
        ch__pg_cancel_unref(c->cancel);
        c->cancel = NULL;
    }
    c->cancel_until_ms = 0;
}

/* Waits until the answer to what was just sent is complete, or the connection's deadline
 * passes (then the connection is marked broken: the server may still answer it later, so
 * it can never be reused). 0 when the answer is there, -1 when not. */
static int ch__pg_wait(ch__pg_conn_t *c, const char *sql)
{
    int64_t limit = c->untimed || c->txn_untimed || c->timeout_ms <= 0 ? -1 : c->timeout_ms + CH__PG_GRACE_MS;
    int64_t sent = ch_mono_ms(), deadline = limit < 0 ? 0 : sent + limit;
    if (PQflush(c->pg) < 0)
        return -1;
    while (PQisBusy(c->pg)) {
        int64_t now = ch_mono_ms(), wait = CH__PG_DEADLINE_RECHECK_MS;
        /* The request's (or the stop's) deadline, read again each round: a stop may set
         * one while this waits. Past it: cancel, and wait a little more for the error. */
        int64_t req_left = c->wait_mode == CH__PG_WAIT_COMMIT ? ch__db_stop_deadline_left_ms()
                                                              : ch__db_deadline_left_ms();
        if (c->wait_mode == CH__PG_WAIT_ROLLBACK && req_left == 0 && now - sent < CH_DB_ROLLBACK_GRACE_MS)
            req_left = sent + CH_DB_ROLLBACK_GRACE_MS - now; /* room for a healthy server's answer */
        if (req_left == 0 && c->wait_mode != CH__PG_WAIT_CANCEL) {
            /* A cancel could arrive after a COMMIT took effect, and is not needed to end a
             * ROLLBACK: drop the connection (the server rolls back what did not commit). */
            ch__db_deadline_hit("postgres", c->wait_mode == CH__PG_WAIT_COMMIT ? "a commit (stop deadline)" : "a rollback");
            ch_log_warn("postgres: %s; dropping the connection [sql: %.*s]",
                        c->wait_mode == CH__PG_WAIT_COMMIT ? "stop deadline passed during a commit"
                                                           : "deadline passed during a rollback",
                        CH__PG_LOG_SQL_MAX, sql);
            c->broken = 1;
            return -1;
        }
        if (c->cancel_until_ms) {
            if (now >= c->cancel_until_ms) {
                ch_log_warn("postgres: no answer to a cancelled statement within %d ms; dropping the connection "
                            "[sql: %.*s]", CH__PG_CANCEL_WAIT_MS, CH__PG_LOG_SQL_MAX, sql);
                c->broken = 1;
                return -1;
            }
            if (c->cancel_until_ms - now < wait)
                wait = c->cancel_until_ms - now;
        } else if (deadline && now >= deadline) {
            ch_log_error("postgres: no answer within %" PRId64 " ms; dropping the connection [sql: %.*s]", limit,
                         CH__PG_LOG_SQL_MAX, sql);
            c->broken = 1;
            return -1;
        } else if (req_left == 0) {
            ch__db_deadline_hit("postgres", "a statement");
            if (ch__pg_cancel_start(c) != 0) {
                ch_log_warn("postgres: deadline passed and no cancel could be sent; dropping the connection "
                            "[sql: %.*s]", CH__PG_LOG_SQL_MAX, sql);
                c->broken = 1;
                return -1;
            }
            c->cancel_until_ms = now + CH__PG_CANCEL_WAIT_MS;
            continue;
        } else {
            if (deadline && deadline - now < wait)
                wait = deadline - now;
            if (req_left > 0 && req_left < wait)
                wait = req_left;
        }
        struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};
        int n = poll(&pfd, 1, (int)wait);
        if (n < 0 && errno != EINTR)
            return -1;
        if (n > 0 && !PQconsumeInput(c->pg))
            return -1;
    }
    return 0;
}

/* Collects the answer to what was just sent (sent: the PQsend* call succeeded), as PQexec
 * would: the first error result, else the last result; NULL when the connection failed or
 * timed out (c->broken tells). */
static PGresult *ch__pg_await(ch__pg_conn_t *c, int sent, const char *sql)
{
    if (!sent) {
        if (PQstatus(c->pg) == CONNECTION_BAD)
            c->broken = 1;
        return NULL;
    }
    PGresult *keep = NULL, *res;
    for (;;) {
        if (ch__pg_wait(c, sql) != 0) { /* a half-read answer cannot be resumed */
            c->broken = 1;
            ch__pg_cancel_finish(c);
            PQclear(keep);
            return NULL;
        }
        if (!(res = PQgetResult(c->pg)))
            break;
        ExecStatusType st = keep ? PQresultStatus(keep) : PGRES_COMMAND_OK;
        if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE) {
            PQclear(res);
        } else {
            PQclear(keep);
            keep = res;
        }
    }
    ch__pg_cancel_finish(c);
    return keep;
}

/* PQexec with the connection's deadline. */
static PGresult *ch__pg_exec_text(ch__pg_conn_t *c, const char *sql)
{
    return ch__pg_await(c, PQsendQuery(c->pg, sql), sql);
}

/* Runs a parameterless command with the simple protocol; ok is the expected status. */
static ch_err_t ch__pg_simple(ch__pg_conn_t *c, const char *sql, ExecStatusType ok, PGresult **res_out)
{
    if (c->broken)
        return CH_EUNAVAILABLE;
    PGresult *res = ch__pg_exec_text(c, sql);
    ch_err_t err = res && PQresultStatus(res) == ok ? CH_OK : ch__pg_fail(c, res, "command", sql);
    if (res_out && err == CH_OK)
        *res_out = res;
    else
        PQclear(res);
    return err;
}

/* Refuses to start work once the request deadline has passed: the transaction is aborted
 * (its commit fails), so the request answers 503 with nothing changed. */
static ch_err_t ch__pg_past_deadline(ch__pg_conn_t *c, const char *sql)
{
    if (ch__db_deadline_left_ms() != 0)
        return CH_OK;
    ch__db_deadline_hit("postgres", "a statement not started");
    if (c->in_txn && c->txn_err == CH_OK)
        c->txn_err = CH_EUNAVAILABLE;
    (void)sql;
    return CH_EUNAVAILABLE;
}

/* ---- statements --------------------------------------------------------------------- */

static void ch__pg_stmt_free(void *value, void *ctx)
{
    free(value);
}

/* Finds or prepares (server-side, once per connection) the statement for sql. */
static ch_err_t ch__pg_stmt(ch__pg_conn_t *c, const char *sql, ch__pg_stmt_t **st_out)
{
    ch__pg_stmt_t *st = ch__db_cache_get(c->cache, sql);
    if (st) {
        *st_out = st;
        return CH_OK;
    }
    if (ch__db_cache_count(c->cache) >= CH__DB_CACHE_MAX) {
        ch_err_t err = ch__pg_simple(c, "DEALLOCATE ALL", PGRES_COMMAND_OK, NULL);
        if (err != CH_OK)
            return err;
        ch__db_cache_clear(c->cache, ch__pg_stmt_free, NULL);
    }
    st = ch_calloc(1, sizeof(*st));
    snprintf(st->name, sizeof(st->name), "ch_%u", c->next_stmt++);
    PGresult *res = ch__pg_await(c, PQsendPrepare(c->pg, st->name, sql, 0, NULL), sql);
    ch_err_t err = res && PQresultStatus(res) == PGRES_COMMAND_OK ? CH_OK : ch__pg_fail(c, res, "prepare", sql);
    PQclear(res);
    /* The parameter count is checked here because the server answers a wrong count with a
     * protocol violation (SQLSTATE 08P01) that would look like a lost connection. */
    if (err == CH_OK) {
        res = ch__pg_await(c, PQsendDescribePrepared(c->pg, st->name), sql);
        if (res && PQresultStatus(res) == PGRES_COMMAND_OK)
            st->nparams = PQnparams(res);
        else
            err = ch__pg_fail(c, res, "describe", sql);
        PQclear(res);
    }
    if (err == CH_OK && ch__db_cache_put(c->cache, sql, st) != 0) {
        /* The orphaned server-side statement is harmless: its name is never reused. */
        err = ch__pg_misuse(c, CH_EINTERNAL, "out of memory", sql);
    }
    if (err != CH_OK) {
        free(st);
        return err;
    }
    *st_out = st;
    return CH_OK;
}

/* Copies every row of res into a new ch_db_rows_t. */
static ch_err_t ch__pg_rows(ch__pg_conn_t *c, const PGresult *res, const char *sql, ch_db_rows_t **rows_out)
{
    size_t ncols = (size_t)PQnfields(res), nrows = (size_t)PQntuples(res);
    ch_db_rows_t *rows = ch__db_rows_new(ncols);
    const char **vals = ch_calloc(ncols ? ncols : 1, sizeof(*vals));
    size_t *lens = ch_calloc(ncols ? ncols : 1, sizeof(*lens));
    int ok = rows && vals && lens;
    for (size_t r = 0; r < nrows && ok; r++) {
        for (size_t i = 0; i < ncols; i++) {
            int null = PQgetisnull(res, (int)r, (int)i);
            vals[i] = null ? NULL : PQgetvalue(res, (int)r, (int)i);
            lens[i] = null ? 0 : (size_t)PQgetlength(res, (int)r, (int)i);
        }
        ok = ch__db_rows_append(rows, vals, lens) == 0;
    }
    free(vals);
    free(lens);
    if (!ok) {
        ch_db_rows_free(rows);
        return ch__pg_misuse(c, CH_EINTERNAL, "out of memory", sql);
    }
    *rows_out = rows;
    return CH_OK;
}

/* Rows changed by an INSERT/UPDATE/DELETE/MERGE; 0 for anything else, as with SQLite
 * (PQcmdTuples also counts the rows a SELECT returned). */
static int64_t ch__pg_changes(PGresult *res)
{
    const char *tag = PQcmdStatus(res);
    if (strncmp(tag, "INSERT ", 7) != 0 && strncmp(tag, "UPDATE ", 7) != 0 && strncmp(tag, "DELETE ", 7) != 0 &&
        strncmp(tag, "MERGE ", 6) != 0)
        return 0;
    return (int64_t)strtoll(PQcmdTuples(res), NULL, 10);
}

/* ---- connections -------------------------------------------------------------------- */

static void ch__pg_notice(void *arg, const char *message)
{
    if (ch_log_enabled(CH_LOG_DEBUG)) {
        char msg[512];
        ch_log_debug("postgres: %s", ch__pg_oneline(message, msg, sizeof(msg)));
    }
}

static void ch__pg_conn_close(ch__pg_conn_t *c)
{
    ch__db_cache_free(c->cache, ch__pg_stmt_free, NULL);
    PQfinish(c->pg);
    free(c);
}

/* The connect_timeout in effect (ours, or the URL's), in ms as libpq counts it: whole
 * seconds, at least CH__PG_CONNECT_TIMEOUT_MIN_S. */
static int64_t ch__pg_connect_timeout_ms(PGconn *pg)
{
    int64_t secs = atoi(CH__PG_CONNECT_TIMEOUT);
    PQconninfoOption *opts = PQconninfo(pg);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "connect_timeout") == 0 && o->val && *o->val)
            secs = atoi(o->val);
    PQconninfoFree(opts);
    if (secs <= 0)
        return -1; /* none */
    return (secs < CH__PG_CONNECT_TIMEOUT_MIN_S ? CH__PG_CONNECT_TIMEOUT_MIN_S : secs) * 1000;
}

/* Drives a connection started with PQconnectStartParams to its end, within connect_timeout
 * and the calling thread's deadline (checked again at each step: a stop may set one).
 * libpq only applies connect_timeout itself in its blocking calls. 0 when connected. */
static int ch__pg_connect_wait(PGconn *pg)
{
    int64_t limit = ch__pg_connect_timeout_ms(pg);
    int64_t until = limit < 0 ? 0 : ch_mono_ms() + limit;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    for (;;) {
        if (PQstatus(pg) == CONNECTION_BAD)
            return -1;
        if (st == PGRES_POLLING_OK)
            return 0;
        if (st == PGRES_POLLING_FAILED)
            return -1;
        int64_t now = ch_mono_ms(), left = ch__db_deadline_left_ms();
        int64_t wait = until ? until - now : -1;
        if (left >= 0 && (wait < 0 || left < wait))
            wait = left;
        if (wait == 0 || (until && now >= until)) {
            if (left == 0)
                ch__db_deadline_hit("postgres", "a connection attempt");
            else
                ch_log_warn("postgres: connecting took longer than %" PRId64 " ms", limit);
            return -1;
        }
        if (wait < 0 || wait > CH__PG_DEADLINE_RECHECK_MS)
            wait = CH__PG_DEADLINE_RECHECK_MS;
        struct pollfd pfd = {.fd = PQsocket(pg), .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT};
        int n = poll(&pfd, 1, (int)wait);
        if (n < 0 && errno != EINTR)
            return -1;
        if (n > 0)
            st = PQconnectPoll(pg);
    }
}

static ch_err_t ch__pg_connect(const ch__pg_pool_t *pool, ch__pg_conn_t **out)
{
    *out = NULL;
    /* Keywords before dbname are defaults: the expanded URL overrides them. */
    const char *const keys[] = {"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                                "keepalives_count", "tcp_user_timeout", "options", "fallback_application_name",
                                "client_encoding", "dbname", NULL};
    const char *const vals[] = {CH__PG_CONNECT_TIMEOUT, "1", CH__PG_KEEPALIVES_IDLE, CH__PG_KEEPALIVES_INTERVAL,
                                CH__PG_KEEPALIVES_COUNT, CH__PG_TCP_USER_TIMEOUT, pool->options_kv, "chorusd",
                                "UTF8", pool->url, NULL};
    if (ch__db_deadline_left_ms() == 0)
        return CH_EUNAVAILABLE;
    PGconn *pg = PQconnectStartParams(keys, vals, 1);
    if (!pg) {
        ch_log_error("postgres: connect failed: out of memory");
        return CH_EUNAVAILABLE;
    }
    if (ch__pg_connect_wait(pg) != 0) {
        char msg[512];
        ch_log_error("postgres: connect failed: %s", ch__pg_oneline(PQerrorMessage(pg), msg, sizeof(msg)));
        PQfinish(pg);
        return CH_EUNAVAILABLE;
    }
    /* libpq prints notices (e.g. "relation already exists, skipping") on stderr by
     * default, which would break the JSON log stream. */
    PQsetNoticeProcessor(pg, ch__pg_notice, NULL);
    ch__pg_conn_t *c = ch_calloc(1, sizeof(*c));
    if (c)
        c->cache = ch__db_cache_new();
    if (!c || !c->cache) {
        free(c);
        PQfinish(pg);
        ch_log_error("postgres: out of memory");
        return CH_EINTERNAL;
    }
    c->pg = pg;
    c->timeout_ms = pool->opts.statement_timeout_ms;
    *out = c;
    return CH_OK;
}

/* Whether an idle pooled connection can be handed out. A server that shut down or
 * restarted has sent a FATAL message and closed the socket. We never LISTEN, so anything
 * readable on an idle connection means trouble; reading it would not even do, because
 * PQconsumeInput returns once it has the message, before it sees the end of the stream. */
static int ch__pg_usable(ch__pg_conn_t *c)
{
    if (c->broken || PQstatus(c->pg) != CONNECTION_OK || PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        return 0;
    struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};
    return pfd.fd >= 0 && poll(&pfd, 1, 0) == 0;
}

/* ---- driver ------------------------------------------------------------------------- */

static ch_err_t ch__pg_open(const char *url, const ch_db_options_t *opts, void **impl_out, char *errbuf,
                            size_t errlen)
{
    if (strncmp(url, "postgres://", 11) != 0 && strncmp(url, "postgresql://", 13) != 0) {
        snprintf(errbuf, errlen, "postgres: URL must start with postgres:// or postgresql://");
        return CH_EINVAL;
    }
    char *perr = NULL;
    PQconninfoOption *parsed = PQconninfoParse(url, &perr);
    if (!parsed) {
        char msg[256];
        snprintf(errbuf, errlen, "postgres: invalid URL: %s",
                 perr ? ch__pg_oneline(perr, msg, sizeof(msg)) : "out of memory");
        PQfreemem(perr);
        return CH_EINVAL;
    }
    PQconninfoFree(parsed);
    if (!PQisthreadsafe()) {
        snprintf(errbuf, errlen, "postgres: libpq was built without thread support");
        return CH_EINTERNAL;
    }
    ch__pg_pool_t *pool = ch_calloc(1, sizeof(*pool));
    if (!pool || !(pool->url = ch_strdup(url))) {
        free(pool);
        snprintf(errbuf, errlen, "postgres: out of memory");
        return CH_EINTERNAL;
    }
    pool->opts = *opts;
    snprintf(pool->options_kv, sizeof(pool->options_kv), "-c statement_timeout=%" PRId64,
             opts->statement_timeout_ms > 0 ? opts->statement_timeout_ms : 0);
    pthread_mutex_init(&pool->mu, NULL);
    ch_cond_init_monotonic(&pool->freed);
    *impl_out = pool;
    return CH_OK;
}

static void ch__pg_close(void *impl)
{
    ch__pg_pool_t *pool = impl;
    size_t nclosed = 0;
    while (pool->free) {
        ch__pg_conn_t *c = pool->free;
        pool->free = c->next;
        ch__pg_conn_close(c);
        nclosed++;
    }
    if (nclosed != pool->nopen)
        ch_log_error("postgres: closing the pool with %zu connection(s) still borrowed", pool->nopen - nclosed);
    pthread_cond_destroy(&pool->freed);
    pthread_mutex_destroy(&pool->mu);
    free(pool->url);
    free(pool);
}

static ch_err_t ch__pg_acquire(void *impl, ch_db_conn_t **conn_out)
{
    ch__pg_pool_t *pool = impl;
    int64_t wait_ms = pool->opts.pool_wait_ms > 0 ? pool->opts.pool_wait_ms : 0;
    int64_t until_ms = ch_mono_ms() + wait_ms;
    for (;;) {
        pthread_mutex_lock(&pool->mu);
        ch__pg_conn_t *c = NULL;
        for (;;) {
            if ((c = pool->free)) {
                pool->free = c->next;
                break;
            }
            if (pool->opts.pool_size == 0 || pool->nopen < pool->opts.pool_size) {
                pool->nopen++; /* counted before connecting so that close() sees it as borrowed */
                break;
            }
            /* Waits in slices: the deadline (request, or a stop's) is read again each time. */
            int64_t now = ch_mono_ms(), left = ch__db_deadline_left_ms(), slice = until_ms - now;
            int by_deadline = left >= 0 && left <= slice;
            if (by_deadline)
                slice = left;
            if (slice <= 0) {
                pthread_mutex_unlock(&pool->mu);
                if (by_deadline)
                    ch__db_deadline_hit("postgres", "a wait for a pooled connection");
                else
                    ch_log_warn("postgres: all %u connections stayed busy for %" PRId64 " ms", pool->opts.pool_size,
                                wait_ms);
                return CH_EUNAVAILABLE;
            }
            if (slice > CH__PG_DEADLINE_RECHECK_MS)
                slice = CH__PG_DEADLINE_RECHECK_MS;
            struct timespec until = ch_mono_timespec_after(slice);
            (void)pthread_cond_timedwait(&pool->freed, &pool->mu, &until);
        }
        pthread_mutex_unlock(&pool->mu);
        if (!c)
            break;
        c->next = NULL;
        if (ch__pg_usable(c)) {
            *conn_out = (ch_db_conn_t *)(void *)c;
            return CH_OK;
        }
        ch_log_info("postgres: dropping a pooled connection the server closed");
        ch__pg_conn_close(c);
        pthread_mutex_lock(&pool->mu);
        pool->nopen--;
        pthread_cond_signal(&pool->freed);
        pthread_mutex_unlock(&pool->mu);
    }
    ch__pg_conn_t *c;
    ch_err_t err = ch__pg_connect(pool, &c);
    if (err != CH_OK) {
        pthread_mutex_lock(&pool->mu);
        pool->nopen--;
        pthread_cond_signal(&pool->freed);
        pthread_mutex_unlock(&pool->mu);
        return err;
    }
    *conn_out = (ch_db_conn_t *)(void *)c;
    return CH_OK;
}

static void ch__pg_rollback(ch_db_conn_t *conn)
{
    ch__pg_conn_t *c = ch__pg(conn);
    if (!c->broken && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        c->wait_mode = CH__PG_WAIT_ROLLBACK; /* cut short at a deadline: dropped, not pooled */
        (void)ch__pg_simple(c, "ROLLBACK", PGRES_COMMAND_OK, NULL);
        c->wait_mode = CH__PG_WAIT_CANCEL;
    }
    c->in_txn = 0;
    c->txn_untimed = 0;
    c->txn_err = CH_OK;
}

static void ch__pg_release(void *impl, ch_db_conn_t *conn)
{
    ch__pg_pool_t *pool = impl;
    ch__pg_conn_t *c = ch__pg(conn);
    if (c->in_txn || (!c->broken && PQtransactionStatus(c->pg) != PQTRANS_IDLE))
        ch__pg_rollback(conn);
    int keep = !c->broken && !c->untimed && PQstatus(c->pg) == CONNECTION_OK &&
               PQtransactionStatus(c->pg) == PQTRANS_IDLE;
    pthread_mutex_lock(&pool->mu);
    if (keep) {
        c->next = pool->free;
        pool->free = c;
    } else {
        pool->nopen--;
    }
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->mu);
    if (!keep)
        ch__pg_conn_close(c);
}

static ch_err_t ch__pg_exec_run(ch__pg_conn_t *c, const char *sql, const ch_db_param_t *params, size_t nparams,
                                ch_db_rows_t **rows_out, int64_t *changes_out);

static ch_err_t ch__pg_exec(ch_db_conn_t *conn, const char *sql, const ch_db_param_t *params, size_t nparams,
                            ch_db_rows_t **rows_out, int64_t *changes_out)
{
    ch__pg_conn_t *c = ch__pg(conn);
    if (c->broken)
        return CH_EUNAVAILABLE;
    /* ROLLBACK TO SAVEPOINT undoes a statement's failure (a refusal: a conflict, a
     * constraint; the server aborted the transaction until then) and the transaction goes
     * on, as on SQLite. Not the database's not answering (a deadline, a lost connection):
     * that transaction stays failed. */
    ch_err_t was = c->txn_err;
    if (c->in_txn && was != CH_OK && was != CH_EUNAVAILABLE && ch__db_sql_is_rollback_to(sql))
        c->txn_err = CH_OK;
    if (c->in_txn && c->txn_err != CH_OK)
        return ch__pg_misuse(c, CH_EINTERNAL, "statement in a transaction aborted by an earlier error", sql);
    ch_err_t err = ch__pg_exec_run(c, sql, params, nparams, rows_out, changes_out);
    if (err != CH_OK && was != CH_OK && c->in_txn && !c->broken)
        c->txn_err = was; /* the ROLLBACK TO failed: still failed as before */
    return err;
}

static ch_err_t ch__pg_exec_run(ch__pg_conn_t *c, const char *sql, const ch_db_param_t *params, size_t nparams,
                                ch_db_rows_t **rows_out, int64_t *changes_out)
{
    if (ch__pg_past_deadline(c, sql) != CH_OK)
        return CH_EUNAVAILABLE;
    ch__pg_stmt_t *st;
    ch_err_t err = ch__pg_stmt(c, sql, &st);
    if (err != CH_OK)
        return err;
    if (nparams != (size_t)st->nparams) {
        char why[96];
        snprintf(why, sizeof(why), "statement takes %d parameters, %zu given", st->nparams, nparams);
        return ch__pg_misuse(c, CH_EINTERNAL, why, sql);
    }

    /* Everything goes as text: integers are formatted into args[].num, and text with an
     * explicit length is copied to be NUL-terminated, since libpq reads text to its NUL. */
    const char *small_vals[16];
    ch__pg_arg_t small_args[16];
    const char **vals = small_vals;
    ch__pg_arg_t *args = small_args;
    if (nparams > 16) {
        vals = ch_calloc(nparams, sizeof(*vals));
        args = ch_calloc(nparams, sizeof(*args));
        if (!vals || !args) {
            err = ch__pg_misuse(c, CH_EINTERNAL, "out of memory", sql);
            nparams = 0; /* nothing to free in args */
        }
    } else {
        memset(small_args, 0, sizeof(small_args));
    }
    for (size_t i = 0; i < nparams && err == CH_OK; i++) {
        const ch_db_param_t *p = &params[i];
        switch (p->type) {
        case CH_DB_INT:
            snprintf(args[i].num, sizeof(args[i].num), "%" PRId64, p->i);
            vals[i] = args[i].num;
            break;
        case CH_DB_TEXT: {
            size_t len = p->len == SIZE_MAX ? strlen(p->s) : p->len;
            if (memchr(p->s, '\0', len)) {
                char why[64];
                snprintf(why, sizeof(why), "parameter $%zu contains a NUL byte", i + 1);
                err = ch__pg_misuse(c, CH_EINVAL, why, sql);
            } else if (p->len == SIZE_MAX) {
                vals[i] = p->s;
            } else if ((args[i].copy = ch_malloc(len + 1))) {
                memcpy(args[i].copy, p->s, len);
                args[i].copy[len] = '\0';
                vals[i] = args[i].copy;
            } else {
                err = ch__pg_misuse(c, CH_EINTERNAL, "out of memory", sql);
            }
            break;
        }
        case CH_DB_NULL:
            vals[i] = NULL;
            break;
        default:
            err = ch__pg_misuse(c, CH_EINTERNAL, "unknown parameter type", sql);
        }
    }
    if (err == CH_OK) {
        /* A write outside a transaction commits by itself, and a COMMIT sent as a statement
         * (the ambient transaction's) is one: once sent, they are not cancelled at the
         * request deadline (a cancel that arrives while the server commits does nothing,
         * and the outcome would be unknown). Their success lifts the request deadline. */
        ch_db_sql_kind_t kind = ch__db_sql_kind(sql);
        int commits = kind == CH_DB_SQL_COMMIT ||
                      (kind == CH_DB_SQL_WRITE && PQtransactionStatus(c->pg) == PQTRANS_IDLE);
        if (commits)
            c->wait_mode = CH__PG_WAIT_COMMIT;
        PGresult *res = ch__pg_await(c, PQsendQueryPrepared(c->pg, st->name, (int)nparams, vals, NULL, NULL, 0), sql);
        c->wait_mode = CH__PG_WAIT_CANCEL;
        ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
            err = ch__pg_fail(c, res, "exec", sql);
        if (err == CH_OK && rows_out)
            err = ch__pg_rows(c, res, sql, rows_out);
        if (err == CH_OK && changes_out)
            *changes_out = ch__pg_changes(res);
        if (err == CH_OK && commits)
            ch__db_committed_note();
        PQclear(res);
    }
    for (size_t i = 0; i < nparams; i++)
        free(args[i].copy);
    if (vals != small_vals)
        free(vals);
    if (args != small_args)
        free(args);
    return err;
}

static ch_err_t ch__pg_exec_script(ch_db_conn_t *conn, const char *sql)
{
    ch__pg_conn_t *c = ch__pg(conn);
    if (c->in_txn && c->txn_err != CH_OK)
        return ch__pg_misuse(c, CH_EINTERNAL, "script in a transaction aborted by an earlier error", sql);
    /* PQexec runs every statement of a simple query and answers with the last result, or
     * the first error. */
    if (c->broken || ch__pg_past_deadline(c, sql) != CH_OK)
        return CH_EUNAVAILABLE;
    PGresult *res = ch__pg_exec_text(c, sql);
    ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    ch_err_t err = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY
                       ? CH_OK
                       : ch__pg_fail(c, res, "script", sql);
    PQclear(res);
    return err;
}

static ch_err_t ch__pg_begin(ch_db_conn_t *conn, int for_write)
{
    ch__pg_conn_t *c = ch__pg(conn);
    if (c->in_txn) {
        ch_log_error("postgres: begin inside a transaction");
        return CH_EINTERNAL;
    }
    if (ch__pg_past_deadline(c, "BEGIN") != CH_OK)
        return CH_EUNAVAILABLE;
    ch_err_t err = ch__pg_simple(c, "BEGIN", PGRES_COMMAND_OK, NULL);
    if (err == CH_OK) {
        c->in_txn = 1;
        c->txn_err = CH_OK;
    }
    return err;
}

static ch_err_t ch__pg_commit(ch_db_conn_t *conn)
{
    ch__pg_conn_t *c = ch__pg(conn);
    if (!c->in_txn) {
        ch_log_error("postgres: commit outside a transaction");
        return CH_EINTERNAL;
    }
    ch_err_t err = c->txn_err;
    if (err == CH_OK)
        err = ch__pg_past_deadline(c, "COMMIT"); /* not sent: rolled back below */
    if (err == CH_OK) {
        PGresult *res = NULL;
        /* Once sent, COMMIT is not cut off by the request deadline (its outcome would be
         * unknown): the statement deadline bounds it, and the stop deadline. */
        c->wait_mode = CH__PG_WAIT_COMMIT;
        err = ch__pg_simple(c, "COMMIT", PGRES_COMMAND_OK, &res);
        c->wait_mode = CH__PG_WAIT_CANCEL;
        /* The server answers COMMIT of an aborted transaction with a ROLLBACK tag. */
        if (err == CH_OK && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
            ch_log_error("postgres: commit answered %s", PQcmdStatus(res));
            err = CH_EINTERNAL;
        }
        if (err == CH_OK)
            ch__db_committed_note();
        PQclear(res);
    } else {
        ch_log_error("postgres: commit of a transaction aborted by an earlier error: rolled back");
    }
    ch__pg_rollback(conn);
    return err;
}

static ch_err_t ch__pg_lock_schema(ch_db_conn_t *conn)
{
    ch__pg_conn_t *c = ch__pg(conn);
    if (!c->in_txn) {
        ch_log_error("postgres: lock_schema outside a transaction");
        return CH_EINTERNAL;
    }
    /* A migration may take long, and so may waiting for another process's: no deadline for
     * the rest of this transaction. */
    ch_err_t err = ch__pg_simple(c, "SET LOCAL statement_timeout = 0", PGRES_COMMAND_OK, NULL);
    if (err != CH_OK)
        return err;
    c->txn_untimed = 1;
    return ch__pg_simple(c, "SELECT pg_advisory_xact_lock(" CH__PG_SCHEMA_LOCK ")", PGRES_TUPLES_OK, NULL);
}

/* ---- capabilities ------------------------------------------------------------------- */

/* Autovacuum and other server processes insert no rows and are left out: a long vacuum
 * must not hold a reader's horizon. */
static ch_err_t ch__pg_oldest_open_xact_ms(ch_db_conn_t *conn, int64_t *out_ms)
{
    static const char sql[] =
        "SELECT CAST(EXTRACT(EPOCH FROM min(xact_start)) * 1000 AS BIGINT) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend' AND xact_start IS NOT NULL";
    ch_db_rows_t *rows = NULL;
    *out_ms = -1;
    ch_err_t err = ch__pg_exec(conn, sql, NULL, 0, &rows, NULL);
    if (err == CH_OK && ch_db_rows_count(rows) == 1 && !ch_db_rows_isnull(rows, 0, 0))
        *out_ms = ch_db_rows_int(rows, 0, 0);
    ch_db_rows_free(rows);
    return err;
}

/* Bulk work runs without a deadline; the connection is closed on release rather than
 * pooled, so that no request inherits that. A writer needs nothing special here. */
static ch_err_t ch__pg_tune(ch_db_conn_t *conn, ch_db_tune_t how)
{
    ch__pg_conn_t *c = ch__pg(conn);
    if (how != CH_DB_TUNE_BULK)
        return CH_OK;
    ch_err_t err = ch__pg_simple(c, "SET statement_timeout = 0", PGRES_COMMAND_OK, NULL);
    if (err == CH_OK)
        c->untimed = 1;
    return err;
}

const ch_db_driver_t ch_db_pg_driver = {
    .name = "postgres",
    .url_prefix = "postgres",
    .open = ch__pg_open,
    .close = ch__pg_close,
    .acquire = ch__pg_acquire,
    .release = ch__pg_release,
    .exec = ch__pg_exec,
    .exec_script = ch__pg_exec_script,
    .begin = ch__pg_begin,
    .commit = ch__pg_commit,
    .rollback = ch__pg_rollback,
    .lock_schema = ch__pg_lock_schema,
    .oldest_open_xact_ms = ch__pg_oldest_open_xact_ms,
    .tune = ch__pg_tune,
    .maintain = NULL,     /* the server vacuums and checkpoints itself */
    .check_space = NULL, /* the server's disk is not ours to see: the write probe decides */
};

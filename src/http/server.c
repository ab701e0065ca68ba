#include "http/server.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <h2o.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/metrics_edge.h"
#include "core/netaddr.h"
#include "http/call.h"
#include "http/connlimit.h"
#include "http/dispatch.h"
#include "http/h2o_cache_park.h"
#include "gateway/gateway.h"
#include "store/db.h"

#define CH_IDLE_TIMEOUT_MS 5000 /* idle keep-alive connections close after this */
/* File descriptors kept out of the connection cap: database and Redis connections, the
 * SQLite files, listeners, libuv's own (and its EMFILE reserve), log files. */
#define CH_FD_HEADROOM 512
#define CH_FD_MIN_CONNECTIONS 64       /* the cap never goes below this, however low the fd limit */
#define CH_REFUSAL_LOG_INTERVAL_MS 10000 /* at most one log line per cap this often */
#define CH_LOOP_LAG_INTERVAL_MS 100      /* how often each loop measures its lag */
#define CH_HTTP2_MAX_STREAMS 32          /* when CHORUS_HTTP2=on: concurrent streams per connection */

enum { CH__RUNNING, CH__DRAINING, CH__EXITING };

typedef struct {
    ch_server_t *srv;
    pthread_t thread;
    int started;
    uv_loop_t loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    uv_tcp_t listener;
    int fd;
    int listener_open;
    int inited;    /* loop, context and handles were set up */
    int ctx_alive; /* h2o context not yet disposed */
    int wake_open;
    uv_async_t wake;
    uv_timer_t exit_timer; /* polls for the last connection to close after the drain */
    int64_t exit_deadline_ms;
    unsigned index;
    uv_timer_t lag_timer; /* measures how late the loop runs a due timer */
    uint64_t lag_due_ns;
} ch__loop_t;

struct ch_server {
    h2o_globalconf_t conf;
    const ch_config_t *cfg;
    ch__loop_t *loops;
    unsigned nloops;
    _Atomic int phase;
    int64_t close_by_ms; /* ch_mono_ms() by which open connections are given up on; 0: none */
    ch_connlimit_t *connlimit;
    unsigned max_connections;
    uint16_t port; /* bound: CHORUS_LISTEN's, or the kernel's pick for port 0 */
};

/* An accepted connection: the libuv handle (first, h2o frees what it is given through
 * ch__on_conn_closed) and what it counts against the caps. */
typedef struct {
    uv_tcp_t tcp;
    ch_server_t *srv;
    ch_netaddr_t addr;
    int exempt; /* a trusted proxy: not held to the per-address cap */
} ch__conn_t;

/* ---- sockets ------------------------------------------------------------------------- */

static int ch__bind(const char *host, uint16_t port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "CHORUS_LISTEN: cannot resolve '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        snprintf(err, errlen, "CHORUS_LISTEN: cannot listen on %s:%u: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int ch__bound_port(int fd, uint16_t *port, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(err, errlen, "CHORUS_LISTEN: getsockname: %s", strerror(errno));
        return -1;
    }
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

uint16_t ch_server_port(const ch_server_t *srv)
{
    return srv->port;
}

static void ch__on_conn_closed(uv_handle_t *h)
{
    ch__conn_t *conn = (ch__conn_t *)h;
    ch_connlimit_release(conn->srv->connlimit, &conn->addr, conn->exempt);
    ch_metrics_connections_add(-1);
    free(conn);
}

/* A refused connection: one warning per cap per CH_REFUSAL_LOG_INTERVAL_MS, with the
 * number refused since the last one. */
static void ch__log_refusal(ch_server_t *srv, ch_conn_admit_t why, const ch_netaddr_t *addr)
{
    static _Atomic int64_t last_ms[2];
    static _Atomic uint64_t unlogged[2];
    int k = why == CH_CONN_REFUSED_PER_ADDR ? 0 : 1;
    ch_metrics_conn_refused(k == 0 ? CH_REFUSED_PER_ADDR : CH_REFUSED_GLOBAL);
    atomic_fetch_add(&unlogged[k], 1);
    int64_t now = ch_mono_ms(), last = atomic_load(&last_ms[k]);
    if ((last && now - last < CH_REFUSAL_LOG_INTERVAL_MS) || !atomic_compare_exchange_strong(&last_ms[k], &last, now))
        return;
    uint64_t n = atomic_exchange(&unlogged[k], 0);
    char text[CH_NETADDR_STRLEN];
    ch_netaddr_format(addr, text, sizeof(text));
    if (k == 0)
        ch_log_warn("refused %llu connection(s): %s has CHORUS_MAX_CONN_PER_IP=%u open (latest refused)",
                    (unsigned long long)n, text, srv->cfg->max_conn_per_ip);
    else
        ch_log_warn("refused %llu connection(s): %u connections open, the cap (CHORUS_MAX_CONNECTIONS or the fd "
                    "limit) is reached (latest from %s)",
                    (unsigned long long)n, srv->max_connections, text);
}

static void ch__on_accept(uv_stream_t *listener, int status)
{
    ch__loop_t *l = listener->data;
    ch_server_t *srv = l->srv;
    if (status != 0)
        return; /* EMFILE: libuv's reserve fd has already accepted and closed the backlog */
    ch__conn_t *conn = h2o_mem_alloc(sizeof(*conn));
    uv_tcp_init(listener->loop, &conn->tcp);
    if (uv_accept(listener, (uv_stream_t *)&conn->tcp) != 0) {
        uv_close((uv_handle_t *)&conn->tcp, (uv_close_cb)free);
        return;
    }
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    memset(&conn->addr, 0, sizeof(conn->addr));
    if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&ss, &sl) == 0)
        ch_netaddr_from_sockaddr((struct sockaddr *)&ss, &conn->addr);
    conn->srv = srv;
    conn->exempt = ch_cidr_list_contains(srv->cfg->trusted_proxies, srv->cfg->ntrusted_proxies, &conn->addr);
    ch_conn_admit_t admit = ch_connlimit_acquire(srv->connlimit, &conn->addr, conn->exempt);
    if (admit != CH_CONN_ADMITTED) {
        ch__log_refusal(srv, admit, &conn->addr);
        uv_close((uv_handle_t *)&conn->tcp, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    ch_metrics_connections_add(1);
    h2o_accept(&l->accept, h2o_uv_socket_create((uv_stream_t *)&conn->tcp, ch__on_conn_closed));
}

/* ---- file descriptors ------------------------------------------------------------------- */

/* Raises the soft fd limit to the hard one and returns the connection cap: the configured
 * one, kept CH_FD_HEADROOM below the limit, so accept() does not run out of fds first. */
static unsigned ch__connection_cap(const ch_config_t *cfg)
{
    struct rlimit rl;
    rlim_t limit = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rlim_t old = rl.rlim_cur;
            rl.rlim_cur = rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                rl.rlim_cur = old;
        }
        limit = rl.rlim_cur;
    }
    if (limit > 16u * 1024 * 1024)
        limit = 16u * 1024 * 1024; /* RLIM_INFINITY and such: more than anyone will open */
    unsigned fit = limit > CH_FD_HEADROOM + CH_FD_MIN_CONNECTIONS ? (unsigned)(limit - CH_FD_HEADROOM)
                                                                  : CH_FD_MIN_CONNECTIONS;
    if (cfg->max_connections == 0)
        return fit;
    if (cfg->max_connections > fit) {
        ch_log_warn("CHORUS_MAX_CONNECTIONS=%u does not fit the fd limit (%llu, %u kept for other files); "
                    "using %u",
                    cfg->max_connections, (unsigned long long)limit, CH_FD_HEADROOM, fit);
        return fit;
    }
    return cfg->max_connections;
}

/* ---- event-loop lag --------------------------------------------------------------------- */

static void ch__on_lag_timer(uv_timer_t *t)
{
    ch__loop_t *l = t->data;
    uint64_t now = uv_hrtime();
    ch_metrics_loop_lag(l->index, now > l->lag_due_ns ? now - l->lag_due_ns : 0, ch_mono_ms());
    /* one-shot, re-armed from the current time: a late run does not make the next one due early */
    uv_update_time(t->loop);
    l->lag_due_ns = uv_hrtime() + (uint64_t)CH_LOOP_LAG_INTERVAL_MS * 1000000u;
    uv_timer_start(t, ch__on_lag_timer, CH_LOOP_LAG_INTERVAL_MS, 0);
}

/* ---- loop threads ------------------------------------------------------------------------ */

static void ch__close_listener(ch__loop_t *l)
{
    if (l->listener_open) {
        uv_close((uv_handle_t *)&l->listener, NULL);
        l->listener_open = 0;
    }
}

/* After the drain: stop the loop once every connection is gone (idle keep-alive ones
 * close when their idle timeout fires), or at the deadline. */
static void ch__on_exit_poll(uv_timer_t *t)
{
    ch__loop_t *l = t->data;
    if ((h2o_linklist_is_empty(&l->ctx.http1._conns) && h2o_linklist_is_empty(&l->ctx.http2._conns) &&
         ch_gateway_loop_open(&l->ctx) == 0) ||
        ch_mono_ms() > l->exit_deadline_ms) {
        uv_close((uv_handle_t *)t, NULL);
        uv_stop(&l->loop);
    }
}

/* After the drain: an HTTP/1 connection that holds no request (an idle keep-alive one, or
 * one that never sent a byte) is shut down now. h2o 2.2.5 has no shutdown hook for HTTP/1
 * and closes such a connection only when its idle timeout fires (CH_IDLE_TIMEOUT_MS), so
 * every stop with a keep-alive client connected (a load balancer's pool, a webhook sender
 * such as Stripe's) waited that long for nothing. h2o reads the end of stream and closes
 * the connection itself. A request in progress (its request line parsed), bytes waiting in
 * h2o's buffer or the socket's (a request on its way) keep the connection: it ends on its
 * own once answered (no keep-alive after a shutdown request). Always returns 0 (go on). */
static int ch__shut_if_idle(h2o_req_t *req, void *arg)
{
    (void)arg;
    if (req->input.method.base != NULL || !req->conn->callbacks->get_socket)
        return 0;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    int fd = sock ? h2o_socket_get_fd(sock) : -1;
    if (fd < 0 || (sock->input && sock->input->size > 0))
        return 0;
    char byte;
    ssize_t got = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        shutdown(fd, SHUT_RDWR);
    return 0;
}

/* Runs on the loop thread when the main thread changes the phase. */
static void ch__on_wake(uv_async_t *a)
{
    ch__loop_t *l = a->data;
    int phase = atomic_load(&l->srv->phase);
    if (phase >= CH__DRAINING && l->listener_open) {
        ch__close_listener(l);
        h2o_context_request_shutdown(&l->ctx);
        ch_gateway_loop_drain(&l->ctx); /* WebSocket clients get a 1001 close */
    }
    if (phase == CH__EXITING && l->wake_open) {
        /* h2o 2.2 re-sends HTTP/2 GOAWAY every second after a shutdown request; that
         * entry must go before the context can be disposed. */
        if (h2o_timeout_is_linked(&l->ctx.http2._graceful_shutdown_timeout))
            h2o_timeout_unlink(&l->ctx.http2._graceful_shutdown_timeout);
        uv_close((uv_handle_t *)&l->wake, NULL);
        l->wake_open = 0;
        if (l->ctx.globalconf->http1.callbacks.foreach_request)
            l->ctx.globalconf->http1.callbacks.foreach_request(&l->ctx, ch__shut_if_idle, NULL);
        l->exit_deadline_ms = ch_mono_ms() + CH_IDLE_TIMEOUT_MS + 1000;
        if (l->srv->close_by_ms && l->srv->close_by_ms < l->exit_deadline_ms)
            l->exit_deadline_ms = l->srv->close_by_ms;
        uv_timer_init(&l->loop, &l->exit_timer);
        l->exit_timer.data = l;
        uv_timer_start(&l->exit_timer, ch__on_exit_poll, 0, 50);
    }
}

static void ch__close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void *ch__loop_main(void *arg)
{
    ch__loop_t *l = arg;
    ch_db_mark_loop_thread(1); /* database reads here never wait for a lock */
    /* The lag timer lives only while the thread runs; uv_walk below closes it. */
    uv_timer_init(&l->loop, &l->lag_timer);
    l->lag_timer.data = l;
    ch_metrics_loop_register(l->index);
    uv_update_time(&l->loop);
    l->lag_due_ns = uv_hrtime() + (uint64_t)CH_LOOP_LAG_INTERVAL_MS * 1000000u;
    uv_timer_start(&l->lag_timer, ch__on_lag_timer, CH_LOOP_LAG_INTERVAL_MS, 0);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    ch_gateway_loop_end();
    if (h2o_linklist_is_empty(&l->ctx.http1._conns) && h2o_linklist_is_empty(&l->ctx.http2._conns) &&
        ch_gateway_loop_open(&l->ctx) == 0) {
        h2o_context_dispose(&l->ctx);
        l->ctx_alive = 0;
    } else {
        /* uv_walk below closes the context's own timer handles too: disposing of it later
         * would close them a second time (libuv asserts). Its memory goes with the process. */
        ch_log_warn("connections still open at exit; leaving them to the operating system");
        l->ctx_alive = 0;
    }
    uv_walk(&l->loop, ch__close_handle, NULL);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    ch_h2o_cache_park(); /* nothing for the leak check to symbolize (sanitizer builds) */
    return NULL;
}

/* ---- public ---------------------------------------------------------------------------------- */

ch_server_t *ch_server_create(const ch_config_t *cfg, ch_svc_t *svc, char *err, size_t errlen)
{
    ch_server_t *srv = ch_calloc(1, sizeof(*srv));
    h2o_config_init(&srv->conf);
    srv->conf.max_request_entity_size = 2 * CH_MAX_BODY; /* bigger bodies get a problem+json 413 from us */
    srv->conf.http1.req_timeout = CH_IDLE_TIMEOUT_MS;
    srv->conf.server_name = h2o_iovec_init(H2O_STRLIT("chorus"));
    /* h2o 2.2.5 predates the fixes for HTTP/2 rapid reset (CVE-2023-44487) and for streams
     * kept open by PINGs: cleartext HTTP/2 (h2c upgrade and the prior-knowledge preface) is
     * off unless asked for; HTTP/2 belongs at a proxy that has those fixes. */
    srv->conf.http1.upgrade_to_http2 = cfg->http2;
    if (cfg->http2) {
        srv->conf.http2.max_concurrent_requests_per_connection = CH_HTTP2_MAX_STREAMS;
        srv->conf.http2.idle_timeout = CH_IDLE_TIMEOUT_MS;
        ch_log_warn("CHORUS_HTTP2=on: serving cleartext HTTP/2 with h2o %s, which lacks the fixes for rapid reset "
                    "(CVE-2023-44487) and PING-held streams; one client can exhaust this server. Terminate HTTP/2 "
                    "at a proxy that has them and leave this off.",
                    H2O_VERSION);
    }
    srv->cfg = cfg;
    srv->max_connections = ch__connection_cap(cfg);
    srv->connlimit = ch_connlimit_create(cfg->max_conn_per_ip, srv->max_connections);
    h2o_hostconf_t *host = h2o_config_register_host(&srv->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    ch_dispatch_register(host, svc);

    srv->nloops = cfg->threads;
    srv->loops = ch_calloc(srv->nloops, sizeof(*srv->loops));
    srv->port = cfg->listen_port;
    for (unsigned i = 0; i < srv->nloops; i++) {
        ch__loop_t *l = &srv->loops[i];
        l->srv = srv;
        l->index = i;
        if ((l->fd = ch__bind(cfg->listen_host, srv->port, err, errlen)) < 0) {
            ch_server_destroy(srv);
            return NULL;
        }
        /* Port 0: the first socket's port is the kernel's pick; the other loops join it
         * (SO_REUSEPORT). It is listening already, so no other process is handed it. */
        if (srv->port == 0 && ch__bound_port(l->fd, &srv->port, err, errlen) != 0) {
            close(l->fd);
            l->fd = -1;
            ch_server_destroy(srv);
            return NULL;
        }
        uv_loop_init(&l->loop);
        h2o_context_init(&l->ctx, &l->loop, &srv->conf);
        l->accept.ctx = &l->ctx;
        l->accept.hosts = srv->conf.hosts;
        uv_tcp_init(&l->loop, &l->listener);
        uv_tcp_open(&l->listener, l->fd);
        l->listener.data = l;
        l->listener_open = 1;
        uv_async_init(&l->loop, &l->wake, ch__on_wake);
        l->wake.data = l;
        l->inited = l->ctx_alive = l->wake_open = 1;
        if (uv_listen((uv_stream_t *)&l->listener, 4096, ch__on_accept) != 0) {
            snprintf(err, errlen, "CHORUS_LISTEN: cannot listen");
            ch_server_destroy(srv);
            return NULL;
        }
    }
    return srv;
}

int ch_server_start(ch_server_t *srv)
{
    for (unsigned i = 0; i < srv->nloops; i++) {
        if (pthread_create(&srv->loops[i].thread, NULL, ch__loop_main, &srv->loops[i]) != 0)
            return -1;
        srv->loops[i].started = 1;
    }
    return 0;
}

static void ch__set_phase(ch_server_t *srv, int phase)
{
    atomic_store(&srv->phase, phase);
    for (unsigned i = 0; i < srv->nloops; i++)
        if (srv->loops[i].started)
            uv_async_send(&srv->loops[i].wake);
}

void ch_server_stop(ch_server_t *srv, int drain_ms)
{
    ch_server_stop_by(srv, drain_ms, 0);
}

void ch_server_stop_by(ch_server_t *srv, int drain_ms, int64_t close_by_ms)
{
    srv->close_by_ms = close_by_ms; /* read by the loops after the phase change below */
    ch__set_phase(srv, CH__DRAINING);
    int64_t deadline = ch_mono_ms() + drain_ms;
    while (ch_metrics_inflight() > 0 && ch_mono_ms() < deadline)
        usleep(10 * 1000);
    if (ch_metrics_inflight() > 0)
        ch_log_warn("drain timed out with %ld requests in flight", ch_metrics_inflight());
    ch__set_phase(srv, CH__EXITING);
    for (unsigned i = 0; i < srv->nloops; i++)
        if (srv->loops[i].started) {
            pthread_join(srv->loops[i].thread, NULL);
            srv->loops[i].started = 0;
        }
}

void ch_server_destroy(ch_server_t *srv)
{
    if (!srv)
        return;
    for (unsigned i = 0; i < srv->nloops; i++) {
        ch__loop_t *l = &srv->loops[i];
        if (!l->inited)
            continue;
        ch__close_listener(l);
        if (l->wake_open)
            uv_close((uv_handle_t *)&l->wake, NULL);
        if (l->ctx_alive)
            h2o_context_dispose(&l->ctx);
        uv_run(&l->loop, UV_RUN_DEFAULT);
        uv_loop_close(&l->loop);
    }
    free(srv->loops);
    ch_connlimit_destroy(srv->connlimit);
    h2o_config_dispose(&srv->conf);
    free(srv);
}

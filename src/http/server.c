#include "http/server.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <h2o.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/call.h"
#include "http/dispatch.h"

#define CH_IDLE_TIMEOUT_MS 5000 /* idle keep-alive connections close after this */

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
} ch__loop_t;

struct ch_server {
    h2o_globalconf_t conf;
    ch__loop_t *loops;
    unsigned nloops;
    _Atomic int phase;
};

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

static void ch__on_conn_closed(uv_handle_t *h)
{
    ch_metrics_connections_add(-1);
    free(h);
}

static void ch__on_accept(uv_stream_t *listener, int status)
{
    ch__loop_t *l = listener->data;
    if (status != 0)
        return;
    uv_tcp_t *conn = h2o_mem_alloc(sizeof(*conn));
    uv_tcp_init(listener->loop, conn);
    if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    ch_metrics_connections_add(1);
    h2o_accept(&l->accept, h2o_uv_socket_create((uv_stream_t *)conn, ch__on_conn_closed));
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
    if ((h2o_linklist_is_empty(&l->ctx.http1._conns) && h2o_linklist_is_empty(&l->ctx.http2._conns)) ||
        ch_mono_ms() > l->exit_deadline_ms) {
        uv_close((uv_handle_t *)t, NULL);
        uv_stop(&l->loop);
    }
}

/* Runs on the loop thread when the main thread changes the phase. */
static void ch__on_wake(uv_async_t *a)
{
    ch__loop_t *l = a->data;
    int phase = atomic_load(&l->srv->phase);
    if (phase >= CH__DRAINING && l->listener_open) {
        ch__close_listener(l);
        h2o_context_request_shutdown(&l->ctx);
    }
    if (phase == CH__EXITING && l->wake_open) {
        /* h2o 2.2 re-sends HTTP/2 GOAWAY every second after a shutdown request; that
         * entry must go before the context can be disposed. */
        if (h2o_timeout_is_linked(&l->ctx.http2._graceful_shutdown_timeout))
            h2o_timeout_unlink(&l->ctx.http2._graceful_shutdown_timeout);
        uv_close((uv_handle_t *)&l->wake, NULL);
        l->wake_open = 0;
        l->exit_deadline_ms = ch_mono_ms() + CH_IDLE_TIMEOUT_MS + 1000;
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
    uv_run(&l->loop, UV_RUN_DEFAULT);
    if (h2o_linklist_is_empty(&l->ctx.http1._conns) && h2o_linklist_is_empty(&l->ctx.http2._conns)) {
        h2o_context_dispose(&l->ctx);
        l->ctx_alive = 0;
    } else {
        ch_log_warn("connections still open at exit; leaving them to the operating system");
    }
    uv_walk(&l->loop, ch__close_handle, NULL);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ---- public ---------------------------------------------------------------------------------- */

ch_server_t *ch_server_create(const ch_config_t *cfg, ch_svc_t *svc, char *err, size_t errlen)
{
    ch_server_t *srv = calloc(1, sizeof(*srv));
    h2o_config_init(&srv->conf);
    srv->conf.max_request_entity_size = 2 * CH_MAX_BODY; /* bigger bodies get a problem+json 413 from us */
    srv->conf.http1.req_timeout = CH_IDLE_TIMEOUT_MS;
    srv->conf.server_name = h2o_iovec_init(H2O_STRLIT("chorus"));
    h2o_hostconf_t *host = h2o_config_register_host(&srv->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    ch_dispatch_register(host, svc);

    srv->nloops = cfg->threads;
    srv->loops = calloc(srv->nloops, sizeof(*srv->loops));
    for (unsigned i = 0; i < srv->nloops; i++) {
        ch__loop_t *l = &srv->loops[i];
        l->srv = srv;
        if ((l->fd = ch__bind(cfg->listen_host, cfg->listen_port, err, errlen)) < 0) {
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
    h2o_config_dispose(&srv->conf);
    free(srv);
}

/* wsload: a WebSocket load generator for the gateway benchmarks (issue 13; docs/benchmarks.md,
 * "Gateway"). One thread, epoll, non-blocking sockets, libwslay for the framing; many
 * loopback source addresses (127.0.0.x) so that more connections than one address has
 * ephemeral ports can be opened. Speaks the gateway's protocol (brd/chat.md: hello first,
 * {op, ref, d} frames) to chorusd or to the Node.js `ws` baseline (node_server.js).
 *
 * Workloads (--mode):
 *   idle    opens --conns connections (one per user of --users, from its --first line), waits
 *           for each hello, then holds them --hold seconds (pings are answered by wslay);
 *           prints how many got their hello (a first JSON line, so that the caller can
 *           measure the server's memory meanwhile) and how many were still open at the end of
 *           the hold (a second line).
 *   direct  1:1 messages: for each conversation of --convs (two members), the first member's
 *           device sends message.send, the second's receives message.new. --rate R sends R
 *           messages/s in total for --duration s (latency at a fixed rate); --rate 0 sends
 *           as fast as acks come back, --window messages in flight per sender (throughput).
 *   group   the first conversation of --convs: every member connected, the first member sends
 *           --rate messages/s for --duration s; each message must reach every other member.
 * Latency: the send time (CLOCK_MONOTONIC, same process) travels in the message's text.
 * Prints one JSON object with the results on stdout; progress on stderr.
 *
 * Input files (bench/wsload/setup.py writes them): --users: "user_id token" per line;
 * --convs: "conversation_id member_id member_id ..." per line. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define WL_MAX_FRAME (64 * 1024)
#define WL_HANDSHAKE_MAX 4096
#define WL_LAT_BUCKETS 1000000 /* 1 µs buckets up to 1 s; slower counted apart */
#define WL_MAX_GROUP_MSGS 1000000

typedef enum { WL_IDLE, WL_DIRECT, WL_GROUP } wl_mode_t;
typedef enum { C_CONNECTING, C_HANDSHAKE, C_OPEN, C_DEAD } wl_state_t;

typedef struct {
    uint64_t user_id;
    char *token;
} wl_user_t;

typedef struct {
    uint64_t id;
    uint64_t *members;
    size_t n;
} wl_conv_t;

typedef struct wl_conn {
    int fd;
    wl_state_t state;
    const wl_user_t *user;
    const wl_conv_t *conv; /* direct/group: the conversation this device sends to or reads */
    int sender;            /* sends the workload's messages */
    int hello;             /* the server's hello arrived */
    int in_flight;         /* message.send without their ack yet */
    char *hs;              /* handshake request, then response bytes */
    size_t hs_len, hs_off;
    char *pre; /* bytes read after the handshake response, fed to wslay first */
    size_t pre_len, pre_off;
    wslay_event_context_ptr ws;
    uint32_t events; /* epoll interest */
} wl_conn_t;

/* ---- options and state ---------------------------------------------------------------------- */

static struct {
    const char *host;
    int port;
    const char *path;
    const char *users_path, *convs_path;
    wl_mode_t mode;
    size_t conns, first;
    int sources;
    double hold_s, duration_s, rate;
    int window, parallel;
    double open_timeout_s;
} opt = {"127.0.0.1", 0, "/v1/ws", NULL, NULL, WL_IDLE, 0, 0, 8, 10, 10, 0, 8, 256, 120};

static wl_user_t *users;
static size_t n_users;
static wl_conv_t *convs;
static size_t n_convs;
static wl_conn_t *conns;
static size_t n_conns;
static int ep;
static uint64_t xs = 88172645463325252ULL;

static struct {
    size_t opened, open, failed, closed_by_server, hellos;
    uint64_t sent, acked, errors, received, late; /* late: slower than 1 s */
    uint32_t *lat;                                 /* per-delivery latency histogram, µs */
    uint64_t *group_reached;                       /* group: deliveries per message */
    uint64_t *group_last_ns;                       /* group: latest delivery per message */
    uint64_t *group_sent_ns;
} st;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "wsload: %s\n", what);
    exit(2);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        die("out of memory");
    return p;
}

/* ---- input files ------------------------------------------------------------------------------ */

static void load_users(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open --users");
    size_t cap = 1024;
    users = xcalloc(cap, sizeof(*users));
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = 0;
        char *tok = sp + 1;
        tok[strcspn(tok, "\r\n")] = 0;
        if (n_users == cap) {
            cap *= 2;
            users = realloc(users, cap * sizeof(*users));
            if (!users)
                die("out of memory");
        }
        users[n_users].user_id = strtoull(line, NULL, 10);
        users[n_users].token = strdup(tok);
        n_users++;
    }
    fclose(f);
}

static void load_convs(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open --convs");
    size_t cap = 64;
    convs = xcalloc(cap, sizeof(*convs));
    char *line = NULL;
    size_t len = 0;
    while (getline(&line, &len, f) > 0) {
        if (n_convs == cap) {
            cap *= 2;
            convs = realloc(convs, cap * sizeof(*convs));
            if (!convs)
                die("out of memory");
        }
        wl_conv_t *c = &convs[n_convs];
        memset(c, 0, sizeof(*c));
        char *p = line, *end;
        c->id = strtoull(p, &end, 10);
        if (end == p)
            continue;
        size_t mcap = 8;
        c->members = xcalloc(mcap, sizeof(uint64_t));
        for (p = end;; p = end) {
            uint64_t m = strtoull(p, &end, 10);
            if (end == p)
                break;
            if (c->n == mcap) {
                mcap *= 2;
                c->members = realloc(c->members, mcap * sizeof(uint64_t));
                if (!c->members)
                    die("out of memory");
            }
            c->members[c->n++] = m;
        }
        n_convs++;
    }
    free(line);
    fclose(f);
}

static const wl_user_t *user_by_id(uint64_t id)
{
    for (size_t i = 0; i < n_users; i++) /* set-up only: linear is fine */
        if (users[i].user_id == id)
            return &users[i];
    die("a conversation member is not in --users");
    return NULL;
}

/* ---- wslay callbacks ---------------------------------------------------------------------------- */

static ssize_t cb_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    wl_conn_t *c = ud;
    if (c->pre_off < c->pre_len) {
        size_t n = c->pre_len - c->pre_off < len ? c->pre_len - c->pre_off : len;
        memcpy(buf, c->pre + c->pre_off, n);
        c->pre_off += n;
        return (ssize_t)n;
    }
    ssize_t r = recv(c->fd, buf, len, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (r <= 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return r;
}

static ssize_t cb_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)flags;
    wl_conn_t *c = ud;
    ssize_t r = send(c->fd, data, len, MSG_NOSIGNAL);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (r < 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return r;
}

static int cb_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    (void)ctx;
    (void)ud;
    for (size_t i = 0; i < len; i++) { /* xorshift: masks need not be secret in a load test */
        xs ^= xs << 13;
        xs ^= xs >> 7;
        xs ^= xs << 17;
        buf[i] = (uint8_t)xs;
    }
    return 0;
}

static void record_latency(uint64_t sent_ns, uint64_t at)
{
    uint64_t us = at > sent_ns ? (at - sent_ns) / 1000 : 0;
    st.received++;
    if (us >= WL_LAT_BUCKETS)
        st.late++;
    else
        st.lat[us]++;
}

static void cb_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *ud)
{
    (void)ctx;
    wl_conn_t *c = ud;
    if (arg->opcode != WSLAY_TEXT_FRAME)
        return;
    const char *m = (const char *)arg->msg;
    size_t len = arg->msg_length;
    uint64_t at = now_ns();
    if (!c->hello && memmem(m, len, "\"hello\"", 7)) {
        c->hello = 1;
        st.hellos++;
        return;
    }
    const char *op = memmem(m, len, "\"op\":", 5);
    if (!op)
        return;
    op += 5;
    while (op < m + len && (*op == ' ' || *op == '"'))
        op++;
    size_t left = (size_t)(m + len - op);
    if (left >= 3 && memcmp(op, "ack", 3) == 0) {
        if (c->in_flight > 0)
            c->in_flight--;
        st.acked++;
    } else if (left >= 5 && memcmp(op, "error", 5) == 0) {
        if (c->in_flight > 0)
            c->in_flight--;
        if (st.errors++ < 5)
            fprintf(stderr, "wsload: error frame: %.*s\n", (int)(len < 300 ? len : 300), m);
    } else if (left >= 11 && memcmp(op, "message.new", 11) == 0 && !c->sender) {
        const char *t = memmem(m, len, "wsload ", 7);
        if (!t)
            return;
        char *end;
        uint64_t sent = strtoull(t + 7, &end, 10);
        uint64_t idx = strtoull(end, NULL, 10);
        record_latency(sent, at);
        if (opt.mode == WL_GROUP && idx < WL_MAX_GROUP_MSGS) {
            st.group_reached[idx]++;
            if (at > st.group_last_ns[idx])
                st.group_last_ns[idx] = at;
        }
    }
}

static const struct wslay_event_callbacks callbacks = {cb_recv, cb_send, cb_genmask, NULL, NULL, NULL, cb_msg};

/* ---- connections ------------------------------------------------------------------------------- */

static void set_interest(wl_conn_t *c, uint32_t events)
{
    if (c->events == events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = events;
}

static void conn_dead(wl_conn_t *c, int by_server)
{
    if (c->state == C_DEAD)
        return;
    if (c->state == C_OPEN) {
        st.open--;
        if (by_server)
            st.closed_by_server++;
    } else {
        st.failed++;
    }
    c->state = C_DEAD;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->ws)
        wslay_event_context_free(c->ws);
    c->ws = NULL;
    free(c->hs);
    free(c->pre);
    c->hs = c->pre = NULL;
}

static void conn_start(wl_conn_t *c, size_t index)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0)
        die("socket: out of descriptors (ulimit -n)");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(index % (size_t)opt.sources));
    if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) != 0)
        die("bind to a 127.0.0.x source address");
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    inet_pton(AF_INET, opt.host, &dst.sin_addr);
    c->state = C_CONNECTING;
    st.opened++;
    if (connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 && errno != EINPROGRESS) {
        c->state = C_HANDSHAKE; /* counted as failed by conn_dead */
        c->events = 0;
        struct epoll_event ev = {.events = 0, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        conn_dead(c, 0);
        return;
    }
    uint8_t key[16];
    char key64[32];
    RAND_bytes(key, sizeof(key));
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t k = 0;
    for (size_t i = 0; i < 15; i += 3) {
        uint32_t v = (uint32_t)key[i] << 16 | (uint32_t)key[i + 1] << 8 | key[i + 2];
        key64[k++] = b64[v >> 18 & 63];
        key64[k++] = b64[v >> 12 & 63];
        key64[k++] = b64[v >> 6 & 63];
        key64[k++] = b64[v & 63];
    }
    key64[k++] = b64[key[15] >> 2];
    key64[k++] = b64[(key[15] & 3) << 4];
    key64[k++] = '=';
    key64[k++] = '=';
    key64[k] = 0;
    c->hs = xcalloc(WL_HANDSHAKE_MAX, 1);
    int n = snprintf(c->hs, WL_HANDSHAKE_MAX,
                     "GET %s?access_token=%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     opt.path, c->user->token, opt.host, opt.port, key64);
    if (n <= 0 || n >= WL_HANDSHAKE_MAX)
        die("token too long");
    c->hs_len = (size_t)n;
    c->hs_off = 0;
    c->events = EPOLLOUT;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Reads the handshake response; on 101 the connection is open. */
static void conn_handshake_read(wl_conn_t *c)
{
    for (;;) {
        if (c->hs_off >= WL_HANDSHAKE_MAX - 1) {
            conn_dead(c, 0);
            return;
        }
        ssize_t r = recv(c->fd, c->hs + c->hs_off, WL_HANDSHAKE_MAX - 1 - c->hs_off, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            conn_dead(c, 0);
            return;
        }
        c->hs_off += (size_t)r;
        c->hs[c->hs_off] = 0;
        char *end = strstr(c->hs, "\r\n\r\n");
        if (!end)
            continue;
        if (strncmp(c->hs, "HTTP/1.1 101", 12) != 0) {
            if (st.failed < 3)
                fprintf(stderr, "wsload: upgrade refused: %.*s\n", (int)strcspn(c->hs, "\r\n"), c->hs);
            conn_dead(c, 0);
            return;
        }
        end += 4;
        c->pre_len = c->hs_off - (size_t)(end - c->hs);
        if (c->pre_len) {
            c->pre = xcalloc(c->pre_len, 1);
            memcpy(c->pre, end, c->pre_len);
        }
        free(c->hs);
        c->hs = NULL;
        if (wslay_event_context_client_init(&c->ws, &callbacks, c) != 0)
            die("wslay");
        wslay_event_config_set_max_recv_msg_length(c->ws, WL_MAX_FRAME);
        c->state = C_OPEN;
        st.open++;
        set_interest(c, EPOLLIN);
        return;
    }
}

static void conn_flush_interest(wl_conn_t *c)
{
    if (c->state != C_OPEN)
        return;
    if (!wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws)) {
        conn_dead(c, 1);
        return;
    }
    set_interest(c, EPOLLIN | (wslay_event_want_write(c->ws) ? EPOLLOUT : 0));
}

static void conn_event(wl_conn_t *c, uint32_t events)
{
    if (c->state == C_CONNECTING || c->state == C_HANDSHAKE) {
        if (events & (EPOLLERR | EPOLLHUP)) {
            conn_dead(c, 0);
            return;
        }
        if (c->state == C_CONNECTING && (events & EPOLLOUT)) {
            while (c->hs_off < c->hs_len) {
                ssize_t w = send(c->fd, c->hs + c->hs_off, c->hs_len - c->hs_off, MSG_NOSIGNAL);
                if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                    return;
                if (w <= 0) {
                    conn_dead(c, 0);
                    return;
                }
                c->hs_off += (size_t)w;
            }
            c->state = C_HANDSHAKE;
            c->hs_off = 0;
            set_interest(c, EPOLLIN);
            return;
        }
        if (c->state == C_HANDSHAKE && (events & EPOLLIN))
            conn_handshake_read(c);
        if (c->state == C_OPEN && c->pre_len)
            conn_event(c, EPOLLIN); /* the hello may have come with the response */
        return;
    }
    if (c->state != C_OPEN)
        return;
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && wslay_event_recv(c->ws) != 0) {
        conn_dead(c, 1);
        return;
    }
    if (wslay_event_want_write(c->ws) && wslay_event_send(c->ws) != 0) {
        conn_dead(c, 1);
        return;
    }
    conn_flush_interest(c);
}

static void conn_send_message(wl_conn_t *c, uint64_t idx)
{
    char buf[512];
    uint64_t t = now_ns();
    int n = snprintf(buf, sizeof(buf),
                     "{\"op\":\"message.send\",\"ref\":\"%" PRIu64 "\",\"d\":{\"conversation_id\":\"%" PRIu64
                     "\",\"client_msg_id\":\"wl-%" PRIu64 "-%" PRIu64 "\",\"text\":\"wsload %" PRIu64 " %" PRIu64 "\"}}",
                     idx, c->conv->id, (uint64_t)getpid(), idx, t, idx);
    struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)buf, (size_t)n};
    if (wslay_event_queue_msg(c->ws, &msg) != 0)
        return;
    c->in_flight++;
    st.sent++;
    if (opt.mode == WL_GROUP && idx < WL_MAX_GROUP_MSGS)
        st.group_sent_ns[idx] = t;
    if (wslay_event_send(c->ws) != 0)
        conn_dead(c, 1);
    else
        conn_flush_interest(c);
}

/* ---- the run ------------------------------------------------------------------------------------- */

static void poll_once(int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(ep, evs, 512, timeout_ms);
    for (int i = 0; i < n; i++)
        conn_event(evs[i].data.ptr, evs[i].events);
}

/* Opens every connection, at most opt.parallel handshakes at once; returns when all are open
 * with their hello or failed, or after --open-timeout seconds (120). */
static void open_all(void)
{
    size_t next = 0;
    uint64_t t0 = now_ns(), last_report = t0;
    while ((double)(now_ns() - t0) / 1e9 < opt.open_timeout_s) {
        size_t pending = st.opened - st.failed - st.hellos - st.closed_by_server;
        while (next < n_conns && pending < (size_t)opt.parallel) {
            conn_start(&conns[next], next);
            next++;
            pending++;
        }
        if (next == n_conns && st.hellos + st.failed + st.closed_by_server >= n_conns)
            break;
        poll_once(10);
        if (now_ns() - last_report > 2000000000ULL) {
            last_report = now_ns();
            fprintf(stderr, "wsload: %zu open with hello, %zu failed, of %zu\n", st.hellos, st.failed, n_conns);
        }
    }
    fprintf(stderr, "wsload: %zu connections open with hello, %zu failed, in %.1f s\n", st.hellos, st.failed,
            (double)(now_ns() - t0) / 1e9);
}

static double pct(const uint32_t *h, uint64_t total, uint64_t late, double p)
{
    if (!total)
        return 0;
    uint64_t want = (uint64_t)((double)total * p), acc = 0;
    for (size_t i = 0; i < WL_LAT_BUCKETS; i++) {
        acc += h[i];
        if (acc > want)
            return (double)i / 1000.0;
    }
    (void)late;
    return 1000.0; /* in the slower-than-1-s tail */
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void run_messages(void)
{
    size_t n_senders = 0;
    wl_conn_t **senders = xcalloc(n_conns, sizeof(*senders));
    for (size_t i = 0; i < n_conns; i++)
        if (conns[i].sender && conns[i].state == C_OPEN)
            senders[n_senders++] = &conns[i];
    if (!n_senders)
        die("no sender connected");
    uint64_t t0 = now_ns(), dur = (uint64_t)(opt.duration_s * 1e9), idx = 0;
    size_t rr = 0;
    while (now_ns() - t0 < dur) {
        if (opt.rate > 0) {
            uint64_t due = (uint64_t)((double)(now_ns() - t0) / 1e9 * opt.rate);
            while (st.sent < due) {
                wl_conn_t *c = senders[rr++ % n_senders];
                if (c->state == C_OPEN)
                    conn_send_message(c, idx++);
                else if (rr > 4 * n_senders && st.open == 0)
                    break;
            }
        } else {
            for (size_t i = 0; i < n_senders; i++)
                while (senders[i]->state == C_OPEN && senders[i]->in_flight < opt.window)
                    conn_send_message(senders[i], idx++);
        }
        poll_once(1);
    }
    uint64_t sent_in_run = st.sent, t_end = now_ns();
    /* drain: up to 5 s for what is in flight */
    uint64_t expect = opt.mode == WL_GROUP ? sent_in_run * (conns[0].conv->n - 1) : sent_in_run;
    while (st.received + 0 < expect && now_ns() - t_end < 5000000000ULL)
        poll_once(5);
    double secs = (double)(t_end - t0) / 1e9;
    uint64_t total = st.received;
    printf("{\"mode\":\"%s\",\"connections\":%zu,\"senders\":%zu,\"rate\":%.0f,\"duration_s\":%.2f,"
           "\"sent\":%" PRIu64 ",\"acked\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"delivered\":%" PRIu64
           ",\"expected\":%" PRIu64 ",\"late_over_1s\":%" PRIu64 ",\"sent_per_s\":%.1f,\"delivered_per_s\":%.1f,"
           "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f",
           opt.mode == WL_GROUP ? "group" : "direct", st.open, n_senders, opt.rate, secs, sent_in_run, st.acked,
           st.errors, total, expect, st.late, (double)sent_in_run / secs, (double)total / secs,
           pct(st.lat, total, st.late, 0.50), pct(st.lat, total, st.late, 0.99), pct(st.lat, total, st.late, 0.999),
           pct(st.lat, total, st.late, 1.0 - 1e-12));
    if (opt.mode == WL_GROUP) {
        size_t n = sent_in_run < WL_MAX_GROUP_MSGS ? (size_t)sent_in_run : WL_MAX_GROUP_MSGS, complete = 0;
        uint64_t *all = xcalloc(n, sizeof(uint64_t));
        for (size_t i = 0; i < n; i++)
            if (st.group_reached[i] >= conns[0].conv->n - 1)
                all[complete++] = st.group_last_ns[i] - st.group_sent_ns[i];
        qsort(all, complete, sizeof(uint64_t), cmp_u64);
        printf(",\"group_members\":%zu,\"messages_reaching_all\":%zu,\"all_reached_p50_ms\":%.3f,"
               "\"all_reached_p99_ms\":%.3f",
               conns[0].conv->n, complete, complete ? (double)all[complete / 2] / 1e6 : 0,
               complete ? (double)all[(size_t)((double)complete * 0.99)] / 1e6 : 0);
        free(all);
    }
    printf(",\"closed_by_server\":%zu}\n", st.closed_by_server);
    free(senders);
}

static void usage(void)
{
    fprintf(stderr, "usage: wsload --port P --users FILE [--convs FILE] [--mode idle|direct|group] [--conns N] [--first I]\n"
                    "              [--host 127.0.0.1] [--path /v1/ws] [--sources K] [--hold S] [--rate R]\n"
                    "              [--duration S] [--window W] [--parallel C] [--open-timeout S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--host"))
            opt.host = v;
        else if (!strcmp(a, "--port"))
            opt.port = atoi(v);
        else if (!strcmp(a, "--path"))
            opt.path = v;
        else if (!strcmp(a, "--users"))
            opt.users_path = v;
        else if (!strcmp(a, "--convs"))
            opt.convs_path = v;
        else if (!strcmp(a, "--mode"))
            opt.mode = !strcmp(v, "idle") ? WL_IDLE : !strcmp(v, "direct") ? WL_DIRECT : !strcmp(v, "group") ? WL_GROUP : (usage(), WL_IDLE);
        else if (!strcmp(a, "--conns"))
            opt.conns = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--first"))
            opt.first = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--sources"))
            opt.sources = atoi(v);
        else if (!strcmp(a, "--hold"))
            opt.hold_s = atof(v);
        else if (!strcmp(a, "--rate"))
            opt.rate = atof(v);
        else if (!strcmp(a, "--duration"))
            opt.duration_s = atof(v);
        else if (!strcmp(a, "--window"))
            opt.window = atoi(v);
        else if (!strcmp(a, "--open-timeout"))
            opt.open_timeout_s = atof(v);
        else if (!strcmp(a, "--parallel"))
            opt.parallel = atoi(v);
        else
            usage();
    }
    if (opt.port <= 0 || !opt.users_path || opt.sources < 1 || opt.sources > 250 || opt.window < 1 || opt.parallel < 1)
        usage();
    struct rlimit rl = {1 << 20, 1 << 20};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    load_users(opt.users_path);
    if (opt.mode != WL_IDLE) {
        if (!opt.convs_path)
            usage();
        load_convs(opt.convs_path);
        if (!n_convs)
            die("no conversation in --convs");
    }
    st.lat = xcalloc(WL_LAT_BUCKETS, sizeof(uint32_t));
    ep = epoll_create1(0);
    if (opt.mode == WL_IDLE) {
        if (opt.first >= n_users)
            die("--first is past the end of --users");
        n_conns = opt.conns ? opt.conns : n_users - opt.first;
        if (n_conns > n_users - opt.first)
            die("--first + --conns is larger than --users");
        conns = xcalloc(n_conns, sizeof(*conns));
        for (size_t i = 0; i < n_conns; i++)
            conns[i].user = &users[opt.first + i];
    } else if (opt.mode == WL_DIRECT) {
        n_conns = 2 * n_convs;
        conns = xcalloc(n_conns, sizeof(*conns));
        for (size_t i = 0; i < n_convs; i++) {
            if (convs[i].n != 2)
                die("a direct conversation needs two members");
            conns[2 * i] = (wl_conn_t){.user = user_by_id(convs[i].members[0]), .conv = &convs[i], .sender = 1};
            conns[2 * i + 1] = (wl_conn_t){.user = user_by_id(convs[i].members[1]), .conv = &convs[i]};
        }
    } else {
        const wl_conv_t *g = &convs[0];
        n_conns = g->n;
        conns = xcalloc(n_conns, sizeof(*conns));
        for (size_t i = 0; i < n_conns; i++)
            conns[i] = (wl_conn_t){.user = user_by_id(g->members[i]), .conv = g, .sender = i == 0};
        st.group_reached = xcalloc(WL_MAX_GROUP_MSGS, sizeof(uint64_t));
        st.group_last_ns = xcalloc(WL_MAX_GROUP_MSGS, sizeof(uint64_t));
        st.group_sent_ns = xcalloc(WL_MAX_GROUP_MSGS, sizeof(uint64_t));
    }
    open_all();
    if (opt.mode == WL_IDLE) {
        printf("{\"mode\":\"idle\",\"wanted\":%zu,\"open\":%zu,\"failed\":%zu}\n", n_conns, st.hellos, st.failed);
        fflush(stdout);
        uint64_t t0 = now_ns();
        while ((double)(now_ns() - t0) / 1e9 < opt.hold_s)
            poll_once(100);
        fprintf(stderr, "wsload: %zu still open after %.0f s (%zu closed by the server)\n", st.open, opt.hold_s,
                st.closed_by_server);
        printf("{\"mode\":\"idle_end\",\"still_open\":%zu,\"closed_by_server\":%zu}\n", st.open,
               st.closed_by_server);
    } else {
        run_messages();
    }
    for (size_t i = 0; i < n_conns; i++)
        conn_dead(&conns[i], 0);
    return 0;
}

/* The Stripe client's calls and retries (store/stripe.c) against a tiny scripted HTTP server
 * in a thread (127.0.0.1, a kernel-chosen port): each request it receives takes the next
 * scripted answer (status, headers, body, or no answer at all) and is recorded, so the tests
 * see how many attempts were made and what each carried. Also the pool (store/stripe_pool.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "core/clock.h"
#include "store/db.h"
#include "store/stripe.h"

#define MAX_STEPS 8
#define MAX_SEEN 16
#define HANG (-1) /* a step that never answers */

typedef struct {
    int status; /* or HANG */
    const char *headers; /* extra header lines, each ending in \r\n */
    const char *body;
    size_t body_len; /* 0: strlen(body) */
} step_t;

typedef struct {
    char method[8];
    char target[512];
    char idem[300];
    char version[64];
    char auth[128];
    char account[64];
    char ctype[96];
    char body[1024];
} seen_t;

typedef struct {
    int lfd;
    int port;
    step_t steps[MAX_STEPS];
    int nsteps;
    seen_t seen[MAX_SEEN];
    int nseen; /* written by the server thread; read after join */
    volatile int stop;
    pthread_t thread;
} server_t;

static server_t srv;

/* Copies the value of header name from the request head into out ("" when absent). */
static void header(const char *head, const char *name, char *out, size_t outlen)
{
    out[0] = '\0';
    size_t n = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t len = (size_t)(e - v) < outlen - 1 ? (size_t)(e - v) : outlen - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return;
        }
    }
}

/* Reads one request on fd (head + Content-Length body); 0 on success. */
static int read_request(int fd, char *buf, size_t cap, size_t *head_len, size_t *total)
{
    size_t len = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) == 0) {
            if (srv.stop)
                return -1;
            continue;
        }
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            *head_len = (size_t)(end - buf) + 4;
            char cl[32];
            header(buf, "Content-Length", cl, sizeof(cl));
            size_t want = *head_len + (size_t)atol(cl);
            if (len >= want) {
                *total = want;
                return 0;
            }
        }
        if (len >= cap - 1)
            return -1;
    }
}

static void *serve(void *arg)
{
    (void)arg;
    static char buf[16384];
    int step = 0;
    while (!srv.stop) {
        struct pollfd p = {.fd = srv.lfd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept(srv.lfd, NULL, NULL);
        if (fd < 0)
            continue;
        size_t head_len = 0, total = 0;
        while (read_request(fd, buf, sizeof(buf), &head_len, &total) == 0) {
            if (srv.nseen < MAX_SEEN) {
                seen_t *s = &srv.seen[srv.nseen];
                sscanf(buf, "%7s %511s", s->method, s->target);
                header(buf, "Idempotency-Key", s->idem, sizeof(s->idem));
                header(buf, "Stripe-Version", s->version, sizeof(s->version));
                header(buf, "Authorization", s->auth, sizeof(s->auth));
                header(buf, "Stripe-Account", s->account, sizeof(s->account));
                header(buf, "Content-Type", s->ctype, sizeof(s->ctype));
                size_t blen = total - head_len < sizeof(s->body) - 1 ? total - head_len : sizeof(s->body) - 1;
                memcpy(s->body, buf + head_len, blen);
                s->body[blen] = '\0';
                srv.nseen++;
            }
            step_t st = step < srv.nsteps ? srv.steps[step] : (step_t){200, NULL, "{}", 0};
            step++;
            if (st.status == HANG) {
                char sink[256];
                struct pollfd q = {.fd = fd, .events = POLLIN};
                while (!srv.stop && (poll(&q, 1, 100) == 0 || recv(fd, sink, sizeof(sink), 0) > 0)) {
                }
                break; /* the client gave up and closed */
            }
            size_t blen = st.body ? (st.body_len ? st.body_len : strlen(st.body)) : 0;
            char head[1024];
            int n = snprintf(head, sizeof(head),
                             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
                             st.status, blen, st.headers ? st.headers : "");
            send(fd, head, (size_t)n, MSG_NOSIGNAL);
            for (size_t off = 0; off < blen;) {
                ssize_t w = send(fd, st.body + off, blen - off, MSG_NOSIGNAL);
                if (w <= 0)
                    break;
                off += (size_t)w;
            }
        }
        close(fd);
    }
    return NULL;
}

static void start(const step_t *steps, int n)
{
    memset(&srv, 0, sizeof(srv));
    if (n)
        memcpy(srv.steps, steps, sizeof(step_t) * (size_t)n);
    srv.nsteps = n;
    srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(srv.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(srv.lfd, 16), 0);
    socklen_t alen = sizeof(a);
    getsockname(srv.lfd, (struct sockaddr *)&a, &alen);
    srv.port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&srv.thread, NULL, serve, NULL), 0);
}

static void stop(void)
{
    srv.stop = 1;
    pthread_join(srv.thread, NULL);
    close(srv.lfd);
}

static ch_stripe_t *client(int max_retries, int64_t timeout_ms)
{
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d/", srv.port);
    ch_stripe_config_t cfg = {.api_base = base, .secret_key = "sk_test_123", .timeout_ms = timeout_ms,
                              .max_retries = max_retries, .backoff_base_ms = 1};
    ch_stripe_t *s = ch_stripe_create(&cfg);
    assert_non_null(s);
    return s;
}

static int setup(void **state)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state)
{
    curl_global_cleanup();
    return 0;
}

#define PI_OK "{\"id\":\"pi_1\",\"object\":\"payment_intent\",\"amount\":2500}"

static void test_500_then_200_same_key(void **state)
{
    step_t steps[] = {{500, NULL, "{\"error\":{\"type\":\"api_error\"}}", 0},
                      {200, "Request-Id: req_abc\r\nIdempotent-Replayed: true\r\n", PI_OK, 0}};
    start(steps, 2);
    ch_stripe_t *s = client(3, 5000);
    json_t *params = json_pack("{s:i, s:s, s:{s:s}}", "amount", 2500, "currency", "eur", "metadata", "order", "7");
    ch_stripe_result_t res;
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/payment_intents", params, "order-7-charge", NULL, &res), CH_OK);
    assert_int_equal(res.attempts, 2);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.request_id, "req_abc");
    assert_int_equal(res.replayed, 1);
    assert_string_equal(json_string_value(json_object_get(res.body, "id")), "pi_1");
    ch_stripe_result_clear(&res);
    json_decref(params);
    ch_stripe_destroy(s);
    stop();
    assert_int_equal(srv.nseen, 2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(srv.seen[i].method, "POST");
        assert_string_equal(srv.seen[i].target, "/v1/payment_intents");
        assert_string_equal(srv.seen[i].idem, "order-7-charge");
        assert_string_equal(srv.seen[i].version, "2023-08-16");
        assert_string_equal(srv.seen[i].auth, "Bearer sk_test_123");
        assert_string_equal(srv.seen[i].ctype, "application/x-www-form-urlencoded");
        assert_string_equal(srv.seen[i].body, "amount=2500&currency=eur&metadata%5Border%5D=7");
    }
}

static void test_400_not_retried(void **state)
{
    step_t steps[] = {{400, "Request-Id: req_bad\r\n",
                       "{\"error\":{\"type\":\"invalid_request_error\",\"param\":\"amount\"}}", 0}};
    start(steps, 1);
    ch_stripe_t *s = client(3, 5000);
    ch_stripe_result_t res;
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/refunds", NULL, "k1", "acct_9", &res), CH_EINVAL);
    assert_int_equal(res.attempts, 1);
    assert_int_equal(res.status, 400);
    assert_string_equal(res.request_id, "req_bad");
    json_t *err = json_object_get(res.body, "error");
    assert_string_equal(json_string_value(json_object_get(err, "param")), "amount");
    ch_stripe_result_clear(&res);
    ch_stripe_destroy(s);
    stop();
    assert_int_equal(srv.nseen, 1);
    assert_string_equal(srv.seen[0].account, "acct_9");
}

/* idempotency_error (a key reused with other params: our bug) is told apart from a 409 in
 * progress (retry later with the same key). */
static void test_idempotency_error_is_not_conflict(void **state)
{
    step_t steps[] = {{400, "Stripe-Should-Retry: true\r\n", "{\"error\":{\"type\":\"idempotency_error\"}}", 0},
                      {409, "Stripe-Should-Retry: false\r\n", "{\"error\":{\"type\":\"invalid_request_error\"}}", 0}};
    start(steps, 2);
    ch_stripe_t *s = client(3, 5000);
    ch_stripe_result_t res;
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/transfers", NULL, "k1", NULL, &res), CH_EINTERNAL);
    assert_int_equal(res.idempotency_error, 1);
    assert_int_equal(res.attempts, 1); /* never retried */
    ch_stripe_result_clear(&res);
    /* a 409 that Stripe says not to retry */
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/transfers", NULL, "k1", NULL, &res), CH_ECONFLICT);
    assert_int_equal(res.idempotency_error, 0);
    assert_int_equal(res.attempts, 1);
    ch_stripe_result_clear(&res);
    ch_stripe_destroy(s);
    stop();
}

static void test_409_retried(void **state)
{
    step_t steps[] = {{409, NULL, "{\"error\":{\"type\":\"invalid_request_error\"}}", 0},
                      {409, NULL, "{\"error\":{\"type\":\"invalid_request_error\"}}", 0},
                      {200, NULL, PI_OK, 0}};
    start(steps, 3);
    ch_stripe_t *s = client(3, 5000);
    ch_stripe_result_t res;
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/payment_intents", NULL, "k9", NULL, &res), CH_OK);
    assert_int_equal(res.attempts, 3);
    ch_stripe_result_clear(&res);
    ch_stripe_destroy(s);
    stop();
}

static void test_429_retry_after(void **state)
{
    step_t steps[] = {{429, "Retry-After: 1\r\n", "{\"error\":{\"type\":\"rate_limit_error\"}}", 0},
                      {200, NULL, PI_OK, 0}};
    start(steps, 2);
    ch_stripe_t *s = client(2, 5000); /* backoff base 1 ms: only Retry-After can make it wait a second */
    ch_stripe_result_t res;
    int64_t t0 = ch_mono_ms();
    assert_int_equal(ch_stripe_call(s, "GET", "/v1/balance_transactions", NULL, NULL, NULL, &res), CH_OK);
    int64_t waited = ch_mono_ms() - t0;
    assert_int_equal(res.attempts, 2);
    assert_true(waited >= 1000); /* a lower bound: the wait cannot be shorter than asked */
    ch_stripe_result_clear(&res);
    ch_stripe_destroy(s);
    stop();
    assert_int_equal(srv.nseen, 2);
    assert_string_equal(srv.seen[0].idem, ""); /* GET: no key */
}

static void test_5xx_exhausted_and_should_retry_false(void **state)
{
    step_t steps[] = {{503, NULL, "{}", 0}, {502, NULL, "not json", 0}, {500, NULL, "{}", 0},
                      {500, "Stripe-Should-Retry: false\r\n", "{}", 0}};
    start(steps, 4);
    ch_stripe_t *s = client(2, 5000);
    ch_stripe_result_t res;
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/refunds", NULL, "r1", NULL, &res), CH_EUNAVAILABLE);
    assert_int_equal(res.attempts, 3);
    assert_int_equal(res.status, 500);
    ch_stripe_result_clear(&res);
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/refunds", NULL, "r2", NULL, &res), CH_EUNAVAILABLE);
    assert_int_equal(res.attempts, 1);
    ch_stripe_result_clear(&res);
    ch_stripe_destroy(s);
    stop();
    assert_int_equal(srv.nseen, 4);
}

static void test_timeout_unavailable(void **state)
{
    step_t steps[] = {{HANG, NULL, NULL, 0}, {HANG, NULL, NULL, 0}};
    start(steps, 2);
    ch_stripe_t *s = client(1, 300);
    ch_stripe_result_t res;
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/transfers", NULL, "t-1", NULL, &res), CH_EUNAVAILABLE);
    assert_int_equal(res.attempts, 2);
    assert_int_equal(res.status, 0);
    assert_null(res.body);
    ch_stripe_result_clear(&res);
    ch_stripe_destroy(s);
    stop();
    assert_int_equal(srv.nseen, 2);
    assert_string_equal(srv.seen[0].idem, "t-1");
    assert_string_equal(srv.seen[1].idem, "t-1");
}

/* The thread's deadline (a request's, or the graceful stop's) bounds the whole call. */
static void test_deadline_bounds_the_call(void **state)
{
    step_t steps[] = {{HANG, NULL, NULL, 0}, {HANG, NULL, NULL, 0}, {HANG, NULL, NULL, 0}, {HANG, NULL, NULL, 0}};
    start(steps, 4);
    ch_stripe_t *s = client(3, 60000); /* an attempt alone would wait a minute */
    ch_stripe_result_t res;
    ch_db_deadline_set(ch_mono_ms() + 300);
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/transfers", NULL, "d-1", NULL, &res), CH_EUNAVAILABLE);
    assert_int_equal(res.attempts, 1); /* cut at the deadline, and no retry after it */
    assert_int_equal(res.status, 0);
    ch_stripe_result_clear(&res);
    /* a deadline already passed: nothing is sent */
    ch_db_deadline_set(ch_mono_ms() - 1);
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/transfers", NULL, "d-2", NULL, &res), CH_EUNAVAILABLE);
    assert_int_equal(res.attempts, 0);
    ch_stripe_result_clear(&res);
    ch_db_deadline_set(0);
    ch_stripe_destroy(s);
    stop();
    assert_int_equal(srv.nseen, 1);
}

/* The request's own deadline still bounds a call after a write of the request committed
 * (the database lifts it then; Stripe must not hold the request thread). */
static void test_deadline_holds_after_commit(void **state)
{
    step_t steps[] = {{200, NULL, PI_OK, 0}};
    start(steps, 1);
    ch_stripe_t *s = client(3, 5000);
    ch_stripe_result_t res;
    ch_db_deadline_set(ch_mono_ms() - 1);
    ch__db_committed_note();
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/transfers", NULL, "c-1", NULL, &res), CH_EUNAVAILABLE);
    assert_int_equal(res.attempts, 0); /* nothing sent */
    ch_stripe_result_clear(&res);
    ch_db_deadline_set(0);
    ch_stripe_destroy(s);
    stop();
    assert_int_equal(srv.nseen, 0);
}

/* Paths: "/v1/" of [A-Za-z0-9_/.-], no empty, "." or ".." segment; nothing sent otherwise. */
static void test_paths_checked(void **state)
{
    step_t steps[] = {{200, NULL, PI_OK, 0}};
    start(steps, 1);
    ch_stripe_t *s = client(0, 5000);
    ch_stripe_result_t res;
    const char *bad[] = {"/v1/transfers/../accounts", "/v1/./x", "/v1//x", "/v1/x/", "/v2/x", "/v1/a b",
                         "/v1/a%2e", "/v1/a?b=1", "/v1/a#b", "/v1/a\r\nX: y", "/v1/a;b", "v1/x", "/v1/é", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ch_stripe_call(s, "GET", bad[i], NULL, NULL, NULL, &res), CH_EINTERNAL);
        ch_stripe_result_clear(&res);
    }
    assert_int_equal(ch_stripe_call(s, "GET", "/v1/transfers/tr_1A-b.c/reversals", NULL, NULL, NULL, &res), CH_OK);
    ch_stripe_result_clear(&res);
    ch_stripe_destroy(s);
    stop();
    assert_int_equal(srv.nseen, 1);
}

/* A retry whose wait (Retry-After) would end past the deadline is not made. */
static void test_no_retry_past_the_deadline(void **state)
{
    step_t steps[] = {{503, "Retry-After: 5\r\n", "{}", 0}, {200, NULL, PI_OK, 0}};
    start(steps, 2);
    ch_stripe_t *s = client(3, 5000);
    ch_stripe_result_t res;
    ch_db_deadline_set(ch_mono_ms() + 2000);
    assert_int_equal(ch_stripe_call(s, "GET", "/v1/balance", NULL, NULL, NULL, &res), CH_EUNAVAILABLE);
    assert_int_equal(res.attempts, 1);
    assert_int_equal(res.status, 503);
    ch_stripe_result_clear(&res);
    ch_db_deadline_set(0);
    ch_stripe_destroy(s);
    stop();
    assert_int_equal(srv.nseen, 1);
}

static void test_refused_connection(void **state)
{
    start(NULL, 0);
    stop(); /* the port is closed again */
    ch_stripe_t *s = client(1, 1000);
    ch_stripe_result_t res;
    assert_int_equal(ch_stripe_call(s, "GET", "/v1/accounts/acct_1", NULL, NULL, NULL, &res), CH_EUNAVAILABLE);
    assert_int_equal(res.attempts, 2);
    ch_stripe_result_clear(&res);
    ch_stripe_destroy(s);
}

static void test_get_query_and_auth_errors(void **state)
{
    step_t steps[] = {{200, NULL, "{\"object\":\"list\",\"data\":[]}", 0}, {401, NULL, "{\"error\":{}}", 0},
                      {200, NULL, "[1]", 0}};
    start(steps, 3);
    ch_stripe_t *s = client(2, 5000);
    ch_stripe_result_t res;
    json_t *q = json_pack("{s:i, s:{s:i}}", "limit", 100, "created", "gte", 1700000000);
    assert_int_equal(ch_stripe_call(s, "GET", "/v1/balance_transactions", q, NULL, NULL, &res), CH_OK);
    ch_stripe_result_clear(&res);
    assert_int_equal(ch_stripe_call(s, "DELETE", "/v1/x", NULL, NULL, NULL, &res), CH_EINTERNAL); /* 401 */
    assert_int_equal(res.attempts, 1);
    ch_stripe_result_clear(&res);
    assert_int_equal(ch_stripe_call(s, "GET", "/v1/x", NULL, NULL, NULL, &res), CH_EINTERNAL); /* not an object */
    ch_stripe_result_clear(&res);
    json_decref(q);
    ch_stripe_destroy(s);
    stop();
    assert_string_equal(srv.seen[0].target, "/v1/balance_transactions?limit=100&created%5Bgte%5D=1700000000");
    assert_string_equal(srv.seen[1].method, "DELETE");
}

static void test_caller_mistakes_send_nothing(void **state)
{
    start(NULL, 0);
    ch_stripe_t *s = client(2, 5000);
    ch_stripe_result_t res;
    char long_key[CH_STRIPE_IDEMPOTENCY_KEY_MAX + 2];
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    json_t *real = json_pack("{s:f}", "amount", 1.5);
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/refunds", NULL, NULL, NULL, &res), CH_EINTERNAL);
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/refunds", NULL, "", NULL, &res), CH_EINTERNAL);
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/refunds", NULL, long_key, NULL, &res), CH_EINTERNAL);
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/refunds", NULL, "a\r\nX-Evil: 1", NULL, &res), CH_EINTERNAL);
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/refunds", real, "k", NULL, &res), CH_EINTERNAL);
    assert_int_equal(ch_stripe_call(s, "PUT", "/v1/refunds", NULL, NULL, NULL, &res), CH_EINTERNAL);
    assert_int_equal(ch_stripe_call(s, "GET", "v1/refunds", NULL, NULL, NULL, &res), CH_EINTERNAL);
    assert_int_equal(res.attempts, 0);
    long_key[CH_STRIPE_IDEMPOTENCY_KEY_MAX] = '\0'; /* exactly the bound is fine */
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/refunds", NULL, long_key, NULL, &res), CH_OK);
    ch_stripe_result_clear(&res);
    json_decref(real);
    ch_stripe_destroy(s);
    stop();
    assert_int_equal(srv.nseen, 1);
}

static void test_answer_too_large(void **state)
{
    static char big[5u << 20];
    memset(big, ' ', sizeof(big));
    step_t steps[] = {{200, NULL, big, sizeof(big)}};
    start(steps, 1);
    ch_stripe_t *s = client(2, 5000);
    ch_stripe_result_t res;
    assert_int_equal(ch_stripe_call(s, "GET", "/v1/x", NULL, NULL, NULL, &res), CH_EINTERNAL);
    assert_int_equal(res.attempts, 1);
    assert_null(res.body);
    ch_stripe_result_clear(&res);
    ch_stripe_destroy(s);
    stop();
}

static void test_create_refuses(void **state)
{
    ch_stripe_config_t cfg = {.api_base = "ftp://x", .secret_key = "sk"};
    assert_null(ch_stripe_create(&cfg));
    cfg.api_base = "http://127.0.0.1:1";
    cfg.secret_key = "sk\r\nX: y";
    assert_null(ch_stripe_create(&cfg));
    assert_null(ch_stripe_pool_create(&cfg, 2));
}

static void test_pool_bounded(void **state)
{
    ch_stripe_config_t cfg = {.api_base = "http://127.0.0.1:1", .secret_key = "sk_test", .timeout_ms = 100};
    ch_stripe_pool_t *p = ch_stripe_pool_create(&cfg, 2);
    assert_non_null(p);
    ch_stripe_t *a = ch_stripe_pool_acquire(p, 0);
    ch_stripe_t *b = ch_stripe_pool_acquire(p, 0);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_null(ch_stripe_pool_acquire(p, 0));
    assert_null(ch_stripe_pool_acquire(p, 50)); /* waited, none came */
    ch_stripe_pool_release(p, a);
    ch_stripe_t *c = ch_stripe_pool_acquire(p, 50);
    assert_ptr_equal(c, a); /* the same client again: its connection is kept */
    ch_stripe_pool_release(p, b);
    ch_stripe_pool_release(p, c);
    ch_stripe_pool_destroy(p);
    ch_stripe_pool_destroy(NULL);
}

/* A client released twice is stored once (it was written past free_list, or handed out to
 * two threads); an acquire honours the thread's deadline. */
static void test_pool_double_release_and_deadline(void **state)
{
    ch_stripe_config_t cfg = {.api_base = "http://127.0.0.1:1", .secret_key = "sk_test", .timeout_ms = 100};
    ch_stripe_pool_t *p = ch_stripe_pool_create(&cfg, 2);
    assert_non_null(p);
    ch_stripe_t *a = ch_stripe_pool_acquire(p, 0);
    assert_non_null(a);
    ch_stripe_pool_release(p, a);
    ch_stripe_pool_release(p, a); /* refused */
    ch_stripe_t *x = ch_stripe_pool_acquire(p, 0);
    ch_stripe_t *y = ch_stripe_pool_acquire(p, 0);
    assert_ptr_equal(x, a);
    assert_non_null(y);
    assert_ptr_not_equal(y, a); /* a new client, not a second hand-out of a */
    /* the pool is empty; a passed deadline ends the wait at once instead of after 30 s */
    ch_db_deadline_set(ch_mono_ms() - 1);
    int64_t t0 = ch_mono_ms();
    assert_null(ch_stripe_pool_acquire(p, 30000));
    assert_true(ch_mono_ms() - t0 < 15000);
    ch_db_deadline_set(0);
    ch_stripe_pool_release(p, x);
    ch_stripe_pool_release(p, y);
    ch_stripe_pool_destroy(p);
}

/* Against a Stripe-compatible server when CHORUS_TEST_STRIPE_API and CHORUS_TEST_STRIPE_KEY
 * are set (tests/blackbox/test_stripe_double.py runs this binary against the test double,
 * which checks every request against Stripe's OpenAPI spec); skipped otherwise. */
static void test_against_stripe_double(void **state)
{
    const char *api = getenv("CHORUS_TEST_STRIPE_API"), *key = getenv("CHORUS_TEST_STRIPE_KEY");
    if (!api || !key) {
        skip();
        return;
    }
    ch_stripe_config_t cfg = {.api_base = api, .secret_key = key, .timeout_ms = 10000, .max_retries = 2,
                              .backoff_base_ms = 10};
    ch_stripe_t *s = ch_stripe_create(&cfg);
    assert_non_null(s);
    char idem[64];
    snprintf(idem, sizeof(idem), "unit-%lld-pi", (long long)ch_now_ms());
    json_t *params = json_pack("{s:i, s:s, s:s, s:{s:s, s:s}, s:{s:b}, s:[s]}", "amount", 2500, "currency", "eur",
                               "transfer_group", "unit-order", "metadata", "order_id", "42", "note", "a b&c=d/é",
                               "automatic_payment_methods", "enabled", 1, "expand", "latest_charge");
    ch_stripe_result_t res;
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/payment_intents", params, idem, NULL, &res), CH_OK);
    assert_int_equal(res.replayed, 0);
    assert_true(strncmp(res.request_id, "req_", 4) == 0);
    json_t *meta = json_object_get(res.body, "metadata");
    assert_string_equal(json_string_value(json_object_get(meta, "note")), "a b&c=d/é");
    char id[128];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(res.body, "id")));
    ch_stripe_result_clear(&res);
    /* the same step again (a retry after a crash): Stripe's first answer, replayed */
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/payment_intents", params, idem, NULL, &res), CH_OK);
    assert_int_equal(res.replayed, 1);
    assert_string_equal(json_string_value(json_object_get(res.body, "id")), id);
    ch_stripe_result_clear(&res);
    /* the key with other params: a caller's bug, told apart from a refusal */
    json_object_set_new(params, "amount", json_integer(2600));
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/payment_intents", params, idem, NULL, &res), CH_EINTERNAL);
    assert_int_equal(res.idempotency_error, 1);
    assert_int_equal(res.attempts, 1);
    ch_stripe_result_clear(&res);
    /* a GET with an expansion and a nested range in the query */
    char path[192];
    snprintf(path, sizeof(path), "/v1/payment_intents/%s", id);
    json_t *q = json_pack("{s:[s]}", "expand", "latest_charge");
    assert_int_equal(ch_stripe_call(s, "GET", path, q, NULL, NULL, &res), CH_OK);
    assert_string_equal(json_string_value(json_object_get(res.body, "status")), "requires_payment_method");
    ch_stripe_result_clear(&res);
    json_decref(q);
    q = json_pack("{s:{s:i}, s:i, s:s}", "created", "gte", 0, "limit", 100, "type", "charge");
    assert_int_equal(ch_stripe_call(s, "GET", "/v1/balance_transactions", q, NULL, NULL, &res), CH_OK);
    assert_string_equal(json_string_value(json_object_get(res.body, "object")), "list");
    ch_stripe_result_clear(&res);
    /* Stripe's refusals: a missing object (404) and a refund of nothing */
    assert_int_equal(ch_stripe_call(s, "GET", "/v1/transfers/tr_none", NULL, NULL, NULL, &res), CH_EINVAL);
    assert_int_equal(res.status, 404);
    ch_stripe_result_clear(&res);
    json_t *refund = json_pack("{s:s}", "payment_intent", id);
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/refunds", refund, "unit-refund", NULL, &res), CH_EINVAL);
    assert_int_equal(res.status, 400);
    ch_stripe_result_clear(&res);
    /* on a connected account the platform's PaymentIntent does not exist (Stripe-Account) */
    assert_int_equal(ch_stripe_call(s, "POST", "/v1/refunds", refund, "unit-refund", "acct_unit", &res), CH_EINVAL);
    assert_int_equal(res.status, 404);
    ch_stripe_result_clear(&res);
    json_decref(refund);
    json_decref(q);
    json_decref(params);
    ch_stripe_destroy(s);
}

/* Threads sharing a pool of 2: every acquire gets a client in time, never more than 2 are
 * out at once, and no client is handed to two threads. */
#define POOL_THREADS 4
#define POOL_ROUNDS 200
static ch_stripe_pool_t *shared_pool;
static atomic_int pool_out, pool_max_out, pool_failed;
static ch_stripe_t *_Atomic pool_held[POOL_THREADS];

static void *pool_worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (int i = 0; i < POOL_ROUNDS; i++) {
        ch_stripe_t *c = ch_stripe_pool_acquire(shared_pool, 10000);
        if (!c) {
            atomic_fetch_add(&pool_failed, 1);
            continue;
        }
        for (int t = 0; t < POOL_THREADS; t++)
            if (t != me && atomic_load(&pool_held[t]) == c)
                atomic_fetch_add(&pool_failed, 1);
        atomic_store(&pool_held[me], c);
        int out = atomic_fetch_add(&pool_out, 1) + 1;
        int seen = atomic_load(&pool_max_out);
        while (out > seen && !atomic_compare_exchange_weak(&pool_max_out, &seen, out)) {
        }
        sched_yield();
        atomic_fetch_sub(&pool_out, 1);
        atomic_store(&pool_held[me], NULL);
        ch_stripe_pool_release(shared_pool, c);
    }
    return NULL;
}

static void test_pool_threads(void **state)
{
    ch_stripe_config_t cfg = {.api_base = "http://127.0.0.1:1", .secret_key = "sk_test", .timeout_ms = 100};
    shared_pool = ch_stripe_pool_create(&cfg, 2);
    assert_non_null(shared_pool);
    pthread_t th[POOL_THREADS];
    for (int t = 0; t < POOL_THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, pool_worker, (void *)(intptr_t)t), 0);
    for (int t = 0; t < POOL_THREADS; t++)
        pthread_join(th[t], NULL);
    assert_int_equal(atomic_load(&pool_failed), 0);
    assert_true(atomic_load(&pool_max_out) <= 2);
    ch_stripe_pool_destroy(shared_pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_500_then_200_same_key),
        cmocka_unit_test(test_400_not_retried),
        cmocka_unit_test(test_idempotency_error_is_not_conflict),
        cmocka_unit_test(test_409_retried),
        cmocka_unit_test(test_429_retry_after),
        cmocka_unit_test(test_5xx_exhausted_and_should_retry_false),
        cmocka_unit_test(test_timeout_unavailable),
        cmocka_unit_test(test_deadline_bounds_the_call),
        cmocka_unit_test(test_no_retry_past_the_deadline),
        cmocka_unit_test(test_refused_connection),
        cmocka_unit_test(test_get_query_and_auth_errors),
        cmocka_unit_test(test_caller_mistakes_send_nothing),
        cmocka_unit_test(test_answer_too_large),
        cmocka_unit_test(test_create_refuses),
        cmocka_unit_test(test_pool_bounded),
        cmocka_unit_test(test_pool_double_release_and_deadline),
        cmocka_unit_test(test_deadline_holds_after_commit),
        cmocka_unit_test(test_paths_checked),
        cmocka_unit_test(test_pool_threads),
        cmocka_unit_test(test_against_stripe_double),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

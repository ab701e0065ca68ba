/* The Stripe REST client (store/stripe.h): one libcurl easy handle per client (kept alive
 * between calls), form-encoded bodies, retries with exponential backoff and full jitter.
 * Form encoding: stripe_form.c; signatures: stripe_sig.c; the pool: stripe_pool.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/db.h"
#include "store/stripe.h"
#include "store/stripe_metrics.h"

/* An answer larger than this is refused (Stripe's objects are a few KiB; a list page of 100
 * a few hundred). */
#define CH__STRIPE_ANSWER_MAX (4u << 20)
/* The backoff's ceiling (stripe.h), and the most of a Retry-After that is honoured: a longer
 * one is cut to this, the thread that waits is a worker. */
#define CH__STRIPE_BACKOFF_CAP_MS 8000
/* Connecting may take at most this much of an attempt's deadline. */
#define CH__STRIPE_CONNECT_TIMEOUT_MS 5000

struct ch_stripe {
    CURL *curl;
    char *api_base;   /* without a trailing slash */
    char *auth;       /* "Authorization: Bearer sk_..." */
    int64_t timeout_ms;
    int max_retries;
    int64_t backoff_base_ms;
};

/* What one attempt saw, filled by the callbacks. */
typedef struct {
    ch_buf_t body;
    int too_large;
    int should_retry; /* Stripe-Should-Retry: 1 true, 0 false, -1 absent */
    int64_t retry_after_ms; /* -1 absent */
    int replayed;
    char request_id[64];
} ch__answer_t;

ch_stripe_t *ch_stripe_create(const ch_stripe_config_t *cfg)
{
    if (!cfg || !cfg->api_base || !cfg->secret_key ||
        (strncmp(cfg->api_base, "http://", 7) != 0 && strncmp(cfg->api_base, "https://", 8) != 0) ||
        strpbrk(cfg->secret_key, "\r\n") || sodium_init() < 0)
        return NULL;
    ch__stripe_metrics_init();
    ch_stripe_t *s = ch_calloc(1, sizeof(*s));
    s->curl = curl_easy_init();
    if (!s->curl) {
        free(s);
        return NULL;
    }
    size_t n = strlen(cfg->api_base);
    while (n && cfg->api_base[n - 1] == '/')
        n--;
    s->api_base = ch_strndup(cfg->api_base, n);
    size_t alen = strlen(cfg->secret_key) + 32;
    s->auth = ch_malloc(alen);
    snprintf(s->auth, alen, "Authorization: Bearer %s", cfg->secret_key);
    s->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
    s->max_retries = cfg->max_retries > 0 ? cfg->max_retries : 0;
    s->backoff_base_ms = cfg->backoff_base_ms > 0 ? cfg->backoff_base_ms : 0;
    return s;
}

void ch_stripe_destroy(ch_stripe_t *s)
{
    if (!s)
        return;
    curl_easy_cleanup(s->curl);
    if (s->auth)
        sodium_memzero(s->auth, strlen(s->auth));
    free(s->auth);
    free(s->api_base);
    free(s);
}

void ch_stripe_result_clear(ch_stripe_result_t *res)
{
    if (!res)
        return;
    json_decref(res->body);
    memset(res, 0, sizeof(*res));
}

static size_t ch__on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    ch__answer_t *a = arg;
    size_t n = size * nmemb;
    if (a->body.len + n > CH__STRIPE_ANSWER_MAX) {
        a->too_large = 1;
        return 0; /* libcurl ends the transfer with CURLE_WRITE_ERROR */
    }
    ch_buf_append(&a->body, data, n);
    return n;
}

/* Copies a header's value (trimmed) into out when line is "name: value"; 1 when it was. */
static int ch__header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
        return 0;
    const char *v = line + nlen + 1;
    size_t vlen = len - nlen - 1;
    while (vlen && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    if (vlen >= outlen)
        vlen = outlen - 1;
    memcpy(out, v, vlen);
    out[vlen] = '\0';
    return 1;
}

static size_t ch__on_header(char *line, size_t size, size_t nmemb, void *arg)
{
    ch__answer_t *a = arg;
    size_t n = size * nmemb;
    char v[64];
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) { /* a new answer (after a 100 Continue): start over */
        a->should_retry = -1;
        a->retry_after_ms = -1;
        a->replayed = 0;
        a->request_id[0] = '\0';
    } else if (ch__header_value(line, n, "Request-Id", a->request_id, sizeof(a->request_id))) {
    } else if (ch__header_value(line, n, "Stripe-Should-Retry", v, sizeof(v))) {
        a->should_retry = strcasecmp(v, "true") == 0 ? 1 : strcasecmp(v, "false") == 0 ? 0 : -1;
    } else if (ch__header_value(line, n, "Retry-After", v, sizeof(v))) {
        char *end;
        errno = 0;
        long long secs = strtoll(v, &end, 10); /* the HTTP-date form is not used by Stripe */
        if (end != v && !*end && !errno && secs >= 0)
            a->retry_after_ms = secs > CH__STRIPE_BACKOFF_CAP_MS / 1000 ? CH__STRIPE_BACKOFF_CAP_MS : secs * 1000;
    } else if (ch__header_value(line, n, "Idempotent-Replayed", v, sizeof(v))) {
        a->replayed = strcasecmp(v, "true") == 0;
    }
    return n;
}

/* The wait before retry number `retry` (1-based): full jitter over base * 2^(retry-1), capped;
 * at least what the server's Retry-After asked. */
static int64_t ch__backoff_ms(const ch_stripe_t *s, int retry, int64_t retry_after_ms)
{
    int64_t cap = s->backoff_base_ms;
    for (int i = 1; i < retry && cap < CH__STRIPE_BACKOFF_CAP_MS; i++)
        cap *= 2;
    if (cap > CH__STRIPE_BACKOFF_CAP_MS)
        cap = CH__STRIPE_BACKOFF_CAP_MS;
    int64_t wait = cap > 0 ? (int64_t)randombytes_uniform((uint32_t)cap + 1) : 0;
    return retry_after_ms > wait ? retry_after_ms : wait;
}

static void ch__sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A header value a caller passes through: printable ASCII only (no header injection). */
static int ch__header_safe(const char *v, size_t max)
{
    size_t n = 0;
    for (; v[n]; n++)
        if (n >= max || (unsigned char)v[n] < 0x21 || (unsigned char)v[n] > 0x7e)
            return 0;
    return n > 0;
}

/* A path a caller passes: "/v1/..." of [A-Za-z0-9_/.-] (Stripe's paths and ids), no empty,
 * "." or ".." segment. The query string is made from params, never given here. */
static int ch__path_safe(const char *path)
{
    if (!path || strncmp(path, "/v1/", 4) != 0)
        return 0;
    for (const char *c = path; *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (!((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '_' || u == '/' ||
              u == '.' || u == '-'))
            return 0;
    }
    for (const char *seg = path + 1; seg;) { /* each segment between slashes */
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
        seg = end ? end + 1 : NULL;
    }
    return 1;
}

/* Is a 4xx answer Stripe's idempotency_error (the key was used with other parameters)? */
static int ch__idempotency_error(const json_t *body)
{
    const json_t *err = json_object_get(body, "error");
    const char *type = json_string_value(json_object_get(err, "type"));
    return type && strcmp(type, "idempotency_error") == 0;
}

ch_err_t ch_stripe_call(ch_stripe_t *s, const char *method, const char *path, const json_t *params,
                        const char *idempotency_key, const char *stripe_account, ch_stripe_result_t *res)
{
    memset(res, 0, sizeof(*res));
    int is_post = method && strcmp(method, "POST") == 0;
    if (!s || !method || (!is_post && strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) ||
        !ch__path_safe(path) ||
        (is_post && (!idempotency_key || !ch__header_safe(idempotency_key, CH_STRIPE_IDEMPOTENCY_KEY_MAX))) ||
        (!is_post && idempotency_key) || (stripe_account && !ch__header_safe(stripe_account, 255)))
        return CH_EINTERNAL; /* a caller's bug, not Stripe's refusal */
    char *form = ch_stripe_form_encode(params);
    if (!form)
        return CH_EINTERNAL;

    ch_buf_t url = CH_BUF_INIT, idem = CH_BUF_INIT, acct = CH_BUF_INIT;
    ch_buf_printf(&url, "%s%s%s%s", s->api_base, path, !is_post && form[0] ? "?" : "", !is_post ? form : "");
    struct curl_slist *h = curl_slist_append(NULL, s->auth);
    h = curl_slist_append(h, "Stripe-Version: " CH_STRIPE_API_VERSION);
    h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
    if (is_post) {
        h = curl_slist_append(h, "Content-Type: application/x-www-form-urlencoded");
        ch_buf_printf(&idem, "Idempotency-Key: %s", idempotency_key);
        h = curl_slist_append(h, idem.data);
    }
    if (stripe_account) {
        ch_buf_printf(&acct, "Stripe-Account: %s", stripe_account);
        h = curl_slist_append(h, acct.data);
    }

    CURL *c = s->curl;
    ch__answer_t a;
    ch_err_t err = CH_EUNAVAILABLE;
    /* The thread's deadline (a request's, or the graceful stop's: store/db.h) bounds the
     * whole call: attempts are shortened to it, and no retry starts that could not end
     * before it. The request's own deadline holds even after a write of it committed
     * (ch_db_call_deadline): a Stripe outage must not hold a request thread past it (the
     * rest is left to the durable jobs). */
    int64_t deadline = ch_db_call_deadline();
    for (int attempt = 1;; attempt++) {
        int64_t timeout = s->timeout_ms;
        if (deadline) {
            int64_t left = deadline - ch_mono_ms();
            if (left <= 0) {
                ch_log(CH_LOG_WARN, "stripe: %s %s: the deadline passed before attempt %d", method, path, attempt);
                ch__stripe_metrics_deadline();
                err = CH_EUNAVAILABLE;
                break;
            }
            if (left < timeout)
                timeout = left;
        }
        memset(&a, 0, sizeof(a));
        a.should_retry = -1;
        a.retry_after_ms = -1;
        curl_easy_reset(c); /* keeps the connection cache */
        curl_easy_setopt(c, CURLOPT_URL, url.data);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "chorus/" CHORUS_VERSION);
        if (is_post) {
            curl_easy_setopt(c, CURLOPT_POST, 1L);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(form));
        } else if (strcmp(method, "DELETE") == 0) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
        }
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ch__on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ch__on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)(timeout < CH__STRIPE_CONNECT_TIMEOUT_MS ? timeout : CH__STRIPE_CONNECT_TIMEOUT_MS));
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        CURLcode rc = curl_easy_perform(c);
        long status = 0;
        if (rc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        res->attempts = attempt;
        res->status = (int)status;
        snprintf(res->request_id, sizeof(res->request_id), "%s", a.request_id);
        res->replayed = a.replayed;
        res->idempotency_error = 0;

        int retry;
        if (a.too_large) {
            json_decref(res->body);
            res->body = NULL;
            ch_log(CH_LOG_ERROR, "stripe: %s %s: answer larger than %u bytes", method, path, CH__STRIPE_ANSWER_MAX);
            err = CH_EINTERNAL;
            retry = 0;
        } else if (rc != CURLE_OK) {
            json_decref(res->body); /* an earlier attempt's answer says nothing about this one */
            res->body = NULL;
            ch_log(CH_LOG_WARN, "stripe: %s %s (attempt %d): %s", method, path, attempt, curl_easy_strerror(rc));
            err = CH_EUNAVAILABLE; /* refused, reset, timed out: the request may or may not have landed */
            retry = a.should_retry != 0;
        } else {
            json_decref(res->body);
            res->body = a.body.len ? json_loadb(a.body.data, a.body.len, 0, NULL) : NULL;
            if (status >= 200 && status < 300) {
                err = json_is_object(res->body) ? CH_OK : CH_EINTERNAL;
                retry = 0;
            } else if (status == 429 || status >= 500) {
                err = CH_EUNAVAILABLE;
                retry = a.should_retry != 0;
            } else if (status == 409) {
                err = CH_ECONFLICT;
                retry = a.should_retry != 0;
            } else if (status == 401 || status == 403) {
                ch_log(CH_LOG_ERROR, "stripe: %s %s: HTTP %ld: the secret key is refused (CHORUS_STRIPE_SECRET_KEY)",
                       method, path, status);
                err = CH_EINTERNAL;
                retry = 0;
            } else {
                res->idempotency_error = ch__idempotency_error(res->body);
                /* a key reused with other params is our bug: never retried, with any key */
                err = res->idempotency_error ? CH_EINTERNAL : CH_EINVAL;
                retry = !res->idempotency_error && a.should_retry == 1;
            }
        }
        ch_buf_clear(&a.body);
        if (!retry || attempt > s->max_retries)
            break;
        int64_t wait = ch__backoff_ms(s, attempt, a.retry_after_ms);
        if (deadline && ch_mono_ms() + wait >= deadline) {
            ch_log(CH_LOG_WARN, "stripe: %s %s: no retry, the deadline comes first (HTTP %ld)", method, path, status);
            ch__stripe_metrics_deadline();
            break;
        }
        ch_log(CH_LOG_INFO, "stripe: %s %s: HTTP %ld, retry %d in %lld ms", method, path, status, attempt,
               (long long)wait);
        ch__sleep_ms(wait);
    }
    if (err == CH_EUNAVAILABLE)
        ch_log(CH_LOG_WARN, "stripe: %s %s: unavailable after %d attempt(s) (last HTTP %d)", method, path,
               res->attempts, res->status);
    ch__stripe_metrics_call(err, res->attempts > 1 ? res->attempts - 1 : 0);
    curl_slist_free_all(h);
    ch_buf_clear(&url);
    ch_buf_clear(&idem);
    ch_buf_clear(&acct);
    free(form);
    return err;
}

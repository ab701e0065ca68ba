/* Key-value store: the generic part. Picks a driver from the URL, checks that its vtable is
 * complete, and forwards calls after validating arguments, so drivers can trust them. A
 * shared store (Redis) gets a circuit breaker (kv_breaker.h) and a local fallback store. */
#include "store/kv.h"
#include "store/kv_breaker.h"
#include "store/kv_mem.h"
#include "store/kv_redis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/loop_guard.h"

struct ch_kv {
    const ch_kv_driver_t *drv;
    void *impl;
    ch_kv_breaker_t *brk; /* shared stores only */
    ch_kv_t *local;       /* shared stores only: this replica's fallback (in-process) */
};

/* Through the breaker of a shared store: refused at once while it is down; an unavailable
 * answer trips it. */
#define CH__KV_CALL(kv, op, call)                                                                   \
    do {                                                                                            \
        /* a read on the loop under the guard: refused before the breaker sees it, and not as an \
         * outage (which would send callers to this replica's store); the call is moved */      \
        if ((kv)->brk && ch_loop_guard_refuse())                                                    \
            return CH_EOVERLOADED;                                                                  \
        if ((kv)->brk && !ch_kv_breaker_allow((kv)->brk))                                           \
            return CH_EUNAVAILABLE;                                                                 \
        ch_err_t err_ = (call);                                                                     \
        if ((kv)->brk && err_ == CH_EUNAVAILABLE)                                                   \
            ch_kv_breaker_trip((kv)->brk, op);                                                      \
        return err_;                                                                                \
    } while (0)

/* ---- helpers ------------------------------------------------------------------------ */

static void ch__kv_errf(char *errbuf, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void ch__kv_errf(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (!errbuf || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

/* A driver with a missing slot would crash on first use; refuse it at start-up instead. */
static const char *ch__kv_missing_slot(const ch_kv_driver_t *d)
{
    if (!d->name)
        return "name";
    if (!d->open)
        return "open";
    if (!d->close)
        return "close";
    if (!d->get)
        return "get";
    if (!d->set)
        return "set";
    if (!d->del)
        return "del";
    if (!d->set_del)
        return "set_del";
    if (!d->incr)
        return "incr";
    if (!d->ping)
        return "ping";
    if (!d->server_changed_at)
        return "server_changed_at";
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

ch_err_t ch_kv_open(const char *url, ch_kv_t **kv_out, char *errbuf, size_t errlen)
{
    char scratch[1];
    if (!errbuf || errlen == 0) { /* drivers may then always write to errbuf */
        errbuf = scratch;
        errlen = sizeof(scratch);
    }
    errbuf[0] = '\0';
    if (!kv_out) {
        ch__kv_errf(errbuf, errlen, "kv: kv_out is NULL");
        return CH_EINVAL;
    }
    *kv_out = NULL;

    const ch_kv_driver_t *drv;
    if (!url || !*url) {
        drv = &ch_kv_mem_driver;
        url = NULL;
    } else if (strncasecmp(url, "redis://", 8) == 0) {
        drv = &ch_kv_redis_driver;
    } else {
        /* Print only the scheme: the rest of a URL may hold a password. */
        const char *sep = strstr(url, "://");
        if (sep)
            ch__kv_errf(errbuf, errlen,
                        "kv: unsupported URL scheme '%.*s://' (expected empty for in-process, or "
                        "redis://[:password@]host[:port][/db])",
                        (int)(sep - url > 32 ? 32 : sep - url), url);
        else
            ch__kv_errf(errbuf, errlen,
                        "kv: not a URL (expected empty for in-process, or "
                        "redis://[:password@]host[:port][/db])");
        return CH_EINVAL;
    }

    const char *missing = ch__kv_missing_slot(drv);
    if (missing) {
        ch__kv_errf(errbuf, errlen, "kv: driver '%s' has no '%s' slot", drv->name ? drv->name : "?", missing);
        return CH_EINTERNAL;
    }

    ch_kv_t *kv = ch_calloc(1, sizeof(*kv));
    if (!kv) {
        ch__kv_errf(errbuf, errlen, "kv: out of memory");
        return CH_EINTERNAL;
    }
    kv->drv = drv;
    ch_err_t err = drv->open(url, &kv->impl, errbuf, errlen);
    if (err != CH_OK) {
        if (!errbuf[0])
            ch__kv_errf(errbuf, errlen, "kv: %s driver failed to open (%s)", drv->name, ch_err_code(err));
        free(kv);
        return err;
    }
    if (drv != &ch_kv_mem_driver) {
        if ((err = ch_kv_open(NULL, &kv->local, errbuf, errlen)) != CH_OK) {
            ch_kv_close(kv);
            return err;
        }
        kv->brk = ch_kv_breaker_create(drv, kv->impl, CH_KV_DEFAULT_PROBE_INTERVAL_MS);
        if (!kv->brk) {
            ch__kv_errf(errbuf, errlen, "kv: cannot start the %s probe thread", drv->name);
            ch_kv_close(kv);
            return CH_EINTERNAL;
        }
    }
    *kv_out = kv;
    return CH_OK;
}

void ch_kv_close(ch_kv_t *kv)
{
    if (!kv)
        return;
    ch_kv_breaker_destroy(kv->brk); /* first: its thread uses the driver */
    kv->drv->close(kv->impl);
    ch_kv_close(kv->local);
    free(kv);
}

const char *ch_kv_kind(const ch_kv_t *kv)
{
    return kv ? kv->drv->name : "none";
}

/* ---- operations --------------------------------------------------------------------- */

ch_err_t ch_kv_get(ch_kv_t *kv, const char *key, char **val_out, size_t *len_out)
{
    if (val_out)
        *val_out = NULL;
    if (len_out)
        *len_out = 0;
    if (!kv || !key || !val_out)
        return CH_EINVAL;
    CH__KV_CALL(kv, "GET", kv->drv->get(kv->impl, key, val_out, len_out));
}

ch_err_t ch_kv_set(ch_kv_t *kv, const char *key, const char *val, size_t len, int64_t ttl_ms)
{
    if (!kv || !key || (!val && len > 0) || ttl_ms < 0)
        return CH_EINVAL;
    CH__KV_CALL(kv, "SET", kv->drv->set(kv->impl, key, val ? val : "", len, ttl_ms));
}

ch_err_t ch_kv_del(ch_kv_t *kv, const char *key)
{
    if (!kv || !key)
        return CH_EINVAL;
    CH__KV_CALL(kv, "DEL", kv->drv->del(kv->impl, key));
}

ch_err_t ch_kv_set_del(ch_kv_t *kv, const char *set_key, const char *val, size_t len, int64_t ttl_ms,
                       const char *del_key)
{
    if (!kv || !set_key || !del_key || (!val && len > 0) || ttl_ms < 0)
        return CH_EINVAL;
    CH__KV_CALL(kv, "SET+DEL", kv->drv->set_del(kv->impl, set_key, val ? val : "", len, ttl_ms, del_key));
}

ch_err_t ch_kv_incr(ch_kv_t *kv, const char *key, int64_t ttl_ms, int64_t *value_out, int64_t *ttl_left_ms_out)
{
    if (value_out)
        *value_out = 0;
    if (ttl_left_ms_out)
        *ttl_left_ms_out = -1;
    if (!kv || !key || !value_out || ttl_ms < 0)
        return CH_EINVAL;
    CH__KV_CALL(kv, "INCR", kv->drv->incr(kv->impl, key, ttl_ms, value_out, ttl_left_ms_out));
}

ch_err_t ch_kv_ping(ch_kv_t *kv)
{
    if (!kv)
        return CH_EINVAL;
    CH__KV_CALL(kv, "PING", kv->drv->ping(kv->impl));
}

/* ---- outages of a shared store ------------------------------------------------------ */

int ch_kv_outage(const ch_kv_t *kv, ch_err_t err)
{
    return kv && kv->brk && err == CH_EUNAVAILABLE;
}

ch_kv_t *ch_kv_local(ch_kv_t *kv)
{
    return kv ? kv->local : NULL;
}

int64_t ch_kv_recovered_at(const ch_kv_t *kv)
{
    if (!kv || !kv->brk)
        return 0;
    int64_t back = ch_kv_breaker_recovered_at(kv->brk), other = kv->drv->server_changed_at(kv->impl);
    return back > other ? back : other;
}

/* Tries the write (a set when val is set, a delete of del_key when it is set, both at once
 * when both are); an outage queues it (unless the store came back meanwhile: then again, a
 * few times, before queueing it anyway). */
static ch_err_t ch__kv_write_retrying(ch_kv_t *kv, const char *key, const char *val, size_t len, int64_t ttl_ms,
                                      const char *del_key, int64_t until_ms, const void *note, size_t note_len)
{
    const char *op = val && del_key ? "SET+DEL" : val ? "SET" : "DEL";
    for (int attempt = 0;; attempt++) {
        ch_err_t err = val && del_key ? ch_kv_set_del(kv, key, val, len, ttl_ms, del_key)
                       : val          ? ch_kv_set(kv, key, val, len, ttl_ms)
                                      : ch_kv_del(kv, del_key);
        if (!ch_kv_outage(kv, err))
            return err;
        if (attempt == 2)
            ch_kv_breaker_trip(kv->brk, op);
        if (ch_kv_breaker_enqueue(kv->brk, key, val, len, ttl_ms, del_key, until_ms, note, note_len) == 0)
            return CH_OK;
    }
}

ch_err_t ch_kv_set_retrying(ch_kv_t *kv, const char *key, const char *val, size_t len, int64_t ttl_ms,
                            int64_t until_ms)
{
    if (!kv || !key || (!val && len > 0) || ttl_ms < 0)
        return CH_EINVAL;
    return ch__kv_write_retrying(kv, key, val ? val : "", len, ttl_ms, NULL, until_ms, NULL, 0);
}

ch_err_t ch_kv_del_retrying(ch_kv_t *kv, const char *key, int64_t until_ms)
{
    if (!kv || !key)
        return CH_EINVAL;
    return ch__kv_write_retrying(kv, NULL, NULL, 0, 0, key, until_ms, NULL, 0);
}

ch_err_t ch_kv_set_del_retrying(ch_kv_t *kv, const char *set_key, const char *val, size_t len, int64_t ttl_ms,
                                const char *del_key, int64_t until_ms)
{
    if (!kv || !set_key || !del_key || (!val && len > 0) || ttl_ms < 0)
        return CH_EINVAL;
    return ch__kv_write_retrying(kv, set_key, val ? val : "", len, ttl_ms, del_key, until_ms, NULL, 0);
}

ch_err_t ch_kv_set_del_retrying_noted(ch_kv_t *kv, const char *set_key, const char *val, size_t len,
                                      int64_t ttl_ms, const char *del_key, int64_t until_ms, const void *note,
                                      size_t note_len)
{
    if (!kv || !set_key || !del_key || (!val && len > 0) || ttl_ms < 0 || !note || note_len > CH_KV_NOTE_MAX)
        return CH_EINVAL;
    return ch__kv_write_retrying(kv, set_key, val ? val : "", len, ttl_ms, del_key, until_ms, note, note_len);
}

void ch_kv_set_kept_hook(ch_kv_t *kv, ch_kv_kept_hook_fn fn, void *ctx)
{
    if (kv && kv->brk)
        ch_kv_breaker_set_hook(kv->brk, fn, ctx);
}

void ch_kv_set_probe_interval(ch_kv_t *kv, int64_t ms)
{
    if (kv && kv->brk)
        ch_kv_breaker_set_interval(kv->brk, ms);
}

void ch_kv_set_max_memory(ch_kv_t *kv, size_t bytes)
{
    if (kv && kv->drv == &ch_kv_mem_driver)
        ch__kv_mem_set_max_memory(kv->impl, bytes);
    else if (kv)
        ch_kv_set_max_memory(kv->local, bytes);
}

void ch_kv_stats(ch_kv_t *kv, ch_kv_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (kv && kv->drv == &ch_kv_mem_driver)
        ch__kv_mem_stats(kv->impl, out);
}

void ch_kv_render_metrics(ch_kv_t *kv, ch_buf_t *out)
{
    if (kv && kv->brk) {
        ch_kv_stats_t local;
        ch_kv_stats(kv->local, &local);
        ch_kv_breaker_render_metrics(kv->brk, out);
        ch_buf_printf(out,
                      "# HELP chorus_kv_local_keys Keys in this replica's fallback store (used while the shared kv "
                      "store is down).\n"
                      "# TYPE chorus_kv_local_keys gauge\nchorus_kv_local_keys %zu\n",
                      local.keys);
        return;
    }
    if (!kv || kv->drv != &ch_kv_mem_driver)
        return;
    ch_kv_stats_t st;
    ch_kv_stats(kv, &st);
    ch_buf_printf(out,
                  "# HELP chorus_kv_memory_bytes Bytes held by the in-process kv store (keys, values, overhead).\n"
                  "# TYPE chorus_kv_memory_bytes gauge\nchorus_kv_memory_bytes %zu\n"
                  "# HELP chorus_kv_max_memory_bytes Bound of the in-process kv store (0: none).\n"
                  "# TYPE chorus_kv_max_memory_bytes gauge\nchorus_kv_max_memory_bytes %zu\n"
                  "# HELP chorus_kv_keys Keys held by the in-process kv store.\n"
                  "# TYPE chorus_kv_keys gauge\nchorus_kv_keys %zu\n"
                  "# HELP chorus_kv_evictions_total Keys the in-process kv store evicted to stay under its bound.\n"
                  "# TYPE chorus_kv_evictions_total counter\nchorus_kv_evictions_total %llu\n",
                  st.memory, st.max_memory, st.keys, (unsigned long long)st.evictions);
}

/* ---- sharing a Redis store's connections (kv_redis.h) -------------------------------- */

void *ch__kv_redis_pool_of(ch_kv_t *kv)
{
    return kv && kv->drv == &ch_kv_redis_driver ? kv->impl : NULL;
}

ch_kv_breaker_t *ch__kv_redis_breaker_of(ch_kv_t *kv)
{
    return kv && kv->drv == &ch_kv_redis_driver ? kv->brk : NULL;
}

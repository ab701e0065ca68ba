/* The hydration cache's dispatch (store/hcache.h): argument checks, metrics, then the driver.
 *
 * Metrics are process-wide counters (chorus_hcache_gets_total{result}, ..._puts_total{result},
 * ..._forgets_total) and the size of the newest cache created (chorus_hcache_bytes: a process
 * has one; unit tests make several). */
#include "store/hcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/loop_guard.h"
#include "core/metrics.h"
#include "store/hcache_driver.h"

/* ---- metrics -------------------------------------------------------------------------- */

enum { CH__GET_HIT, CH__GET_MISS, CH__GET_DOWN, CH__GET_RESULTS };
static const char *const ch__get_names[CH__GET_RESULTS] = {"hit", "miss", "down"};
static const char *const ch__put_names[CH__HCACHE_PUT_RESULTS] = {"stored", "lost_lease", "too_big", "error"};

static atomic_ullong ch__gets[CH__GET_RESULTS];
static atomic_ullong ch__puts[CH__HCACHE_PUT_RESULTS];
static atomic_ullong ch__forgets;
static atomic_int ch__renderer_added;
static pthread_mutex_t ch__current_mu = PTHREAD_MUTEX_INITIALIZER;
static ch_hcache_t *ch__current; /* under ch__current_mu: the cache chorus_hcache_bytes shows */

static void ch__render(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out, "# HELP chorus_hcache_gets_total Hydration cache lookups by result (down: the cache could "
                       "not answer, the database was read).\n# TYPE chorus_hcache_gets_total counter\n");
    for (int i = 0; i < CH__GET_RESULTS; i++)
        ch_buf_printf(out, "chorus_hcache_gets_total{result=\"%s\"} %llu\n", ch__get_names[i],
                      (unsigned long long)atomic_load_explicit(&ch__gets[i], memory_order_relaxed));
    ch_buf_printf(out, "# HELP chorus_hcache_puts_total Hydration cache stores by result (lost_lease: a write "
                       "came between the read and the store).\n# TYPE chorus_hcache_puts_total counter\n");
    for (int i = 0; i < CH__HCACHE_PUT_RESULTS; i++)
        ch_buf_printf(out, "chorus_hcache_puts_total{result=\"%s\"} %llu\n", ch__put_names[i],
                      (unsigned long long)atomic_load_explicit(&ch__puts[i], memory_order_relaxed));
    pthread_mutex_lock(&ch__current_mu);
    size_t bytes = ch__current ? ch__current->driver->bytes(ch__current->impl) : 0;
    pthread_mutex_unlock(&ch__current_mu);
    ch_buf_printf(out,
                  "# HELP chorus_hcache_forgets_total Hydration cache keys forgotten after a write.\n"
                  "# TYPE chorus_hcache_forgets_total counter\nchorus_hcache_forgets_total %llu\n"
                  "# HELP chorus_hcache_bytes Bytes the hydration cache holds in this process (the in-process "
                  "cache, or cluster mode's L1 in front of Redis; 0 with Redis alone).\n"
                  "# TYPE chorus_hcache_bytes gauge\nchorus_hcache_bytes %zu\n",
                  (unsigned long long)atomic_load_explicit(&ch__forgets, memory_order_relaxed), bytes);
}

void ch__hcache_count_puts(ch__hcache_put_result_t r, uint64_t n)
{
    if (n)
        atomic_fetch_add_explicit(&ch__puts[r], n, memory_order_relaxed);
}

ch_hcache_t *ch__hcache_wrap(const ch_hcache_driver_t *driver, void *impl)
{
    ch_hcache_t *c = ch_calloc(1, sizeof(*c));
    c->driver = driver;
    c->impl = impl;
    if (!atomic_exchange(&ch__renderer_added, 1))
        ch_metrics_add_renderer(ch__render, NULL);
    pthread_mutex_lock(&ch__current_mu);
    ch__current = c;
    pthread_mutex_unlock(&ch__current_mu);
    return c;
}

/* ---- dispatch ------------------------------------------------------------------------- */

static int ch__key_ok(const char *key)
{
    return key && strnlen(key, CH_HCACHE_KEY_MAX + 1) <= CH_HCACHE_KEY_MAX;
}

/* Whether every key of keys[0..n) can be cached, with its length in lens[i]. */
static int ch__key_lens(const char *const *keys, size_t n, size_t *lens)
{
    for (size_t i = 0; i < n; i++)
        if (!keys[i] || (lens[i] = strnlen(keys[i], CH_HCACHE_KEY_MAX + 1)) > CH_HCACHE_KEY_MAX)
            return 0;
    return 1;
}

void ch_hcache_destroy(ch_hcache_t *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&ch__current_mu);
    if (ch__current == c)
        ch__current = NULL;
    pthread_mutex_unlock(&ch__current_mu);
    c->driver->destroy(c->impl);
    free(c);
}

/* ch_hcache_get_many under the loop guard (core/loop_guard.h): the m cacheable keys of n
 * (good[], at their places at[]) from the driver's memory alone; CH_OK only when every one
 * of the n keys was there, else nothing is returned and the refusal is noted (the read moves
 * to a worker, where the lookup is made again and counted). */
static ch_err_t ch__get_guarded(ch_hcache_t *c, const char *const *good, const size_t *at, size_t m, size_t n,
                                ch_hcache_got_t *got)
{
    ch_hcache_got_t tmp[CH_HCACHE_BATCH_MAX];
    memset(tmp, 0, m * sizeof(*tmp));
    int all = m == n && c->driver->get_local && c->driver->get_local(c->impl, good, m, tmp) == CH_OK;
    for (size_t j = 0; j < m && all; j++)
        all = tmp[j].val != NULL;
    if (!all) {
        for (size_t j = 0; j < m; j++)
            free(tmp[j].val);
        ch_loop_guard_note();
        return CH_EUNAVAILABLE;
    }
    for (size_t j = 0; j < m; j++)
        got[at[j]] = tmp[j];
    atomic_fetch_add_explicit(&ch__gets[CH__GET_HIT], n, memory_order_relaxed);
    return CH_OK;
}

ch_err_t ch_hcache_get_many(ch_hcache_t *c, const char *const *keys, size_t n, ch_hcache_got_t *got)
{
    memset(got, 0, n * sizeof(*got));
    if (n == 0)
        return CH_OK;
    if (!c || n > CH_HCACHE_BATCH_MAX)
        return CH_EUNAVAILABLE;
    /* A key too long to be cached is a miss without lease; the others are looked up. */
    const char *good[CH_HCACHE_BATCH_MAX];
    size_t at[CH_HCACHE_BATCH_MAX], m = 0;
    for (size_t i = 0; i < n; i++)
        if (ch__key_ok(keys[i])) {
            good[m] = keys[i];
            at[m++] = i;
        }
    ch_err_t err = CH_OK;
    if (ch_loop_guard_on()) /* on an event loop: memory only, any miss moves the read */
        return ch__get_guarded(c, good, at, m, n, got);
    if (m == n) {
        err = c->driver->get_many(c->impl, keys, n, got);
    } else if (m > 0) {
        ch_hcache_got_t tmp[CH_HCACHE_BATCH_MAX];
        memset(tmp, 0, m * sizeof(*tmp));
        err = c->driver->get_many(c->impl, good, m, tmp);
        for (size_t j = 0; j < m; j++)
            got[at[j]] = tmp[j];
    }
    if (err != CH_OK) {
        for (size_t i = 0; i < n; i++)
            free(got[i].val);
        memset(got, 0, n * sizeof(*got));
        atomic_fetch_add_explicit(&ch__gets[CH__GET_DOWN], n, memory_order_relaxed);
        return err == CH_EUNAVAILABLE ? err : CH_EUNAVAILABLE;
    }
    uint64_t hits = 0;
    for (size_t i = 0; i < n; i++)
        hits += got[i].val != NULL;
    if (hits)
        atomic_fetch_add_explicit(&ch__gets[CH__GET_HIT], hits, memory_order_relaxed);
    if (n - hits)
        atomic_fetch_add_explicit(&ch__gets[CH__GET_MISS], n - hits, memory_order_relaxed);
    return CH_OK;
}

ch_err_t ch_hcache_get_visit(ch_hcache_t *c, const char *const *keys, size_t n, ch_hcache_visit_fn fn, void *arg,
                             uint64_t *leases)
{
    memset(leases, 0, n * sizeof(*leases));
    if (n == 0)
        return CH_OK;
    if (!c || n > CH_HCACHE_BATCH_MAX)
        return CH_EUNAVAILABLE;
    size_t klens[CH_HCACHE_BATCH_MAX];
    if (c->driver->get_visit && !ch_loop_guard_on() && ch__key_lens(keys, n, klens)) {
        uint64_t hits = c->driver->get_visit(c->impl, keys, klens, n, fn, arg, leases);
        if (hits)
            atomic_fetch_add_explicit(&ch__gets[CH__GET_HIT], hits, memory_order_relaxed);
        if (n - hits)
            atomic_fetch_add_explicit(&ch__gets[CH__GET_MISS], n - hits, memory_order_relaxed);
        return CH_OK;
    }
    /* the other drivers, a key too long, the loop guard: through get_many's copies */
    ch_hcache_got_t got[CH_HCACHE_BATCH_MAX];
    ch_err_t err = ch_hcache_get_many(c, keys, n, got);
    for (size_t i = 0; i < n; i++) {
        if (err == CH_OK && got[i].val)
            (void)fn(arg, i, got[i].val, got[i].len);
        else
            leases[i] = got[i].lease;
        free(got[i].val);
    }
    return err;
}

void ch_hcache_put_many(ch_hcache_t *c, const char *const *keys, const char *const *vals, const size_t *lens,
                        const uint64_t *leases, size_t n)
{
    if (!c || n == 0 || n > CH_HCACHE_BATCH_MAX)
        return;
    if (ch_loop_guard_on()) /* no network on the loop; a guarded read that missed has moved */
        return;
    const char *k[CH_HCACHE_BATCH_MAX], *v[CH_HCACHE_BATCH_MAX];
    size_t l[CH_HCACHE_BATCH_MAX], m = 0;
    uint64_t le[CH_HCACHE_BATCH_MAX], too_big = 0;
    for (size_t i = 0; i < n; i++) {
        if (!leases[i] || !ch__key_ok(keys[i]) || (!vals[i] && lens[i]))
            continue;
        if (lens[i] > CH_HCACHE_VALUE_MAX) {
            too_big++;
            continue;
        }
        k[m] = keys[i];
        v[m] = vals[i] ? vals[i] : "";
        l[m] = lens[i];
        le[m++] = leases[i];
    }
    ch__hcache_count_puts(CH__HCACHE_PUT_TOO_BIG, too_big);
    if (m)
        c->driver->put_many(c->impl, k, v, l, le, m);
}

void ch_hcache_forget_many(ch_hcache_t *c, const char *const *keys, size_t n)
{
    if (!c)
        return;
    if (ch_loop_guard_refuse()) /* a read's forget (a value that did not decode): its run on a */
        return;                 /* worker, after the move, forgets it again */
    const char *k[CH_HCACHE_BATCH_MAX];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (ch__key_ok(keys[i])) /* a longer key was never stored */
            k[m++] = keys[i];
        if (m == CH_HCACHE_BATCH_MAX || (i + 1 == n && m)) {
            c->driver->forget_many(c->impl, k, m);
            atomic_fetch_add_explicit(&ch__forgets, m, memory_order_relaxed);
            m = 0;
        }
    }
}

size_t ch_hcache_bytes(const ch_hcache_t *c)
{
    return c ? c->driver->bytes(c->impl) : 0;
}

size_t ch_hcache_entries(const ch_hcache_t *c)
{
    return c && c->driver->entries ? c->driver->entries(c->impl) : 0;
}

/* A bounded pool of Stripe clients (store/stripe.h). Clients are made on first need, up to
 * max, and kept (each holds its kept-alive connection); a thread that finds none free waits
 * on a condition variable for at most its wait_ms. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/db.h"
#include "store/stripe.h"
#include "store/stripe_metrics.h"

struct ch_stripe_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ch_stripe_config_t cfg; /* strings below are the pool's copies */
    char *api_base, *secret_key;
    size_t max, made, nfree;
    ch_stripe_t **free_list; /* max slots; the first nfree hold idle clients */
};

ch_stripe_pool_t *ch_stripe_pool_create(const ch_stripe_config_t *cfg, size_t max)
{
    if (!cfg || !cfg->api_base || !cfg->secret_key || max == 0)
        return NULL;
    ch_stripe_pool_t *p = ch_calloc(1, sizeof(*p));
    p->cfg = *cfg;
    p->api_base = ch_strdup(cfg->api_base);
    p->secret_key = ch_strdup(cfg->secret_key);
    p->cfg.api_base = p->api_base;
    p->cfg.secret_key = p->secret_key;
    p->max = max;
    p->free_list = ch_calloc(max, sizeof(*p->free_list));
    pthread_mutex_init(&p->mu, NULL);
    ch_cond_init_monotonic(&p->cv);
    /* one client now: a bad base URL or key shows at start, not at the first order */
    ch_stripe_t *first = ch_stripe_create(&p->cfg);
    if (!first) {
        ch_stripe_pool_destroy(p);
        return NULL;
    }
    p->free_list[p->nfree++] = first;
    p->made = 1;
    return p;
}

void ch_stripe_pool_destroy(ch_stripe_pool_t *pool)
{
    if (!pool)
        return;
    for (size_t i = 0; i < pool->nfree; i++)
        ch_stripe_destroy(pool->free_list[i]);
    free(pool->free_list);
    free(pool->api_base);
    free(pool->secret_key);
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool);
}

ch_stripe_t *ch_stripe_pool_acquire(ch_stripe_pool_t *pool, int64_t wait_ms)
{
    if (!pool)
        return NULL;
    /* the thread's deadline (a request's, or the graceful stop's) cuts the wait */
    int64_t until = ch_db_call_deadline();
    if (until) {
        int64_t left = until - ch_mono_ms();
        if (left < wait_ms)
            wait_ms = left;
    }
    struct timespec deadline = ch_mono_timespec_after(wait_ms > 0 ? wait_ms : 0);
    ch_stripe_t *s = NULL;
    int create_failed = 0;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        if (pool->nfree) {
            s = pool->free_list[--pool->nfree];
            break;
        }
        if (pool->made < pool->max && !create_failed) {
            pool->made++; /* reserved; made outside the lock */
            pthread_mutex_unlock(&pool->mu);
            s = ch_stripe_create(&pool->cfg);
            if (s)
                return s;
            ch_log(CH_LOG_ERROR, "stripe pool: making a client failed; waiting for one to be released");
            pthread_mutex_lock(&pool->mu);
            pool->made--;
            create_failed = 1; /* wait for a released one rather than fail at once */
            continue;
        }
        if (wait_ms <= 0 || pthread_cond_timedwait(&pool->cv, &pool->mu, &deadline) != 0)
            break;
    }
    pthread_mutex_unlock(&pool->mu);
    if (!s)
        ch__stripe_metrics_pool_empty();
    return s;
}

void ch_stripe_pool_release(ch_stripe_pool_t *pool, ch_stripe_t *s)
{
    if (!pool || !s)
        return;
    pthread_mutex_lock(&pool->mu);
    int twice = pool->nfree >= pool->made;
    for (size_t i = 0; !twice && i < pool->nfree; i++)
        twice = pool->free_list[i] == s;
    if (!twice) {
        pool->free_list[pool->nfree++] = s;
        pthread_cond_signal(&pool->cv);
    }
    pthread_mutex_unlock(&pool->mu);
    if (twice) /* a caller's bug; storing it would write past free_list or hand it out twice */
        ch_log(CH_LOG_ERROR, "stripe pool: a client released twice (or not the pool's): refused");
}

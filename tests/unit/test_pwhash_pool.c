/* The password hasher's queue: bounded admission, FIFO order, jobs of departed clients
 * dropped before they start (and freeing their places), concurrency from a memory budget. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "svc/auth/pwhash_pool.h"

/* ---- a job that holds its thread until released ----------------------------------------- */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_open;
static int g_order[16], g_norder;

static void gate_job(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_mu);
    while (!g_open)
        pthread_cond_wait(&g_cond, &g_mu);
    pthread_mutex_unlock(&g_mu);
}

static void open_gate(void)
{
    pthread_mutex_lock(&g_mu);
    g_open = 1;
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_mu);
}

static void record_job(void *arg)
{
    pthread_mutex_lock(&g_mu);
    g_order[g_norder++] = *(int *)arg;
    pthread_mutex_unlock(&g_mu);
}

/* A submission from its own thread (the pool's callers block). */
typedef struct {
    ch_pwhash_pool_t *pool;
    void (*fn)(void *);
    void *arg;
    ch_client_watch_t watch; /* its flag only: no socket */
    ch_pwhash_outcome_t outcome;
    pthread_t thread;
} submit_t;

static void *submit_thread(void *arg)
{
    submit_t *s = arg;
    s->outcome = ch_pwhash_pool_run(s->pool, s->fn, s->arg, &s->watch);
    return NULL;
}

static void submit(submit_t *s, ch_pwhash_pool_t *pool, void (*fn)(void *), void *arg, atomic_int *gone)
{
    *s = (submit_t){.pool = pool, .fn = fn, .arg = arg, .watch = {gone, -1}, .outcome = -1};
    assert_int_equal(pthread_create(&s->thread, NULL, submit_thread, s), 0);
}

/* Waits (bounded, 10 s) until the pool holds `running` running and `queued` queued jobs. */
static void wait_for(ch_pwhash_pool_t *pool, size_t running, size_t queued)
{
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 10000; i++) {
        ch_pwhash_stats_t st;
        ch_pwhash_pool_stats(pool, &st);
        if (st.running == running && st.queued == queued)
            return;
        nanosleep(&ms, NULL);
    }
    fail_msg("pool never reached running=%zu queued=%zu", running, queued);
}

static int setup(void **state)
{
    (void)state;
    g_open = 0;
    g_norder = 0;
    return 0;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_admission_is_bounded(void **state)
{
    (void)state;
    ch_pwhash_pool_t *pool = ch_pwhash_pool_create(1, 2, 0);
    assert_non_null(pool);
    submit_t s[3];
    submit(&s[0], pool, gate_job, NULL, NULL);
    wait_for(pool, 1, 0);
    submit(&s[1], pool, gate_job, NULL, NULL);
    submit(&s[2], pool, gate_job, NULL, NULL);
    wait_for(pool, 1, 2);
    /* One running and two waiting: the next is refused at once, without running. */
    int ran = 0;
    assert_true(ch_pwhash_pool_full(pool));
    assert_int_equal(ch_pwhash_pool_run(pool, record_job, &ran, NULL), CH_PWHASH_FULL);
    assert_int_equal(g_norder, 0);
    ch_pwhash_stats_t st;
    ch_pwhash_pool_stats(pool, &st);
    assert_int_equal(st.rejected, 2);
    open_gate();
    for (int i = 0; i < 3; i++) {
        pthread_join(s[i].thread, NULL);
        assert_int_equal(s[i].outcome, CH_PWHASH_RAN);
    }
    /* Places are free again. */
    assert_false(ch_pwhash_pool_full(pool));
    assert_int_equal(ch_pwhash_pool_run(pool, record_job, &ran, NULL), CH_PWHASH_RAN);
    ch_pwhash_pool_stats(pool, &st);
    assert_int_equal(st.ran, 4);
    assert_int_equal(st.queued + st.running, 0);
    ch_pwhash_pool_destroy(pool);
}

static void test_jobs_start_in_admission_order(void **state)
{
    (void)state;
    ch_pwhash_pool_t *pool = ch_pwhash_pool_create(1, 4, 0);
    submit_t gate, s[4];
    int ids[4] = {1, 2, 3, 4};
    submit(&gate, pool, gate_job, NULL, NULL);
    wait_for(pool, 1, 0);
    for (size_t i = 0; i < 4; i++) {
        submit(&s[i], pool, record_job, &ids[i], NULL);
        wait_for(pool, 1, i + 1);
    }
    open_gate();
    pthread_join(gate.thread, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(s[i].thread, NULL);
    assert_int_equal(g_norder, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(g_order[i], i + 1);
    ch_pwhash_pool_destroy(pool);
}

static void test_gone_client_is_dropped_before_start(void **state)
{
    (void)state;
    ch_pwhash_pool_t *pool = ch_pwhash_pool_create(1, 4, 0);
    atomic_int gone = 0, here = 0;
    int x = 1, y = 2;
    submit_t gate, sx, sy;
    submit(&gate, pool, gate_job, NULL, NULL);
    wait_for(pool, 1, 0);
    submit(&sx, pool, record_job, &x, &gone);
    wait_for(pool, 1, 1);
    submit(&sy, pool, record_job, &y, &here);
    wait_for(pool, 1, 2);
    atomic_store(&gone, 1); /* the client of x disconnects while x waits */
    open_gate();
    pthread_join(gate.thread, NULL);
    pthread_join(sx.thread, NULL);
    pthread_join(sy.thread, NULL);
    assert_int_equal(sx.outcome, CH_PWHASH_DROPPED);
    assert_int_equal(sy.outcome, CH_PWHASH_RAN);
    assert_int_equal(g_norder, 1);
    assert_int_equal(g_order[0], 2);
    ch_pwhash_stats_t st;
    ch_pwhash_pool_stats(pool, &st);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.ran, 2);
    ch_pwhash_pool_destroy(pool);
}

static void test_gone_clients_free_their_places(void **state)
{
    (void)state;
    ch_pwhash_pool_t *pool = ch_pwhash_pool_create(1, 1, 0);
    atomic_int gone = 0;
    int x = 1, y = 2;
    submit_t gate, sx, sy;
    submit(&gate, pool, gate_job, NULL, NULL);
    wait_for(pool, 1, 0);
    submit(&sx, pool, record_job, &x, &gone);
    wait_for(pool, 1, 1);
    /* Full; once x's client is gone its place goes to the next caller, y. */
    assert_int_equal(ch_pwhash_pool_run(pool, record_job, &y, NULL), CH_PWHASH_FULL);
    atomic_store(&gone, 1);
    submit(&sy, pool, record_job, &y, NULL);
    pthread_join(sx.thread, NULL); /* answered at y's admission, the gate still closed */
    assert_int_equal(sx.outcome, CH_PWHASH_DROPPED);
    wait_for(pool, 1, 1);
    open_gate();
    pthread_join(gate.thread, NULL);
    pthread_join(sy.thread, NULL);
    assert_int_equal(sy.outcome, CH_PWHASH_RAN);
    assert_int_equal(g_norder, 1);
    assert_int_equal(g_order[0], 2);
    ch_pwhash_pool_destroy(pool);
}

static void test_shutdown_answers_queued_jobs_at_once(void **state)
{
    (void)state;
    ch_pwhash_pool_t *pool = ch_pwhash_pool_create(1, 4, 0);
    int x = 1;
    submit_t gate, sx;
    submit(&gate, pool, gate_job, NULL, NULL);
    wait_for(pool, 1, 0);
    submit(&sx, pool, record_job, &x, NULL);
    wait_for(pool, 1, 1);
    ch_pwhash_pool_shutdown(pool); /* the server drains */
    pthread_join(sx.thread, NULL);  /* answered with the gate still closed */
    assert_int_equal(sx.outcome, CH_PWHASH_STOPPED);
    assert_int_equal(ch_pwhash_pool_run(pool, record_job, &x, NULL), CH_PWHASH_STOPPED);
    open_gate();
    pthread_join(gate.thread, NULL);
    assert_int_equal(gate.outcome, CH_PWHASH_RAN); /* the running job finished */
    assert_int_equal(g_norder, 0);
    ch_pwhash_pool_destroy(pool);
}

static void test_concurrency_from_memory_budget(void **state)
{
    (void)state;
    assert_int_equal(ch_pwhash_concurrency(128u << 20, 64u << 20, 8), 2);
    assert_int_equal(ch_pwhash_concurrency(100u << 20, 64u << 20, 8), 1);
    assert_int_equal(ch_pwhash_concurrency(1u << 20, 64u << 20, 8), 1); /* at least one */
    assert_int_equal(ch_pwhash_concurrency(1u << 20, 0, 8), 1);
    assert_int_equal(ch_pwhash_concurrency(1024u << 20, 64u << 20, 4), 3); /* a core left */
    assert_int_equal(ch_pwhash_concurrency(1024u << 20, 64u << 20, 2), 1);
    assert_int_equal(ch_pwhash_concurrency(1024u << 20, 64u << 20, 1), 1);
    assert_int_equal(ch_pwhash_concurrency(128u << 20, 64u << 20, 0), 2); /* cores unknown */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_admission_is_bounded, setup),
        cmocka_unit_test_setup(test_jobs_start_in_admission_order, setup),
        cmocka_unit_test_setup(test_gone_client_is_dropped_before_start, setup),
        cmocka_unit_test_setup(test_gone_clients_free_their_places, setup),
        cmocka_unit_test_setup(test_shutdown_answers_queued_jobs_at_once, setup),
        cmocka_unit_test(test_concurrency_from_memory_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

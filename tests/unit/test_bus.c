/* The event bus (store/bus.h): the in-process driver always; the Redis driver when
 * CHORUS_TEST_REDIS_URL is set (tests/blackbox/test_unit_backends.py sets it), including its
 * subscriber connection being killed (CLIENT KILL TYPE pubsub): it reconnects and subscribes
 * again, and frames flow. */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/bus.h"

#define MAX_GOT 64

typedef struct {
    pthread_mutex_t mu;
    size_t n;
    uint64_t users[MAX_GOT];
    char frames[MAX_GOT][64];
} got_t;

static void on_frame(void *ctx, uint64_t user_id, const char *frame, size_t len)
{
    got_t *g = ctx;
    pthread_mutex_lock(&g->mu);
    if (g->n < MAX_GOT) {
        g->users[g->n] = user_id;
        snprintf(g->frames[g->n], sizeof(g->frames[0]), "%.*s", (int)len, frame);
        g->n++;
    }
    pthread_mutex_unlock(&g->mu);
}

static size_t got_n(got_t *g)
{
    pthread_mutex_lock(&g->mu);
    size_t n = g->n;
    pthread_mutex_unlock(&g->mu);
    return n;
}

/* Whether a frame equal to text reached user. */
static int has_frame(got_t *g, uint64_t user, const char *text)
{
    int found = 0;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->n && !found; i++)
        found = g->users[i] == user && strcmp(g->frames[i], text) == 0;
    pthread_mutex_unlock(&g->mu);
    return found;
}

/* Waits (at most 10 s: a bound, not a speed check) for n frames. */
static int wait_for(got_t *g, size_t n)
{
    for (int i = 0; i < 1000 && got_n(g) < n; i++)
        usleep(10 * 1000);
    return got_n(g) >= n;
}

static ch_bus_t *open_bus(void)
{
    const char *url = getenv("CHORUS_TEST_REDIS_URL");
    if (!url || !*url)
        return NULL;
    char err[256];
    ch_bus_t *b = ch_bus_redis_create(url, err, sizeof(err));
    if (!b)
        fail_msg("ch_bus_redis_create(%s): %s", url, err);
    return b;
}

/* Publishes until the subscriber got n frames (a subscription made moments ago may not be
 * active in Redis yet: publishing again is what a test can do). */
static void publish_until(ch_bus_t *b, got_t *g, uint64_t user, const char *frame, size_t n)
{
    for (int i = 0; i < 100 && got_n(g) < n; i++) {
        ch_bus_publish(b, user, frame, strlen(frame));
        for (int j = 0; j < 10 && got_n(g) < n; j++)
            usleep(10 * 1000);
    }
}

static void check_basics(ch_bus_t *b, int redis)
{
    got_t g = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ch_bus_set_receiver(b, on_frame, &g);
    uint64_t base = (uint64_t)time(NULL) * 1000 + (uint64_t)getpid() % 1000;
    uint64_t a = base * 10 + 1, c = base * 10 + 2, nobody = base * 10 + 3;
    assert_int_equal(ch_bus_publish(b, a, "x", 1), CH_OK); /* nobody subscribed: nothing */
    ch_bus_subscribe(b, a);
    ch_bus_subscribe(b, a); /* counted */
    ch_bus_subscribe(b, c);
    if (redis)
        publish_until(b, &g, a, "{\"op\":\"warm\"}", 1);
    else
        assert_int_equal(ch_bus_publish(b, a, "{\"op\":\"warm\"}", 13), CH_OK);
    assert_true(wait_for(&g, 1));
    size_t n0 = got_n(&g);
    if (redis)
        publish_until(b, &g, c, "{\"op\":\"warm\"}", n0 + 1);
    assert_true(wait_for(&g, n0 + (redis ? 1 : 0)));
    n0 = got_n(&g);
    uint64_t to[3] = {a, c, nobody};
    assert_int_equal(ch_bus_publish_many(b, to, 3, "{\"op\":\"m\"}", 10), CH_OK);
    assert_true(wait_for(&g, n0 + 2));
    usleep(100 * 1000);
    assert_int_equal(got_n(&g), n0 + 2);
    assert_string_equal(g.frames[n0], "{\"op\":\"m\"}");
    /* one unsubscribe of two: still subscribed */
    ch_bus_unsubscribe(b, a);
    assert_int_equal(ch_bus_publish(b, a, "{\"op\":\"n\"}", 10), CH_OK);
    assert_true(wait_for(&g, n0 + 3));
    ch_bus_unsubscribe(b, a);
    ch_bus_unsubscribe(b, c);
    usleep(200 * 1000); /* the UNSUBSCRIBEs reach Redis */
    assert_int_equal(ch_bus_publish_many(b, to, 2, "{\"op\":\"o\"}", 10), CH_OK);
    usleep(200 * 1000);
    assert_int_equal(got_n(&g), n0 + 3);
}

static void test_mem_bus(void **state)
{
    (void)state;
    ch_bus_t *b = ch_bus_mem_create();
    assert_non_null(b);
    assert_string_equal(ch_bus_kind(b), "mem");
    check_basics(b, 0);
    ch_bus_destroy(b);
}

/* The thread a frame was received on. */
static pthread_t recv_thread;
static int recv_count;

static void on_frame_thread(void *ctx, uint64_t user_id, const char *frame, size_t len)
{
    (void)ctx;
    (void)user_id;
    (void)frame;
    (void)len;
    recv_thread = pthread_self();
    recv_count++;
}

/* The in-process bus hands a frame to the receiver on the publisher's own thread, before the
 * publish returns (no delivery thread and no queue hop per recipient: the gateway's per-loop
 * inbox is the one queue, with its bound and resync). */
static void test_mem_bus_delivers_on_publisher_thread(void **state)
{
    (void)state;
    ch_bus_t *b = ch_bus_mem_create();
    ch_bus_set_receiver(b, on_frame_thread, NULL);
    ch_bus_subscribe(b, 7);
    ch_bus_subscribe(b, 8);
    recv_count = 0;
    uint64_t to[3] = {7, 8, 9};
    assert_int_equal(ch_bus_publish_many(b, to, 3, "{\"op\":\"m\"}", 10), CH_OK);
    assert_int_equal(recv_count, 2); /* 9 is not subscribed */
    assert_true(pthread_equal(recv_thread, pthread_self()));
    ch_bus_unsubscribe(b, 7);
    ch_bus_unsubscribe(b, 8);
    ch_bus_destroy(b);
}

static void test_redis_bus(void **state)
{
    (void)state;
    ch_bus_t *b = open_bus();
    if (!b)
        skip();
    assert_string_equal(ch_bus_kind(b), "redis");
    check_basics(b, 1);
    ch_bus_destroy(b);
}

static void test_redis_bus_resubscribes(void **state)
{
    (void)state;
    ch_bus_t *b = open_bus();
    if (!b)
        skip();
    got_t g = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ch_bus_set_receiver(b, on_frame, &g);
    uint64_t user = (uint64_t)time(NULL) * 1000000 + (uint64_t)getpid();
    ch_bus_subscribe(b, user);
    publish_until(b, &g, user, "{\"op\":\"before\"}", 1);
    assert_true(wait_for(&g, 1));

    /* Kill the node's subscriber connection as a Redis restart would. */
    const char *url = getenv("CHORUS_TEST_REDIS_URL");
    char host[128] = "127.0.0.1";
    int port = 6379;
    sscanf(url, "redis://%127[^:/]:%d", host, &port);
    redisContext *admin = redisConnect(host, port);
    assert_non_null(admin);
    assert_int_equal(admin->err, 0);
    redisReply *rep = redisCommand(admin, "CLIENT KILL TYPE pubsub");
    assert_non_null(rep);
    assert_true(rep->type == REDIS_REPLY_INTEGER && rep->integer >= 1);
    freeReplyObject(rep);
    redisFree(admin);

    /* Published frames flow again, and the user's devices are told to resync (what was
     * published while the subscriber was away is gone: they refetch). The resync and the
     * first frames after may come in either order. */
    for (int i = 0; i < 100 && !(has_frame(&g, user, "{\"op\":\"after\"}") && has_frame(&g, user, CH_BUS_CTL_RESYNC)); i++) {
        if (!has_frame(&g, user, "{\"op\":\"after\"}"))
            ch_bus_publish(b, user, "{\"op\":\"after\"}", strlen("{\"op\":\"after\"}"));
        usleep(100 * 1000);
    }
    assert_true(has_frame(&g, user, "{\"op\":\"after\"}"));
    assert_true(has_frame(&g, user, CH_BUS_CTL_RESYNC));
    ch_bus_unsubscribe(b, user);
    ch_bus_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mem_bus),
        cmocka_unit_test(test_mem_bus_delivers_on_publisher_thread),
        cmocka_unit_test(test_redis_bus),
        cmocka_unit_test(test_redis_bus_resubscribes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

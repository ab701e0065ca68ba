/* ch_client_watch_gone (core/client_watch.h): the loop's flag, and an HTTP/1 socket whose
 * peer closed or reset, with data waiting or nothing yet. Real sockets: a loopback TCP
 * pair (a reset needs TCP) and a socketpair. */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/client_watch.h"
#include "core/clock.h"

/* A connected loopback TCP pair: *server is the accepted side. */
static void tcp_pair(int *client, int *server)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
    *client = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(*client, (struct sockaddr *)&a, sizeof(a)), 0);
    *server = accept(l, NULL, NULL);
    assert_true(*server >= 0);
    close(l);
}

static void test_flag_and_no_socket(void **state)
{
    (void)state;
    atomic_int gone = 0;
    ch_client_watch_t w = {&gone, -1, 0};
    assert_false(ch_client_watch_gone(NULL));
    assert_false(ch_client_watch_gone(&w));
    atomic_store(&gone, 1);
    assert_true(ch_client_watch_gone(&w));
}

static void test_deadline_passed_is_gone(void **state)
{
    (void)state;
    atomic_int gone = 0;
    ch_client_watch_t w = {&gone, -1, ch_mono_ms() + 60000};
    assert_false(ch_client_watch_gone(&w));
    w.deadline_ms = ch_mono_ms() - 1;
    assert_true(ch_client_watch_gone(&w));
    w.deadline_ms = 0; /* none */
    assert_false(ch_client_watch_gone(&w));
}

static void test_open_socket_is_there_until_the_peer_closes(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ch_client_watch_t w = {NULL, sv[0], 0};
    assert_false(ch_client_watch_gone(&w)); /* nothing to read yet: would block */
    assert_int_equal(write(sv[1], "GET", 3), 3);
    assert_false(ch_client_watch_gone(&w)); /* a pipelined request waits: still there */
    char buf[3];
    assert_int_equal(read(sv[0], buf, 3), 3); /* the peek consumed nothing */
    close(sv[1]);
    assert_true(ch_client_watch_gone(&w)); /* end of stream */
    close(sv[0]);
}

static void test_reset_tcp_connection_is_gone(void **state)
{
    (void)state;
    int client, server;
    tcp_pair(&client, &server);
    ch_client_watch_t w = {NULL, server, 0};
    assert_false(ch_client_watch_gone(&w));
    struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close with RST */
    assert_int_equal(setsockopt(client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close(client);
    for (int i = 0; i < 100 && !ch_client_watch_gone(&w); i++)
        usleep(10 * 1000); /* the reset crosses loopback at once; bounded wait anyway */
    assert_true(ch_client_watch_gone(&w));
    close(server);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flag_and_no_socket),
        cmocka_unit_test(test_deadline_passed_is_gone),
        cmocka_unit_test(test_open_socket_is_there_until_the_peer_closes),
        cmocka_unit_test(test_reset_tcp_connection_is_gone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

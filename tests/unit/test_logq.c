/* The log queue (core/logq.h) and the log writer thread (core/log.h, ch_log_start): lines
 * are kept whole and in order per producer, chunks are reused once released, a producer
 * whose chunks all wait for the writer drops and counts, seal/flush hand over partly filled
 * chunks, and a blocked stderr costs lines, never a wait. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "core/logq.h"

#define BUDGET CH_LOGQ_MIN_BUDGET /* 4 chunks of 4096 bytes */
#define CHUNK (BUDGET / CH_LOGQ_CHUNKS)

/* Takes everything sealed, appends its bytes to out (if any), releases it. Returns bytes. */
static size_t drain(ch_logq_t *q, char *out, size_t cap)
{
    ch_logq_chunk_t *chunks[16];
    struct iovec iov[16];
    size_t n, total = 0;
    while ((n = ch_logq_take(q, chunks, iov, 16)) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (out && total + iov[i].iov_len <= cap)
                memcpy(out + total, iov[i].iov_base, iov[i].iov_len);
            total += iov[i].iov_len;
        }
        ch_logq_release(q, chunks, n);
    }
    return total;
}

static void test_lines_in_order_and_whole(void **state)
{
    (void)state;
    ch_logq_t *q = ch_logq_create(BUDGET);
    assert_int_equal(ch_logq_chunk_size(q), CHUNK);
    ch_logq_producer_t *p = ch_logq_acquire(q);
    char line[64], expect[8192] = "", got[8192];
    size_t elen = 0;
    for (int i = 0; i < 100; i++) { /* 100 x 14 bytes: spans a chunk boundary */
        int n = snprintf(line, sizeof(line), "line %08d\n", i);
        assert_int_equal(ch_logq_append(p, line, (size_t)n, 0), 0);
        memcpy(expect + elen, line, (size_t)n);
        elen += (size_t)n;
    }
    assert_int_equal(ch_logq_pending_bytes(q), elen);
    ch_logq_seal(q, 0, 0);
    assert_int_equal(drain(q, got, sizeof(got)), elen);
    assert_memory_equal(got, expect, elen);
    assert_int_equal(ch_logq_pending_bytes(q), 0);
    assert_int_equal(ch_logq_dropped(q), 0);
    ch_logq_destroy(q);
}

static void test_full_drops_and_counts_then_wraps(void **state)
{
    (void)state;
    ch_logq_t *q = ch_logq_create(BUDGET);
    ch_logq_producer_t *p = ch_logq_acquire(q);
    char line[1024];
    memset(line, 'x', sizeof(line));
    line[sizeof(line) - 1] = '\n';
    /* 4 chunks of 4 lines each; the writer takes nothing: the 17th line is dropped. */
    for (int i = 0; i < 16; i++)
        assert_int_equal(ch_logq_append(p, line, sizeof(line), 0), 0);
    assert_int_equal(ch_logq_append(p, line, sizeof(line), 0), -1);
    assert_int_equal(ch_logq_append(p, line, sizeof(line), 0), -1);
    assert_int_equal(ch_logq_dropped(q), 2);
    /* The writer takes the four sealed chunks: the producer reuses them. */
    assert_int_equal(drain(q, NULL, 0), 4 * CHUNK);
    for (int i = 0; i < 16; i++)
        assert_int_equal(ch_logq_append(p, line, sizeof(line), 0), 0);
    assert_int_equal(ch_logq_append(p, line, sizeof(line), 0), -1);
    assert_int_equal(ch_logq_dropped(q), 3);
    ch_logq_seal(q, 0, 0);
    assert_int_equal(drain(q, NULL, 0), 16 * sizeof(line));
    assert_int_equal(ch_logq_pending_bytes(q), 0);
    ch_logq_destroy(q);
}

static void test_seal_by_age_and_close(void **state)
{
    (void)state;
    ch_logq_t *q = ch_logq_create(BUDGET);
    ch_logq_producer_t *p = ch_logq_acquire(q);
    assert_int_equal(ch_logq_append(p, "a\n", 2, 1000), 0);
    assert_int_equal(ch_logq_append(p, "b\n", 2, 1040), 0);
    ch_logq_seal(q, 1049, 50); /* first line 49 ms old: stays */
    assert_int_equal(drain(q, NULL, 0), 0);
    ch_logq_seal(q, 1050, 50);
    char got[8];
    assert_int_equal(drain(q, got, sizeof(got)), 4);
    assert_memory_equal(got, "a\nb\n", 4);
    ch_logq_close(q, 1);
    assert_int_equal(ch_logq_append(p, "c\n", 2, 0), 1);
    ch_logq_seal(q, 0, 0);
    assert_int_equal(drain(q, NULL, 0), 0);
    ch_logq_close(q, 0);
    assert_int_equal(ch_logq_append(p, "d\n", 2, 0), 0);
    ch_logq_seal(q, 0, 0);
    assert_int_equal(drain(q, NULL, 0), 2);
    ch_logq_destroy(q);
}

static void test_long_line_cut_with_newline(void **state)
{
    (void)state;
    ch_logq_t *q = ch_logq_create(BUDGET);
    ch_logq_producer_t *p = ch_logq_acquire(q);
    char *line = malloc(CHUNK + 100), *got = malloc(CHUNK);
    memset(line, 'y', CHUNK + 100);
    assert_int_equal(ch_logq_append(p, line, CHUNK + 100, 0), 0);
    ch_logq_seal(q, 0, 0);
    assert_int_equal(drain(q, got, CHUNK), CHUNK);
    assert_int_equal(got[CHUNK - 1], '\n');
    assert_int_equal(got[CHUNK - 2], 'y');
    free(line);
    free(got);
    ch_logq_destroy(q);
}

static void test_abandoned_producer_is_reused_and_keeps_lines(void **state)
{
    (void)state;
    ch_logq_t *q = ch_logq_create(BUDGET);
    ch_logq_producer_t *p = ch_logq_acquire(q);
    assert_int_equal(ch_logq_append(p, "kept\n", 5, 0), 0);
    ch_logq_abandon(p);
    ch_logq_producer_t *p2 = ch_logq_acquire(q);
    assert_ptr_equal(p2, p);
    ch_logq_producer_t *p3 = ch_logq_acquire(q);
    assert_ptr_not_equal(p3, p);
    ch_logq_seal(q, 0, 0);
    char got[8];
    assert_int_equal(drain(q, got, sizeof(got)), 5);
    assert_memory_equal(got, "kept\n", 5);
    ch_logq_destroy(q);
}

/* ---- concurrent producers and a writer --------------------------------------------------- */

#define PRODUCERS 4
#define LINES 20000

typedef struct {
    ch_logq_t *q;
    int id;
    int dropped;
} prod_arg_t;

static void *producer_main(void *arg)
{
    prod_arg_t *a = arg;
    ch_logq_producer_t *p = ch_logq_acquire(a->q);
    char line[64];
    for (int i = 0; i < LINES; i++) {
        int n = snprintf(line, sizeof(line), "p%d n%07d ........................\n", a->id, i);
        if (ch_logq_append(p, line, (size_t)n, 0) != 0)
            a->dropped++;
    }
    ch_logq_abandon(p);
    return NULL;
}

static void test_concurrent_lines_whole_and_ordered(void **state)
{
    (void)state;
    ch_logq_t *q = ch_logq_create(BUDGET);
    pthread_t th[PRODUCERS];
    prod_arg_t args[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        args[i] = (prod_arg_t){.q = q, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, producer_main, &args[i]), 0);
    }
    int last[PRODUCERS], seen[PRODUCERS] = {0}, done = 0;
    for (int i = 0; i < PRODUCERS; i++)
        last[i] = -1;
    ch_logq_chunk_t *chunks[8];
    struct iovec iov[8];
    for (;;) {
        size_t n = ch_logq_take(q, chunks, iov, 8);
        for (size_t c = 0; c < n; c++) {
            const char *s = iov[c].iov_base, *end = s + iov[c].iov_len;
            assert_int_equal(end[-1], '\n'); /* chunks end on a line's end */
            while (s < end) {
                const char *nl = memchr(s, '\n', (size_t)(end - s));
                assert_non_null(nl);
                int id, num;
                assert_int_equal(sscanf(s, "p%d n%d", &id, &num), 2);
                assert_int_equal(nl - s, 36); /* whole */
                assert_true(id >= 0 && id < PRODUCERS);
                assert_true(num > last[id]); /* in order (gaps are drops) */
                last[id] = num;
                seen[id]++;
                s = nl + 1;
            }
        }
        ch_logq_release(q, chunks, n);
        if (n == 0) {
            if (done)
                break;
            done = 1;
            for (int i = 0; i < PRODUCERS; i++)
                pthread_join(th[i], NULL);
            ch_logq_seal(q, 0, 0);
        }
    }
    uint64_t dropped = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        assert_int_equal(seen[i] + args[i].dropped, LINES);
        dropped += (uint64_t)args[i].dropped;
    }
    assert_int_equal(ch_logq_dropped(q), dropped);
    assert_int_equal(ch_logq_pending_bytes(q), 0);
    ch_logq_destroy(q);
}

/* ---- the writer thread on a pipe --------------------------------------------------------- */

static size_t count_lines(const char *s, size_t n, const char *needle)
{
    size_t count = 0;
    for (const char *p = s; (p = memmem(p, (size_t)(s + n - p), needle, strlen(needle))); p++)
        count++;
    return count;
}

/* Reads what is in the (non-blocking) pipe now into buf; returns its new length. */
static size_t read_pipe(int fd, char *buf, size_t len, size_t cap)
{
    ssize_t r;
    while (len < cap && (r = read(fd, buf + len, cap - len)) > 0)
        len += (size_t)r;
    return len;
}

static void test_writer_flushes_and_drops_on_blocked_stderr(void **state)
{
    (void)state;
    int fds[2], saved = dup(STDERR_FILENO);
    assert_int_equal(pipe(fds), 0);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    fcntl(fds[1], F_SETPIPE_SZ, 4096);
    dup2(fds[1], STDERR_FILENO);
    size_t cap = 8 << 20, len = 0;
    char *buf = malloc(cap);

    assert_int_equal(ch_log_start(BUDGET), 0);
    for (int i = 0; i < 10; i++)
        ch_log_request("rid", "GET", "/v1/x", 200, 1.0, 0);
    assert_int_equal(ch_log_flush(2000), 0);
    len = read_pipe(fds[0], buf, len, cap);
    assert_int_equal(count_lines(buf, len, "\"msg\":\"request\""), 10);

    /* Nobody reads: the writer blocks on the 4 KiB pipe, the loggers drop, never wait. */
    for (int i = 0; i < 20000; i++) /* returns: a hang would time the test out */
        ch_log_request("rid", "GET", "/v1/y", 200, 1.0, 0);
    assert_true(ch_log_dropped() > 0);
    assert_int_equal(ch_log_flush(200), -1); /* stuck behind the pipe */
    /* Read it: the writer resumes, writes what it kept, then reports the drop. */
    size_t before = len;
    int flushed = 0;
    for (int i = 0; i < 1000 && !flushed; i++) {
        len = read_pipe(fds[0], buf, len, cap);
        flushed = ch_log_flush(20) == 0;
    }
    assert_true(flushed);
    assert_int_equal(ch_log_flush(2000), 0); /* the report itself */
    len = read_pipe(fds[0], buf, len, cap);
    size_t kept = count_lines(buf + before, len - before, "/v1/y");
    assert_true(kept > 0);
    assert_int_equal(kept + ch_log_dropped(), 20000);
    assert_true(count_lines(buf + before, len - before, "line(s) dropped") >= 1);

    /* A stop writes the rest, then lines go directly. */
    ch_log_request("rid", "GET", "/v1/last-buffered", 200, 1.0, 0);
    assert_int_equal(ch_log_stop(2000), 0);
    ch_log_request("rid", "GET", "/v1/direct", 200, 1.0, 0);
    len = read_pipe(fds[0], buf, len, cap);
    const char *a = memmem(buf, len, "/v1/last-buffered", 17), *b = memmem(buf, len, "/v1/direct", 10);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);

    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[0]);
    close(fds[1]);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_in_order_and_whole),
        cmocka_unit_test(test_full_drops_and_counts_then_wraps),
        cmocka_unit_test(test_seal_by_age_and_close),
        cmocka_unit_test(test_long_line_cut_with_newline),
        cmocka_unit_test(test_abandoned_producer_is_reused_and_keeps_lines),
        cmocka_unit_test(test_concurrent_lines_whole_and_ordered),
        cmocka_unit_test(test_writer_flushes_and_drops_on_blocked_stderr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

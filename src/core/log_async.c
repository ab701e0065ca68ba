/* The log writer thread (core/log.h, ch_log_start): lines go into per-thread buffers
 * (core/logq.h) and this thread writes them to stderr in batches (writev), full chunks as
 * soon as they fill and the rest every CH__LOG_TICK_MS. Before ch_log_start and after
 * ch_log_stop, lines are written straight away (core/log.c). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/log_internal.h"
#include "core/logq.h"
#include "core/metrics.h"

#define CH__LOG_TICK_MS 50         /* a line waits at most about this long for the writer */
#define CH__LOG_BATCH 64           /* chunks per writev (well below IOV_MAX) */
#define CH__LOG_DROP_REPORT_MS 1000 /* drops are logged at most once per this */

static ch_logq_t *ch__q;      /* created by the first start; kept for the life of the process */
static atomic_int ch__async;  /* lines go to ch__q */
static pthread_key_t ch__key; /* abandons a thread's producer when it ends */
static _Thread_local ch_logq_producer_t *ch__tl;
static _Thread_local int ch__is_writer; /* its own lines never wait for ch__switch_mu */
/* Held by ch_log_stop while it drains, and by direct writes: a thread's direct line never
 * overtakes what it had buffered. */
static pthread_mutex_t ch__switch_mu = PTHREAD_MUTEX_INITIALIZER;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* the writer waits for work */
    pthread_cond_t done_cv; /* flushes and stop wait for the writer */
    int running, stop, kicked, urgent, exited;
    uint64_t flush_req, flush_done;
    pthread_t thread;
} W = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void ch__write_all(struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(STDERR_FILENO, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) { /* a non-blocking stderr */
                struct pollfd pfd = {.fd = STDERR_FILENO, .events = POLLOUT};
                (void)poll(&pfd, 1, 1000);
                continue;
            }
            return; /* closed or broken: nothing to report to */
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
}

void ch__log_direct(const char *line, size_t len)
{
    struct iovec iov = {.iov_base = (void *)line, .iov_len = len};
    if (ch__is_writer) { /* the drain ch__switch_mu waits for is this thread's own */
        ch__write_all(&iov, 1);
        return;
    }
    pthread_mutex_lock(&ch__switch_mu);
    ch__write_all(&iov, 1);
    pthread_mutex_unlock(&ch__switch_mu);
}

static void ch__wake(void *arg);

void ch__log_emit(const char *line, size_t len, int urgent)
{
    if (atomic_load_explicit(&ch__async, memory_order_acquire)) {
        ch_logq_producer_t *p = ch__tl;
        if (!p) {
            p = ch__tl = ch_logq_acquire(ch__q);
            pthread_setspecific(ch__key, p);
        }
        int rc = ch_logq_append(p, line, len, ch_mono_ms());
        if (rc == 0 && urgent && !ch__is_writer)
            ch__wake(&W); /* non-NULL: seal partial chunks too */
        if (rc != 1)
            return; /* buffered, or dropped and counted */
    }
    ch__log_direct(line, len);
}

static void ch__abandon(void *p)
{
    ch_logq_abandon(p);
}

/* Wakes the writer: a chunk was sealed (arg NULL), or an urgent line waits in a partly
 * filled one (arg non-NULL). */
static void ch__wake(void *arg)
{
    pthread_mutex_lock(&W.mu);
    W.kicked = 1;
    if (arg)
        W.urgent = 1;
    pthread_cond_signal(&W.cv);
    pthread_mutex_unlock(&W.mu);
}

static void *ch__writer_main(void *arg)
{
    (void)arg;
    ch__is_writer = 1;
    ch_logq_chunk_t *chunks[CH__LOG_BATCH];
    struct iovec iov[CH__LOG_BATCH];
    uint64_t reported = ch_logq_dropped(ch__q), reported_ms = 0;
    int64_t next_tick = ch_mono_ms() + CH__LOG_TICK_MS;
    pthread_mutex_lock(&W.mu);
    for (;;) {
        struct timespec until = ch_mono_timespec_after(CH__LOG_TICK_MS);
        while (!W.stop && !W.kicked && W.flush_req == W.flush_done && ch_mono_ms() < next_tick)
            pthread_cond_timedwait(&W.cv, &W.mu, &until);
        int stop = W.stop, urgent = W.urgent;
        uint64_t req = W.flush_req;
        W.kicked = W.urgent = 0;
        pthread_mutex_unlock(&W.mu);

        int64_t now = ch_mono_ms();
        if (stop || urgent || req != W.flush_done || now >= next_tick) {
            ch_logq_seal(ch__q, now, 0);
            next_tick = now + CH__LOG_TICK_MS;
        }
        size_t n;
        while ((n = ch_logq_take(ch__q, chunks, iov, CH__LOG_BATCH)) > 0) {
            ch__write_all(iov, (int)n);
            ch_logq_release(ch__q, chunks, n);
        }
        /* Writing resumed: say what was lost, once per second at most (the line itself
         * goes out with the next batch). */
        uint64_t dropped = ch_logq_dropped(ch__q);
        now = ch_mono_ms();
        if (dropped > reported && !stop && (reported_ms == 0 || now - (int64_t)reported_ms >= CH__LOG_DROP_REPORT_MS)) {
            ch_log_warn("log: %llu line(s) dropped: stderr did not keep up (chorus_log_dropped_total, "
                        "CHORUS_LOG_BUFFER)",
                        (unsigned long long)(dropped - reported));
            reported = dropped;
            reported_ms = (uint64_t)now;
        }

        pthread_mutex_lock(&W.mu);
        if (req != W.flush_done) {
            W.flush_done = req;
            pthread_cond_broadcast(&W.done_cv);
        }
        if (stop)
            break;
    }
    W.exited = 1;
    pthread_cond_broadcast(&W.done_cv);
    pthread_mutex_unlock(&W.mu);
    return NULL;
}

static void ch__render(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out,
                  "# HELP chorus_log_dropped_total Log lines dropped because stderr did not keep up and a "
                  "thread's buffer (CHORUS_LOG_BUFFER) was full.\n"
                  "# TYPE chorus_log_dropped_total counter\nchorus_log_dropped_total %llu\n",
                  (unsigned long long)ch_log_dropped());
}

/* exit() and a return from main write what is buffered (a forced _exit flushes itself). */
static void ch__at_exit(void)
{
    ch_log_stop(CH_LOG_STOP_MS);
}

int ch_log_start(size_t buffer_bytes)
{
    static int once;
    pthread_mutex_lock(&W.mu);
    if (W.running) {
        pthread_mutex_unlock(&W.mu);
        return 0;
    }
    if (!once) {
        once = 1;
        pthread_key_create(&ch__key, ch__abandon);
        ch__q = ch_logq_create(buffer_bytes);
        ch_logq_set_wake(ch__q, ch__wake, NULL);
        ch_metrics_add_renderer(ch__render, NULL);
        atexit(ch__at_exit);
        ch_cond_init_monotonic(&W.cv);
        ch_cond_init_monotonic(&W.done_cv);
    }
    W.stop = W.kicked = W.exited = 0;
    /* The writer takes no signal: they are for the thread that waits for them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&W.thread, NULL, ch__writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_mutex_unlock(&W.mu);
        return -1;
    }
    W.running = 1;
    ch_logq_close(ch__q, 0);
    atomic_store_explicit(&ch__async, 1, memory_order_release);
    pthread_mutex_unlock(&W.mu);
    return 0;
}

int ch_log_flush(int64_t timeout_ms)
{
    pthread_mutex_lock(&W.mu);
    if (!W.running) {
        pthread_mutex_unlock(&W.mu);
        return 0;
    }
    uint64_t req = ++W.flush_req;
    pthread_cond_signal(&W.cv);
    struct timespec until = ch_mono_timespec_after(timeout_ms);
    int rc = 0;
    while (W.flush_done < req && !W.exited && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&W.done_cv, &W.mu, &until);
    int ok = W.flush_done >= req || W.exited;
    pthread_mutex_unlock(&W.mu);
    return ok ? 0 : -1;
}

int ch_log_stop(int64_t timeout_ms)
{
    pthread_mutex_lock(&ch__switch_mu);
    pthread_mutex_lock(&W.mu);
    if (!W.running) {
        pthread_mutex_unlock(&W.mu);
        pthread_mutex_unlock(&ch__switch_mu);
        return 0;
    }
    pthread_mutex_unlock(&W.mu);
    /* From here lines are written directly (after this drain: ch__switch_mu). */
    atomic_store_explicit(&ch__async, 0, memory_order_release);
    ch_logq_close(ch__q, 1);
    pthread_mutex_lock(&W.mu);
    W.stop = 1;
    pthread_cond_signal(&W.cv);
    struct timespec until = ch_mono_timespec_after(timeout_ms);
    int rc = 0;
    while (!W.exited && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&W.done_cv, &W.mu, &until);
    int exited = W.exited;
    W.running = 0;
    pthread_mutex_unlock(&W.mu);
    if (exited)
        pthread_join(W.thread, NULL);
    else
        pthread_detach(W.thread); /* stuck on a stderr nobody reads: left behind */
    pthread_mutex_unlock(&ch__switch_mu);
    return exited ? 0 : -1;
}

uint64_t ch_log_dropped(void)
{
    return ch__q ? ch_logq_dropped(ch__q) : 0;
}

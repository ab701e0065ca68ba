#include "core/watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

struct ch_watchdog {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int cancelled;
    struct timespec until; /* CLOCK_MONOTONIC */
    int64_t ms;
    void (*report)(void *arg);
    void *arg;
    _Atomic(const char *) stage;
};

static void *ch__watchdog_main(void *arg)
{
    ch_watchdog_t *w = arg;
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    while (!w->cancelled && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&w->cv, &w->mu, &w->until);
    int cancelled = w->cancelled;
    pthread_mutex_unlock(&w->mu);
    if (cancelled)
        return NULL;
    ch_log_error("shutdown: still %s after the grace of %lld ms (CHORUS_SHUTDOWN_GRACE); exiting now",
                 atomic_load(&w->stage), (long long)w->ms);
    if (w->report)
        w->report(w->arg);
    ch_log_flush(CH_LOG_FATAL_FLUSH_MS); /* best effort: stderr may be what is stuck */
    _exit(CH_WATCHDOG_EXIT_STATUS);
}

ch_watchdog_t *ch_watchdog_start(int64_t ms, void (*report)(void *arg), void *arg)
{
    ch_watchdog_t *w = ch_calloc(1, sizeof(*w));
    w->ms = ms;
    w->report = report;
    w->arg = arg;
    atomic_init(&w->stage, "stopping");
    w->until = ch_mono_timespec_after(ms);
    pthread_mutex_init(&w->mu, NULL);
    ch_cond_init_monotonic(&w->cv);
    if (pthread_create(&w->thread, NULL, ch__watchdog_main, w) != 0) {
        ch_log_error("shutdown: cannot start the watchdog thread; the stop is not bounded");
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    return w;
}

void ch_watchdog_stage(ch_watchdog_t *w, const char *stage)
{
    if (w)
        atomic_store(&w->stage, stage);
}

void ch_watchdog_cancel(ch_watchdog_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->cancelled = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

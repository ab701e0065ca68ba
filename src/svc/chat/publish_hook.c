/* A test-only hook on the publication of message.new, to make the ordering holes the gateway
 * closes (gateway/ws_order.c) happen on demand: a slow publisher, and one that died between
 * its commit and its publish. Off unless CHORUS_TEST_CHAT_PUBLISH_DELAY_MS is set; then a
 * message whose text starts with "[test:delay-publish]" is published that many ms late by a
 * thread of its own (its ordering record moved then, as its publisher would), and one whose
 * text starts with "[test:drop-publish]" is never published. Compiled in so that the tests
 * run the binary that ships. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "store/kv_multi.h"
#include "svc/chat/chat_int.h"

#define CH__HOOK_THREADS_MAX 16 /* delayed publications in a process's life; past it, published at once */
#define CH__DELAY_MARK "[test:delay-publish]"
#define CH__DROP_MARK "[test:drop-publish]"

typedef struct {
    ch_svc_t *svc;
    uint64_t *ids;
    size_t n;
    uint64_t conv;
    int64_t seq;
    json_t *msg;
} ch__delayed_t;

static pthread_once_t ch__hook_once = PTHREAD_ONCE_INIT;
static long ch__hook_delay_ms = -1; /* -1: the hook is off */
static pthread_mutex_t ch__hook_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ch__hook_cv = PTHREAD_COND_INITIALIZER;
static pthread_t ch__hook_threads[CH__HOOK_THREADS_MAX];
static unsigned ch__hook_nthreads;
static int ch__hook_stopping;

static void ch__hook_init(void)
{
    const char *v = getenv("CHORUS_TEST_CHAT_PUBLISH_DELAY_MS");
    if (v && *v) {
        long ms = strtol(v, NULL, 10);
        ch__hook_delay_ms = ms < 0 ? 0 : ms > 60000 ? 60000 : ms;
        ch_log_warn("chat: test hook on: messages marked %s are published %ld ms late, %s never", CH__DELAY_MARK,
                    ch__hook_delay_ms, CH__DROP_MARK);
    }
}

static void *ch__delayed_main(void *arg)
{
    ch__delayed_t *d = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ch__hook_delay_ms / 1000;
    until.tv_nsec += (ch__hook_delay_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ch__hook_mu);
    while (!ch__hook_stopping && pthread_cond_timedwait(&ch__hook_cv, &ch__hook_mu, &until) == 0)
        ;
    pthread_mutex_unlock(&ch__hook_mu);
    char key[48];
    snprintf(key, sizeof(key), "chat:pubseq:%llu", (unsigned long long)d->conv);
    ch__chat_publish(d->svc, d->ids, d->n, "message.new", d->msg);
    (void)ch_kv_set_max(d->svc->kv, key, d->seq, CH_CHAT_ORDER_TTL_MS, NULL);
    json_decref(d->msg);
    free(d->ids);
    free(d);
    return NULL;
}

int ch__chat_publish_hook(ch_svc_t *svc, const uint64_t *ids, size_t n, uint64_t conv, int64_t seq, json_t *msg)
{
    pthread_once(&ch__hook_once, ch__hook_init);
    if (ch__hook_delay_ms < 0)
        return 0;
    const char *text = json_string_value(json_object_get(msg, "text"));
    if (text && strncmp(text, CH__DROP_MARK, sizeof(CH__DROP_MARK) - 1) == 0)
        return 1;
    if (!text || strncmp(text, CH__DELAY_MARK, sizeof(CH__DELAY_MARK) - 1) != 0)
        return 0;
    ch__delayed_t *d = ch_calloc(1, sizeof(*d));
    *d = (ch__delayed_t){svc, ch_malloc(n * sizeof(*ids) + 1), n, conv, seq, json_incref(msg)};
    memcpy(d->ids, ids, n * sizeof(*ids));
    pthread_mutex_lock(&ch__hook_mu);
    int started = !ch__hook_stopping && ch__hook_nthreads < CH__HOOK_THREADS_MAX &&
                  pthread_create(&ch__hook_threads[ch__hook_nthreads], NULL, ch__delayed_main, d) == 0;
    if (started)
        ch__hook_nthreads++;
    pthread_mutex_unlock(&ch__hook_mu);
    if (!started) { /* published at once, as without the hook */
        json_decref(d->msg);
        free(d->ids);
        free(d);
        return 0;
    }
    return 1;
}

void ch_chat_publish_hook_stop(void)
{
    pthread_mutex_lock(&ch__hook_mu);
    ch__hook_stopping = 1;
    pthread_cond_broadcast(&ch__hook_cv);
    unsigned n = ch__hook_nthreads;
    pthread_mutex_unlock(&ch__hook_mu);
    for (unsigned i = 0; i < n; i++) /* no thread is added once stopping is set */
        pthread_join(ch__hook_threads[i], NULL);
}

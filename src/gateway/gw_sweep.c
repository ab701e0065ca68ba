/* The dead-instance presence sweep on a thread of its own: a sweep can take up to
 * CH_PRESENCE_SWEEP_BUDGET_MS per dead instance (kv and SQL per user, presence events), and on
 * the heartbeat thread it delayed this node's own liveness key, which other nodes then read as
 * dead. */
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "gateway/gw_internal.h"
#include "svc/presence/presence.h"

void *ch__gw_sweep_main(void *arg)
{
    ch_gateway_t *gw = arg;
    pthread_setname_np(pthread_self(), "ch-gw-sweep");
    pthread_mutex_lock(&gw->hb_mu);
    while (!gw->hb_stop) {
        pthread_mutex_unlock(&gw->hb_mu);
        ch_err_t e = ch_presence_sweep_dead(gw->svc, gw->instance);
        if (e != CH_OK)
            ch_log_debug("gateway: dead instances not swept (%s); next pass", ch_err_code(e));
        pthread_mutex_lock(&gw->hb_mu);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts); /* hb_cv waits on the monotonic clock */
        ts.tv_sec += CH_PRESENCE_HEARTBEAT_MS / 1000;
        ts.tv_nsec += (CH_PRESENCE_HEARTBEAT_MS % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        while (!gw->hb_stop && pthread_cond_timedwait(&gw->hb_cv, &gw->hb_mu, &ts) == 0)
            ;
    }
    pthread_mutex_unlock(&gw->hb_mu);
    return NULL;
}

/* The database's background upkeep thread (ch_db_maintainer_*): runs the driver's maintain
 * slot every maintain_interval_ms on a connection of its own, for engines that want work
 * done beside the request path (SQLite: copying the WAL back into the database file, so
 * that the copying and its fsyncs mostly happen outside the writers' commits). */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "store/db.h"

struct ch_db_maintainer {
    ch_db_t *db;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t tick; /* stop was asked */
    int stopping;
};

static void *ch__maintainer_main(void *arg)
{
    ch_db_maintainer_t *m = arg;
    const ch_db_driver_t *d = ch__db_driver(m->db);
    ch_db_conn_t *conn = NULL;
    pthread_setname_np(pthread_self(), "ch-db-upkeep");
    pthread_mutex_lock(&m->mu);
    while (!m->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)d->maintain_interval_ms * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&m->tick, &m->mu, &until);
        if (m->stopping)
            break;
        pthread_mutex_unlock(&m->mu);
        if (conn || ch_db_acquire(m->db, &conn) == CH_OK) {
            if (d->maintain(conn) != CH_OK) { /* start again on a fresh connection */
                ch_db_release(m->db, conn);
                conn = NULL;
            }
        }
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    ch_db_release(m->db, conn);
    return NULL;
}

ch_db_maintainer_t *ch_db_maintainer_start(ch_db_t *db)
{
    if (!ch__db_driver(db)->maintain)
        return NULL;
    ch_db_maintainer_t *m = ch_calloc(1, sizeof(*m));
    if (!m) {
        ch_log_warn("db: cannot start the upkeep thread: out of memory");
        return NULL;
    }
    m->db = db;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->tick, NULL);
    if (pthread_create(&m->thread, NULL, ch__maintainer_main, m) != 0) {
        ch_log_warn("db: cannot start the upkeep thread");
        pthread_cond_destroy(&m->tick);
        pthread_mutex_destroy(&m->mu);
        free(m);
        return NULL;
    }
    return m;
}

void ch_db_maintainer_stop(ch_db_maintainer_t *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->stopping = 1;
    pthread_cond_signal(&m->tick);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    pthread_cond_destroy(&m->tick);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* Fan-out benchmark driver (bench/fanout/run.sh runs it; docs/benchmarks.md, "Fan-out").
 *
 * Creates `users` home timelines through store/timeline.h (the in-process driver, or the
 * Redis one with --redis URL), then fans `posts` posts out to all of them the way the fan-out
 * worker does: ch_timeline_push_many in batches of CH_TIMELINE_BATCH_MAX followers. Prints
 * one line of key=value figures:
 *   inserts_per_s   timeline inserts per second (users x posts / elapsed), all threads
 *   threads         pushing threads (each takes every post for its own slice of users)
 *   entries bytes bytes_per_entry   in-process only, after the run (timelines kept full)
 *   redis_cpu_us_per_insert   with --info-port: CPU time (user + sys) the Redis server spent
 *                   per insert during the timed run (INFO cpu before and after): what an
 *                   insert costs Redis, whatever the load of the machine does to latency
 * Usage: bench_fanout [--redis URL [--info-port PORT]] [--users N] [--posts N] [--threads N] [--fill]
 *   --fill first fills every timeline to CH_TIMELINE_MAX_ENTRIES (steady state: every insert
 *   also drops the oldest entry), as a long-running server has them. */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "store/timeline.h"
#include "store/timeline_mem.h"

typedef struct {
    ch_timeline_t *tl;
    uint64_t first_user, nusers, first_item, posts;
    int failed;
} ch__bench_slice_t;

static void *ch__bench_pusher(void *arg)
{
    ch__bench_slice_t *s = arg;
    uint64_t users[CH_TIMELINE_BATCH_MAX];
    for (uint64_t p = 0; p < s->posts; p++) {
        ch_timeline_entry_t e = {.item_id = s->first_item + p, .author_id = 7 + p % 1000, .type = 0};
        for (uint64_t off = 0; off < s->nusers; off += CH_TIMELINE_BATCH_MAX) {
            size_t n = s->nusers - off < CH_TIMELINE_BATCH_MAX ? s->nusers - off : CH_TIMELINE_BATCH_MAX;
            for (size_t i = 0; i < n; i++)
                users[i] = s->first_user + off + i;
            size_t pushed = 0;
            if (ch_timeline_push_many(s->tl, users, n, &e, &pushed) != CH_OK || pushed != n) {
                s->failed = 1;
                return NULL;
            }
        }
    }
    return NULL;
}

/* Pushes posts items (ids from first_item) to users [1, users] with threads threads; returns
 * the elapsed ns, 0 on failure. */
static uint64_t ch__bench_run(ch_timeline_t *tl, uint64_t users, uint64_t posts, uint64_t first_item, int threads)
{
    pthread_t th[64];
    ch__bench_slice_t sl[64];
    uint64_t per = users / (uint64_t)threads;
    uint64_t t0 = ch_mono_ns();
    for (int t = 0; t < threads; t++) {
        sl[t] = (ch__bench_slice_t){.tl = tl,
                                    .first_user = 1 + per * (uint64_t)t,
                                    .nusers = t == threads - 1 ? users - per * (uint64_t)t : per,
                                    .first_item = first_item,
                                    .posts = posts};
        if (pthread_create(&th[t], NULL, ch__bench_pusher, &sl[t]) != 0)
            return 0;
    }
    int failed = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        failed |= sl[t].failed;
    }
    uint64_t dt = ch_mono_ns() - t0;
    return failed ? 0 : (dt ? dt : 1);
}

/* used_cpu_sys + used_cpu_user of the Redis on 127.0.0.1:port, seconds; -1 on failure. */
static double ch__bench_redis_cpu(int port)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    double cpu = -1;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "INFO cpu");
        const char *s, *u;
        if (r && r->type == REDIS_REPLY_STRING && (s = strstr(r->str, "used_cpu_sys:")) &&
            (u = strstr(r->str, "used_cpu_user:")))
            cpu = strtod(s + strlen("used_cpu_sys:"), NULL) + strtod(u + strlen("used_cpu_user:"), NULL);
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return cpu;
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    uint64_t users = 100000, posts = 50;
    int threads = 1, fill = 0, info_port = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--redis") && i + 1 < argc)
            url = argv[++i];
        else if (!strcmp(argv[i], "--users") && i + 1 < argc)
            users = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--posts") && i + 1 < argc)
            posts = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--info-port") && i + 1 < argc)
            info_port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--fill"))
            fill = 1;
        else {
            fprintf(stderr, "usage: %s [--redis URL [--info-port PORT]] [--users N] [--posts N] [--threads N] [--fill]\n",
                    argv[0]);
            return 2;
        }
    }
    if (users == 0 || posts == 0 || threads < 1 || threads > 64 || (uint64_t)threads > users) {
        fprintf(stderr, "bench_fanout: bad --users/--posts/--threads\n");
        return 2;
    }
    ch_timeline_t *tl;
    char err[256];
    if (ch_timeline_open(url, &tl, err, sizeof(err)) != CH_OK) {
        fprintf(stderr, "bench_fanout: %s\n", err);
        return 1;
    }
    ch_timeline_set_max_memory(tl, 0); /* measure inserts, not evictions */

    /* Every user reads the feed: all timelines exist. */
    ch_timeline_meta_t meta = {.last_read_ms = ch_now_ms(), .read_rate = 1};
    for (uint64_t u = 1; u <= users; u++) {
        if (ch_timeline_replace(tl, u, NULL, 0, &meta) != CH_OK) {
            fprintf(stderr, "bench_fanout: replace failed (is Redis up?)\n");
            ch_timeline_close(tl);
            return 1;
        }
    }
    uint64_t next_item = 1000;
    if (fill) {
        if (!ch__bench_run(tl, users, CH_TIMELINE_MAX_ENTRIES, next_item, threads)) {
            fprintf(stderr, "bench_fanout: fill failed\n");
            ch_timeline_close(tl);
            return 1;
        }
        next_item += CH_TIMELINE_MAX_ENTRIES;
    }
    double cpu0 = info_port ? ch__bench_redis_cpu(info_port) : 0;
    uint64_t ns = ch__bench_run(tl, users, posts, next_item, threads);
    double cpu1 = info_port ? ch__bench_redis_cpu(info_port) : 0;
    if (!ns) {
        fprintf(stderr, "bench_fanout: a push failed\n");
        ch_timeline_close(tl);
        return 1;
    }
    printf("driver=%s users=%llu posts=%llu threads=%d fill=%d inserts_per_s=%.0f", ch_timeline_kind(tl),
           (unsigned long long)users, (unsigned long long)posts, threads, fill,
           (double)users * (double)posts * 1e9 / (double)ns);
    if (!url) {
        ch_timeline_mem_stats_t st;
        ch__timeline_mem_stats(ch__timeline_impl(tl), &st);
        printf(" entries=%zu bytes=%zu bytes_per_entry=%.2f", st.entries, st.bytes,
               st.entries ? (double)st.bytes / (double)st.entries : 0.0);
    }
    if (info_port && cpu0 >= 0 && cpu1 >= 0)
        printf(" redis_cpu_us_per_insert=%.3f", (cpu1 - cpu0) * 1e6 / ((double)users * (double)posts));
    printf("\n");
    ch_timeline_close(tl);
    return 0;
}

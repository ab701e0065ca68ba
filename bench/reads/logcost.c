/* What one access-log line costs the thread that logs it (bench/reads/run.sh runs this):
 * ch_log_request N times with stderr a pipe that another thread drains (a log collector),
 * first written directly (one write(2) per line, as before ch_log_start), then through the
 * log writer thread (core/log.h). Prints ns per line on the logging thread (wall time over
 * N lines, paced: see ch__run) and lines dropped. Usage: bench_logcost [N] (200000) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

static int ch__rfd;

static void *ch__collector(void *arg)
{
    (void)arg;
    static char buf[1 << 16];
    while (read(ch__rfd, buf, sizeof(buf)) > 0) {
    }
    return NULL;
}

/* n lines in bursts of CH__BURST with a 1 ms pause between (at most ~100,000 lines/s, the
 * order of one busy loop thread, which a collector keeps up with); only the time inside the
 * bursts counts. Returns ns per line. */
#define CH__BURST 100
static double ch__run(long n)
{
    uint64_t spent = 0;
    for (long i = 0; i < n; i += CH__BURST) {
        uint64_t t0 = ch_mono_ns();
        for (long j = 0; j < CH__BURST; j++)
            ch_log_request("0560a31fd0000032", "GET", "/v1/users/{id}", 200, 0.123, 255216619771396096ULL);
        spent += ch_mono_ns() - t0;
        usleep(1000);
    }
    return (double)spent / (double)n;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    int fds[2], out = dup(STDERR_FILENO);
    if (n <= 0 || out < 0 || pipe(fds) != 0)
        return 2;
    ch__rfd = fds[0];
    pthread_t th;
    pthread_create(&th, NULL, ch__collector, NULL);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    ch__run(n / 10); /* warm-up */
    double direct = ch__run(n);
    ch_log_start(CH_LOG_BUFFER_DEFAULT);
    ch__run(n / 10);
    double buffered = ch__run(n);
    ch_log_stop(CH_LOG_STOP_MS);
    uint64_t dropped = ch_log_dropped();
    dup2(out, STDERR_FILENO); /* the collector sees EOF */
    close(out);
    pthread_join(th, NULL);
    printf("access-log line on the logging thread: %.0f ns direct (write(2) to a pipe), %.0f ns buffered "
           "(writer thread); %llu of %ld buffered lines dropped\n",
           direct, buffered, (unsigned long long)dropped, n + n / 10);
    return 0;
}

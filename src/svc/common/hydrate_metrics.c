/* chorus_hydrate_facts_total{kind, source}: facts the hydration layer read from its cache or
 * from the database (lock-free counters, rendered with the other metrics). */
#include <stdatomic.h>

#include "core/metrics.h"
#include "svc/common/hydrate_fetch.h"

static _Atomic uint64_t ch__counts[CH_HKIND_COUNT][2];
static atomic_int ch__renderer_added;
static const char *const ch__kinds[CH_HKIND_COUNT] = {"item", "user", "rel", "viewer"};

static void ch__render(ch_buf_t *out, void *arg)
{
    (void)arg;
    ch_buf_printf(out, "# HELP chorus_hydrate_facts_total Facts the hydration layer read: item records, user "
                       "summaries, relations and viewer states, from its cache or from the database.\n"
                       "# TYPE chorus_hydrate_facts_total counter\n");
    for (int k = 0; k < CH_HKIND_COUNT; k++)
        for (int s = 0; s < 2; s++)
            ch_buf_printf(out, "chorus_hydrate_facts_total{kind=\"%s\",source=\"%s\"} %llu\n", ch__kinds[k],
                          s ? "db" : "cache", (unsigned long long)atomic_load(&ch__counts[k][s]));
}

void ch__hydrate_metric(int kind, int from_db, uint64_t n)
{
    if (!atomic_exchange(&ch__renderer_added, 1))
        ch_metrics_add_renderer(ch__render, NULL);
    if (kind >= 0 && kind < CH_HKIND_COUNT && n)
        atomic_fetch_add(&ch__counts[kind][from_db ? 1 : 0], n);
}

/* Health, readiness and metrics. */
#include <stdio.h>

#include "core/buf.h"
#include "core/metrics.h"
#include "http/handlers.h"
#include "store/timeline.h"
#include "svc/health/health.h"

ch_err_t ch_h_healthz(ch_call_t *call)
{
    return ch_call_reply(call, 200, json_pack("{s:s}", "status", "ok"));
}

static const char *ch__check_name(ch_check_state_t st)
{
    switch (st) {
    case CH_CHECK_OK: return "ok";
    case CH_CHECK_UNWRITABLE: return "unwritable";
    case CH_CHECK_MIGRATING: return "migrating";
    default: return "unavailable"; /* no result yet counts as not answering */
    }
}

/* Why a backend is not ok, for the problem detail: "postgres is not answering". */
static void ch__why(char *out, size_t len, const char *kind, ch_check_result_t r)
{
    if (r.timed_out)
        snprintf(out, len, "%s did not answer within %d ms", kind, CH_HEALTH_DEADLINE_MS);
    else if (r.state == CH_CHECK_UNWRITABLE)
        snprintf(out, len, "%s answers but cannot write", kind);
    else
        snprintf(out, len, "%s is not answering", kind);
}

/* Reads what the background checks (svc/health) last found: runs on the loop, never waits
 * on a backend. Only the database decides readiness; the kv store and ClickHouse away make
 * the replica degraded (200), so that a shared outage does not empty the load balancer. */
ch_err_t ch_h_readyz(ch_call_t *call)
{
    ch_health_report_t r;
    ch_health_report(call->svc->health, &r);
    json_t *checks = json_pack("{s:s, s:s}", "db", ch__check_name(r.db.state), "kv", ch__check_name(r.kv.state));
    if (r.has_clickhouse)
        json_object_set_new(checks, "clickhouse", json_string(ch__check_name(r.clickhouse.state)));
    int others_ok = r.kv.state == CH_CHECK_OK && (!r.has_clickhouse || r.clickhouse.state == CH_CHECK_OK);
    if (r.serving && r.db.state == CH_CHECK_OK)
        return ch_call_reply(call, 200,
                             json_pack("{s:s, s:o}", "status", others_ok ? "ready" : "degraded", "checks", checks));
    call->problem_extra = json_pack("{s:o}", "checks", checks);
    const char *db_kind = ch_db_kind(call->svc->db);
    char why[128] = "";
    if (!r.serving)
        snprintf(why, sizeof(why), "starting: %s (%s)",
                 r.db.state == CH_CHECK_MIGRATING ? "applying database migrations" : "waiting for the database",
                 db_kind);
    else
        ch__why(why, sizeof(why), db_kind, r.db);
    char kv_why[96] = "";
    if (r.kv.state != CH_CHECK_OK)
        ch__why(kv_why, sizeof(kv_why), ch_kv_kind(call->svc->kv), r.kv);
    return ch_fault(&call->fault, CH_EUNAVAILABLE, NULL, "%s%s%s", why, kv_why[0] ? "; " : "", kv_why);
}

ch_err_t ch_h_metrics(ch_call_t *call)
{
    ch_buf_t buf = CH_BUF_INIT;
    ch_metrics_render(&buf);
    ch_kv_render_metrics(call->svc->kv, &buf);
    ch_timeline_render_metrics(call->svc->timelines, &buf);
    call->raw_out = buf.data; /* ownership moves to the call */
    call->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return CH_OK;
}

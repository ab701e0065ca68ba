/* Health, readiness and metrics. */
#include "core/buf.h"
#include "core/metrics.h"
#include "http/handlers.h"
#include "store/clickhouse.h"

ch_err_t ch_h_healthz(ch_call_t *call)
{
    return ch_call_reply(call, 200, json_pack("{s:s}", "status", "ok"));
}

ch_err_t ch_h_readyz(ch_call_t *call)
{
    ch_err_t db = ch_db_ping(call->svc->db), kv = ch_kv_ping(call->svc->kv);
    /* Answering is not enough: a database that cannot write (disk full) is not ready. */
    ch_err_t db_write = db ? db : ch_db_probe_write(call->svc->db);
    json_t *checks = json_pack("{s:s, s:s}", "db", db ? "unavailable" : db_write ? "unwritable" : "ok", "kv",
                               kv ? "unavailable" : "ok");
    /* ClickHouse is reported, not required: events wait in the database while it is away. */
    if (call->svc->cfg->clickhouse_url[0])
        json_object_set_new(checks, "clickhouse",
                            json_string(ch_clickhouse_ping(call->svc->cfg->clickhouse_url, 1000) ? "unavailable" : "ok"));
    if (db_write == CH_OK && kv == CH_OK)
        return ch_call_reply(call, 200, json_pack("{s:s, s:o}", "status", "ready", "checks", checks));
    call->problem_extra = json_pack("{s:o}", "checks", checks);
    const char *db_why = db ? " is not answering" : db_write ? " cannot write" : "";
    return ch_fault(&call->fault, CH_EUNAVAILABLE, NULL, "%s%s%s%s%s", db_write ? ch_db_kind(call->svc->db) : "",
                    db_why, db_write && kv ? "; " : "", kv ? ch_kv_kind(call->svc->kv) : "",
                    kv ? " is not answering" : "");
}

ch_err_t ch_h_metrics(ch_call_t *call)
{
    ch_buf_t buf = CH_BUF_INIT;
    ch_metrics_render(&buf);
    ch_kv_render_metrics(call->svc->kv, &buf);
    call->raw_out = buf.data; /* ownership moves to the call */
    call->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return CH_OK;
}

/* Notifications and the internal signal views over HTTP: parse the query or body, call
 * svc/engage/notify.h or signals.h. */
#include "http/h_notify.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/id.h"
#include "svc/engage/notify.h"
#include "svc/engage/signals.h"
#include "svc/engage/target.h"

/* ---- notifications ---------------------------------------------------------------------- */

ch_err_t ch_h_notifications_list(ch_call_t *call)
{
    int limit;
    uint64_t before;
    ch_err_t err = ch_call_page(call, &limit, &before);
    if (err == CH_OK)
        err = ch_notify_list(call->svc, call->user_id, limit, before, &call->raw_out, &call->fault);
    return err;
}

ch_err_t ch_h_notifications_read(ch_call_t *call)
{
    uint64_t up_to = 0;
    json_t *v = json_object_get(call->json, "up_to_id");
    if (v && !json_is_null(v)) {
        up_to = json_is_string(v) ? ch_id_parse(json_string_value(v)) : 0;
        if (!up_to || up_to > INT64_MAX)
            return ch_fault(&call->fault, CH_EINVAL, "up_to_id", "up_to_id must be a notification id (a string of digits)");
    }
    ch_err_t err = ch_notify_mark_read(call->svc, call->user_id, up_to);
    return err ? err : ch_call_reply(call, 204, NULL);
}

ch_err_t ch_h_notifications_unread_count(ch_call_t *call)
{
    int64_t n = 0;
    ch_err_t err = ch_notify_unread_count(call->svc, call->user_id, &n);
    return err ? err : ch_call_reply(call, 200, json_pack("{s:I}", "count", (json_int_t)n));
}

/* ---- internal: signals ----------------------------------------------------------------- */

/* Parses an RFC 3339 time ("2026-05-01T12:00:00Z", fraction and ±hh:mm offset allowed)
 * into unix ms; -1 when it is not one. */
static int64_t ch__parse_time(const char *s)
{
    struct tm tm = {0};
    int n = 0, ms = 0, digits = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &n) != 6 || n != 19)
        return -1;
    const char *p = s + n;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        if (!digits)
            return -1;
        for (int d = digits; d < 3; d++)
            ms *= 10;
    }
    int offset_min = 0;
    if (*p == '+' || *p == '-') {
        int hh, mm, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &k) != 2 || k != 5 || hh > 23 || mm > 59)
            return -1;
        offset_min = (*p == '-' ? -1 : 1) * (hh * 60 + mm);
        p += 6;
    } else if (*p == 'Z' || *p == 'z') {
        p++;
    } else {
        return -1;
    }
    if (*p || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1970 || tm.tm_year > 9999)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return (int64_t)t * 1000 + ms - (int64_t)offset_min * 60000;
}

/* ?at= (default now); a time before now reads as now: scores only decay forward. */
static ch_err_t ch__at(ch_call_t *call, int64_t *at)
{
    char buf[64];
    const char *v = ch_call_query(call, "at", buf, sizeof(buf));
    int64_t now = ch_now_ms();
    *at = v ? ch__parse_time(v) : now;
    if (*at < 0)
        return ch_fault(&call->fault, CH_EINVAL, "at", "at must be an RFC 3339 time, e.g. 2026-05-01T12:00:00Z");
    if (*at < now)
        *at = now;
    return CH_OK;
}

/* A required id in query parameter name; 422 naming it when missing or bad. */
static ch_err_t ch__query_id(ch_call_t *call, const char *name, uint64_t *id)
{
    char buf[32];
    const char *v = ch_call_query(call, name, buf, sizeof(buf));
    *id = v ? ch_id_parse(v) : 0;
    if (!*id || *id > INT64_MAX)
        return ch_fault(&call->fault, CH_EINVAL, name, "%s must be an id (a string of digits)", name);
    return CH_OK;
}

ch_err_t ch_h_signals_affinity(ch_call_t *call)
{
    uint64_t viewer, author;
    int64_t at;
    double score = 0;
    ch_err_t err = ch__query_id(call, "viewer", &viewer);
    if (err == CH_OK)
        err = ch__query_id(call, "author", &author);
    if (err == CH_OK)
        err = ch__at(call, &at);
    if (err == CH_OK && viewer != call->user_id)
        err = ch_fault(&call->fault, CH_EFORBIDDEN, "viewer", "only your own affinity (viewer = you) is shown");
    if (err == CH_OK)
        err = ch_signals_affinity_at(call->svc, viewer, author, at, &score);
    if (err)
        return err;
    char vid[CH_ID_STR_LEN], aid[CH_ID_STR_LEN], when[CH_RFC3339_LEN];
    ch_format_rfc3339(at, when);
    return ch_call_reply(call, 200,
                         json_pack("{s:s, s:s, s:f, s:s, s:f}", "viewer_id", ch_id_format(viewer, vid), "author_id",
                                   ch_id_format(author, aid), "affinity", score, "at", when, "half_life_hours",
                                   (double)CH_SIGNALS_AFFINITY_HALF_LIFE_MS / 3600000.0));
}

ch_err_t ch_h_signals_velocity(ch_call_t *call)
{
    char buf[32];
    const char *type_name = ch_call_query(call, "type", buf, sizeof(buf));
    int type = type_name ? ch_target_from_name(type_name) : -1;
    uint64_t id;
    int64_t at;
    double velocity = 0;
    ch_target_t target;
    ch_err_t err = type < 0 ? ch_fault(&call->fault, CH_EINVAL, "type",
                                       "type must be one of post, reel, story, comment, livestream, listing")
                            : CH_OK;
    if (err == CH_OK)
        err = ch__query_id(call, "id", &id);
    if (err == CH_OK)
        err = ch__at(call, &at);
    if (err == CH_OK) /* only for an item the caller may see */
        err = ch_target_resolve(call->svc, NULL, call->user_id, (ch_target_type_t)type, id, &target, &call->fault);
    if (err == CH_OK)
        err = ch_signals_velocity_at(call->svc, (ch_target_type_t)type, id, at, &velocity);
    if (err)
        return err;
    char tid[CH_ID_STR_LEN], when[CH_RFC3339_LEN];
    ch_format_rfc3339(at, when);
    return ch_call_reply(call, 200,
                         json_pack("{s:{s:s, s:s}, s:f, s:s, s:f}", "target", "type",
                                   ch_target_type_name((ch_target_type_t)type), "id", ch_id_format(id, tid),
                                   "velocity", velocity, "at", when, "half_life_hours",
                                   (double)CH_SIGNALS_VELOCITY_HALF_LIFE_MS / 3600000.0));
}

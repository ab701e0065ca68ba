#include "core/log.h"

#include "core/log_internal.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int ch__log_min = CH_LOG_INFO;
static const char *const ch__level_names[] = {"debug", "info", "warn", "error"};

void ch_log_set_level(ch_log_level_t level)
{
    atomic_store(&ch__log_min, (int)level);
}

int ch_log_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, ch__level_names[i]) == 0)
            return i;
    return -1;
}

int ch_log_enabled(ch_log_level_t level)
{
    return (int)level >= atomic_load(&ch__log_min);
}

/* Appends s to buf as the inside of a JSON string; returns the new length (clamped). */
static size_t ch__log_escape(char *buf, size_t len, size_t cap, const char *s)
{
    for (; *s && len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        } else if (c < 0x20) {
            len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
        } else {
            buf[len++] = (char)c;
        }
    }
    return len;
}

static size_t ch__log_prefix(char *buf, size_t cap, ch_log_level_t level)
{
    /* The date and time to the second, formatted once per second per thread. */
    static _Thread_local time_t tl_sec = -1;
    static _Thread_local char tl_date[64];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != tl_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(tl_date, sizeof(tl_date), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        tl_sec = ts.tv_sec;
    }
    return (size_t)snprintf(buf, cap, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\"", tl_date, ts.tv_nsec / 1000000,
                            ch__level_names[level]);
}

static void ch__log_write(char *buf, size_t len, size_t cap, int urgent)
{
    if (len > cap - 3)
        len = cap - 3;
    buf[len++] = '}';
    buf[len++] = '\n';
    ch__log_emit(buf, len, urgent);
}

void ch_log(ch_log_level_t level, const char *fmt, ...)
{
    if (!ch_log_enabled(level))
        return;
    char msg[2048], buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t len = ch__log_prefix(buf, sizeof(buf), level);
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, ",\"msg\":\"");
    len = ch__log_escape(buf, len, sizeof(buf) - 2, msg);
    buf[len++] = '"';
    ch__log_write(buf, len, sizeof(buf), level >= CH_LOG_WARN);
}

void ch_log_request(const char *request_id, const char *method, const char *route, int status,
                    double latency_ms, uint64_t user_id)
{
    if (!ch_log_enabled(CH_LOG_INFO))
        return;
    char buf[1024];
    size_t len = ch__log_prefix(buf, sizeof(buf), CH_LOG_INFO);
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, ",\"msg\":\"request\",\"request_id\":\"");
    len = ch__log_escape(buf, len, sizeof(buf) - 200, request_id);
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\",\"method\":\"");
    len = ch__log_escape(buf, len, sizeof(buf) - 200, method);
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\",\"route\":\"");
    len = ch__log_escape(buf, len, sizeof(buf) - 120, route);
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\",\"status\":%d,\"latency_ms\":%.3f", status, latency_ms);
    if (user_id)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, ",\"user_id\":\"%llu\"", (unsigned long long)user_id);
    ch__log_write(buf, len, sizeof(buf), 0);
}

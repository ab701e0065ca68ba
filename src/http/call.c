#include "http/call.h"

#include <stdlib.h>
#include <string.h>

#include "core/id.h"
#include "svc/engage/target.h"

static int ch__hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

const char *ch_call_query(const ch_call_t *call, const char *name, char *buf, size_t buflen)
{
    size_t nlen = strlen(name);
    if (buflen == 0)
        return NULL;
    for (const char *p = call->query; p && *p;) {
        size_t seg = strcspn(p, "&");
        if (seg > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t o = 0;
            for (size_t i = nlen + 1; i < seg && o + 1 < buflen; i++) {
                int hi, lo;
                if (p[i] == '+') {
                    buf[o++] = ' ';
                } else if (p[i] == '%' && i + 2 < seg && (hi = ch__hex(p[i + 1])) >= 0 &&
                           (lo = ch__hex(p[i + 2])) >= 0) {
                    buf[o++] = (char)(hi * 16 + lo);
                    i += 2;
                } else {
                    buf[o++] = p[i];
                }
            }
            buf[o] = '\0';
            return buf;
        }
        if (seg == nlen && strncmp(p, name, nlen) == 0) {
            buf[0] = '\0';
            return buf;
        }
        p += seg;
        if (*p == '&')
            p++;
    }
    return NULL;
}

ch_err_t ch_call_limit(ch_call_t *call, int *limit)
{
    char buf[16];
    const char *v = ch_call_query(call, "limit", buf, sizeof(buf));
    *limit = 20;
    if (!v)
        return CH_OK;
    if (strlen(v) >= sizeof(buf) - 1) /* possibly cut off by ch_call_query: too long anyway */
        return ch_fault(&call->fault, CH_EINVAL, "limit", "limit must be an integer from 1 to 100");
    char *end;
    long n = strtol(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || n < 1 || n > 100)
        return ch_fault(&call->fault, CH_EINVAL, "limit", "limit must be an integer from 1 to 100");
    *limit = (int)n;
    return CH_OK;
}

ch_err_t ch_call_cursor(ch_call_t *call, uint64_t *before)
{
    char buf[32];
    const char *v = ch_call_query(call, "cursor", buf, sizeof(buf));
    *before = v ? ch_id_parse(v) : 0;
    if (v && (*before == 0 || *before > INT64_MAX))
        return ch_fault(&call->fault, CH_EINVAL, "cursor", "cursor is not one this API returned");
    return CH_OK;
}

ch_err_t ch_call_page(ch_call_t *call, int *limit, uint64_t *cursor)
{
    ch_err_t err = ch_call_limit(call, limit);
    return err ? err : ch_call_cursor(call, cursor);
}

uint64_t ch_call_id_param(const ch_call_t *call, size_t i)
{
    uint64_t id = i < CH_MAX_PATH_PARAMS ? ch_id_parse(call->params[i]) : 0;
    return id <= INT64_MAX ? id : 0;
}

int ch_call_target_type(const ch_call_t *call)
{
    const char *path = call->route->path;
    char segment[32];
    if (strncmp(path, "/v1/", 4) != 0)
        return -1;
    path += 4;
    size_t len = strcspn(path, "/");
    if (len >= sizeof(segment))
        return -1;
    memcpy(segment, path, len);
    segment[len] = '\0';
    return ch_target_from_segment(segment);
}

void ch_call_reset_answer(ch_call_t *c)
{
    free(c->raw_out);
    c->raw_out = NULL;
    json_decref(c->out);
    c->out = NULL;
    json_decref(c->problem_extra);
    c->problem_extra = NULL;
    c->content_type = NULL;
    c->status = 200;
    c->replayed = 0;
}

ch_err_t ch_call_reply(ch_call_t *call, int status, json_t *body)
{
    call->status = status;
    json_decref(call->out);
    call->out = body;
    return CH_OK;
}

int ch_call_on_loop(const ch_call_t *call)
{
    return call->on_loop;
}

ch_err_t ch_call_move_to_worker(ch_call_t *call)
{
    call->move_to_worker = 1;
    return CH_EUNAVAILABLE;
}

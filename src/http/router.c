#include "http/router.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* Matches one template against a path, recording parameters. 1 on a match. */
static int ch__match_path(const char *tpl, const char *path, size_t len, ch_route_match_t *m)
{
    const char *p = path, *end = path + len;
    m->nparams = 0;
    while (*tpl) {
        if (*tpl == '{') {
            const char *close = strchr(tpl, '}');
            const char *seg_end = memchr(p, '/', (size_t)(end - p));
            if (!seg_end)
                seg_end = end;
            if (seg_end == p || m->nparams == CH_MAX_PATH_PARAMS)
                return 0;
            m->param_ptr[m->nparams] = p;
            m->param_len[m->nparams++] = (size_t)(seg_end - p);
            p = seg_end;
            tpl = close + 1;
        } else {
            if (p == end || *p != *tpl)
                return 0;
            p++;
            tpl++;
        }
    }
    return p == end;
}

/* Appends a method to an Allow list unless it is there already. */
static void ch__allow_add(char *allow, size_t cap, const char *method)
{
    size_t used = strlen(allow), n = strlen(method);
    for (const char *a = allow; *a;) {
        size_t len = strcspn(a, ",");
        if (len == n && memcmp(a, method, n) == 0)
            return;
        a += len;
        a += strspn(a, ", ");
    }
    if (used + n + 3 < cap) {
        if (used)
            strcat(allow, ", ");
        strcat(allow, method);
    }
}

void ch_router_match(const char *method, size_t method_len, const char *path, size_t path_len, ch_route_match_t *m)
{
    /* HEAD is GET without the body (RFC 9110 §9.3.2): it runs the GET route. */
    if (method_len == 4 && memcmp(method, "HEAD", 4) == 0) {
        method = "GET";
        method_len = 3;
    }
    m->route = NULL;
    m->allow[0] = '\0';
    for (size_t i = 0; i < ch_routes_count; i++) {
        const ch_route_t *r = &ch_routes[i];
        ch_route_match_t tmp;
        if (!ch__match_path(r->path, path, path_len, &tmp))
            continue;
        if (strlen(r->method) == method_len && memcmp(r->method, method, method_len) == 0) {
            *m = tmp;
            m->route = r;
            m->allow[0] = '\0';
            return;
        }
        ch__allow_add(m->allow, sizeof(m->allow), r->method);
        if (strcmp(r->method, "GET") == 0)
            ch__allow_add(m->allow, sizeof(m->allow), "HEAD");
    }
}

static int ch__hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

char *ch_router_decode_param(const char *s, size_t len)
{
    char *out = ch_malloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0') {
            free(out);
            return NULL;
        }
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int hi = i + 2 < len ? ch__hexval(s[i + 1]) : -1, lo = hi >= 0 ? ch__hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) { /* a bad escape, or a NUL */
            free(out);
            return NULL;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

#include "http/router.h"

#include <string.h>

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

void ch_router_match(const char *method, size_t method_len, const char *path, size_t path_len, ch_route_match_t *m)
{
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
        size_t used = strlen(m->allow);
        if (!strstr(m->allow, r->method) && used + strlen(r->method) + 3 < sizeof(m->allow)) {
            if (used)
                strcat(m->allow, ", ");
            strcat(m->allow, r->method);
        }
    }
}

/* Matches a request path against the route table (routes.c). Templates are literal
 * segments and {param} segments; a parameter never spans a '/'. */
#ifndef CH_HTTP_ROUTER_H
#define CH_HTTP_ROUTER_H

#include <stddef.h>

#include "http/call.h"

/** The route table and its length (routes.c). */
extern ch_route_t ch_routes[];
extern const size_t ch_routes_count;

typedef struct {
    const ch_route_t *route;                   /* NULL: see allow */
    const char *param_ptr[CH_MAX_PATH_PARAMS]; /* borrowed from the path */
    size_t param_len[CH_MAX_PATH_PARAMS];
    size_t nparams;
    char allow[64]; /* when no route: methods the path has ("" = unknown path, 404) */
} ch_route_match_t;

/** Finds the route for method + path (path without the query string). HEAD matches the GET
 * route of the path; an Allow list that has GET also has HEAD. */
void ch_router_match(const char *method, size_t method_len, const char *path, size_t path_len, ch_route_match_t *m);
/** Percent-decodes a path parameter into a new NUL-terminated string (caller frees).
 * NULL when the segment has an invalid escape (`%` without two hex digits) or a NUL
 * (raw or `%00`), which a C string would silently cut short. */
char *ch_router_decode_param(const char *s, size_t len);

#endif

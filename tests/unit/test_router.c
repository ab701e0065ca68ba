/* Router (http/router.h) over the real route table (http/routes.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/router.h"

static void match(const char *method, const char *path, ch_route_match_t *m)
{
    memset(m, 0x5A, sizeof(*m)); /* the matcher must set everything it reports */
    ch_router_match(method, strlen(method), path, strlen(path), m);
}

static void assert_param(const ch_route_match_t *m, size_t i, const char *want)
{
    assert_true(i < m->nparams);
    if (m->param_len[i] != strlen(want) || memcmp(m->param_ptr[i], want, m->param_len[i]) != 0)
        fail_msg("param %zu is '%.*s', want '%s'", i, (int)m->param_len[i], m->param_ptr[i], want);
}

static void assert_no_route(const ch_route_match_t *m, const char *allow)
{
    if (m->route)
        fail_msg("unexpected match of %s %s", m->route->method, m->route->path);
    assert_string_equal(m->allow, allow);
}

static void test_param_route(void **state)
{
    ch_route_match_t m;
    const char *path = "/v1/users/123";
    match("GET", path, &m);
    assert_non_null(m.route);
    assert_string_equal(m.route->path, "/v1/users/{id}");
    assert_string_equal(m.route->method, "GET");
    assert_int_equal(m.nparams, 1);
    assert_param(&m, 0, "123");
    assert_ptr_equal(m.param_ptr[0], path + strlen("/v1/users/")); /* borrowed from the path */
}

static void test_literal_beats_param(void **state)
{
    ch_route_match_t m;
    match("GET", "/v1/users/by-handle/alice", &m);
    assert_non_null(m.route);
    assert_string_equal(m.route->path, "/v1/users/by-handle/{handle}");
    assert_int_equal(m.nparams, 1);
    assert_param(&m, 0, "alice");
}

static void test_param_edges(void **state)
{
    ch_route_match_t m;
    match("GET", "/v1/users/", &m); /* empty parameter */
    assert_no_route(&m, "");
    match("GET", "/v1/users/1/x", &m); /* a parameter never spans '/' */
    assert_no_route(&m, "");
    match("GET", "/v1/users", &m);
    assert_no_route(&m, "");
    match("GET", "/v1/users/by-handle/", &m);
    assert_no_route(&m, "");
    match("GET", "/v1/users/by-handle/a/b", &m);
    assert_no_route(&m, "");
    match("GET", "/v1/users//1", &m);
    assert_no_route(&m, "");
}

static void test_method_not_allowed(void **state)
{
    ch_route_match_t m;
    match("PUT", "/v1/me", &m);
    assert_no_route(&m, "GET, HEAD, PATCH");
    match("DELETE", "/v1/me", &m);
    assert_no_route(&m, "GET, HEAD, PATCH");
    match("get", "/v1/me", &m); /* methods are case-sensitive */
    assert_no_route(&m, "GET, HEAD, PATCH");
    match("GE", "/v1/me", &m); /* a prefix of a method is not that method */
    assert_no_route(&m, "GET, HEAD, PATCH");
    match("GETX", "/v1/me", &m);
    assert_no_route(&m, "GET, HEAD, PATCH");
    match("GET", "/v1/me/sessions/42", &m);
    assert_no_route(&m, "DELETE");
    match("GET", "/v1/auth/login", &m);
    assert_no_route(&m, "POST");
}

static void test_head_runs_get(void **state)
{
    ch_route_match_t m;
    match("HEAD", "/v1/users/9", &m);
    assert_non_null(m.route);
    assert_string_equal(m.route->method, "GET");
    assert_string_equal(m.route->path, "/v1/users/{id}");
    assert_param(&m, 0, "9");
    match("HEAD", "/v1/auth/login", &m); /* no GET, no HEAD */
    assert_no_route(&m, "POST");
    match("head", "/v1/me", &m);
    assert_no_route(&m, "GET, HEAD, PATCH");
    match("GET", "/v1/me/sessions/42", &m); /* HEAD only where GET is */
    assert_no_route(&m, "DELETE");
}

static void assert_decoded(const char *in, const char *want)
{
    char *got = ch_router_decode_param(in, strlen(in));
    if (!want) {
        if (got)
            fail_msg("'%s' decoded to '%s', want a refusal", in, got);
        return;
    }
    if (!got)
        fail_msg("'%s' refused, want '%s'", in, want);
    assert_string_equal(got, want);
    free(got);
}

static void test_decode_param(void **state)
{
    assert_decoded("abc", "abc");
    assert_decoded("a%20b", "a b");
    assert_decoded("%41%6a%6A", "Ajj");
    assert_decoded("%C3%A9", "\xc3\xa9");
    assert_decoded("12%00", NULL); /* NUL would cut the C string short */
    assert_decoded("%00", NULL);
    assert_decoded("12%zz", NULL);
    assert_decoded("12%4", NULL);
    assert_decoded("12%", NULL);
    assert_decoded("%g0", NULL);
    assert_decoded("%0g", NULL);
    char raw_nul[] = {'1', '\0', '2'};
    assert_null(ch_router_decode_param(raw_nul, sizeof(raw_nul)));
}

static void test_unknown_paths(void **state)
{
    ch_route_match_t m;
    match("GET", "/nope", &m);
    assert_no_route(&m, "");
    match("GET", "/", &m);
    assert_no_route(&m, "");
    match("GET", "", &m);
    assert_no_route(&m, "");
    match("GET", "/v1/me/", &m); /* trailing slash */
    assert_no_route(&m, "");
    match("PATCH", "/v1/me/", &m);
    assert_no_route(&m, "");
    match("GET", "/v1/mex", &m);
    assert_no_route(&m, "");
    match("GET", "/V1/ME", &m);
    assert_no_route(&m, "");
    match("GET", "/healthz/", &m);
    assert_no_route(&m, "");
}

static void test_exact_matches(void **state)
{
    ch_route_match_t m;
    match("GET", "/v1/me", &m);
    assert_non_null(m.route);
    assert_string_equal(m.route->method, "GET");
    assert_string_equal(m.route->path, "/v1/me");
    assert_int_equal(m.nparams, 0);
    match("PATCH", "/v1/me", &m);
    assert_non_null(m.route);
    assert_string_equal(m.route->method, "PATCH");
    assert_string_equal(m.route->path, "/v1/me");
    match("DELETE", "/v1/me/sessions/42", &m);
    assert_non_null(m.route);
    assert_string_equal(m.route->path, "/v1/me/sessions/{id}");
    assert_param(&m, 0, "42");
}

static void test_lengths_are_honoured(void **state)
{
    /* The path comes with a length (the query string is after it); the method too. */
    ch_route_match_t m;
    const char *full = "/v1/users/77?limit=5";
    ch_router_match("GET", 3, full, strlen("/v1/users/77"), &m);
    assert_non_null(m.route);
    assert_string_equal(m.route->path, "/v1/users/{id}");
    assert_param(&m, 0, "77");

    ch_router_match("GET", 3, "/v1/me/sessions", strlen("/v1/me"), &m);
    assert_non_null(m.route);
    assert_string_equal(m.route->path, "/v1/me");

    ch_router_match("PATCHX", 5, "/v1/me", 6, &m);
    assert_non_null(m.route);
    assert_string_equal(m.route->method, "PATCH");
}

static void test_every_route_reachable(void **state)
{
    /* Each template, with its parameters filled in, finds exactly its own route: no entry
     * is shadowed by an earlier one. */
    assert_true(ch_routes_count > 0);
    for (size_t i = 0; i < ch_routes_count; i++) {
        const ch_route_t *r = &ch_routes[i];
        char path[256];
        size_t o = 0;
        for (const char *t = r->path; *t && o + 8 < sizeof(path);) {
            if (*t == '{') {
                memcpy(path + o, "p1", 2);
                o += 2;
                t = strchr(t, '}') + 1;
            } else {
                path[o++] = *t++;
            }
        }
        path[o] = '\0';
        ch_route_match_t m;
        match(r->method, path, &m);
        if (m.route != r)
            fail_msg("%s %s does not reach its route", r->method, path);
        assert_non_null(r->handler);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_route),
        cmocka_unit_test(test_literal_beats_param),
        cmocka_unit_test(test_param_edges),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_head_runs_get),
        cmocka_unit_test(test_decode_param),
        cmocka_unit_test(test_unknown_paths),
        cmocka_unit_test(test_exact_matches),
        cmocka_unit_test(test_lengths_are_honoured),
        cmocka_unit_test(test_every_route_reachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

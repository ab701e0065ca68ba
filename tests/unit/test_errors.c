/* Error table (core/err.h): every code has a status and a stable lower_snake code, the
 * mapping the API documents, out-of-range values, ch_fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"

static int is_lower_snake(const char *s)
{
    if (!s || !*s || *s == '_' || s[strlen(s) - 1] == '_')
        return 0;
    for (const char *p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
            return 0;
        if (p[0] == '_' && p[1] == '_')
            return 0;
    }
    return 1;
}

static void test_every_value_has_status_and_code(void **state)
{
    assert_int_equal(CH_OK, 0);
    assert_true(CH__ERR_COUNT > 10);
    for (int i = 0; i < CH__ERR_COUNT; i++) {
        ch_err_t e = (ch_err_t)i;
        int status = ch_err_status(e);
        if (status < 200 || status > 599)
            fail_msg("error %d: status %d", i, status);
        if (i != CH_OK && status < 400)
            fail_msg("error %d (%s) has non-error status %d", i, ch_err_code(e), status);
        if (!is_lower_snake(ch_err_code(e)))
            fail_msg("error %d: code '%s' is not lower_snake", i, ch_err_code(e));
        const char *title = ch_err_title(e);
        assert_non_null(title);
        assert_true(title[0] != '\0');
    }
}

static void test_codes_unique(void **state)
{
    for (int i = 0; i < CH__ERR_COUNT; i++)
        for (int j = i + 1; j < CH__ERR_COUNT; j++)
            if (strcmp(ch_err_code((ch_err_t)i), ch_err_code((ch_err_t)j)) == 0)
                fail_msg("errors %d and %d share code '%s'", i, j, ch_err_code((ch_err_t)i));
}

#define EXPECT(err, st, cd)                                  \
    do {                                                     \
        assert_int_equal(ch_err_status(err), (st));          \
        assert_string_equal(ch_err_code(err), (cd));         \
    } while (0)

static void test_api_mapping(void **state)
{
    EXPECT(CH_OK, 200, "ok");
    EXPECT(CH_EINVAL, 422, "invalid_field");
    EXPECT(CH_EMALFORMED, 400, "malformed_json");
    EXPECT(CH_EUNAUTH, 401, "unauthorized");
    EXPECT(CH_ETOKEN, 401, "invalid_token");
    EXPECT(CH_ECREDENTIALS, 401, "invalid_credentials");
    EXPECT(CH_EFORBIDDEN, 403, "forbidden");
    EXPECT(CH_ENOTFOUND, 404, "not_found");
    EXPECT(CH_EMETHOD, 405, "method_not_allowed");
    EXPECT(CH_ECONFLICT, 409, "conflict");
    EXPECT(CH_EHANDLETAKEN, 409, "handle_taken");
    EXPECT(CH_ETOOLARGE, 413, "payload_too_large");
    EXPECT(CH_EMEDIATYPE, 415, "unsupported_media_type");
    EXPECT(CH_EIDEMPOTENCYMISMATCH, 422, "idempotency_mismatch");
    EXPECT(CH_ERATELIMIT, 429, "rate_limited");
    EXPECT(CH_EINTERNAL, 500, "internal");
    EXPECT(CH_EUNAVAILABLE, 503, "unavailable");
}

static void test_out_of_range(void **state)
{
    const int bad[] = {CH__ERR_COUNT, CH__ERR_COUNT + 1, 1000, -1, INT32_MIN};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ch_err_t e = (ch_err_t)bad[i];
        assert_int_equal(ch_err_status(e), 500);
        assert_string_equal(ch_err_code(e), "internal");
        assert_non_null(ch_err_title(e));
        assert_true(ch_err_title(e)[0] != '\0');
    }
}

static void test_fault(void **state)
{
    ch_fault_t f;
    memset(&f, 0, sizeof(f));
    assert_int_equal(ch_fault(&f, CH_EINVAL, "bio", "at most %d characters", 160), CH_EINVAL);
    assert_string_equal(f.field, "bio");
    assert_string_equal(f.detail, "at most 160 characters");

    /* A second fault replaces the first. */
    assert_int_equal(ch_fault(&f, CH_ENOTFOUND, NULL, "no user %s", "42"), CH_ENOTFOUND);
    assert_null(f.field);
    assert_string_equal(f.detail, "no user 42");

    /* NULL fault: nothing written, the error still comes back. */
    assert_int_equal(ch_fault(NULL, CH_ECONFLICT, "handle", "taken %d", 1), CH_ECONFLICT);

    /* Long details are cut to the buffer, NUL-terminated. */
    char long_text[600];
    memset(long_text, 'x', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    assert_int_equal(ch_fault(&f, CH_EINVAL, "text", "%s", long_text), CH_EINVAL);
    assert_int_equal(strlen(f.detail), sizeof(f.detail) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_value_has_status_and_code),
        cmocka_unit_test(test_codes_unique),
        cmocka_unit_test(test_api_mapping),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_fault),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

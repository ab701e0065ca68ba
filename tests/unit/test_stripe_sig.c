/* Stripe webhook signatures (store/stripe_sig.c), against digests computed independently
 * with Python's hmac/hashlib: valid, several v1 where one matches, two secrets while
 * rolling, stale, future, tampered payload, wrong secret, malformed headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/stripe.h"

#define T 1700000000
#define TOL 300
static const char payload[] = "{\"id\":\"evt_1\",\"type\":\"payment_intent.succeeded\"}";
/* HMAC-SHA256("whsec_test_secret", "1700000000." payload) and the same with "whsec_other" */
#define SIG_TEST "22d8dc182f5c588077683bd378368e29765bfe5df2560112b4f28fef120f0e31"
#define SIG_OTHER "fd1bfea9611123bdabc198314fcbcdd375eb7fc1afebb5148d282d3803151dff"
#define SIG_ZERO "0000000000000000000000000000000000000000000000000000000000000000"

static const char *const secret[] = {"whsec_test_secret"};

static ch_err_t verify(const char *header, const char *const *secrets, size_t n, int64_t now)
{
    return ch_stripe_verify_signature(header, payload, strlen(payload), secrets, n, now, TOL);
}

static void test_valid(void **state)
{
    assert_int_equal(verify("t=1700000000,v1=" SIG_TEST, secret, 1, T), CH_OK);
    assert_int_equal(verify("t=1700000000, v1=" SIG_TEST " ", secret, 1, T), CH_OK); /* spaces */
    assert_int_equal(verify("t=1700000000,v1=" SIG_TEST ",v0=abc,x=1", secret, 1, T), CH_OK);
    /* upper-case hex is the same digest */
    assert_int_equal(verify("t=1700000000,v1=22D8DC182F5C588077683BD378368E29765BFE5DF2560112B4F28FEF120F0E31", secret,
                            1, T),
                     CH_OK);
}

static void test_several_v1(void **state)
{
    assert_int_equal(verify("t=1700000000,v1=" SIG_ZERO ",v1=" SIG_TEST, secret, 1, T), CH_OK);
    assert_int_equal(verify("t=1700000000,v1=" SIG_TEST ",v1=" SIG_ZERO, secret, 1, T), CH_OK);
    assert_int_equal(verify("t=1700000000,v1=" SIG_ZERO ",v1=" SIG_OTHER, secret, 1, T), CH_EUNAUTH);
    /* rolling: the receiver knows both secrets, the sender signed with the new one only */
    const char *const both[] = {"whsec_test_secret", "whsec_other"};
    assert_int_equal(verify("t=1700000000,v1=" SIG_OTHER, both, 2, T), CH_OK);
    assert_int_equal(verify("t=1700000000,v1=" SIG_TEST, both, 2, T), CH_OK);
}

static void test_tolerance_both_ways(void **state)
{
    const char *h = "t=1700000000,v1=" SIG_TEST;
    assert_int_equal(verify(h, secret, 1, T + TOL), CH_OK);
    assert_int_equal(verify(h, secret, 1, T + TOL + 1), CH_EUNAUTH); /* stale: a replay */
    assert_int_equal(verify(h, secret, 1, T - TOL), CH_OK);
    assert_int_equal(verify(h, secret, 1, T - TOL - 1), CH_EUNAUTH); /* from the future */
}

static void test_tampered_and_wrong_secret(void **state)
{
    char bad[sizeof(payload)];
    memcpy(bad, payload, sizeof(payload));
    bad[10] ^= 1;
    assert_int_equal(ch_stripe_verify_signature("t=1700000000,v1=" SIG_TEST, bad, strlen(bad), secret, 1, T, TOL),
                     CH_EUNAUTH);
    /* one byte less: the signed length matters */
    assert_int_equal(ch_stripe_verify_signature("t=1700000000,v1=" SIG_TEST, payload, strlen(payload) - 1, secret, 1,
                                                T, TOL),
                     CH_EUNAUTH);
    /* the timestamp is signed too */
    assert_int_equal(verify("t=1700000001,v1=" SIG_TEST, secret, 1, T), CH_EUNAUTH);
    const char *const wrong[] = {"whsec_wrong"};
    assert_int_equal(verify("t=1700000000,v1=" SIG_TEST, wrong, 1, T), CH_EUNAUTH);
    const char *const empty[] = {""};
    assert_int_equal(verify("t=1700000000,v1=" SIG_TEST, empty, 1, T), CH_EUNAUTH);
    assert_int_equal(verify("t=1700000000,v1=" SIG_TEST, NULL, 0, T), CH_EUNAUTH);
}

static void test_malformed(void **state)
{
    const char *bad[] = {
        "",
        "v1=" SIG_TEST,                                  /* no t */
        "t=1700000000",                                  /* no v1 */
        "t=1700000000,v0=" SIG_TEST,                     /* only v0 */
        "t=abc,v1=" SIG_TEST,                            /* t not a number */
        "t=-1700000000,v1=" SIG_TEST,                    /* negative */
        "t=,v1=" SIG_TEST,                               /* empty t */
        "t=1700000000,t=1700000000,v1=" SIG_TEST,        /* two t */
        "t=1700000000,v1=" SIG_TEST "0",                 /* 65 hex digits */
        "t=1700000000,v1=" SIG_TEST ",garbage",          /* an item without = */
        "t=1700000000,v1=zz" SIG_TEST,                   /* not hex */
        "t=1700000000;v1=" SIG_TEST,                     /* wrong separator */
        "t=99999999999999999999,v1=" SIG_TEST,           /* overflow */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("header %zu: %s\n", i, bad[i]);
        assert_int_equal(verify(bad[i], secret, 1, T), CH_EUNAUTH);
    }
    assert_int_equal(verify(NULL, secret, 1, T), CH_EUNAUTH);
    char big[5000];
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "t=1700000000,v1=" SIG_TEST, strlen("t=1700000000,v1=" SIG_TEST));
    assert_int_equal(verify(big, secret, 1, T), CH_EUNAUTH); /* longer than any real header */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_several_v1),
        cmocka_unit_test(test_tolerance_both_ways),
        cmocka_unit_test(test_tampered_and_wrong_secret),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The profile fact's codec (svc/users/profile_fact.h): one value holds the public profile and
 * the owner's extra members; both texts come back exactly, and a value that is not one
 * exactly (truncated, another kind, members that do not follow) is a miss, never a wrong
 * profile. And the "p:"/"h:" keys (svc/common/hydrate_keys.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "svc/common/hydrate_keys.h"
#include "svc/users/profile_fact.h"

static const char pub[] = "{\"id\":\"7\",\"handle\":\"ann\",\"followers_count\":3}";
static const char self[] = "{\"id\":\"7\",\"handle\":\"ann\",\"followers_count\":3,\"interests\":[\"c\"],\"region\":null}";

static void test_round_trip(void **state)
{
    (void)state;
    size_t len = 0;
    char *v = ch_profile_fact_encode(pub, strlen(pub), self, strlen(self), &len);
    assert_non_null(v);
    ch_profile_fact_t pf;
    assert_int_equal(ch_profile_fact_decode(v, len, &pf), 1);
    assert_int_equal(pf.public_len, strlen(pub));
    assert_memory_equal(pf.text, pub, strlen(pub));
    char *me = ch_profile_fact_self(&pf);
    assert_string_equal(me, self);
    free(me);
    ch_profile_fact_clear(&pf);
    assert_null(pf.text);
    free(v);
}

static void test_no_extra_members(void **state)
{
    (void)state;
    size_t len = 0;
    char *v = ch_profile_fact_encode(pub, strlen(pub), pub, strlen(pub), &len);
    assert_non_null(v);
    ch_profile_fact_t pf;
    assert_int_equal(ch_profile_fact_decode(v, len, &pf), 1);
    char *me = ch_profile_fact_self(&pf);
    assert_string_equal(me, pub);
    free(me);
    ch_profile_fact_clear(&pf);
    free(v);
}

static void test_encode_refuses_texts_that_do_not_split(void **state)
{
    (void)state;
    size_t len = 0;
    const char other[] = "{\"id\":\"8\",\"handle\":\"ann\",\"followers_count\":3,\"region\":null}";
    assert_null(ch_profile_fact_encode(pub, strlen(pub), other, strlen(other), &len));
    const char glued[] = "{\"id\":\"7\",\"handle\":\"ann\",\"followers_count\":35}"; /* same prefix, no comma */
    assert_null(ch_profile_fact_encode(pub, strlen(pub), glued, strlen(glued), &len));
    assert_null(ch_profile_fact_encode("x", 1, self, strlen(self), &len));
}

static void test_decode_refuses_what_is_not_a_fact(void **state)
{
    (void)state;
    size_t len = 0;
    char *v = ch_profile_fact_encode(pub, strlen(pub), self, strlen(self), &len);
    ch_profile_fact_t pf;
    for (size_t cut = 0; cut < strlen(pub) + 6; cut++) /* truncated inside the public text */
        assert_int_equal(ch_profile_fact_decode(v, cut, &pf), 0);
    char *bad = malloc(len);
    memcpy(bad, v, len);
    bad[0] = 'U'; /* another kind */
    assert_int_equal(ch_profile_fact_decode(bad, len, &pf), 0);
    memcpy(bad, v, len);
    bad[1] = 2; /* a version this build cannot read */
    assert_int_equal(ch_profile_fact_decode(bad, len, &pf), 0);
    memcpy(bad, v, len);
    bad[2] = (char)(bad[2] + 1); /* public length off by one: the text no longer ends with '}' */
    assert_int_equal(ch_profile_fact_decode(bad, len, &pf), 0);
    memcpy(bad, v, len);
    bad[6 + strlen(pub)] = 'x'; /* extra members not starting with a comma */
    assert_int_equal(ch_profile_fact_decode(bad, len, &pf), 0);
    assert_null(pf.text);
    free(bad);
    free(v);
}

static void test_keys(void **state)
{
    (void)state;
    ch_hkey_t k;
    assert_string_equal(ch_hkey_profile(k, 1234567890123ULL), "p:1234567890123");
    assert_string_equal(ch_hkey_handle(k, "ann_b"), "h:ann_b");
    char longest[CH_HKEY_HANDLE_MAX + 10];
    memset(longest, 'a', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    assert_int_equal(strlen(ch_hkey_handle(k, longest)), 2 + CH_HKEY_HANDLE_MAX); /* bounded */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_no_extra_members),
        cmocka_unit_test(test_encode_refuses_texts_that_do_not_split),
        cmocka_unit_test(test_decode_refuses_what_is_not_a_fact),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

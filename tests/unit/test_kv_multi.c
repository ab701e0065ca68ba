/* kv_multi.h: ch_kv_set_max only moves a record up (the chat ordering record relies on it),
 * and ch_kv_get_many reads present and missing keys in order; the in-process store, and
 * Redis too when CHORUS_TEST_REDIS_URL is set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/kv.h"
#include "store/kv_multi.h"

static void check(const char *url)
{
    ch_kv_t *kv = NULL;
    char err[128], k1[64], k2[64];
    assert_int_equal(ch_kv_open(url, &kv, err, sizeof(err)), CH_OK);
    snprintf(k1, sizeof(k1), "test:kvmulti:%d:a", (int)getpid());
    snprintf(k2, sizeof(k2), "test:kvmulti:%d:b", (int)getpid());
    int64_t now = 0;
    assert_int_equal(ch_kv_set_max(kv, k1, 5, 60000, &now), CH_OK);
    assert_int_equal(now, 5);
    assert_int_equal(ch_kv_set_max(kv, k1, 3, 60000, &now), CH_OK); /* a late, older one */
    assert_int_equal(now, 5);
    assert_int_equal(ch_kv_set_max(kv, k1, 9, 60000, &now), CH_OK);
    assert_int_equal(now, 9);
    const char *keys[] = {k1, k2};
    char *vals[2];
    assert_int_equal(ch_kv_get_many(kv, keys, 2, vals), CH_OK);
    assert_non_null(vals[0]);
    assert_string_equal(vals[0], "9");
    assert_null(vals[1]);
    free(vals[0]);
    ch_kv_del(kv, k1);
    ch_kv_close(kv);
}

static void test_in_process(void **state)
{
    (void)state;
    check(NULL);
}

static void test_redis(void **state)
{
    (void)state;
    const char *url = getenv("CHORUS_TEST_REDIS_URL");
    if (!url || !*url)
        skip();
    check(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_in_process), cmocka_unit_test(test_redis)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

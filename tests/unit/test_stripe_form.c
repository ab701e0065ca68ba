/* Stripe's form encoding (store/stripe_form.c): nesting, arrays, escaping, scalars, and the
 * refusal of what Stripe cannot read (reals: money is integers; non-objects). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/stripe.h"

/* Encodes the JSON text and compares with want (NULL: refused). */
static void check(const char *json, const char *want)
{
    json_t *v = json_loads(json, 0, NULL);
    assert_non_null(v);
    char *got = ch_stripe_form_encode(v);
    if (!want) {
        assert_null(got);
    } else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
    free(got);
    json_decref(v);
}

static void test_empty(void **state)
{
    char *got = ch_stripe_form_encode(NULL);
    assert_string_equal(got, "");
    free(got);
    check("{}", "");
}

static void test_scalars_in_order(void **state)
{
    check("{\"amount\": 2500, \"currency\": \"eur\", \"capture\": true, \"off\": false, \"neg\": -3}",
          "amount=2500&currency=eur&capture=true&off=false&neg=-3");
    check("{\"description\": null}", "description=");
}

static void test_nesting(void **state)
{
    check("{\"metadata\": {\"order_id\": \"42\", \"step\": \"charge\"}, \"transfer_data\": {\"a\": {\"b\": 1}}}",
          "metadata%5Border_id%5D=42&metadata%5Bstep%5D=charge&transfer_data%5Ba%5D%5Bb%5D=1");
}

static void test_arrays(void **state)
{
    check("{\"expand\": [\"latest_charge\", \"customer\"]}", "expand%5B0%5D=latest_charge&expand%5B1%5D=customer");
    check("{\"items\": [{\"price\": \"p1\", \"qty\": 2}, {\"price\": \"p2\"}]}",
          "items%5B0%5D%5Bprice%5D=p1&items%5B0%5D%5Bqty%5D=2&items%5B1%5D%5Bprice%5D=p2");
    check("{\"expand\": []}", "");
}

static void test_escaping(void **state)
{
    check("{\"description\": \"a b&c=d+e/f?\\u00e9%\"}", "description=a%20b%26c%3Dd%2Be%2Ff%3F%C3%A9%25");
    check("{\"metadata\": {\"k y\": \"~._-\"}}", "metadata%5Bk%20y%5D=~._-");
    /* brackets in a key: Stripe forbids them in metadata keys and would read them as nesting */
    check("{\"metadata\": {\"k y[1]\": \"x\"}}", NULL);
    check("{\"metadata\": {\"a]\": \"x\"}}", NULL);
    check("{\"a[b]\": \"x\"}", NULL);
    check("{\"a&b\": \"1\"}", "a%26b=1");
}

static void test_refusals(void **state)
{
    check("{\"amount\": 25.0}", NULL);
    check("{\"metadata\": {\"x\": [1, 2.5]}}", NULL);
    check("[1, 2]", NULL);
    check("{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":1}}}}}}}}}}", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),   cmocka_unit_test(test_scalars_in_order), cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_arrays),  cmocka_unit_test(test_escaping),         cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The marketplace's ledger (svc/market/ledger.c) and order state machine (order_state.c):
 * unbalanced transactions are refused whole, a ref posts once, balances sum to zero per
 * currency; every state/event pair follows the table of order_state.h (late and repeated
 * events are no-ops, a payment after a cancel refunds, user actions in the wrong state are
 * refused). Against a real SQLite database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "svc/market/ledger.h"
#include "svc/market/order_state.h"

#define OK(expr) assert_int_equal((expr), CH_OK)

static char dir[256];
static ch_config_t cfg;
static ch_svc_t svc;

static int setup(void **state)
{
    char url[512], errbuf[256];
    snprintf(dir, sizeof(dir), "%s/chorus-test-ledger-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    ch_log_set_level(CH_LOG_ERROR);
    if (ch_db_open(url, &svc.db, errbuf, sizeof(errbuf)) != CH_OK || ch_db_migrate(svc.db, NULL) != CH_OK)
        return -1;
    svc.cfg = &cfg;
    return 0;
}

static int teardown(void **state)
{
    char cmd[512];
    ch_db_close(svc.db);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int64_t count(const char *sql)
{
    ch_db_conn_t *conn;
    ch_db_rows_t *rows = NULL;
    OK(ch_db_acquire(svc.db, &conn));
    OK(ch_db_exec(svc.db, conn, sql, NULL, 0, &rows, NULL));
    int64_t n = ch_db_rows_int(rows, 0, 0);
    ch_db_rows_free(rows);
    ch_db_release(svc.db, conn);
    return n;
}

static ch_err_t post(const char *ref, const char *cur, const ch_ledger_entry_t *e, size_t n, int *posted)
{
    ch_db_conn_t *conn;
    OK(ch_db_acquire(svc.db, &conn));
    OK(ch_db_begin(svc.db, conn, 1));
    ch_err_t err = ch_ledger_post(&svc, conn, ref, "test", 1, cur, e, n, posted);
    if (err == CH_OK)
        OK(ch_db_commit(svc.db, conn));
    else
        ch_db_rollback(svc.db, conn);
    ch_db_release(svc.db, conn);
    return err;
}

static void test_check(void **state)
{
    ch_ledger_entry_t ok[] = {{"a", 100, NULL}, {"b", -60, NULL}, {"c", -40, NULL}};
    OK(ch_ledger_check(ok, 3));
    ch_ledger_entry_t off[] = {{"a", 100, NULL}, {"b", -99, NULL}};
    assert_int_equal(ch_ledger_check(off, 2), CH_EINVAL);
    ch_ledger_entry_t zero[] = {{"a", 0, NULL}};
    assert_int_equal(ch_ledger_check(zero, 1), CH_EINVAL);
    ch_ledger_entry_t noacct[] = {{NULL, 5, NULL}, {"b", -5, NULL}};
    assert_int_equal(ch_ledger_check(noacct, 2), CH_EINVAL);
    ch_ledger_entry_t ovf[] = {{"a", INT64_MAX, NULL}, {"b", INT64_MAX, NULL}, {"c", 2, NULL}};
    assert_int_equal(ch_ledger_check(ovf, 3), CH_EINVAL);
    ch_ledger_entry_t minv[] = {{"a", INT64_MIN, NULL}, {"b", INT64_MAX, NULL}, {"c", 1, NULL}};
    assert_int_equal(ch_ledger_check(minv, 3), CH_EINVAL);
    assert_int_equal(ch_ledger_check(ok, 0), CH_EINVAL);
}

static void test_post_and_balance(void **state)
{
    int posted = 0;
    ch_ledger_entry_t paid[] = {{CH_LEDGER_STRIPE_BALANCE, 2500, "ch_1"}, {CH_LEDGER_ESCROW, -2500, NULL}};
    OK(post("order:1:paid", "usd", paid, 2, &posted));
    assert_int_equal(posted, 1);
    /* the same movement again (a webhook delivered twice): nothing more */
    OK(post("order:1:paid", "usd", paid, 2, &posted));
    assert_int_equal(posted, 0);
    /* unbalanced: refused, nothing written */
    ch_ledger_entry_t bad[] = {{CH_LEDGER_ESCROW, 2500, NULL}, {CH_LEDGER_SELLER_PAYABLE, -2000, NULL}};
    assert_int_equal(post("order:1:bad", "usd", bad, 2, &posted), CH_EINVAL);
    assert_int_equal(count("SELECT COUNT(*) FROM ledger_transactions"), 1);
    assert_int_equal(count("SELECT COUNT(*) FROM ledger_entries"), 2);
    ch_ledger_entry_t yen[] = {{CH_LEDGER_STRIPE_BALANCE, 900, "ch_2"}, {CH_LEDGER_ESCROW, -900, NULL}};
    OK(post("order:2:paid", "jpy", yen, 2, NULL));

    json_t *b = NULL;
    OK(ch_ledger_balance(&svc, &b));
    assert_true(json_is_true(json_object_get(b, "balanced")));
    json_t *usd = json_object_get(json_object_get(b, "currencies"), "usd");
    assert_int_equal(json_integer_value(json_object_get(usd, "total")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(usd, "accounts"), CH_LEDGER_ESCROW)), -2500);
    json_t *jpy = json_object_get(json_object_get(b, "currencies"), "jpy");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(jpy, "accounts"), CH_LEDGER_STRIPE_BALANCE)),
                     900);
    json_decref(b);

    json_t *sums = NULL;
    OK(ch_ledger_stripe_sums(&svc, &sums));
    assert_int_equal(json_integer_value(json_object_get(sums, "ch_1|usd")), 2500);
    assert_int_equal(json_integer_value(json_object_get(sums, "ch_2|jpy")), 900);
    json_decref(sums);
}

#define S(x) CH_ORDER_##x
#define E(x) CH_ORDER_EV_##x

static void expect(ch_order_state_t s, ch_order_event_t ev, ch_order_verdict_t v, ch_order_state_t to)
{
    ch_order_state_t next = (ch_order_state_t)-1;
    assert_int_equal(ch_order_next(s, ev, S(SHIPPED), &next), v);
    if (v == CH_ORDER_MOVE)
        assert_int_equal(next, to);
}

static void test_state_machine(void **state)
{
    /* the happy path */
    expect(S(PENDING_PAYMENT), E(PAID), CH_ORDER_MOVE, S(PAID));
    expect(S(PAID), E(SHIP), CH_ORDER_MOVE, S(SHIPPED));
    expect(S(SHIPPED), E(CONFIRM), CH_ORDER_MOVE, S(TRANSFERRING));
    expect(S(TRANSFERRING), E(TRANSFERRED), CH_ORDER_MOVE, S(COMPLETED));
    /* repeats and late events are no-ops */
    expect(S(PAID), E(PAID), CH_ORDER_SAME, 0);
    expect(S(COMPLETED), E(PAID), CH_ORDER_SAME, 0);
    expect(S(COMPLETED), E(CONFIRM), CH_ORDER_SAME, 0);
    expect(S(PAID), E(PAY_FAILED), CH_ORDER_SAME, 0);
    expect(S(REFUNDED), E(REFUNDED), CH_ORDER_SAME, 0);
    /* a failed attempt may be paid again */
    expect(S(PENDING_PAYMENT), E(PAY_FAILED), CH_ORDER_MOVE, S(PAYMENT_FAILED));
    expect(S(PAYMENT_FAILED), E(PAID), CH_ORDER_MOVE, S(PAID));
    /* cancel: before payment nothing to give back, after it a refund, after shipping refused */
    expect(S(PENDING_PAYMENT), E(CANCEL), CH_ORDER_MOVE, S(CANCELED));
    expect(S(PAID), E(CANCEL), CH_ORDER_MOVE, S(REFUNDING));
    expect(S(SHIPPED), E(CANCEL), CH_ORDER_REFUSE, 0);
    expect(S(COMPLETED), E(CANCEL), CH_ORDER_REFUSE, 0);
    /* a payment after a cancel is refunded, never resurrected */
    expect(S(CANCELED), E(PAID), CH_ORDER_MOVE, S(REFUNDING));
    /* users in the wrong state */
    expect(S(PENDING_PAYMENT), E(SHIP), CH_ORDER_REFUSE, 0);
    expect(S(PAID), E(CONFIRM), CH_ORDER_REFUSE, 0);
    /* admin refund, also after the transfer */
    expect(S(COMPLETED), E(REFUND), CH_ORDER_MOVE, S(REFUNDING));
    expect(S(TRANSFERRING), E(REFUND), CH_ORDER_MOVE, S(REFUNDING)); /* a late transfer is reversed */
    expect(S(REFUNDING), E(REFUNDED), CH_ORDER_MOVE, S(REFUNDED));
    /* disputes */
    expect(S(TRANSFERRING), E(DISPUTE_OPENED), CH_ORDER_MOVE, S(DISPUTED));
    expect(S(PENDING_PAYMENT), E(DISPUTE_OPENED), CH_ORDER_SAME, 0);
    /* a dispute after a refund is recorded too (Stripe withdraws the money all the same) */
    expect(S(REFUNDING), E(DISPUTE_OPENED), CH_ORDER_MOVE, S(DISPUTED));
    expect(S(REFUNDED), E(DISPUTE_OPENED), CH_ORDER_MOVE, S(DISPUTED));
    {
        ch_order_state_t next = (ch_order_state_t)-1;
        assert_int_equal(ch_order_next(S(DISPUTED), E(DISPUTE_WON), S(REFUNDED), &next), CH_ORDER_MOVE);
        assert_int_equal(next, S(REFUNDED));
    }
    assert_int_equal(ch_order_transfer_unwanted(S(REFUNDING)), 1);
    assert_int_equal(ch_order_transfer_unwanted(S(DISPUTE_LOST)), 1);
    assert_int_equal(ch_order_transfer_unwanted(S(TRANSFERRING)), 0);
    expect(S(DISPUTED), E(DISPUTE_WON), CH_ORDER_MOVE, S(SHIPPED)); /* back to prev */
    expect(S(DISPUTED), E(DISPUTE_LOST), CH_ORDER_MOVE, S(DISPUTE_LOST));
    expect(S(DISPUTE_LOST), E(DISPUTE_WON), CH_ORDER_SAME, 0);
    expect(S(DISPUTED), E(PAID), CH_ORDER_SAME, 0);
    /* names */
    for (int s = 0; s < CH__ORDER_STATE_COUNT; s++)
        assert_int_equal(ch_order_state_parse(ch_order_state_name((ch_order_state_t)s)), s);
    assert_int_equal(ch_order_state_parse("nope"), -1);
    assert_int_equal(ch_order_holds_listing(S(REFUNDING)), 0);
    assert_int_equal(ch_order_holds_listing(S(SHIPPED)), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_post_and_balance),
        cmocka_unit_test(test_state_machine),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

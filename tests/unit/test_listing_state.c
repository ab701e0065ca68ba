/* The state moves orders make on listings (svc/market/listings.h) against a real SQLite
 * database: each a compare-and-set on (state, order_id) on the caller's transaction —
 * repeats are CH_OK and change nothing, moves the state forbids are CH_ECONFLICT and change
 * nothing, a rollback of the caller's transaction undoes the move — and the currency table
 * (zero- and three-decimal currencies). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "svc/common/sql.h"
#include "svc/market/currency.h"
#include "svc/market/listings.h"

#define OK(expr) assert_int_equal((expr), CH_OK)

static char dir[256];
static ch_config_t cfg;
static ch_svc_t svc;
static uint64_t next_id = 100;

static int setup(void **state)
{
    char url[512], errbuf[256];
    snprintf(dir, sizeof(dir), "%s/chorus-test-listing-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    ch_log_set_level(CH_LOG_ERROR);
    if (ch_db_open(url, &svc.db, errbuf, sizeof(errbuf)) != CH_OK || ch_db_migrate(svc.db, NULL) != CH_OK)
        return -1;
    svc.cfg = &cfg;
    return ch_sql_run(&svc,
                      "INSERT INTO users(id, handle, password_hash, display_name, created_at, updated_at)"
                      " VALUES(1, 'seller', 'x', 'Seller', 0, 0)",
                      NULL, 0, NULL, NULL) == CH_OK ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[512];
    ch_db_close(svc.db);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A new active listing of user 1 (1999 JPY); its id. */
static uint64_t listing(void)
{
    uint64_t id = next_id++;
    ch_db_param_t p[] = {CH_DB_P_INT(id)};
    OK(ch_sql_run(&svc,
                  "INSERT INTO listings(id, seller_id, title, price_amount, currency, category, condition, photos,"
                  " state, created_at, updated_at) VALUES($1, 1, 'Lamp', 1999, 'jpy', 'home', 'used', '[]',"
                  " 'active', 0, 0)",
                  p, 1, NULL, NULL));
    return id;
}

/* Runs fn on a write transaction that commits (commit != 0) or rolls back; fn's result. */
static ch_err_t in_tx(ch_err_t (*fn)(ch_svc_t *, ch_db_conn_t *, uint64_t, uint64_t), uint64_t id, uint64_t order,
                      int commit)
{
    ch_db_conn_t *conn;
    OK(ch_sql_begin(&svc, 1, &conn));
    ch_err_t err = fn(&svc, conn, id, order);
    /* ch_sql_end commits on CH_OK, else rolls back and hands the error back */
    ch_err_t end = ch_sql_end(&svc, conn, commit ? CH_OK : CH_ECONFLICT);
    assert_int_equal(end, commit ? CH_OK : CH_ECONFLICT);
    return err;
}

static ch_listing_order_view_t view(uint64_t id)
{
    ch_listing_order_view_t v;
    ch_db_conn_t *conn;
    OK(ch_db_acquire(svc.db, &conn));
    OK(ch_listing_load_for_order(&svc, conn, id, &v));
    ch_db_release(svc.db, conn);
    return v;
}

static void test_reserve_sell(void **state)
{
    uint64_t id = listing();
    ch_listing_order_view_t v = view(id);
    assert_int_equal(v.seller_id, 1);
    assert_int_equal(v.price_amount, 1999);
    assert_string_equal(v.currency, "jpy");
    assert_string_equal(v.title, "Lamp");
    assert_int_equal(v.state, CH_LISTING_ACTIVE);
    assert_int_equal(v.order_id, 0);

    assert_int_equal(in_tx(ch_listing_mark_sold, id, 7, 1), CH_ECONFLICT); /* not reserved */
    assert_int_equal(in_tx(ch_listing_release, id, 7, 1), CH_OK);         /* nothing to release */
    assert_int_equal(in_tx(ch_listing_reserve, id, 7, 1), CH_OK);
    assert_int_equal(in_tx(ch_listing_reserve, id, 7, 1), CH_OK);         /* a repeat */
    assert_int_equal(in_tx(ch_listing_reserve, id, 8, 1), CH_ECONFLICT);  /* another order */
    assert_int_equal(in_tx(ch_listing_release, id, 8, 1), CH_OK);         /* not 8's: no change */
    v = view(id);
    assert_int_equal(v.state, CH_LISTING_RESERVED);
    assert_int_equal(v.order_id, 7);
    assert_int_equal(in_tx(ch_listing_mark_sold, id, 8, 1), CH_ECONFLICT);
    assert_int_equal(in_tx(ch_listing_mark_sold, id, 7, 1), CH_OK);
    assert_int_equal(in_tx(ch_listing_mark_sold, id, 7, 1), CH_OK);       /* a repeat */
    assert_int_equal(in_tx(ch_listing_reserve, id, 7, 1), CH_OK);         /* a late repeat */
    assert_int_equal(in_tx(ch_listing_release, id, 7, 1), CH_ECONFLICT);  /* a sale is final */
    v = view(id);
    assert_int_equal(v.state, CH_LISTING_SOLD);
    assert_int_equal(v.order_id, 7);
}

static void test_release_and_rollback(void **state)
{
    uint64_t id = listing();
    assert_int_equal(in_tx(ch_listing_reserve, id, 9, 0), CH_OK); /* the caller rolls back */
    assert_int_equal(view(id).state, CH_LISTING_ACTIVE);
    assert_int_equal(in_tx(ch_listing_reserve, id, 9, 1), CH_OK);
    assert_int_equal(in_tx(ch_listing_release, id, 9, 1), CH_OK);
    ch_listing_order_view_t v = view(id);
    assert_int_equal(v.state, CH_LISTING_ACTIVE);
    assert_int_equal(v.order_id, 0);
    assert_int_equal(in_tx(ch_listing_reserve, id, 10, 1), CH_OK); /* another buyer now */
    assert_int_equal(view(id).order_id, 10);
}

static void test_removed_and_missing(void **state)
{
    uint64_t id = listing();
    ch_db_param_t p[] = {CH_DB_P_INT(id)};
    OK(ch_sql_run(&svc, "UPDATE listings SET state = 'removed' WHERE id = $1", p, 1, NULL, NULL));
    assert_int_equal(in_tx(ch_listing_reserve, id, 11, 1), CH_ECONFLICT);
    assert_int_equal(in_tx(ch_listing_mark_sold, id, 11, 1), CH_ECONFLICT);
    assert_int_equal(view(id).state, CH_LISTING_REMOVED);
    assert_int_equal(in_tx(ch_listing_reserve, 99999, 11, 1), CH_ENOTFOUND);
    assert_int_equal(in_tx(ch_listing_release, 99999, 11, 1), CH_ENOTFOUND);
    assert_int_equal(in_tx(ch_listing_mark_sold, 99999, 11, 1), CH_ENOTFOUND);
}

static void test_currencies(void **state)
{
    int dec = -1;
    char lower[4];
    assert_true(ch_currency_lookup("JPY", &dec, lower));
    assert_int_equal(dec, 0);
    assert_string_equal(lower, "jpy");
    assert_true(ch_currency_lookup("krw", &dec, NULL));
    assert_int_equal(dec, 0);
    assert_true(ch_currency_lookup("Eur", &dec, lower));
    assert_int_equal(dec, 2);
    assert_string_equal(lower, "eur");
    assert_true(ch_currency_lookup("KWD", &dec, NULL));
    assert_int_equal(dec, 3);
    assert_false(ch_currency_lookup("XYZ", NULL, NULL));
    assert_false(ch_currency_lookup("EU", NULL, NULL));
    assert_false(ch_currency_lookup("EURO", NULL, NULL));
    assert_false(ch_currency_lookup("E1R", NULL, NULL));
    assert_false(ch_currency_lookup(NULL, NULL, NULL));
}

static int hook_runs;
static uint64_t hook_id;
static void hook(void *ctx, uint64_t id)
{
    (void)ctx;
    hook_runs++;
    hook_id = id;
}

/* ch_sql_after_commit (what the moves use to forget the cached listing): runs after the
 * commit of ch_sql_end, never before it, never after a rollback; at once without conn. */
static void test_after_commit(void **state)
{
    (void)state;
    ch_db_conn_t *conn;
    hook_runs = 0;
    OK(ch_sql_begin(&svc, 1, &conn));
    ch_sql_after_commit(&svc, conn, hook, NULL, 7);
    assert_int_equal(hook_runs, 0);
    OK(ch_sql_end(&svc, conn, CH_OK));
    assert_int_equal(hook_runs, 1);
    assert_int_equal(hook_id, 7);
    OK(ch_sql_begin(&svc, 1, &conn));
    ch_sql_after_commit(&svc, conn, hook, NULL, 8);
    assert_int_equal(ch_sql_end(&svc, conn, CH_ECONFLICT), CH_ECONFLICT);
    assert_int_equal(hook_runs, 1);
    OK(ch_sql_begin(&svc, 1, &conn)); /* the dropped call does not come back */
    OK(ch_sql_end(&svc, conn, CH_OK));
    assert_int_equal(hook_runs, 1);
    ch_sql_after_commit(&svc, NULL, hook, NULL, 9);
    assert_int_equal(hook_runs, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve_sell),
        cmocka_unit_test(test_release_and_rollback),
        cmocka_unit_test(test_removed_and_missing),
        cmocka_unit_test(test_currencies),
        cmocka_unit_test(test_after_commit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

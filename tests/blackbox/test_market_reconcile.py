"""The reconciliation of the ledger with Stripe's balance transactions (issue 15,
svc/market/reconcile.h): a watermark (a run asks only for what is newer than the start of
the last complete run, minus an overlap), a run cut short by the page cap is reported
incomplete (run.complete false, its error, chorus_market_reconcile_runs_total) and does not
move the watermark, payouts and Stripe's own fees are booked to their ledger accounts and
match instead of counting as differences, and a run holds a lease: a second one meanwhile
is refused with 409."""
import datetime
import re
import threading

from client import expect_problem
from market_helpers import (assert_balanced, balance, create_order, hooks, make_admin, make_listing, make_seller, pay,
                            wait_state)
from notify_helpers import wait_until


def recon_server(start_server, double, backends, env=None):
    srv = start_server(env=env or {}, name="reconcile")
    double.reset()
    hooks(double, srv)
    api = srv.client()
    seller, buyer, admin = make_seller(double, api), api.register(), make_admin(srv, backends, api)
    return srv, seller, buyer, admin


def reconcile(admin):
    r = admin.post("/v1/admin/ledger/reconcile")
    assert r.status == 200, r.describe()
    return r.json


def bt_queries(double):
    """The query strings of chorusd's GET /v1/balance_transactions so far, in order (the
    double's request log; the whole-list ones, not the look-ups by source)."""
    return [r["params"] for r in double.requests("/v1/balance_transactions", method="GET")
            if "source" not in (r["params"] or {})]


def runs_metric(srv, outcome):
    text = srv.client().get("/metrics").text
    m = re.search(r'chorus_market_reconcile_runs_total\{outcome="%s"\} (\d+)' % outcome, text)
    assert m, "chorus_market_reconcile_runs_total missing from /metrics"
    return int(m.group(1))


def test_payouts_and_stripe_fees_are_booked_and_match(start_server, stripe_double, backends):
    double = stripe_double
    srv, seller, buyer, admin = recon_server(start_server, double, backends)
    listing = make_listing(seller, amount=2500)
    o = create_order(buyer, listing["id"]).json
    pay(double, buyer, o)
    wait_state(buyer, o["id"], "paid")
    double.unowned("payout", -1500)
    double.unowned("stripe_fee", -200)
    first = reconcile(admin)
    # the order's charge (and its fee, booked by a job) may need a moment; payouts and fees never differ
    assert not [d for d in first["differences"] if d["source"].startswith("po_") or d["source"].startswith("txn_")], first
    b = assert_balanced(admin)["currencies"]["usd"]["accounts"]
    assert b["asset:bank"] == 1500 and b["expense:stripe_fees"] >= 200, b
    # booked once: the next run (the same transactions in its overlap) books nothing again
    reconcile(admin)
    assert balance(admin)["currencies"]["usd"]["accounts"]["asset:bank"] == 1500


def test_a_run_starts_at_the_watermark_of_the_last_complete_run(start_server, stripe_double, backends):
    double = stripe_double
    srv, seller, buyer, admin = recon_server(start_server, double, backends, {"CHORUS_MARKET_RECONCILE_OVERLAP": "7"})
    double.unowned("payout", -100)
    first = reconcile(admin)
    assert first["run"]["complete"] is True and first["run"]["since"] is None and first["run"]["error"] is None
    assert "created" not in bt_queries(double)[-1]  # the first run reads the whole history
    second = reconcile(admin)
    q = bt_queries(double)[-1]
    t0 = datetime.datetime.fromisoformat(first["run"]["started_at"].replace("Z", "+00:00")).timestamp()
    assert int(q["created"]["gte"]) == int(t0) - 7, (q, first["run"])
    assert second["run"]["since"] is not None and second["run"]["complete"] is True
    assert second["differences"] == []


def test_a_run_cut_short_by_the_page_cap_is_incomplete(start_server, stripe_double, backends):
    double = stripe_double
    srv, seller, buyer, admin = recon_server(start_server, double, backends,
                                      {"CHORUS_MARKET_RECONCILE_PAGE": "1", "CHORUS_MARKET_RECONCILE_MAX_PAGES": "2"})
    for _ in range(3):
        double.unowned("payout", -10)
    before = runs_metric(srv, "incomplete")
    r = reconcile(admin)
    assert r["run"]["complete"] is False and "incomplete" in r["run"]["error"], r
    assert runs_metric(srv, "incomplete") == before + 1
    assert admin.get("/v1/admin/ledger/reconciliation").json["run"]["complete"] is False
    # the watermark did not move: the next run reads the whole history again
    reconcile(admin)
    assert "created" not in bt_queries(double)[-1]


def test_a_second_run_while_one_holds_the_lease_is_refused(start_server, stripe_double, backends):
    double = stripe_double
    srv, seller, buyer, admin = recon_server(start_server, double, backends)
    double.fault("/v1/balance_transactions", method="GET", timeout_ms=3000)
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("r", admin.post("/v1/admin/ledger/reconcile")))
    t.start()
    wait_until(lambda: double.requests("/v1/balance_transactions"), "the first run is reading Stripe", 20)
    expect_problem(admin.post("/v1/admin/ledger/reconcile"), 409, "conflict")
    t.join(30)
    assert got["r"].status == 200 and got["r"].json["run"]["complete"] is True, got["r"].describe()
    assert reconcile(admin)["run"]["complete"] is True  # released

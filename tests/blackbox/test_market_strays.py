"""Stray payments (issue 15, svc/market/strays.h): a payment_intent.succeeded for a
PaymentIntent whose metadata names an order that holds another one (a buyer's second tab, a
PaymentIntent made by an attempt whose answer was lost and then superseded). No order holds
that money: it is booked (`stray:<pi>:paid`), refunded once by a durable job keyed per
PaymentIntent (`stray:<pi>:refund`), booked back, and shown to the admin
(GET /v1/admin/orders/{id}/stray_payments). Before, it was only logged: the buyer paid twice."""
import pytest

from client import expect_problem
from market_helpers import (assert_balanced, create_order, hooks, ledger_rows, make_admin, make_listing,
                            make_seller, order_of, wait_state)
from notify_helpers import sql, wait_until
from sellers_helpers import deliver, event

FAULT_ENV = {"CHORUS_STRIPE_TIMEOUT": "4000", "CHORUS_STRIPE_MAX_RETRIES": "0"}


@pytest.fixture
def shop(start_server, stripe_double, backends):
    srv = start_server(env=FAULT_ENV, name="market-strays")
    stripe_double.reset()
    hooks(stripe_double, srv)
    api = srv.client()
    seller = make_seller(stripe_double, api)
    buyer, admin = api.register(), make_admin(srv, backends, api)
    return srv, stripe_double, seller, buyer, admin


def second_payment_intent(double, order):
    """A PaymentIntent for the same order made outside the order's own step (as a second
    tab, or a superseded attempt, would have it): same metadata and transfer group."""
    r = double.api("POST", "/v1/payment_intents", {
        "amount": order["amount"], "currency": order["currency"], "transfer_group": str(order["id"]),
        "metadata": {"order_id": str(order["id"])}}, idempotency_key=f"second-tab-{order['id']}")
    assert r.status == 200, r.body
    return r.json["id"]


def strays(admin, order_id):
    r = admin.get(f"/v1/admin/orders/{order_id}/stray_payments")
    assert r.status == 200, r.describe()
    return r.json["items"]


def stray_rows(srv, backends, order_id):
    return sql(srv, backends, f"SELECT payment_intent_id, state FROM market_stray_payments WHERE order_id = {int(order_id)}")


@pytest.mark.parametrize("first", ["kept", "stray"])
def test_a_second_payment_for_one_order_is_refunded_once(shop, backends, first):
    srv, double, seller, buyer, admin = shop
    listing = make_listing(seller)
    o = create_order(buyer, listing["id"]).json
    kept, stray = o["payment_intent_id"], second_payment_intent(double, o)
    for pi in ([kept, stray] if first == "kept" else [stray, kept]):
        double.succeed(pi)
    wait_state(buyer, o["id"], "paid")
    wait_until(lambda: (s := strays(admin, o["id"])) and s[0]["state"] == "refunded" and s,
               "the stray payment refunded", 30)
    double.wait_idle()

    def check():
        assert order_of(buyer, o["id"])["payment_intent_id"] == kept
        assert order_of(buyer, o["id"])["state"] == "paid"
        g = double.summary(str(o["id"]))
        assert len(g["charges"]) == 2 and g["successful_payments"] == 2, g
        stray_charge = [c["id"] for c in g["charges"] if c["payment_intent"] == stray]
        assert [r["charge"] for r in g["refunds"]] == stray_charge, g  # once, and only the stray
        (s,) = strays(admin, o["id"])
        assert (s["payment_intent_id"], s["amount"], s["currency"], s["refund_id"]) == \
            (stray, o["amount"], o["currency"], g["refunds"][0]["id"]), s
        rows = [r for r in ledger_rows(srv, backends, o["id"]) if r[0].startswith("stray:")]
        assert sorted(rows) == sorted([
            (f"stray:{stray}:paid", "platform:stripe_balance", o["amount"]),
            (f"stray:{stray}:paid", "liability:stray_payments", -o["amount"]),
            (f"stray:{stray}:refund", "liability:stray_payments", o["amount"]),
            (f"stray:{stray}:refund", "platform:stripe_balance", -o["amount"])]), rows
        assert_balanced(admin)
        assert stray_rows(srv, backends, o["id"]).count("\n") <= 1

    check()
    # Every event delivered again, and another event of the stray PaymentIntent: nothing changes.
    double.redeliver(all=True)
    double.wait_idle()
    pi_obj = double.object(stray)
    secret = double.webhook_secret
    assert deliver(srv.client(), event("payment_intent.succeeded", pi_obj), [secret]).status == 200
    srv_jobs = sql(srv, backends, "SELECT count(*) FROM market_jobs WHERE kind = 'stray'")
    assert srv_jobs.strip() == "1", srv_jobs
    check()


def test_stray_payments_are_for_admins_only(shop):
    srv, double, seller, buyer, admin = shop
    listing = make_listing(seller)
    o = create_order(buyer, listing["id"]).json
    expect_problem(buyer.get(f"/v1/admin/orders/{o['id']}/stray_payments"), 403, "forbidden")
    assert strays(admin, o["id"]) == []

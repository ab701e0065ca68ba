"""Marketplace orders (issue 15, brd/market.md "Orders and escrow") against the Stripe test
double: an order's PaymentIntent (amount, currency, transfer_group, metadata, its
Idempotency-Key), payment → paid (listing reserved), ship → shipped (auto-confirm due),
confirm → the transfer (amount − fee, destination, source_transaction) → completed (listing
sold); cancel before and after payment (refund, listing active again); a payment that comes
after a cancel is refunded, not resurrected; a failed payment; admin refund after the
transfer (reversal, then refund); auto-confirm by the durable job; who may do what; the
ledger after each."""
import uuid

import pytest

from client import expect_problem
from market_helpers import (assert_balanced, assert_stripe_once, create_order, hooks, ledger_rows, listing_state,
                            make_admin, make_listing, make_seller, order_of, pay, wait_state)
from notify_helpers import sql, wait_until


@pytest.fixture
def market(stripe_double, server, api, backends):
    """(double, seller, listing, buyer, admin) with the double's webhooks sent to the shared server."""
    stripe_double.reset()
    hooks(stripe_double, server)
    seller = make_seller(stripe_double, api)
    listing = make_listing(seller)
    buyer = api.register()
    admin = make_admin(server, backends, api)
    return stripe_double, seller, listing, buyer, admin


def pi_requests(double, order_id):
    return [r for r in double.requests("/v1/payment_intents", method="POST")
            if r["idempotency_key"] == f"order:{order_id}:payment_intent"]


def test_order_through_completed(market, server, backends):
    double, seller, listing, buyer, admin = market
    key = str(uuid.uuid4())
    r = create_order(buyer, listing["id"], key)
    assert r.status == 201, r.describe()
    o = r.json
    assert o["state"] == "pending_payment" and o["amount"] == 2500 and o["fee"] == 250 and o["currency"] == "usd"
    assert o["client_secret"] and o["payment_intent_id"]
    # The PaymentIntent: on the platform, the order's transfer group and metadata, its key.
    reqs = pi_requests(double, o["id"])
    assert len(reqs) == 1, reqs
    params = reqs[0]["params"]
    assert params["amount"] == "2500" and params["currency"] == "usd"
    assert params["transfer_group"] == o["id"] and params["metadata"]["order_id"] == o["id"]
    # The same Idempotency-Key answers the same order, no second PaymentIntent.
    again = create_order(buyer, listing["id"], key)
    assert again.status == 201 and again.json["id"] == o["id"], again.describe()
    assert len(pi_requests(double, o["id"])) == 1
    # ... and with another listing it is a mismatch.
    other_listing = make_listing(seller, title="Another lamp")
    expect_problem(create_order(buyer, other_listing["id"], key), 422, "idempotency_mismatch")
    # The seller sees it without the client secret.
    assert order_of(seller, o["id"])["client_secret"] is None

    pay(double, buyer, o)
    assert listing_state(buyer, listing["id"]) == "reserved"
    # Only the buyer confirms, only the seller ships, and not before shipping.
    expect_problem(buyer.post(f"/v1/orders/{o['id']}/ship"), 403, "forbidden")
    expect_problem(buyer.post(f"/v1/orders/{o['id']}/confirm"), 409, "conflict")
    r = seller.post(f"/v1/orders/{o['id']}/ship")
    assert r.status == 200 and r.json["state"] == "shipped" and r.json["auto_confirm_at"], r.describe()
    expect_problem(seller.post(f"/v1/orders/{o['id']}/confirm"), 403, "forbidden")
    expect_problem(buyer.post(f"/v1/orders/{o['id']}/cancel"), 409, "conflict")
    r = buyer.post(f"/v1/orders/{o['id']}/confirm")
    assert r.status == 200 and r.json["state"] in ("transferring", "completed"), r.describe()
    wait_state(buyer, o["id"], "completed")
    assert listing_state(buyer, listing["id"]) == "sold"

    g = assert_stripe_once(double, o["id"], transfers=(1,), refunds=0)
    tr = g["transfers"][0]
    assert tr["amount"] == 2250 and tr["destination"] == seller.account
    assert tr["source_transaction"] == g["charges"][0]["id"]
    transfer_req = [q for q in double.requests("/v1/transfers", method="POST")
                    if q["idempotency_key"] == f"order:{o['id']}:transfer"]
    assert len(transfer_req) == 1 and transfer_req[0]["params"]["transfer_group"] == o["id"]

    # The ledger: payment into escrow, Stripe's fee, escrow released to the seller's payable
    # and the platform's fee, the transfer out; the Stripe fee is booked by a job.
    wait_until(lambda: any(ref.endswith(":stripe_fee") for ref, _, _ in ledger_rows(server, backends, o["id"])),
               "the Stripe fee booked", 30)
    rows = ledger_rows(server, backends, o["id"])
    by = {}
    for ref, account, amount in rows:
        by[account] = by.get(account, 0) + amount
    assert by["liability:escrow"] == 0 and by["liability:seller_payable"] == 0
    assert by["revenue:platform_fees"] == -250
    assert by["platform:stripe_balance"] == 2500 - 2250 - by["expense:stripe_fees"]
    assert by["expense:stripe_fees"] > 0
    assert_balanced(admin)
    # Confirming again changes nothing.
    r = buyer.post(f"/v1/orders/{o['id']}/confirm")
    assert r.status == 200 and r.json["state"] == "completed"


def test_orders_list_and_visibility(market, api):
    double, seller, listing, buyer, admin = market
    o = create_order(buyer, listing["id"]).json
    stranger = api.register()
    expect_problem(stranger.get(f"/v1/orders/{o['id']}"), 404, "not_found")
    expect_problem(stranger.post(f"/v1/orders/{o['id']}/cancel"), 404, "not_found")
    for u in (buyer, seller):
        page = u.get("/v1/orders").json
        assert [x["id"] for x in page["items"]] == [o["id"]]
    assert stranger.get("/v1/orders").json["items"] == []
    # One's own listing cannot be bought; a missing one is 404; a bad body 422.
    expect_problem(create_order(seller, listing["id"]), 403, "forbidden")
    expect_problem(create_order(buyer, "123"), 404, "not_found")
    expect_problem(buyer.post("/v1/orders", json={"listing_id": 5}), 422, "invalid_field", "listing_id")
    expect_problem(buyer.post("/v1/orders", json={"listing_id": listing["id"], "x": 1}), 422, "invalid_field")
    # Non-admins do not see the ledger.
    expect_problem(buyer.get("/v1/admin/ledger/balance"), 403, "forbidden")
    expect_problem(seller.post(f"/v1/admin/orders/{o['id']}/refund"), 403, "forbidden")


def test_seller_not_enabled_cannot_sell(market, server, backends):
    double, seller, listing, buyer, admin = market
    # Stripe disables the account's charges after the listing was made; account.updated and
    # the refresh it starts record it. (Writing the row by hand raced the refresh that
    # enabling the seller had queued: it set charges_enabled back.)
    uid = int(seller.me()["id"])
    refresh = f"SELECT state FROM market_jobs WHERE kind = 'seller' AND order_id = {uid} AND step = 'account_refresh'"
    double.require(seller.account)
    double.wait_idle()
    wait_until(lambda: sql(server, backends, refresh) == "done"
               and seller.get("/v1/me/seller").json.get("charges_enabled") is False, "charges disabled and settled", 30)
    expect_problem(create_order(buyer, listing["id"]), 403, "seller_not_enabled")


def test_cancel_before_payment_and_a_late_payment_is_refunded(market):
    double, seller, listing, buyer, admin = market
    o = create_order(buyer, listing["id"]).json
    r = seller.post(f"/v1/orders/{o['id']}/cancel")
    assert r.status == 200 and r.json["state"] == "canceled", r.describe()
    # The PaymentIntent is cancelled at Stripe by a job; a payment that still comes
    # (succeed before the job ran, or a race) is refunded, never resurrects the order.
    wait_until(lambda: any(q["path"].endswith("/cancel") for q in double.requests("/v1/payment_intents")),
               "the PaymentIntent cancelled", 30)
    assert listing_state(buyer, listing["id"]) == "active"


def test_payment_after_cancel_refunds(market):
    double, seller, listing, buyer, admin = market
    double.fault("/v1/payment_intents/", method="POST", status=500, count=1000)  # the cancel never lands
    o = create_order(buyer, listing["id"]).json
    assert buyer.post(f"/v1/orders/{o['id']}/cancel").json["state"] == "canceled"
    double.clear_faults()
    double.succeed(o["payment_intent_id"])
    wait_state(buyer, o["id"], "refunded")
    assert_stripe_once(double, o["id"], transfers=(0,), refunds=1)
    assert listing_state(buyer, listing["id"]) == "active"
    assert_balanced(admin)


def test_cancel_after_payment_refunds(market, server, backends):
    double, seller, listing, buyer, admin = market
    o = create_order(buyer, listing["id"]).json
    pay(double, buyer, o)
    r = buyer.post(f"/v1/orders/{o['id']}/cancel")
    assert r.status == 200 and r.json["state"] in ("refunding", "refunded"), r.describe()
    wait_state(buyer, o["id"], "refunded")
    g = assert_stripe_once(double, o["id"], transfers=(0,), refunds=1)
    assert g["refunds"][0]["amount"] == 2500
    refund_req = [q for q in double.requests("/v1/refunds", method="POST")
                  if q["idempotency_key"] == f"order:{o['id']}:refund"]
    assert len(refund_req) == 1 and refund_req[0]["params"]["payment_intent"] == o["payment_intent_id"]
    assert listing_state(buyer, listing["id"]) == "active"
    # The listing can be bought again.
    other = create_order(admin, listing["id"])
    assert other.status == 201, other.describe()
    assert_balanced(admin)


def test_failed_payment_then_success(market):
    double, seller, listing, buyer, admin = market
    o = create_order(buyer, listing["id"]).json
    double.fail(o["payment_intent_id"])
    wait_state(buyer, o["id"], "payment_failed")
    double.succeed(o["payment_intent_id"])
    wait_state(buyer, o["id"], "paid")


def test_admin_refund_after_transfer_reverses_then_refunds(market):
    double, seller, listing, buyer, admin = market
    o = create_order(buyer, listing["id"]).json
    pay(double, buyer, o)
    seller.post(f"/v1/orders/{o['id']}/ship")
    buyer.post(f"/v1/orders/{o['id']}/confirm")
    wait_state(buyer, o["id"], "completed")
    r = admin.post(f"/v1/admin/orders/{o['id']}/refund")
    assert r.status == 200 and r.json["state"] in ("refunding", "refunded"), r.describe()
    wait_state(buyer, o["id"], "refunded")
    g = assert_stripe_once(double, o["id"], transfers=(1,), refunds=1)
    assert len(g["reversals"]) == 1 and g["reversals"][0]["amount"] == 2250
    keys = [q["idempotency_key"] for q in double.requests("/v1/", method="POST")
            if (q["idempotency_key"] or "").startswith(f"order:{o['id']}:")]
    assert keys.index(f"order:{o['id']}:reversal") < keys.index(f"order:{o['id']}:refund")
    assert listing_state(buyer, listing["id"]) == "sold"  # a sale is final
    assert_balanced(admin)


def test_auto_confirm_by_the_durable_job(start_server, stripe_double, backends):
    srv = start_server(env={"CHORUS_MARKET_AUTO_CONFIRM": "2"}, name="autoconfirm")
    stripe_double.reset()
    hooks(stripe_double, srv)
    api = srv.client()
    seller = make_seller(stripe_double, api)
    listing = make_listing(seller)
    buyer = api.register()
    o = create_order(buyer, listing["id"]).json
    pay(stripe_double, buyer, o)
    seller.post(f"/v1/orders/{o['id']}/ship")
    wait_state(buyer, o["id"], "completed", timeout=40)
    assert_stripe_once(stripe_double, o["id"], transfers=(1,))


def test_payment_not_prepared_503_names_the_key_only_when_sent(market):
    double, seller, listing, buyer, admin = market
    double.fault("/v1/payment_intents", method="POST", status=503, count=100)
    r = buyer.post("/v1/orders", json={"listing_id": listing["id"]})
    expect_problem(r, 503, "unavailable")
    assert "same Idempotency-Key" not in r.json["detail"], r.describe()
    other = make_listing(seller, amount=1500)  # one unpaid order per buyer and listing
    r = create_order(buyer, other["id"], str(uuid.uuid4()))
    expect_problem(r, 503, "unavailable")
    assert "retry with the same Idempotency-Key" in r.json["detail"], r.describe()
    double.clear_faults()

"""Money that lands late (issue 15): one rule for a transfer that lands (made, or found by the
lookup of an earlier attempt's) while the order no longer wants it (refunding, refunded, a
lost dispute): booked and reversed at once; disputes in any state with a charge (refunding,
refunded) recorded and booked, the refund parked while the dispute holds the charge, and
the dispute's ledger movements keyed by the dispute's id. Each test ends with the order's
own end state (state, listing, Stripe's objects of its transfer group, its ledger).

Each test runs its own chorusd with a short Stripe deadline and no client retries (as
test_market_faults.py): a job's attempt is then one request, and its backoff short."""
import pytest

from market_helpers import (assert_order_end, create_order, hooks, ledger_rows, make_admin, make_listing,
                            make_seller, order_of, pay, wait_state)
from notify_helpers import sql, wait_until

FAULT_ENV = {"CHORUS_STRIPE_TIMEOUT": "4000", "CHORUS_STRIPE_MAX_RETRIES": "0"}


@pytest.fixture
def shop(start_server, stripe_double, backends):
    """(srv, double, seller, buyer, admin) on a dedicated chorusd."""
    srv = start_server(env=FAULT_ENV, name="market-late")
    stripe_double.reset()
    hooks(stripe_double, srv)
    api = srv.client()
    seller = make_seller(stripe_double, api)
    buyer, admin = api.register(), make_admin(srv, backends, api)
    return srv, stripe_double, seller, buyer, admin


def charge_of(double, order_id):
    return double.summary(str(order_id))["charges"][0]["id"]


def dispute_of(double, order_id):
    return double.summary(str(order_id))["disputes"][0]["id"]


def job_state(srv, backends, order_id, step):
    return sql(srv, backends, f"SELECT state FROM market_jobs WHERE order_id = {int(order_id)} AND step = '{step}'")


def paid_order(double, seller, buyer):
    listing = make_listing(seller)
    o = create_order(buyer, listing["id"]).json
    pay(double, buyer, o)
    return o


def transfer_made_but_unknown(double, seller, buyer, o):
    """The order confirmed; its transfer made at Stripe but its answer lost (a 500 after the
    effect, replayed for its key), and every lookup failing: chorusd does not know of it."""
    double.fault("/v1/transfers", method="POST", status=500, count=1, after_effect=True)
    double.fault("/v1/transfers", method="GET", status=500, count=1000)
    assert seller.post(f"/v1/orders/{o['id']}/ship").status == 200
    assert buyer.post(f"/v1/orders/{o['id']}/confirm").status == 200
    wait_state(buyer, o["id"], "transferring")
    wait_until(lambda: double.summary(str(o["id"]))["transfers"], "the transfer made at Stripe", 30)


def test_transfer_found_after_a_lost_dispute_is_reversed(shop, backends):
    """The transfer job the dispute held made a transfer (its answer lost): the loss runs it
    again, it finds the transfer and books and reverses it (before: held for ever, and the
    seller kept the money the buyer got back through the dispute)."""
    srv, double, seller, buyer, admin = shop
    o = paid_order(double, seller, buyer)
    transfer_made_but_unknown(double, seller, buyer, o)
    double.dispute(charge_of(double, o["id"]))
    wait_state(buyer, o["id"], "disputed")
    double.close_dispute(dispute_of(double, o["id"]), "lost")
    wait_state(buyer, o["id"], "dispute_lost")
    double.clear_faults()
    wait_until(lambda: double.summary(str(o["id"]))["reversals"], "the late transfer reversed", 30)
    g = assert_order_end(srv, backends, double, buyer, o, "dispute_lost", listing="sold", transfers=1, reversals=1,
                         accounts={"expense:dispute_losses": 0})
    assert g["reversals"][0]["amount"] == g["transfers"][0]["amount"]
    assert job_state(srv, backends, o["id"], "transfer") == "done"


def test_transfer_landing_after_an_admin_refund_is_reversed(shop, backends):
    """An admin refunds an order whose transfer is under way (its answer lost): the buyer is
    refunded; the transfer, found once the order no longer wants it, is booked and reversed."""
    srv, double, seller, buyer, admin = shop
    o = paid_order(double, seller, buyer)
    transfer_made_but_unknown(double, seller, buyer, o)
    r = admin.post(f"/v1/admin/orders/{o['id']}/refund")
    assert r.status == 200 and r.json["state"] in ("refunding", "refunded"), r.describe()
    wait_state(buyer, o["id"], "refunded")
    double.clear_faults()
    wait_until(lambda: double.summary(str(o["id"]))["reversals"], "the late transfer reversed", 30)
    assert_order_end(srv, backends, double, buyer, o, "refunded", listing="active", transfers=1, reversals=1,
                     refunds=1)
    assert job_state(srv, backends, o["id"], "transfer") == "done"


def test_dispute_on_a_refunding_order_is_booked_and_the_refund_parks(shop, backends):
    """A dispute while the refund is being made: recorded (disputed), the refund held (Stripe
    refuses to refund a disputed charge: before, it retried for ever); lost: the escrow pays
    the buyer through the dispute, no refund is made."""
    srv, double, seller, buyer, admin = shop
    o = paid_order(double, seller, buyer)
    double.fault("/v1/refunds", method="POST", status=500, count=1000)
    assert buyer.post(f"/v1/orders/{o['id']}/cancel").status == 200
    wait_state(buyer, o["id"], "refunding")
    wait_until(lambda: double.requests("/v1/refunds", method="POST"), "a refund attempted", 30)
    double.dispute(charge_of(double, o["id"]))
    wait_state(buyer, o["id"], "disputed")
    double.clear_faults()
    wait_until(lambda: job_state(srv, backends, o["id"], "refund") in ("held", "done"), "the refund parked", 30)
    double.close_dispute(dispute_of(double, o["id"]), "lost")
    assert_order_end(srv, backends, double, buyer, o, "dispute_lost", listing="active", refunds=0,
                     accounts={"expense:dispute_losses": 0})
    assert job_state(srv, backends, o["id"], "refund") in ("held", "done")


def test_dispute_after_a_refund_is_booked_by_its_id(shop, backends):
    """A dispute on a refunded order (the bank's chargeback after the refund): recorded and
    booked, its movements keyed by the dispute's id; lost, the amount is a loss."""
    srv, double, seller, buyer, admin = shop
    o = paid_order(double, seller, buyer)
    assert buyer.post(f"/v1/orders/{o['id']}/cancel").status == 200
    wait_state(buyer, o["id"], "refunded")
    double.dispute(charge_of(double, o["id"]), amount=2500)
    wait_state(buyer, o["id"], "disputed")
    dp = dispute_of(double, o["id"])
    double.close_dispute(dp, "lost")
    assert_order_end(srv, backends, double, buyer, o, "dispute_lost", listing="active", refunds=1,
                     accounts={"expense:dispute_losses": 2500})
    refs = {ref for ref, _, _ in ledger_rows(srv, backends, o["id"])}
    assert f"order:{o['id']}:dispute_withdrawn:{dp}" in refs and f"order:{o['id']}:dispute_lost:{dp}" in refs, refs
    assert order_of(buyer, o["id"])["state"] == "dispute_lost"


"""Money that lands late (issue 15): one rule for a transfer that lands (made, or found by the
lookup of an earlier attempt's) while the order no longer wants it (refunding, refunded, a
lost dispute): booked and reversed at once; disputes in any state with a charge (refunding,
refunded) recorded and booked, the refund held while the dispute holds the charge (a refund
made before a lost dispute found, or its answer stored, and booked once), and
the dispute's ledger movements keyed by the dispute's id; unknown outcomes (a PaymentIntent
whose answer was lost is found by search; a job whose Idempotency-Key nears Stripe's 24 h
expiry is parked); a payment webhook without latest_charge (the charge fetched); an unpaid
order expiring (CHORUS_MARKET_PAYMENT_TTL). Tests end with the order's own end state
(state, listing, Stripe's objects of its transfer group, its ledger).

Each test runs its own chorusd with a short Stripe deadline and no client retries (as
test_market_faults.py): a job's attempt is then one request, and its backoff short."""
import re
import threading

import pytest

from market_helpers import (assert_order_end, create_order, hooks, ledger_rows, make_admin, make_listing,
                            make_seller, order_of, pay, wait_state)
from notify_helpers import sql, wait_until
from sellers_helpers import deliver, event

FAULT_ENV = {"CHORUS_STRIPE_TIMEOUT": "4000", "CHORUS_STRIPE_MAX_RETRIES": "0"}


@pytest.fixture
def shop(start_server, stripe_double, backends):
    """(srv, double, seller, buyer, admin) on a dedicated chorusd."""
    return make_shop(start_server, stripe_double, backends, FAULT_ENV)


@pytest.fixture
def slow_shop(start_server, stripe_double, backends):
    """A shop whose Stripe deadline is long (20 s): an answer the double delays stays in
    flight while the test plays the events around it."""
    return make_shop(start_server, stripe_double, backends, dict(FAULT_ENV, CHORUS_STRIPE_TIMEOUT="20000"))


def make_shop(start_server, stripe_double, backends, env):
    srv = start_server(env=env, name="market-late")
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
    the buyer through the dispute, no refund is made (the held refund job runs again, looks
    for a refund an earlier attempt made, finds none and ends without POSTing)."""
    srv, double, seller, buyer, admin = shop
    o = paid_order(double, seller, buyer)
    double.fault("/v1/refunds", method="POST", status=500, count=1000)
    assert buyer.post(f"/v1/orders/{o['id']}/cancel").status == 200
    wait_state(buyer, o["id"], "refunding")
    wait_until(lambda: double.requests("/v1/refunds", method="POST"), "a refund attempted", 30)
    double.dispute(charge_of(double, o["id"]))
    wait_state(buyer, o["id"], "disputed")
    double.clear_faults()
    wait_until(lambda: job_state(srv, backends, o["id"], "refund") == "held", "the refund held", 30)
    posts = len(double.requests("/v1/refunds", method="POST"))
    double.close_dispute(dispute_of(double, o["id"]), "lost")
    wait_until(lambda: job_state(srv, backends, o["id"], "refund") == "done", "the refund looked up", 30)
    assert_order_end(srv, backends, double, buyer, o, "dispute_lost", listing="active", refunds=0,
                     accounts={"expense:dispute_losses": 0})
    assert len(double.requests("/v1/refunds", method="POST")) == posts


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


def test_payment_intent_made_but_its_answer_lost_is_found(shop, backends):
    """The PaymentIntent's POST took effect but Stripe answered 500 (saved as the key's answer
    and replayed): the job's next attempt finds it by its metadata (search) and stores it;
    before, every attempt got the saved 500 and the order never got its PaymentIntent."""
    srv, double, seller, buyer, admin = shop
    listing = make_listing(seller)
    double.fault("/v1/payment_intents", method="POST", status=500, count=1, after_effect=True)
    r = create_order(buyer, listing["id"])
    assert r.status == 503, r.describe()
    oid = sql(srv, backends, f"SELECT id FROM orders WHERE listing_id = {int(listing['id'])}")
    assert oid
    wait_until(lambda: order_of(buyer, oid)["payment_intent_id"], "the PaymentIntent stored", 30)
    o = order_of(buyer, oid)
    assert [p["id"] for p in double.summary(str(oid))["payment_intents"]] == [o["payment_intent_id"]]
    pay(double, buyer, o)
    assert job_state(srv, backends, oid, "payment_intent") == "done"


def test_job_near_the_key_expiry_is_parked(shop, backends):
    """A refund still failing when its first POST is over 23 h old (Stripe forgets a key
    after 24 h) is parked for an operator: state parked, counted, no further attempt (before:
    retried for ever, and past the expiry with a key Stripe forgot)."""
    srv, double, seller, buyer, admin = shop
    o = paid_order(double, seller, buyer)
    double.fault("/v1/refunds", method="POST", status=500, count=1000)
    assert buyer.post(f"/v1/orders/{o['id']}/cancel").status == 200
    wait_state(buyer, o["id"], "refunding")
    wait_until(lambda: double.requests("/v1/refunds", method="POST"), "a refund attempted", 30)
    day = 24 * 3600 * 1000
    sql(srv, backends, f"UPDATE market_jobs SET first_post_at = first_post_at - {day}, run_at = run_at - {day}"
                       f" WHERE order_id = {int(o['id'])} AND step = 'refund'")
    wait_until(lambda: job_state(srv, backends, o["id"], "refund") == "parked", "the refund parked", 30)
    double.clear_faults()
    tried = len(double.requests("/v1/refunds", method="POST"))
    text = srv.client().get("/metrics").text
    m = re.search(r'^chorus_market_jobs_total\{outcome="parked"\} (\d+)$', text, re.M)
    assert m and int(m.group(1)) >= 1, text[-2000:]
    assert order_of(buyer, o["id"])["state"] == "refunding"
    assert len(double.requests("/v1/refunds", method="POST")) == tried
    assert not double.summary(str(o["id"]))["refunds"]


def test_a_job_that_never_posted_is_not_parked(shop, backends):
    """A transfer that cannot be made for a day because its charge cannot be read (the
    payment's webhook named none, and Stripe fails the PaymentIntent's GET) never sent its
    POST: its age counts from its first POST (first_post_at), so it is not parked, and once
    Stripe answers the transfer is made (before: its created_at was over 23 h old and it was
    parked without ever having used its key)."""
    srv, double, seller, buyer, admin = shop
    listing = make_listing(seller)
    o = create_order(buyer, listing["id"]).json
    hooks(double, srv, hold=True)
    double.succeed(o["payment_intent_id"])
    pi = double.object(o["payment_intent_id"])
    pi["latest_charge"] = None
    double.fault("/v1/payment_intents/", method="GET", status=500, count=1000)
    assert deliver(srv.client(), event("payment_intent.succeeded", pi), (double.webhook_secret,)).status == 200
    wait_state(buyer, o["id"], "paid")
    assert seller.post(f"/v1/orders/{o['id']}/ship").status == 200
    assert buyer.post(f"/v1/orders/{o['id']}/confirm").status == 200
    wait_state(buyer, o["id"], "transferring")
    where = f" WHERE order_id = {int(o['id'])} AND step = 'transfer'"
    attempts = lambda: int(sql(srv, backends, "SELECT attempts FROM market_jobs" + where) or 0)
    wait_until(lambda: attempts() >= 1, "the transfer tried", 30)
    day = 24 * 3600 * 1000
    before = attempts()
    sql(srv, backends, f"UPDATE market_jobs SET created_at = created_at - {day}, run_at = run_at - {day}" + where)
    wait_until(lambda: attempts() > before, "the aged transfer ran again", 60)
    assert job_state(srv, backends, o["id"], "transfer") == "pending"
    assert sql(srv, backends, "SELECT first_post_at FROM market_jobs" + where) == ""
    assert not double.requests("/v1/transfers", method="POST")
    double.clear_faults()
    sql(srv, backends, "UPDATE market_jobs SET run_at = 0" + where + " AND state = 'pending'")
    assert_order_end(srv, backends, double, buyer, o, "completed", listing="sold", transfers=1)
    assert sql(srv, backends, "SELECT first_post_at FROM market_jobs" + where) != ""


def test_payment_webhook_without_its_charge_fetches_it(shop, backends):
    """A payment_intent.succeeded whose latest_charge is null: the order is paid and its
    charge read from the PaymentIntent (before: no charge stored, so a dispute of it found
    no order and was dropped)."""
    srv, double, seller, buyer, admin = shop
    listing = make_listing(seller)
    o = create_order(buyer, listing["id"]).json
    hooks(double, srv, hold=True)
    double.succeed(o["payment_intent_id"])
    pi = double.object(o["payment_intent_id"])
    charge = pi["latest_charge"]
    assert charge
    pi["latest_charge"] = None
    r = deliver(srv.client(), event("payment_intent.succeeded", pi), (double.webhook_secret,))
    assert r.status == 200, r.describe()
    wait_state(buyer, o["id"], "paid")
    wait_until(lambda: sql(srv, backends, f"SELECT charge_id FROM orders WHERE id = {int(o['id'])}") == charge,
               "the charge fetched and stored", 30)
    hooks(double, srv)
    double.flush()
    double.dispute(charge)
    wait_state(buyer, o["id"], "disputed")
    double.close_dispute(dispute_of(double, o["id"]), "won")
    assert_order_end(srv, backends, double, buyer, o, "paid", listing="reserved", accounts={"liability:escrow": -2500})


def test_unpaid_order_expires(start_server, stripe_double, backends):
    """An order still pending_payment CHORUS_MARKET_PAYMENT_TTL after it was made is
    canceled by its durable job: its PaymentIntent canceled at Stripe, the listing active
    (before: pending for ever)."""
    srv = start_server(env=dict(FAULT_ENV, CHORUS_MARKET_PAYMENT_TTL="2"), name="market-ttl")
    double = stripe_double
    double.reset()
    hooks(double, srv)
    api = srv.client()
    seller = make_seller(double, api)
    buyer = api.register()
    listing = make_listing(seller)
    o = create_order(buyer, listing["id"]).json
    wait_state(buyer, o["id"], "canceled")
    wait_until(lambda: double.object(o["payment_intent_id"])["status"] == "canceled", "the PaymentIntent canceled", 30)
    assert buyer.get(f"/v1/listings/{listing['id']}").json["state"] == "active"
    assert not double.summary(str(o["id"]))["charges"]


def ttl_shop(start_server, double, ttl_s):
    srv = start_server(env=dict(FAULT_ENV, CHORUS_MARKET_PAYMENT_TTL=str(ttl_s)), name="market-ttl")
    double.reset()
    api = srv.client()
    hooks(double, srv)
    seller = make_seller(double, api)
    return srv, seller, api.register()


def expiry_looked(srv, backends, order_id):
    """The expiry job ran and found the PaymentIntent paid or in progress (its last_error)."""
    return "not canceled" in sql(srv, backends, "SELECT last_error FROM market_jobs"
                                 f" WHERE order_id = {int(order_id)} AND step = 'expire_payment'")


@pytest.mark.parametrize("how", ["succeeded", "processing"])
def test_expiry_spares_a_payment_whose_webhook_is_not_here_yet(start_server, stripe_double, backends, how):
    """The buyer pays just before CHORUS_MARKET_PAYMENT_TTL, and its webhook comes after the
    expiry job ran (held by the double), or pays by an asynchronous method (`processing`):
    the job reads the PaymentIntent first and does not cancel it; the order ends paid, with
    no cancel at Stripe and no refund (before: canceled, then the payment refunded)."""
    double = stripe_double
    srv, seller, buyer = ttl_shop(start_server, double, 4)
    listing = make_listing(seller)
    o = create_order(buyer, listing["id"]).json
    hooks(double, srv, hold=True)
    if how == "succeeded":
        double.succeed(o["payment_intent_id"])
    else:
        double.process(o["payment_intent_id"])
    wait_until(lambda: expiry_looked(srv, backends, o["id"]), "the expiry job looked at the PaymentIntent", 30)
    assert order_of(buyer, o["id"])["state"] == "pending_payment"
    if how == "processing":
        double.succeed(o["payment_intent_id"])
    double.flush()
    wait_state(buyer, o["id"], "paid")
    wait_until(lambda: job_state(srv, backends, o["id"], "expire_payment") == "done", "the expiry job ended", 60)
    assert not double.requests(f"/v1/payment_intents/{o['payment_intent_id']}/cancel", method="POST")
    g = double.summary(str(o["id"]))
    assert len(g["charges"]) == 1 and not g["refunds"], g
    assert order_of(buyer, o["id"])["state"] == "paid"
    assert buyer.get(f"/v1/listings/{listing['id']}").json["state"] == "reserved"


# ---- disputes that interrupt a refund, a reversal or a held transfer (review of issue 15) ----

def completed_order(double, seller, buyer):
    o = paid_order(double, seller, buyer)
    assert seller.post(f"/v1/orders/{o['id']}/ship").status == 200
    assert buyer.post(f"/v1/orders/{o['id']}/confirm").status == 200
    wait_state(buyer, o["id"], "completed")
    wait_until(lambda: double.summary(str(o["id"]))["transfers"], "the transfer made", 30)
    return o


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_dispute_while_a_refund_waits_for_its_reversal(shop, backends, outcome):
    """An admin refunds a completed order (the transfer's reversal first, then the refund); a
    dispute opens while the reversal is failing. The dispute holds the reversal; won, the
    reversal then the refund are made (before: the reversal ended in `disputed` without
    reversing and the order stuck in refunding); lost, the reversal recovers the seller's
    part (before: never made, the seller kept it)."""
    srv, double, seller, buyer, admin = shop
    o = completed_order(double, seller, buyer)
    double.fault("/v1/transfers/", method="POST", status=500, count=1000)  # .../reversals
    r = admin.post(f"/v1/admin/orders/{o['id']}/refund")
    assert r.status == 200 and r.json["state"] == "refunding", r.describe()
    wait_until(lambda: double.requests("/v1/transfers/", method="POST"), "a reversal attempted", 30)
    double.dispute(charge_of(double, o["id"]))
    wait_state(buyer, o["id"], "disputed")
    double.clear_faults()
    double.close_dispute(dispute_of(double, o["id"]), outcome)
    # the state moves with the webhook; the reversal is the market worker's job, made and
    # stored after it
    wait_until(lambda: job_state(srv, backends, o["id"], "reversal") == "done", "the reversal made", 30)
    if outcome == "won":
        # The reversal, then the refund (a won dispute's charge can be refunded, as at Stripe).
        assert_order_end(srv, backends, double, buyer, o, "refunded", listing="sold", transfers=1, reversals=1,
                         refunds=1)
    else:
        g = assert_order_end(srv, backends, double, buyer, o, "dispute_lost", listing="sold", transfers=1,
                             reversals=1)
        assert g["reversals"][0]["amount"] == g["transfers"][0]["amount"]


def test_refund_made_just_before_a_dispute_is_booked(shop, backends):
    """The refund is made at Stripe, and a dispute opens before its answer is stored: the
    refund is stored and booked all the same (before: dropped, the ledger's Stripe balance
    too high by the amount); lost, the buyer was paid twice: a loss of the amount."""
    srv, double, seller, buyer, admin = shop
    o = paid_order(double, seller, buyer)
    double.fault("/v1/refunds", method="POST", timeout_ms=3000, after_effect=True)
    t = threading.Thread(target=lambda: admin.post(f"/v1/admin/orders/{o['id']}/refund"), daemon=True)
    t.start()
    wait_until(lambda: double.summary(str(o["id"]))["refunds"], "the refund made at Stripe", 30)
    double.dispute(charge_of(double, o["id"]), amount=2500)
    wait_state(buyer, o["id"], "disputed")
    t.join(10)
    wait_until(lambda: job_state(srv, backends, o["id"], "refund") == "done", "the refund's answer stored", 30)
    double.close_dispute(dispute_of(double, o["id"]), "lost")
    assert_order_end(srv, backends, double, buyer, o, "dispute_lost", listing="active", refunds=1,
                     accounts={"expense:dispute_losses": 2500})


def test_won_dispute_does_not_repeat_a_transfer_whose_key_expired(shop, backends):
    """The transfer was made but its answer lost; a dispute holds the job, is won after
    Stripe forgot the key: the job, run again, looks the transfer up before it POSTs (before:
    the rearm reset its attempts, it POSTed with a forgotten key: a second transfer)."""
    srv, double, seller, buyer, admin = shop
    o = paid_order(double, seller, buyer)
    transfer_made_but_unknown(double, seller, buyer, o)
    double.dispute(charge_of(double, o["id"]))
    wait_state(buyer, o["id"], "disputed")
    wait_until(lambda: job_state(srv, backends, o["id"], "transfer") == "held", "the transfer held", 30)
    double.expire_idempotency_keys()
    double.clear_faults()
    posts = len(double.requests("/v1/transfers", method="POST"))
    double.close_dispute(dispute_of(double, o["id"]), "won")
    assert_order_end(srv, backends, double, buyer, o, "completed", listing="sold", transfers=1)
    assert len(double.requests("/v1/transfers", method="POST")) == posts  # found, not POSTed again


def test_won_dispute_on_a_refunding_order_reverses_the_held_transfer(shop, backends):
    """An admin refunds a transferring order whose transfer was made (its answer lost); a
    dispute holds the transfer and refund jobs; won, both run again: the refund is made once and
    the transfer found, booked and reversed (before: the transfer job stayed held for ever
    and the seller kept the money)."""
    srv, double, seller, buyer, admin = shop
    o = paid_order(double, seller, buyer)
    transfer_made_but_unknown(double, seller, buyer, o)
    double.fault("/v1/refunds", method="POST", status=500, count=1000)
    r = admin.post(f"/v1/admin/orders/{o['id']}/refund")
    assert r.status == 200 and r.json["state"] == "refunding", r.describe()
    wait_until(lambda: double.requests("/v1/refunds", method="POST"), "a refund attempted", 30)
    double.dispute(charge_of(double, o["id"]))
    wait_state(buyer, o["id"], "disputed")
    double.clear_faults()
    double.close_dispute(dispute_of(double, o["id"]), "won")
    # the late transfer's reversal is the market worker's job, made and stored after the webhook
    wait_until(lambda: job_state(srv, backends, o["id"], "reversal") == "done", "the reversal made", 30)
    # (a won dispute's charge can be refunded, as at Stripe: the refund is made once)
    assert_order_end(srv, backends, double, buyer, o, "refunded", transfers=1, reversals=1, refunds=1)
    assert job_state(srv, backends, o["id"], "transfer") == "done"
    assert job_state(srv, backends, o["id"], "refund") == "done"


def test_transfer_waits_for_a_charge_not_yet_fetched(shop, backends):
    """A payment webhook without latest_charge, and the charge_fee job's read of the
    PaymentIntent failing: the transfer reads the charge itself before it POSTs (before: it
    POSTed an empty source_transaction, refused by Stripe, retried until parked)."""
    srv, double, seller, buyer, admin = shop
    listing = make_listing(seller)
    o = create_order(buyer, listing["id"]).json
    hooks(double, srv, hold=True)
    double.succeed(o["payment_intent_id"])
    pi = double.object(o["payment_intent_id"])
    pi["latest_charge"] = None
    double.fault("/v1/payment_intents/", method="GET", status=500, count=3)
    r = deliver(srv.client(), event("payment_intent.succeeded", pi), (double.webhook_secret,))
    assert r.status == 200, r.describe()
    wait_state(buyer, o["id"], "paid")
    hooks(double, srv)
    double.flush()
    assert seller.post(f"/v1/orders/{o['id']}/ship").status == 200
    assert buyer.post(f"/v1/orders/{o['id']}/confirm").status == 200
    assert_order_end(srv, backends, double, buyer, o, "completed", listing="sold", transfers=1)
    posts = double.requests("/v1/transfers", method="POST")
    assert posts and all(p["params"].get("source_transaction") for p in posts), posts


def test_refund_found_after_a_lost_dispute_is_booked(shop, backends):
    """The refund is made at Stripe but its answer lost (and every lookup failing); a dispute
    opens and is lost: the held refund job runs again, finds the refund (never POSTs one) and
    stores and books it once: the buyer was paid twice, a loss of the amount (before: held
    for ever, the refund in no record and the ledger's Stripe balance too high by it)."""
    srv, double, seller, buyer, admin = shop
    o = paid_order(double, seller, buyer)
    double.fault("/v1/refunds", method="POST", status=500, count=1, after_effect=True)
    double.fault("/v1/refunds", method="GET", status=500, count=1000)
    assert buyer.post(f"/v1/orders/{o['id']}/cancel").status == 200
    wait_until(lambda: double.summary(str(o["id"]))["refunds"], "the refund made at Stripe", 30)
    double.dispute(charge_of(double, o["id"]), amount=2500)
    wait_state(buyer, o["id"], "disputed")
    wait_until(lambda: job_state(srv, backends, o["id"], "refund") == "held", "the refund held", 30)
    double.close_dispute(dispute_of(double, o["id"]), "lost")
    wait_state(buyer, o["id"], "dispute_lost")
    posts = len(double.requests("/v1/refunds", method="POST"))
    double.clear_faults()
    wait_until(lambda: job_state(srv, backends, o["id"], "refund") == "done", "the refund found", 30)
    g = assert_order_end(srv, backends, double, buyer, o, "dispute_lost", listing="active", refunds=1,
                         accounts={"expense:dispute_losses": 2500})
    assert len(double.requests("/v1/refunds", method="POST")) == posts
    stored = sql(srv, backends, f"SELECT refund_id FROM orders WHERE id = {int(o['id'])}")
    assert stored == g["refunds"][0]["id"]
    refs = [r for r in ledger_rows(srv, backends, o["id"]) if r[0].endswith(":refund")]
    assert len(refs) == 2, refs  # one transaction, booked once


def test_refund_answer_landing_after_a_lost_dispute_is_booked(slow_shop, backends):
    """The refund is made at Stripe, and a dispute opens and is lost before its answer is
    stored: the answer is stored and booked all the same (before: dropped once the order was
    dispute_lost); the buyer was paid twice: a loss of the amount."""
    srv, double, seller, buyer, admin = slow_shop
    o = paid_order(double, seller, buyer)
    hooks(double, srv, hold=True)
    double.fault("/v1/refunds", method="POST", timeout_ms=15000, after_effect=True)
    t = threading.Thread(target=lambda: admin.post(f"/v1/admin/orders/{o['id']}/refund"), daemon=True)
    t.start()
    wait_until(lambda: double.summary(str(o["id"]))["refunds"], "the refund made at Stripe", 30)
    double.dispute(charge_of(double, o["id"]), amount=2500)
    double.close_dispute(dispute_of(double, o["id"]), "lost")
    hooks(double, srv)
    double.flush()  # the held events, the dispute's among them, delivered now
    wait_state(buyer, o["id"], "dispute_lost")
    t.join(20)
    wait_until(lambda: job_state(srv, backends, o["id"], "refund") == "done", "the refund's answer stored", 30)
    g = assert_order_end(srv, backends, double, buyer, o, "dispute_lost", listing="active", refunds=1,
                         accounts={"expense:dispute_losses": 2500})
    stored = sql(srv, backends, f"SELECT refund_id FROM orders WHERE id = {int(o['id'])}")
    assert stored == g["refunds"][0]["id"]

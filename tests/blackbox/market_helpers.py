"""Helpers of the marketplace's order tests (test_market_orders.py, test_market_faults.py,
test_market_ledger.py): a seller whose Stripe account the double enabled, a listing, an
admin, orders driven through the double, and the checks every test ends with (one charge
and at most one transfer per order at Stripe, a balanced ledger)."""
import uuid

from notify_helpers import sql, wait_until

HOOK_PATH = "/v1/webhooks/stripe"


def hooks(double, srv, **opts):
    """Sends the double's webhooks to srv (duplicate/reverse/hold as given)."""
    double.webhooks(srv.base_url + HOOK_PATH, **opts)


def make_seller(double, client):
    """A new user with an Express account that the double enabled (charges_enabled seen by chorusd)."""
    seller = client.register()
    r = seller.post("/v1/me/seller", json={})
    assert r.status in (200, 201), r.describe()
    account = r.json["account_id"]
    double.enable(account)
    wait_until(lambda: seller.get("/v1/me/seller").json.get("charges_enabled"), "charges_enabled", 30)
    seller.account = account
    return seller


def make_listing(seller, amount=2500, currency="usd", title="A lamp"):
    r = seller.post("/v1/listings", json={
        "title": title, "description": "Works.", "price": {"amount": amount, "currency": currency},
        "category": "home", "condition": "used", "photos": ["https://cdn.example.com/p/1.jpg"],
        "location": {"lat": 52.52, "lon": 13.405}})
    assert r.status == 201, r.describe()
    return r.json


def make_admin(srv, backends, client):
    """A user holding the admin role (a user_roles row: the bootstrap an operator does)."""
    admin = client.register()
    uid = int(admin.me()["id"])
    sql(srv, backends, f"INSERT INTO user_roles(user_id, role, granted_by, created_at) VALUES({uid}, 'admin', {uid}, 0)")
    return admin


def create_order(buyer, listing_id, key=None):
    r = buyer.post("/v1/orders", json={"listing_id": listing_id},
                   headers={"Idempotency-Key": key or str(uuid.uuid4())})
    return r


def order_of(user, order_id):
    r = user.get(f"/v1/orders/{order_id}")
    assert r.status == 200, r.describe()
    return r.json


def wait_state(user, order_id, state, timeout=30):
    """Until the order is in state (the worker and the webhooks are asynchronous)."""
    return wait_until(lambda: (o := order_of(user, order_id))["state"] == state and o,
                      lambda: f"order {order_id} {state} (now {order_of(user, order_id)['state']})", timeout)


def listing_state(user, listing_id):
    r = user.get(f"/v1/listings/{listing_id}")
    assert r.status == 200, r.describe()
    return r.json["state"]


def pay(double, buyer, order):
    """The buyer pays (the double succeeds the PaymentIntent and sends the webhooks); the order paid."""
    double.succeed(order["payment_intent_id"])
    return wait_state(buyer, order["id"], "paid")


def balance(admin):
    r = admin.get("/v1/admin/ledger/balance")
    assert r.status == 200, r.describe()
    return r.json


def assert_balanced(admin):
    b = balance(admin)
    assert b["balanced"], b
    for cur, per in b["currencies"].items():
        assert per["total"] == 0, (cur, per)
        assert sum(per["accounts"].values()) == 0, (cur, per)
    return b


def ledger_rows(srv, backends, order_id):
    """(ref, account, amount) of the order's ledger entries."""
    out = sql(srv, backends,
              "SELECT t.ref, e.account, e.amount FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.txn_id"
              f" WHERE t.order_id = {int(order_id)} ORDER BY e.id")
    return [tuple(line.split("|")[:2]) + (int(line.split("|")[2]),) for line in out.splitlines() if line]


def assert_stripe_once(double, order_id, transfers=(0, 1), refunds=None):
    """Stripe saw exactly one PaymentIntent, one successful payment and at most one transfer
    for the order (its transfer group)."""
    g = double.summary(str(order_id))
    assert len(g["payment_intents"]) == 1, g
    assert len(g["charges"]) == 1, g
    assert g["successful_payments"] == 1, g
    assert len(g["transfers"]) in transfers, g
    if refunds is not None:
        assert len(g["refunds"]) == refunds, g
    return g


def order_accounts(srv, backends, order_id):
    """{account: sum} of the order's ledger entries."""
    out = {}
    for _, account, amount in ledger_rows(srv, backends, order_id):
        out[account] = out.get(account, 0) + amount
    return out


def assert_order_end(srv, backends, double, buyer, order, state, listing=None, transfers=0, reversals=0,
                     refunds=0, accounts=None):
    """The order's end state, checked per order (not the whole ledger's balance, which
    every balanced transaction keeps at zero whatever it books): the order's state, its
    listing's, the double's count of charges/transfers/reversals/refunds in its transfer
    group, and its ledger: escrow, seller payable and disputed funds back to zero, the
    Stripe balance moved as Stripe's objects did (the charge less the transfer, refund and
    withdrawn amounts, plus the reversal), and any account given in `accounts` equal.
    The double's summary."""
    oid = order["id"]
    wait_state(buyer, oid, state)
    if listing is not None:
        assert listing_state(buyer, order["listing_id"]) == listing, (oid, listing)
    g = double.summary(str(oid))
    assert len(g["payment_intents"]) == 1 and len(g["charges"]) == 1, g
    assert len(g["transfers"]) == transfers, g
    assert len(g["reversals"]) == reversals, g
    assert len(g["refunds"]) == refunds, g
    moved = (sum(c["amount"] for c in g["charges"]) - sum(t["amount"] for t in g["transfers"])
             + sum(r["amount"] for r in g["reversals"]) - sum(r["amount"] for r in g["refunds"]))
    want = {"liability:escrow": 0, "liability:seller_payable": 0, "asset:disputed_funds": 0}
    want.update(accounts or {})

    # Disputes: Stripe withdrew each amount and put back a won one's (fees aside).
    moved -= sum(d["amount"] for d in g["disputes"] if d.get("status") != "won")
    last = {}

    def booked():
        mine = last["m"] = order_accounts(srv, backends, oid)
        got = {k: mine.get(k, 0) for k in want}
        cash = mine.get("platform:stripe_balance", 0) + mine.get("expense:stripe_fees", 0)
        return got == want and sum(mine.values()) == 0 and cash == moved
    wait_until(booked, lambda: f"order {oid} booked as Stripe moved it ({moved}, {want}): {last.get('m')}", 30)
    return g

"""Faults around an order's steps (issue 15): chorusd SIGKILLed between each pair of steps —
after the order row and before its PaymentIntent is stored (the double holds the answer),
after the payment and before its webhook is applied, after the transfer is made and before
it is stored (a 500 after the effect; a kill during a held answer), during a refund — then
restarted; every webhook delivered twice and newest first; Stripe 429/500 on each step.
Afterwards each order is in the right state (its listing too), Stripe saw exactly one
PaymentIntent and one charge and the expected transfers and refunds per order, and the
order's own ledger accounts match (market_helpers.assert_order_end).

Each test runs its own chorusd with a short Stripe deadline and no client retries
(CHORUS_STRIPE_TIMEOUT=4000, CHORUS_STRIPE_MAX_RETRIES=0): a job's lease is then a few
seconds, so a job a killed process held runs again soon; the jobs' own backoff retries."""
import signal
import threading
import uuid

import pytest

from market_helpers import (assert_order_end, create_order, hooks, make_admin, make_listing, make_seller, pay,
                            wait_state)
from notify_helpers import wait_until

FAULT_ENV = {"CHORUS_STRIPE_TIMEOUT": "4000", "CHORUS_STRIPE_MAX_RETRIES": "0"}


@pytest.fixture
def shop(start_server, stripe_double, backends):
    """(srv, double, seller, listing, buyer, admin) on a dedicated chorusd."""
    srv = start_server(env=FAULT_ENV, name="market-faults")
    stripe_double.reset()
    hooks(stripe_double, srv)
    api = srv.client()
    seller = make_seller(stripe_double, api)
    listing = make_listing(seller)
    buyer, admin = api.register(), make_admin(srv, backends, api)
    return srv, stripe_double, seller, listing, buyer, admin


def restart(srv, double, *accounts, **hook_opts):
    """SIGKILL, start again on the same database (a new port: the webhooks follow, the
    accounts' clients too)."""
    srv.signal(signal.SIGKILL)
    srv.proc.wait()
    srv.stop(check=False)
    srv.start()
    hooks(double, srv, **hook_opts)
    for a in accounts:
        a.client.base_url = srv.base_url
        a.client.port = srv.port


def wait_request(double, path_prefix, method="POST", key_suffix=None, n=1):
    """Until the double has seen n requests to path_prefix (with an Idempotency-Key ending so)."""
    def seen():
        rs = [r for r in double.requests(path_prefix, method=method)
              if key_suffix is None or (r["idempotency_key"] or "").endswith(key_suffix)]
        return rs if len(rs) >= n else None
    return wait_until(seen, f"{method} {path_prefix} at the double", 30)


def kill_while_held(srv, double, path, step, action, *users):
    """Stripe takes the step's POST to path but holds its answer; chorusd is SIGKILLed
    meanwhile and started again (users' clients follow it), and the faults are cleared.
    action (what makes the request; it may die with the server) runs in a thread: returned."""
    double.fault(path, method="POST", timeout_ms=20000, after_effect=True)
    t = threading.Thread(target=lambda: _swallow(action), daemon=True)
    t.start()
    wait_request(double, path, key_suffix=f":{step}")
    restart(srv, double, *users)
    double.clear_faults()
    return t


def completed(srv, backends, double, buyer, o):
    return assert_order_end(srv, backends, double, buyer, o, "completed", listing="sold", transfers=1)


def refunded(srv, backends, double, buyer, o):
    return assert_order_end(srv, backends, double, buyer, o, "refunded", listing="active", refunds=1)


def complete(double, seller, buyer, o):
    seller.post(f"/v1/orders/{o['id']}/ship")
    buyer.post(f"/v1/orders/{o['id']}/confirm")
    return wait_state(buyer, o["id"], "completed")


def test_kill_after_the_order_row_before_the_payment_intent_is_stored(shop, backends):
    srv, double, seller, listing, buyer, admin = shop
    # Stripe makes the PaymentIntent but its answer is held; chorusd dies meanwhile.
    key = str(uuid.uuid4())
    t = kill_while_held(srv, double, "/v1/payment_intents", "payment_intent",
                        lambda: create_order(buyer, listing["id"], key), seller, buyer, admin)
    # The order row survived; its job makes the PaymentIntent with the same key: Stripe's
    # first one, and the retry of the request answers the order.
    o = wait_until(lambda: (r := create_order(buyer, listing["id"], key)).status == 201 and r.json,
                   "the order answered after the restart", 40)
    assert o["payment_intent_id"] and o["client_secret"]
    assert len(double.summary(o["id"])["payment_intents"]) == 1
    pay(double, buyer, o)
    complete(double, seller, buyer, o)
    completed(srv, backends, double, buyer, o)
    t.join(5)


def test_payment_before_the_payment_intent_is_stored_then_refund(shop, backends):
    srv, double, seller, listing, buyer, admin = shop
    t = kill_while_held(srv, double, "/v1/payment_intents", "payment_intent",
                        lambda: create_order(buyer, listing["id"]), seller, buyer, admin)
    # The buyer pays (the client got the secret some other way, or Stripe retried) before
    # the job stored the PaymentIntent: the webhook finds the order by its metadata.
    order_id = buyer.get("/v1/orders").json["items"][0]["id"]
    pi = double.summary(order_id)["payment_intents"][0]["id"]
    double.succeed(pi)
    o = wait_state(buyer, order_id, "paid")
    assert o["payment_intent_id"] == pi
    buyer.post(f"/v1/orders/{order_id}/cancel")
    wait_state(buyer, order_id, "refunded", timeout=40)
    refunded(srv, backends, double, buyer, o)
    t.join(5)


def _swallow(fn):
    try:
        fn()
    except Exception:  # the server died under the request: expected
        pass


def test_kill_after_payment_before_the_webhook_is_applied(shop, backends):
    srv, double, seller, listing, buyer, admin = shop
    o = create_order(buyer, listing["id"]).json
    hooks(double, srv, hold=True)
    double.succeed(o["payment_intent_id"])
    restart(srv, double, seller, buyer, admin, hold=True)
    assert double.flush() >= 1
    double.wait_idle()
    hooks(double, srv)
    wait_state(buyer, o["id"], "paid")
    complete(double, seller, buyer, o)
    completed(srv, backends, double, buyer, o)


def test_transfer_made_but_its_answer_lost_500(shop, backends):
    srv, double, seller, listing, buyer, admin = shop
    o = create_order(buyer, listing["id"]).json
    pay(double, buyer, o)
    double.fault("/v1/transfers", method="POST", status=500, after_effect=True, count=1)
    complete(double, seller, buyer, o)
    # Stripe saved the 500 as the key's answer: the retry finds the transfer by its group
    # instead of asking again with the key.
    assert len(wait_request(double, "/v1/transfers", key_suffix=":transfer")) == 1
    assert wait_request(double, "/v1/transfers", method="GET")
    completed(srv, backends, double, buyer, o)


def test_kill_while_the_transfer_answer_is_held(shop, backends):
    srv, double, seller, listing, buyer, admin = shop
    o = create_order(buyer, listing["id"]).json
    pay(double, buyer, o)

    def ship_and_confirm():
        seller.post(f"/v1/orders/{o['id']}/ship")
        buyer.post(f"/v1/orders/{o['id']}/confirm")
    kill_while_held(srv, double, "/v1/transfers", "transfer", ship_and_confirm, seller, buyer, admin).join(5)
    wait_state(buyer, o["id"], "completed", timeout=40)
    completed(srv, backends, double, buyer, o)


def test_kill_during_a_refund(shop, backends):
    srv, double, seller, listing, buyer, admin = shop
    o = create_order(buyer, listing["id"]).json
    pay(double, buyer, o)
    kill_while_held(srv, double, "/v1/refunds", "refund", lambda: buyer.post(f"/v1/orders/{o['id']}/cancel"),
                    seller, buyer, admin).join(5)
    wait_state(buyer, o["id"], "refunded", timeout=40)
    refunded(srv, backends, double, buyer, o)


def test_webhooks_twice_and_newest_first(shop, backends):
    srv, double, seller, listing, buyer, admin = shop
    a = create_order(buyer, listing["id"]).json
    other_listing = make_listing(seller, amount=1500)
    b = create_order(buyer, other_listing["id"]).json
    hooks(double, srv, duplicate=True, hold=True, reverse=True)
    double.fail(a["payment_intent_id"])
    double.succeed(a["payment_intent_id"])  # failed, then paid: delivered paid first
    double.succeed(b["payment_intent_id"])
    assert double.flush() >= 4
    double.wait_idle()
    wait_state(buyer, a["id"], "paid")
    wait_state(buyer, b["id"], "paid")
    buyer.post(f"/v1/orders/{b['id']}/cancel")
    wait_state(buyer, b["id"], "refunded")
    complete(double, seller, buyer, a)
    hooks(double, srv)
    completed(srv, backends, double, buyer, a)
    refunded(srv, backends, double, buyer, b)


@pytest.mark.parametrize("status", [429, 500])
def test_stripe_errors_on_every_step_are_retried(shop, backends, status):
    srv, double, seller, listing, buyer, admin = shop
    for path in ("/v1/payment_intents", "/v1/transfers", "/v1/refunds", "/v1/balance_transactions"):
        double.fault(path, status=status, count=2)
    key = str(uuid.uuid4())
    # The request answers 503 while Stripe fails; the same key then answers the order.
    o = wait_until(lambda: (r := create_order(buyer, listing["id"], key)).status == 201 and r.json,
                   "the order once Stripe answers", 40)
    pay(double, buyer, o)
    complete(double, seller, buyer, o)
    other_listing = make_listing(seller, amount=1500)
    b = wait_until(lambda: (r := create_order(buyer, other_listing["id"], key + "b")).status == 201 and r.json,
                   "the second order", 40)
    pay(double, buyer, b)
    buyer.post(f"/v1/orders/{b['id']}/cancel")
    wait_state(buyer, b["id"], "refunded", timeout=40)
    completed(srv, backends, double, buyer, o)
    refunded(srv, backends, double, buyer, b)

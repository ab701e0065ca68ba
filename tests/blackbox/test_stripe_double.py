"""The Stripe test double (tests/stripe_double) behaves like Stripe where the marketplace
relies on it: objects and their links (payment intent → charge → balance transaction with
Stripe's fee; transfers from a source transaction; reversals; refunds; disputes), the
Idempotency-Key rules (replay, idempotency_error, 409 while in flight), requests that break
Stripe's spec answered 400 and recorded as violations, webhooks signed as Stripe signs them
(checked with the documented algorithm) with duplicate / held / reversed delivery and
retries, injected faults; the C client (src/store/stripe.c) passes its spec check; and every
chorusd the harness starts gets the CHORUS_STRIPE_* settings of the session's double."""
import http.server
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

import stripe_double as sd

ROOT = Path(__file__).resolve().parents[2]


class Receiver:
    """A webhook endpoint on 127.0.0.1 (port 0) that records each delivery and answers the
    scripted statuses in turn (then 200)."""

    def __init__(self, statuses=(), barrier=None):
        self.got = []
        self.statuses = list(statuses)
        self.lock = threading.Lock()
        self.barrier = barrier  # each delivery waits there first (answers 500 when it breaks)
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.barrier is not None:
                    try:
                        outer.barrier.wait()
                    except threading.BrokenBarrierError:
                        outer.statuses.insert(0, 500)
                with outer.lock:
                    outer.got.append((dict(self.headers), body))
                    status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def events(self):
        with self.lock:
            return [json.loads(b) for _, b in self.got]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(statuses=(), barrier=None):
        r = Receiver(statuses, barrier)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def double(stripe_double):
    stripe_double.reset()
    return stripe_double


def ok(a):
    assert a.status == 200, (a.status, a.body[:500])
    return a.json


def new_seller(d):
    acct = ok(d.api("POST", "/v1/accounts", {"type": "express", "country": "US", "email": "s@example.com",
                                            "capabilities": {"card_payments": {"requested": True},
                                                             "transfers": {"requested": True}}},
                    idempotency_key=f"acct-{time.monotonic_ns()}"))
    d.enable(acct["id"])
    return acct["id"]


def paid_intent(d, group, amount=2500):
    pi = ok(d.api("POST", "/v1/payment_intents", {"amount": amount, "currency": "usd", "transfer_group": group,
                                                  "metadata": {"order_id": group},
                                                  "automatic_payment_methods": {"enabled": True}},
                  idempotency_key=f"{group}-pi"))
    d.succeed(pi["id"])
    return ok(d.api("GET", f"/v1/payment_intents/{pi['id']}", {"expand": ["latest_charge.balance_transaction"]}))


# ---- objects ------------------------------------------------------------------------------

def test_onboarding_account_and_link(double):
    d = double
    acct = ok(d.api("POST", "/v1/accounts", {"type": "express", "capabilities": {"transfers": {"requested": True}}},
                    idempotency_key="a-1"))
    assert acct["id"].startswith("acct_") and acct["object"] == "account" and acct["type"] == "express"
    assert acct["charges_enabled"] is False and acct["requirements"]["currently_due"]
    link = ok(d.api("POST", "/v1/account_links", {"account": acct["id"], "type": "account_onboarding",
                                                  "refresh_url": "https://example.com/r",
                                                  "return_url": "https://example.com/b"}, idempotency_key="l-1"))
    assert link["object"] == "account_link" and link["url"].startswith("https://") and link["expires_at"] > time.time()
    upd = ok(d.api("POST", f"/v1/accounts/{acct['id']}",
                   {"settings": {"payouts": {"schedule": {"interval": "weekly", "weekly_anchor": "friday"}}}},
                   idempotency_key="a-2"))
    assert upd["settings"]["payouts"]["schedule"] == {"delay_days": 2, "interval": "weekly", "weekly_anchor": "friday"}
    enabled = d.enable(acct["id"])
    assert enabled["charges_enabled"] and enabled["payouts_enabled"] and enabled["requirements"]["currently_due"] == []
    req = d.require(acct["id"], ["external_account"], "requirements.past_due")
    assert not req["charges_enabled"] and req["requirements"]["currently_due"] == ["external_account"]
    types = [e["type"] for e in d.events()]
    assert types.count("account.updated") == 3
    ev = d.events("account.updated")[1]
    assert ev["account"] == acct["id"] and ev["data"]["previous_attributes"]["charges_enabled"] is False
    missing = d.api("POST", "/v1/account_links", {"account": "acct_nope", "type": "account_onboarding"},
                    idempotency_key="l-2")
    assert missing.status == 404 and missing.json["error"]["code"] == "resource_missing"


def test_payment_charge_fee_transfer_reversal_refund(double):
    d = double
    seller = new_seller(d)
    pi = paid_intent(d, "order-1", 10000)
    assert pi["status"] == "succeeded" and pi["transfer_group"] == "order-1"
    ch = pi["latest_charge"]
    txn = ch["balance_transaction"]
    assert ch["amount"] == 10000 and ch["payment_intent"] == pi["id"] and ch["transfer_group"] == "order-1"
    assert txn["type"] == "charge" and txn["fee"] == 320 and txn["net"] == 9680  # 2.9 % + 30
    tr = ok(d.api("POST", "/v1/transfers", {"amount": 9000, "currency": "usd", "destination": seller,
                                            "source_transaction": ch["id"], "transfer_group": "order-1"},
                  idempotency_key="order-1-transfer"))
    assert tr["source_transaction"] == ch["id"] and tr["destination"] == seller
    too_much = d.api("POST", "/v1/transfers", {"amount": 1001, "currency": "usd", "destination": seller,
                                               "source_transaction": ch["id"]}, idempotency_key="order-1-t2")
    assert too_much.status == 400 and too_much.json["error"]["code"] == "balance_insufficient"
    rev = ok(d.api("POST", f"/v1/transfers/{tr['id']}/reversals", {"amount": 9000}, idempotency_key="order-1-rev"))
    assert rev["object"] == "transfer_reversal" and rev["transfer"] == tr["id"]
    assert ok(d.api("GET", f"/v1/transfers/{tr['id']}"))["reversed"] is True
    re1 = ok(d.api("POST", "/v1/refunds", {"payment_intent": pi["id"], "amount": 4000}, idempotency_key="order-1-re1"))
    re2 = ok(d.api("POST", "/v1/refunds", {"charge": ch["id"]}, idempotency_key="order-1-re2"))
    assert (re1["amount"], re2["amount"]) == (4000, 6000)
    again = d.api("POST", "/v1/refunds", {"charge": ch["id"]}, idempotency_key="order-1-re3")
    assert again.status == 400 and again.json["error"]["code"] == "charge_already_refunded"
    txns = ok(d.api("GET", "/v1/balance_transactions", {"limit": 100}))["data"]
    by_type = sorted((t["type"], t["amount"]) for t in txns)
    assert by_type == [("charge", 10000), ("refund", -6000), ("refund", -4000), ("transfer", -9000),
                       ("transfer_refund", 9000)]
    only = ok(d.api("GET", "/v1/balance_transactions", {"source": ch["id"]}))["data"]
    assert [t["id"] for t in only] == [txn["id"]]
    s = d.summary("order-1")
    assert len(s["charges"]) == 1 and s["successful_payments"] == 1 and len(s["transfers"]) == 1
    assert len(s["reversals"]) == 1 and len(s["refunds"]) == 2
    types = [e["type"] for e in d.events()]
    for t in ("payment_intent.succeeded", "charge.succeeded", "transfer.created", "transfer.reversed",
              "charge.refunded", "refund.created"):
        assert t in types


def test_transfer_needs_an_enabled_destination_and_cancel_rules(double):
    d = double
    acct = ok(d.api("POST", "/v1/accounts", {"type": "express"}, idempotency_key="x-1"))
    pi = paid_intent(d, "order-2")
    r = d.api("POST", "/v1/transfers", {"amount": 100, "currency": "usd", "destination": acct["id"],
                                        "source_transaction": pi["latest_charge"]["id"]}, idempotency_key="x-2")
    assert r.status == 400 and r.json["error"]["code"] == "insufficient_capabilities_for_transfer"
    c = d.api("POST", f"/v1/payment_intents/{pi['id']}/cancel", idempotency_key="x-3")
    assert c.status == 400 and c.json["error"]["code"] == "payment_intent_unexpected_state"
    open_pi = ok(d.api("POST", "/v1/payment_intents", {"amount": 500, "currency": "usd"}, idempotency_key="x-4"))
    assert ok(d.api("POST", f"/v1/payment_intents/{open_pi['id']}/cancel", idempotency_key="x-5"))["status"] == "canceled"
    failed = ok(d.api("POST", "/v1/payment_intents", {"amount": 500, "currency": "usd"}, idempotency_key="x-6"))
    assert d.fail(failed["id"])["last_payment_error"]["code"] == "card_declined"
    assert d.events("payment_intent.payment_failed")


def test_disputes_withdraw_and_reinstate(double):
    d = double
    pi = paid_intent(d, "order-3", 5000)
    dp = d.dispute(pi["latest_charge"]["id"])
    assert dp["status"] == "needs_response" and dp["amount"] == 5000
    assert dp["balance_transactions"][0]["amount"] == -5000 and dp["balance_transactions"][0]["fee"] == 1500
    won = d.close_dispute(dp["id"], "won")
    assert won["status"] == "won" and [t["amount"] for t in won["balance_transactions"]] == [-5000, 5000]
    types = [e["type"] for e in d.events()]
    assert {"charge.dispute.created", "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated",
            "charge.dispute.closed"} <= set(types)
    assert ok(d.api("GET", f"/v1/disputes/{dp['id']}"))["status"] == "won"
    pi2 = paid_intent(d, "order-4", 700)
    dp2 = d.dispute(pi2["latest_charge"]["id"])
    assert ok(d.api("POST", f"/v1/disputes/{dp2['id']}/close", idempotency_key="dp2-close"))["status"] == "lost"


# ---- idempotency ----------------------------------------------------------------------------

def test_idempotent_replay_same_params(double):
    d = double
    params = {"amount": 2500, "currency": "eur", "transfer_group": "o-9", "metadata": {"order_id": "o-9"}}
    a = d.api("POST", "/v1/payment_intents", params, idempotency_key="o-9-pi")
    b = d.api("POST", "/v1/payment_intents", dict(reversed(list(params.items()))), idempotency_key="o-9-pi")
    assert a.status == b.status == 200
    assert a.json["id"] == b.json["id"] and a.json == b.json
    assert a.headers.get("Idempotent-Replayed") is None and b.headers.get("Idempotent-Replayed") == "true"
    assert len(d.summary("o-9")["payment_intents"]) == 1
    seen = d.requests("/v1/payment_intents")
    assert [r["replayed"] for r in seen] == [False, True] and {r["idempotency_key"] for r in seen} == {"o-9-pi"}
    # an answer that was an error is replayed too (the endpoint ran)
    e1 = d.api("POST", "/v1/refunds", {"charge": "ch_nope"}, idempotency_key="re-x")
    e2 = d.api("POST", "/v1/refunds", {"charge": "ch_nope"}, idempotency_key="re-x")
    assert e1.status == e2.status == 404 and e2.headers.get("Idempotent-Replayed") == "true"


def test_replay_is_the_first_answer_not_the_object_now(double):
    d = double
    params = {"amount": 800, "currency": "usd", "transfer_group": "o-rp"}
    a = d.api("POST", "/v1/payment_intents", params, idempotency_key="o-rp-pi")
    d.succeed(a.json["id"])  # the object changed since
    b = d.api("POST", "/v1/payment_intents", params, idempotency_key="o-rp-pi")
    assert b.headers.get("Idempotent-Replayed") == "true"
    assert b.body == a.body and b.json["status"] == "requires_payment_method"


def test_lookups_for_an_unknown_outcome(double):
    """What a caller that lost an answer uses to find the object: transfers by
    transfer_group, PaymentIntents by search on metadata, refunds by payment_intent."""
    d = double
    seller = new_seller(d)
    pi = paid_intent(d, "o-lk")
    paid_intent(d, "o-other")
    tr = ok(d.api("POST", "/v1/transfers", {"amount": 1000, "currency": "usd", "destination": seller,
                                            "source_transaction": pi["latest_charge"]["id"], "transfer_group": "o-lk"},
                  idempotency_key="o-lk-tr"))
    got = ok(d.api("GET", "/v1/transfers", {"transfer_group": "o-lk"}))["data"]
    assert [t["id"] for t in got] == [tr["id"]]
    found = ok(d.api("GET", "/v1/payment_intents/search", {"query": "metadata['order_id']:'o-lk'"}))
    assert found["object"] == "search_result" and [x["id"] for x in found["data"]] == [pi["id"]]
    both = ok(d.api("GET", "/v1/payment_intents/search", {"query": "metadata['order_id']:'o-lk' AND status:'succeeded'"}))
    assert [x["id"] for x in both["data"]] == [pi["id"]]
    assert ok(d.api("GET", "/v1/payment_intents/search", {"query": "status:'canceled'"}))["data"] == []
    re = ok(d.api("POST", "/v1/refunds", {"payment_intent": pi["id"], "amount": 100}, idempotency_key="o-lk-re"))
    assert [x["id"] for x in ok(d.api("GET", "/v1/refunds", {"payment_intent": pi["id"]}))["data"]] == [re["id"]]


def test_disputed_charge_cannot_be_refunded(double):
    d = double
    pi = paid_intent(d, "o-dr")
    d.dispute(pi["latest_charge"]["id"])
    r = d.api("POST", "/v1/refunds", {"payment_intent": pi["id"]}, idempotency_key="o-dr-re")
    assert r.status == 400 and r.json["error"]["code"] == "charge_disputed"
    assert d.summary("o-dr")["refunds"] == []


def test_stripe_account_scopes_objects(double):
    """An object made with Stripe-Account lives on that connected account: not seen
    without the header (nor with another account's), and platform objects not with it."""
    d = double
    acct = new_seller(d)
    on = ok(d.api("POST", "/v1/payment_intents", {"amount": 300, "currency": "usd"}, idempotency_key="sa-1",
                  headers={"Stripe-Account": acct}))
    plat = ok(d.api("POST", "/v1/payment_intents", {"amount": 400, "currency": "usd"}, idempotency_key="sa-2"))
    assert d.api("GET", f"/v1/payment_intents/{on['id']}").status == 404
    assert ok(d.api("GET", f"/v1/payment_intents/{on['id']}", headers={"Stripe-Account": acct}))["id"] == on["id"]
    assert d.api("GET", f"/v1/payment_intents/{plat['id']}", headers={"Stripe-Account": acct}).status == 404
    listed = ok(d.api("GET", "/v1/payment_intents", headers={"Stripe-Account": acct}))["data"]
    assert [x["id"] for x in listed] == [on["id"]]
    assert on["id"] not in [x["id"] for x in ok(d.api("GET", "/v1/payment_intents"))["data"]]
    assert ok(d.api("GET", f"/v1/accounts/{acct}"))["id"] == acct  # accounts are the platform's


def test_idempotency_error_on_other_params(double):
    d = double
    ok(d.api("POST", "/v1/payment_intents", {"amount": 2500, "currency": "eur"}, idempotency_key="k-1"))
    r = d.api("POST", "/v1/payment_intents", {"amount": 2600, "currency": "eur"}, idempotency_key="k-1")
    assert r.status == 400 and r.json["error"]["type"] == "idempotency_error"
    r = d.api("POST", "/v1/refunds", {"amount": 2500}, idempotency_key="k-1")  # another endpoint
    assert r.status == 400 and r.json["error"]["type"] == "idempotency_error"
    assert len(d.summary()["payment_intents"]) == 1
    # keys are per connected account (Stripe-Account)
    other = d.api("POST", "/v1/payment_intents", {"amount": 2600, "currency": "eur"}, idempotency_key="k-1",
                  headers={"Stripe-Account": "acct_x"})
    assert other.status == 200


def test_in_flight_same_key_is_409_then_replayed(double):
    d = double
    seller = new_seller(d)
    ch = paid_intent(d, "o-10")["latest_charge"]["id"]
    d.fault("/v1/transfers", method="POST", timeout_ms=5000)  # room for the second request on a loaded machine
    params = {"amount": 1000, "currency": "usd", "destination": seller, "source_transaction": ch, "transfer_group": "o-10"}
    first = {}
    t = threading.Thread(target=lambda: first.setdefault("a", d.api("POST", "/v1/transfers", params,
                                                                   idempotency_key="o-10-transfer")))
    t.start()
    deadline = time.monotonic() + 30
    while not d.requests("/v1/transfers") and time.monotonic() < deadline:
        time.sleep(0.02)
    second = d.api("POST", "/v1/transfers", params, idempotency_key="o-10-transfer")
    assert second.status == 409 and second.json["error"]["type"] == "idempotency_error"
    t.join(15)
    assert first["a"].status == 200
    third = d.api("POST", "/v1/transfers", params, idempotency_key="o-10-transfer")
    assert third.status == 200 and third.json["id"] == first["a"].json["id"]
    assert third.headers.get("Idempotent-Replayed") == "true"
    assert len(d.summary("o-10")["transfers"]) == 1


# ---- the spec check ---------------------------------------------------------------------------

def test_requests_that_break_the_spec_are_400_and_recorded(double):
    d = double
    start = d.last_violation_seq()
    ids = []
    cases = [
        ("POST", "/v1/payment_intents", {"amount": 100, "currency": "usd", "colour": "red"}, "parameter_unknown", "colour"),
        ("POST", "/v1/payment_intents", {"amount": "ten", "currency": "usd"}, "parameter_invalid_integer", "amount"),
        ("POST", "/v1/payment_intents", {"currency": "usd"}, "parameter_missing", "amount"),
        ("POST", "/v1/payment_intents", {"amount": 1, "currency": "usd", "capture_method": "later"}, "parameter_invalid",
         "capture_method"),
        ("POST", "/v1/transfers", {"amount": 1, "currency": "usd", "destination": "acct_1", "metadata": {"a": {"b": "c"}}},
         "parameter_invalid", "metadata[a]"),
        ("GET", "/v1/balance_transactions", {"created": {"since": 5}}, "parameter_unknown", "created[since]"),
    ]
    for i, (method, path, params, code, param) in enumerate(cases):
        r = d.api(method, path, params, idempotency_key=f"bad-{i}" if method == "POST" else None)
        ids.append(r.headers["Request-Id"])
        assert r.status == 400, (path, params, r.body)
        err = r.json["error"]
        assert err["type"] == "invalid_request_error" and err["code"] == code and err["param"] == param, err
    more = [d.api("POST", "/v1/teapots", {}, idempotency_key="bad-x"),
            d.api("GET", "/v1/payment_intents", {"limit": 1}, version="2020-08-27"),
            d.api("POST", "/v1/payment_intents", {"amount": 100, "currency": "usd"})]  # no key
    assert [r.status for r in more] == [404, 200, 200]
    ids += [r.headers["Request-Id"] for r in more]
    v = d.take_violations(ids)
    assert [x.get("param") for x in v[:len(cases)]] == [c[4] for c in cases]
    msgs = [x["message"] for x in v[len(cases):]]
    assert len(msgs) == 3 and "Unrecognized request URL" in msgs[0]
    assert "Stripe-Version is 2020-08-27" in msgs[1] and "without Idempotency-Key" in msgs[2]
    assert d.violations(after=start) == []
    # a wrong key is Stripe's 401, not a violation of the spec
    assert d.api("GET", "/v1/balance", key="sk_test_wrong").status == 401
    assert d.violations(after=start) == []


def test_take_violations_takes_only_the_given_requests(double):
    """Taking a test's own violations leaves every other one (earlier tests' included) for
    the per-test and the session checks."""
    d = double
    start = d.last_violation_seq()
    a = d.api("POST", "/v1/payment_intents", {"amount": "x", "currency": "usd"}, idempotency_key="tv-1")
    b = d.api("POST", "/v1/payment_intents", {"amount": "y", "currency": "usd"}, idempotency_key="tv-2")
    assert a.status == b.status == 400
    assert [x["request_id"] for x in d.take_violations([a.headers["Request-Id"]])] == [a.headers["Request-Id"]]
    assert [x["request_id"] for x in d.violations(after=start)] == [b.headers["Request-Id"]]
    d.take_violations([b.headers["Request-Id"]])
    assert d.violations(after=start) == []


def test_invalid_forms_cannot_pass_or_pollute(double):
    """__proto__/constructor/prototype as key parts are refused (they wrote to
    Object.prototype); an empty required value is missing (it passed the check), except
    where the schema allows "" (metadata= unsets)."""
    d = double
    ids = []
    for params in ({"amount": 100, "currency": "usd", "__proto__": {"polluted": "1"}},
                   {"amount": 100, "currency": "usd", "metadata": {"constructor": {"x": "1"}}},
                   {"amount": 100, "currency": "usd", "prototype": "1"}):
        r = d.api("POST", "/v1/payment_intents", params, idempotency_key=f"pp-{len(ids)}")
        ids.append(r.headers["Request-Id"])
        assert r.status == 400 and "invalid parameter name" in r.json["error"]["message"], r.body
    # later requests are unharmed: no stray "polluted" parameter anywhere
    good = ok(d.api("POST", "/v1/payment_intents", {"amount": 100, "currency": "usd"}, idempotency_key="pp-ok"))
    assert "polluted" not in good and good["metadata"] == {}
    r = d.api("POST", "/v1/payment_intents", {"amount": 100, "currency": ""}, idempotency_key="pp-empty")
    ids.append(r.headers["Request-Id"])
    assert r.status == 400 and r.json["error"]["code"] == "parameter_missing" and r.json["error"]["param"] == "currency"
    ok(d.api("POST", f"/v1/payment_intents/{good['id']}", {"metadata": ""}, idempotency_key="pp-unset"))
    assert len(d.take_violations(ids)) == 4


def test_a_bug_of_the_double_is_a_violation(double):
    """Whatever the double throws outside its handlers is answered 500 and recorded as a
    double_bug violation (the per-test check fails the test that hit it)."""
    d = double
    d.fault("/v1/balance", crash=True)
    r = d.api("GET", "/v1/balance")
    assert r.status == 500
    v = d.take_violations([r.headers["Request-Id"]])
    assert len(v) == 1 and v[0]["kind"] == "double_bug" and "injected" in v[0]["message"]
    # a malformed percent-encoding in a path is Stripe's 404, not a crash
    r = d.api("GET", "/v1/payment_intents/%E0%A4%A")
    assert r.status == 404
    assert [x["message"][:24] for x in d.take_violations([r.headers["Request-Id"]])] == ["Unrecognized request URL"]


def test_c_client_passes_the_spec_check(double):
    """tests/unit/test_stripe_call.c's case against a real Stripe-compatible server: nested
    params, expand, query ranges, replay and idempotency_error through the C client."""
    binary = Path(os.environ.get("CHORUS_BIN", ROOT / "build-asan" / "chorusd")).parent / "test_stripe_call"
    if not binary.exists():
        pytest.skip(f"{binary} not built")
    env = dict(os.environ, CHORUS_TEST_STRIPE_API=double.url, CHORUS_TEST_STRIPE_KEY=double.secret_key)
    p = subprocess.run([str(binary)], env=env, capture_output=True, text=True, timeout=120)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "[  SKIPPED ]" not in out, out
    assert double.violations() == []
    assert any(r["replayed"] for r in double.requests("/v1/payment_intents"))


# ---- webhooks ----------------------------------------------------------------------------------

def test_webhooks_are_signed_as_stripe_signs_them(double, receiver):
    d = double
    r = receiver()
    d.webhooks(r.url)
    pi = ok(d.api("POST", "/v1/payment_intents", {"amount": 900, "currency": "usd"}, idempotency_key="w-1"))
    d.succeed(pi["id"])
    d.wait_idle()
    assert [e["type"] for e in r.events()] == ["payment_intent.created", "payment_intent.succeeded", "charge.succeeded"]
    for headers, body in r.got:
        sig = headers["Stripe-Signature"]
        assert sig.startswith("t=") and sig.count("v1=") == 1
        assert sd.verify(sig, body, d.webhook_secret)
        assert not sd.verify(sig, body, "whsec_other")
        assert not sd.verify(sig, body + b" ", d.webhook_secret)
        assert not sd.verify(sig, body, d.webhook_secret, now=int(time.time()) + 301)
    created = r.events()[0]
    assert created["data"]["object"]["id"] == pi["id"] and created["request"]["idempotency_key"] == "w-1"
    # rolling secrets: one v1 per secret, each verifies with its own
    r2 = receiver()
    d.webhooks(r2.url, secret=["whsec_old", "whsec_new"])
    d.succeed(ok(d.api("POST", "/v1/payment_intents", {"amount": 900, "currency": "usd"}, idempotency_key="w-2"))["id"])
    d.wait_idle()
    headers, body = r2.got[0]
    assert headers["Stripe-Signature"].count("v1=") == 2
    assert sd.verify(headers["Stripe-Signature"], body, "whsec_old") and sd.verify(headers["Stripe-Signature"], body, "whsec_new")
    # a stale timestamp on purpose (for the receiver's tolerance tests)
    r3 = receiver()
    d.webhooks(r3.url, timestamp_offset_s=-600)
    ok(d.api("POST", "/v1/payment_intents", {"amount": 900, "currency": "usd"}, idempotency_key="w-3"))
    d.wait_idle()
    headers, body = r3.got[0]
    assert not sd.verify(headers["Stripe-Signature"], body, d.webhook_secret)
    assert sd.verify(headers["Stripe-Signature"], body, d.webhook_secret, now=int(time.time()) - 600)


def test_duplicate_hold_and_reverse_delivery(double, receiver):
    d = double
    r = receiver()
    d.webhooks(r.url, duplicate=True)
    ok(d.api("POST", "/v1/payment_intents", {"amount": 900, "currency": "usd"}, idempotency_key="h-1"))
    d.wait_idle()
    ids = [e["id"] for e in r.events()]
    assert len(ids) == 2 and ids[0] == ids[1]
    r2 = receiver()
    d.webhooks(r2.url, hold=True, reverse=True)
    pi = ok(d.api("POST", "/v1/payment_intents", {"amount": 900, "currency": "usd"}, idempotency_key="h-2"))
    d.succeed(pi["id"])
    assert d.webhook_status()["held"] == 3  # queued when made: nothing is on its way
    assert r2.got == []
    assert d.flush() == 3
    d.wait_idle()
    assert [e["type"] for e in r2.events()] == ["charge.succeeded", "payment_intent.succeeded", "payment_intent.created"]


def test_concurrent_delivery(double, receiver):
    """concurrent: both copies of a duplicated event are in flight at once (each delivery
    waits at a barrier of two: delivered one at a time, the barrier breaks and they fail),
    and so are several events."""
    d = double
    r = receiver(barrier=threading.Barrier(2, timeout=10))
    d.webhooks(r.url, duplicate=True, concurrent=True, retries=0)
    ok(d.api("POST", "/v1/payment_intents", {"amount": 900, "currency": "usd"}, idempotency_key="cc-1"))
    d.wait_idle()
    ev = d.events("payment_intent.created")[-1]
    assert [x["status"] for x in ev["deliveries"]] == [200, 200]
    r2 = receiver(barrier=threading.Barrier(3, timeout=10))
    d.webhooks(r2.url, hold=True, concurrent=True, retries=0)
    for i in range(3):
        ok(d.api("POST", "/v1/payment_intents", {"amount": 901 + i, "currency": "usd"}, idempotency_key=f"cc-2-{i}"))
    assert d.flush() == 3
    d.wait_idle()
    assert sorted(e["data"]["object"]["amount"] for e in r2.events()) == [901, 902, 903]
    assert all(x["status"] == 200 for e in d.events("payment_intent.created")[-3:] for x in e["deliveries"])


def test_delivery_is_retried_on_errors(double, receiver):
    d = double
    r = receiver([500, 503])
    d.webhooks(r.url)
    pi = ok(d.api("POST", "/v1/payment_intents", {"amount": 900, "currency": "usd"}, idempotency_key="r-1"))
    d.wait_idle()
    ev = d.events("payment_intent.created")[-1]
    assert ev["data"]["object"]["id"] == pi["id"]
    assert [x["status"] for x in ev["deliveries"]] == [500, 503, 200]
    assert len(r.got) == 3 and len({json.loads(b)["id"] for _, b in r.got}) == 1
    # a receiver that was down: nothing got through; redeliver() sends what never got a 2xx
    down = receiver([500] * 4)
    d.webhooks(down.url, retries=1)
    ok(d.api("POST", "/v1/payment_intents", {"amount": 901, "currency": "usd"}, idempotency_key="r-2"))
    ok(d.api("POST", "/v1/payment_intents", {"amount": 902, "currency": "usd"}, idempotency_key="r-3"))
    d.wait_idle()
    assert len(down.got) == 4
    assert d.redeliver() == 2
    d.wait_idle()
    assert [e["data"]["object"]["amount"] for e in down.events()[4:]] == [901, 902]
    assert d.redeliver() == 0


# ---- faults ---------------------------------------------------------------------------------------

def test_faults_before_and_after_the_effect(double):
    d = double
    d.fault("/v1/payment_intents", method="POST", status=500)
    params = {"amount": 1200, "currency": "usd", "transfer_group": "f-1"}
    assert d.api("POST", "/v1/payment_intents", params, idempotency_key="f-1-pi").status == 500
    assert d.summary("f-1")["payment_intents"] == []  # failed before any effect, nothing stored
    first = ok(d.api("POST", "/v1/payment_intents", params, idempotency_key="f-1-pi"))
    d.fault("/v1/payment_intents", status=429, count=2)
    assert [d.api("GET", f"/v1/payment_intents/{first['id']}").status for _ in range(3)] == [429, 429, 200]
    # a 500 after the effect: the object exists; as Stripe, the 500 is the key's saved result
    # (the endpoint ran) and a retry with the key gets it again, told not to retry: the
    # outcome is found by a lookup
    d.fault("/v1/refunds", status=500, after_effect=True)
    d.succeed(first["id"])
    lost = d.api("POST", "/v1/refunds", {"payment_intent": first["id"]}, idempotency_key="f-1-refund")
    assert lost.status == 500
    assert len(d.summary("f-1")["refunds"]) == 1
    again = d.api("POST", "/v1/refunds", {"payment_intent": first["id"]}, idempotency_key="f-1-refund")
    assert again.status == 500 and again.body == lost.body
    assert again.headers.get("Idempotent-Replayed") == "true" and again.headers.get("Stripe-Should-Retry") == "false"
    assert len(d.summary("f-1")["refunds"]) == 1
    found = ok(d.api("GET", "/v1/refunds", {"payment_intent": first["id"]}))["data"]
    assert [x["id"] for x in found] == [x["id"] for x in d.summary("f-1")["refunds"]]
    # Stripe forgets keys after 24 h: then the same key runs the request again
    assert d.expire_idempotency_keys(["f-1-refund"]) == 1
    rerun = d.api("POST", "/v1/refunds", {"payment_intent": first["id"]}, idempotency_key="f-1-refund")
    assert rerun.status == 400 and rerun.json["error"]["code"] == "charge_already_refunded"
    assert rerun.headers.get("Idempotent-Replayed") is None
    # a timeout after the effect: the client gives up, the object exists
    d.fault("/v1/payment_intents", method="POST", timeout_ms=1500, after_effect=True)
    with pytest.raises(TimeoutError):
        d.request("POST", "/v1/payment_intents", sd.form_encode({"amount": 5, "currency": "usd", "transfer_group": "f-2"}).encode(),
                  {"Authorization": f"Bearer {d.secret_key}", "Stripe-Version": sd.API_VERSION, "Idempotency-Key": "f-2",
                   "Content-Type": "application/x-www-form-urlencoded"}, timeout=0.5)
    assert len(d.summary("f-2")["payment_intents"]) == 1
    bad = [{"path_prefix": "/x", "status": 500}, {"path_prefix": "/v1", "status": 418},
           {"path_prefix": "/v1", "status": 500, "timeout_ms": 5}, {"path_prefix": "/v1", "timeout_ms": 10 ** 9}]
    for b in bad:
        a = d.request("POST", "/_double/faults", json.dumps(b).encode(), {"Content-Type": "application/json"})
        assert a.status == 400, b


# ---- the harness --------------------------------------------------------------------------------

def _environ(pid):
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(x.decode().split("=", 1) for x in raw if b"=" in x)


def test_every_chorusd_gets_the_settings_of_the_double(server, start_server, stripe_double):
    want = {"CHORUS_STRIPE_API": stripe_double.url, "CHORUS_STRIPE_SECRET_KEY": stripe_double.secret_key,
            "CHORUS_STRIPE_WEBHOOK_SECRET": stripe_double.webhook_secret}
    for s in (server, start_server()):
        env = _environ(s.proc.pid)
        assert {k: env.get(k) for k in want} == want
        # with a key, chorusd made its Stripe clients (svc->stripe), whose counters show
        assert 'chorus_stripe_calls_total{result="ok"}' in s.client().get("/metrics").text
    # without a key, none (the marketplace answers 503 where it needs Stripe)
    off = start_server(env={"CHORUS_STRIPE_SECRET_KEY": ""})
    assert "chorus_stripe_calls_total" not in off.client().get("/metrics").text
    h = stripe_double.control("GET", "/_double/health")
    assert h["ok"] is True


# ---- the shipped spec extract -------------------------------------------------------------------

def test_shipped_extract_equals_a_fresh_extraction():
    """tests/stripe_double/spec3.extract.json.gz and fixtures3.extract.json.gz are what
    extract_spec.js makes of ../shared/specs/stripe today (where that exists: a fresh clone
    has only the extract), so the shipped files cannot drift from Stripe's spec or from the
    operations server.js models."""
    if sd.spec_dir() is None:
        pytest.skip("../shared/specs/stripe/spec3.yaml is absent (a fresh clone): nothing to compare with")
    if not (ROOT / "tools" / "api" / "node_modules" / "js-yaml").is_dir():
        pytest.skip("tools/api/node_modules (js-yaml) is missing (scripts/deps.sh test)")
    r = subprocess.run([sd.node_binary(), str(sd.EXTRACT_JS), "--shared", str(sd.spec_dir()), "--check"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_double_runs_from_the_extract_and_knows_only_its_operations(double):
    """The double reads the shipped extract (no ../shared needed); an operation Stripe has
    but the extract leaves out is an unrecognized URL and a violation, and a request to a kept
    operation is still checked against its schema."""
    assert "spec3.extract.json.gz" in " ".join(double.proc.args)
    r = double.api("GET", "/v1/customers", {"limit": 1})
    assert r.status == 404
    v = double.take_violations([r.headers["Request-Id"]])
    assert len(v) == 1 and "Unrecognized request URL" in v[0]["message"]
    bad = double.api("POST", "/v1/account_links", {"account": "acct_1", "type": "account_onboarding", "colour": "red"},
                     idempotency_key="ex-1")
    assert bad.status == 400 and bad.json["error"]["code"] == "parameter_unknown" and bad.json["error"]["param"] == "colour"
    assert len(double.take_violations([bad.headers["Request-Id"]])) == 1

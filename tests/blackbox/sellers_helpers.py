"""Helpers of the marketplace tests of the sellers part (test_market_listings.py,
test_market_sellers.py, test_market_webhooks.py): becoming a seller through the Stripe test
double, listing bodies, signed webhook deliveries made by hand."""
import json
import secrets
import time

import stripe_double as sd

WEBHOOK = "/v1/webhooks/stripe"


def listing_body(**over):
    body = {
        "title": "Road bike, 56 cm",
        "description": "Aluminium frame,\nnew tyres.",
        "price": {"amount": 25000, "currency": "EUR"},
        "category": "sports",
        "condition": "used",
        "photos": ["https://cdn.example.com/l/1.jpg"],
        "location": {"lat": 48.8566, "lon": 2.3522},
    }
    body.update(over)
    return body


def wait_for(what, fn, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def onboard(acc, expect=None):
    """POST /v1/me/seller; returns the answer's body."""
    r = acc.post("/v1/me/seller", json={})
    assert r.status in ((expect,) if expect else (200, 201)), r.describe()
    return r.json


def seller_state(acc):
    r = acc.get("/v1/me/seller")
    assert r.status == 200, r.describe()
    return r.json


def become_seller(acc, double, server, enable=True):
    """Makes acc a seller through the double; with enable, waits until account.updated (sent
    by the double to server's webhook) enabled charges. Returns the account id."""
    double.webhooks(server.base_url + WEBHOOK)
    account = onboard(acc, expect=201)["account_id"]
    if enable:
        double.enable(account)
        wait_for("charges_enabled", lambda: seller_state(acc)["charges_enabled"])
    return account


def create_listing(acc, **over):
    r = acc.post("/v1/listings", json=listing_body(**over))
    assert r.status == 201, r.describe()
    return r.json


def event(type_, obj, created=None, event_id=None):
    """A Stripe event object (as the double or Stripe makes them)."""
    return {
        "id": event_id or "evt_" + secrets.token_hex(12),
        "object": "event",
        "api_version": sd.API_VERSION,
        "created": int(time.time()) if created is None else created,
        "type": type_,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }


def account_object(account_id, charges=True, payouts=True, currently_due=(), disabled_reason=None):
    return {
        "id": account_id,
        "object": "account",
        "type": "express",
        "charges_enabled": charges,
        "payouts_enabled": payouts,
        "requirements": {"currently_due": list(currently_due), "past_due": [], "eventually_due": [],
                         "disabled_reason": disabled_reason},
        "settings": {"payouts": {"schedule": {"interval": "daily", "delay_days": 2}}},
    }


def deliver(client, payload, secrets_=(), t=None, header=None):
    """POSTs payload (a dict, or bytes as they are) to the webhook, signed with each of
    secrets_ at time t (now by default), or with header as given. Returns the response."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    t = int(time.time()) if t is None else t
    if header is None:
        header = f"t={t}" + "".join(f",v1={sd.sign(s, t, body)}" for s in secrets_)
    return client.post(WEBHOOK, body=body, headers={"Stripe-Signature": header},
                       content_type="application/json; charset=utf-8")

"""Sellers (brd/market.md "Sellers"): onboarding through Stripe Connect Express (one account
per user, by idempotency key; a fresh Account Link per call), the seller object kept current
from account.updated, the payout schedule set through Stripe, and Stripe failing or not
configured (503, nothing stored)."""
import pytest

from client import expect_problem, expect_status
from sellers_helpers import WEBHOOK, onboard, seller_state, wait_for


def account_requests(double, user_id):
    return [r for r in double.requests("/v1/accounts", method="POST")
            if r["path"] == "/v1/accounts" and r["idempotency_key"] == f"seller:{user_id}:account"]


def link_requests(double, account):
    return [r for r in double.requests("/v1/account_links", method="POST") if r["params"].get("account") == account]


def test_onboarding_makes_one_account_and_fresh_links(api, stripe_double, server):
    acc = api.register()
    expect_problem(acc.get("/v1/me/seller"), 404, "not_found")
    first = onboard(acc, expect=201)
    assert first["account_id"].startswith("acct_") and first["onboarding_url"] and first["expires_at"]
    second = onboard(acc, expect=200)
    assert second["account_id"] == first["account_id"]
    reqs = account_requests(stripe_double, acc.id)
    assert len(reqs) == 1 and reqs[0]["status"] == 200
    assert reqs[0]["params"]["type"] == "express"
    links = link_requests(stripe_double, first["account_id"])
    assert len(links) == 2 and all(r["params"]["type"] == "account_onboarding" for r in links)
    assert links[0]["idempotency_key"] != links[1]["idempotency_key"]
    assert links[0]["params"]["return_url"].endswith("step=return")
    assert links[0]["params"]["refresh_url"].endswith("step=refresh")
    s = seller_state(acc)
    assert s["account_id"] == first["account_id"] and s["charges_enabled"] is False


def test_onboarding_urls_from_the_request(api, stripe_double):
    acc = api.register()
    body = {"return_url": "https://app.example.com/done", "refresh_url": "https://app.example.com/again"}
    account = expect_status(acc.post("/v1/me/seller", json=body), 201).json["account_id"]
    link = link_requests(stripe_double, account)[-1]["params"]
    assert link["return_url"] == body["return_url"] and link["refresh_url"] == body["refresh_url"]
    for bad, field in [({"return_url": "http://app.example.com"}, "return_url"),
                       ({"refresh_url": 5}, "refresh_url"), ({"colour": 1}, "colour")]:
        expect_problem(acc.post("/v1/me/seller", json=bad), 422, "invalid_field", field)
    assert len(link_requests(stripe_double, account)) == 1


def test_seller_follows_account_updated(api, stripe_double, server):
    acc = api.register()
    stripe_double.webhooks(server.base_url + WEBHOOK)
    account = onboard(acc)["account_id"]
    stripe_double.enable(account)
    s = wait_for("enabled", lambda: (lambda s: s if s["charges_enabled"] else None)(seller_state(acc)))
    assert s["payouts_enabled"] is True
    assert s["requirements"] == {"currently_due": [], "past_due": [], "disabled_reason": None}
    stripe_double.require(account, currently_due=["individual.verification.document"],
                          disabled_reason="requirements.past_due")
    s = wait_for("disabled", lambda: (lambda s: s if not s["charges_enabled"] else None)(seller_state(acc)))
    assert s["requirements"]["currently_due"] == ["individual.verification.document"]
    assert s["requirements"]["disabled_reason"] == "requirements.past_due"


def test_payout_schedule(api, stripe_double):
    acc = api.register()
    expect_problem(acc.patch("/v1/me/seller", json={"payout_schedule": {"interval": "daily"}}), 404, "not_found")
    account = onboard(acc)["account_id"]
    path = f"/v1/accounts/{account}"
    r = expect_status(acc.patch("/v1/me/seller", json={"payout_schedule": {"interval": "weekly",
                                                                            "weekly_anchor": "friday",
                                                                            "delay_days": 7}}), 200)
    assert r.json["payout_schedule"]["interval"] == "weekly"
    assert r.json["payout_schedule"]["weekly_anchor"] == "friday"
    assert r.json["payout_schedule"]["delay_days"] == 7
    sent = [q for q in stripe_double.requests(path, method="POST") if q["path"] == path]
    assert sent[-1]["params"]["settings"]["payouts"]["schedule"] == {"interval": "weekly", "weekly_anchor": "friday",
                                                                     "delay_days": "7"}
    r = expect_status(acc.patch("/v1/me/seller", json={"payout_schedule": {"interval": "monthly",
                                                                            "monthly_anchor": 31,
                                                                            "delay_days": "minimum"}}), 200)
    assert r.json["payout_schedule"]["interval"] == "monthly" and r.json["payout_schedule"]["monthly_anchor"] == 31
    before = len(stripe_double.requests(path, method="POST"))
    bad = [
        ({}, "payout_schedule"),
        ({"payout_schedule": None}, "payout_schedule"),
        ({"payout_schedule": {"interval": "hourly"}}, "payout_schedule.interval"),
        ({"payout_schedule": {}}, "payout_schedule.interval"),
        ({"payout_schedule": {"interval": "weekly"}}, "payout_schedule.weekly_anchor"),
        ({"payout_schedule": {"interval": "daily", "weekly_anchor": "monday"}}, "payout_schedule.weekly_anchor"),
        ({"payout_schedule": {"interval": "weekly", "weekly_anchor": "someday"}}, "payout_schedule.weekly_anchor"),
        ({"payout_schedule": {"interval": "monthly"}}, "payout_schedule.monthly_anchor"),
        ({"payout_schedule": {"interval": "monthly", "monthly_anchor": 32}}, "payout_schedule.monthly_anchor"),
        ({"payout_schedule": {"interval": "monthly", "monthly_anchor": 0}}, "payout_schedule.monthly_anchor"),
        ({"payout_schedule": {"interval": "daily", "monthly_anchor": 3}}, "payout_schedule.monthly_anchor"),
        ({"payout_schedule": {"interval": "daily", "delay_days": 1}}, "payout_schedule.delay_days"),
        ({"payout_schedule": {"interval": "daily", "delay_days": "max"}}, "payout_schedule.delay_days"),
        ({"payout_schedule": {"interval": "manual", "delay_days": 3}}, "payout_schedule.delay_days"),
        ({"payout_schedule": {"interval": "daily", "when": 1}}, "payout_schedule"),
        ({"payout_schedule": {"interval": "daily"}, "x": 1}, "x"),
    ]
    for body, field in bad:
        expect_problem(acc.patch("/v1/me/seller", json=body), 422, "invalid_field", field)
    assert len(stripe_double.requests(path, method="POST")) == before
    assert seller_state(acc)["payout_schedule"]["interval"] == "monthly"


def test_stripe_down_stores_nothing(api, stripe_double):
    acc = api.register()
    stripe_double.fault("/v1/accounts", method="POST", status=503, count=20)
    expect_problem(acc.post("/v1/me/seller", json={}), 503, "unavailable")
    expect_problem(acc.get("/v1/me/seller"), 404, "not_found")
    stripe_double.clear_faults()
    account = onboard(acc, expect=201)["account_id"]
    # the retry after the outage made no second account: one key, one account
    assert len({r["idempotency_key"] for r in account_requests(stripe_double, acc.id)}) == 1
    stripe_double.fault(f"/v1/accounts/{account}", method="POST", status=503, count=20)
    expect_problem(acc.patch("/v1/me/seller", json={"payout_schedule": {"interval": "manual"}}), 503, "unavailable")
    assert seller_state(acc)["payout_schedule"]["interval"] != "manual"
    stripe_double.clear_faults()


def test_stripe_not_configured(start_server):
    s = start_server(env={"CHORUS_STRIPE_SECRET_KEY": ""})
    acc = s.client().register()
    r = expect_problem(acc.post("/v1/me/seller", json={}), 503, "unavailable")
    assert "CHORUS_STRIPE_SECRET_KEY" in r["detail"]
    expect_problem(acc.get("/v1/me/seller"), 404, "not_found")


def test_seller_writes_per_user_are_limited(api, stripe_double):
    """Each POST /v1/me/seller makes an Account Link at Stripe: 20 seller writes per user
    and 10 minutes, then 429; another user is not affected."""
    acc = api.register()
    for _ in range(20):
        onboard(acc)
    before = len(stripe_double.requests("/v1/account_links", method="POST"))
    expect_problem(acc.post("/v1/me/seller", json={}), 429, "rate_limited")
    expect_problem(acc.patch("/v1/me/seller", json={"payout_schedule": {"interval": "manual"}}), 429, "rate_limited")
    assert len(stripe_double.requests("/v1/account_links", method="POST")) == before  # no Stripe call
    onboard(api.register(), expect=201)


def test_stripe_calls_in_flight_are_bounded(start_server, stripe_double):
    """Stripe hangs: four handler calls wait on it (CH_SELLER_STRIPE_INFLIGHT_MAX with 16
    workers); the fifth is answered 503 overloaded at once, without calling Stripe."""
    import threading
    s = start_server(env={"CHORUS_STRIPE_MAX_RETRIES": "0", "CHORUS_STRIPE_TIMEOUT": "3000",
                          "CHORUS_WORKERS": "16"})
    c = s.client()
    users = [c.register() for _ in range(5)]
    stripe_double.fault("/v1/accounts", method="POST", timeout_ms=5000, count=4)
    answers = []
    threads = [threading.Thread(target=lambda u=u: answers.append(u.post("/v1/me/seller", json={}).status))
               for u in users[:4]]
    try:
        for t in threads:
            t.start()
        wait_for("four account calls held by Stripe",
                 lambda: sum(len(account_requests(stripe_double, u.id)) for u in users[:4]) >= 4)
        expect_problem(users[4].post("/v1/me/seller", json={}), 503, "overloaded")
        assert account_requests(stripe_double, users[4].id) == []
    finally:
        for t in threads:
            t.join()
        stripe_double.clear_faults()
    assert sorted(answers) == [503] * 4
    onboard(users[4], expect=201)  # once they are done, calls go through again

"""CHORUS_MARKET_CURRENCIES (issue 15): Stripe settles the platform's balance in its
settlement currency, so the marketplace takes only the currencies the operator lists
(default usd): a listing priced in another currency, or an order of a listing whose
currency is no longer taken, is refused with 422 currency_not_accepted and nothing is
stored or charged."""
from client import expect_problem
from market_helpers import create_order, hooks, make_listing, make_seller
from sellers_helpers import listing_body as sellers_listing_body


def listing_body(currency, amount=2500):
    return sellers_listing_body(price={"amount": amount, "currency": currency})


def test_only_the_settlement_currencies_are_taken(start_server, stripe_double):
    double = stripe_double
    srv = start_server(env={"CHORUS_MARKET_CURRENCIES": "usd"}, name="currencies")
    double.reset()
    hooks(double, srv)
    api = srv.client()
    seller = make_seller(double, api)
    for cur in ("eur", "EUR", "jpy"):
        p = expect_problem(seller.post("/v1/listings", json=listing_body(cur)), 422, "currency_not_accepted",
                           "price.currency")
        assert "usd" in p["detail"], p
    # an unknown code stays invalid_field; the accepted one works, in either case
    expect_problem(seller.post("/v1/listings", json=listing_body("xyz")), 422, "invalid_field", "price.currency")
    ok = seller.post("/v1/listings", json=listing_body("USD"))
    assert ok.status == 201, ok.describe()
    lid = ok.json["id"]
    # an edit to another currency is refused, the listing unchanged
    expect_problem(seller.patch(f"/v1/listings/{lid}", json={"price": {"amount": 900, "currency": "gbp"}}), 422,
                   "currency_not_accepted", "price.currency")
    assert seller.get(f"/v1/listings/{lid}").json["price"] == {"amount": 2500, "currency": "USD"}
    items = seller.get(f"/v1/users/{seller.id}/listings").json["items"]
    assert [i["id"] for i in items] == [lid]


def test_an_order_in_a_currency_no_longer_taken_is_refused(start_server, stripe_double):
    """A listing made while eur was taken, ordered after the operator dropped it."""
    double = stripe_double
    srv = start_server(env={"CHORUS_MARKET_CURRENCIES": "usd,eur"}, name="currencies-old")
    double.reset()
    hooks(double, srv)
    api = srv.client()
    seller = make_seller(double, api)
    eur = make_listing(seller, currency="eur")
    srv.stop()
    srv2 = start_server(env={"CHORUS_MARKET_CURRENCIES": "usd"}, storage=srv.storage_env, name="currencies-new")
    hooks(double, srv2)
    buyer = srv2.client().register()
    before = len(double.requests("/v1/payment_intents", method="POST"))
    expect_problem(create_order(buyer, eur["id"]), 422, "currency_not_accepted", "listing_id")
    assert len(double.requests("/v1/payment_intents", method="POST")) == before

"""Listings (brd/market.md "Listings"): only sellers with charges enabled may list, every bad
field is a 422 naming it that stores nothing, owner-only changes, states, removal, a seller's
page, blocks, and reactions and comments through the engagement endpoints (the seventh item
type)."""
import pytest

from client import expect_problem, expect_status
from sellers_helpers import become_seller, create_listing, listing_body
import social


@pytest.fixture
def seller(api, stripe_double, server):
    acc = api.register()
    become_seller(acc, stripe_double, server)
    return acc


def listings_of(acc, user_id, **q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    r = acc.get(f"/v1/users/{user_id}/listings" + (f"?{qs}" if qs else ""))
    assert r.status == 200, r.describe()
    return r.json


def test_only_enabled_sellers_may_list(api, stripe_double, server):
    plain = api.register()
    expect_problem(plain.post("/v1/listings", json=listing_body()), 403, "seller_not_enabled")
    pending = api.register()
    become_seller(pending, stripe_double, server, enable=False)
    expect_problem(pending.post("/v1/listings", json=listing_body()), 403, "seller_not_enabled")
    assert listings_of(pending, pending.id)["items"] == []
    assert listings_of(plain, plain.id)["items"] == []


def test_create_and_read(seller, other):
    lst = create_listing(seller)
    assert lst["type"] == "listing" and lst["state"] == "active"
    assert lst["price"] == {"amount": 25000, "currency": "EUR"}
    assert lst["seller"]["id"] == seller.id and lst["seller_id"] == seller.id
    assert lst["location"] == {"lat": 48.8566, "lon": 2.3522}
    assert lst["description"] == "Aluminium frame,\nnew tyres."
    assert lst["my_reaction"] is None and lst["counts"]["reactions_total"] == 0
    r = expect_status(other.get(f"/v1/listings/{lst['id']}"), 200)
    assert r.json == lst
    assert [i["id"] for i in listings_of(other, seller.id)["items"]] == [lst["id"]]


def test_zero_decimal_currency_amounts_are_whole_units(seller):
    jpy = create_listing(seller, price={"amount": 1999, "currency": "jpy"})
    assert jpy["price"] == {"amount": 1999, "currency": "JPY"}
    kwd = create_listing(seller, price={"amount": 1500, "currency": "KWD"})
    assert kwd["price"] == {"amount": 1500, "currency": "KWD"}


BAD = [
    ({"title": "x" * 141}, "title"),
    ({"title": ""}, "title"),
    ({"title": None}, "title"),
    ({"description": "d" * 5001}, "description"),
    ({"photos": []}, "photos"),
    ({"photos": [f"https://cdn.example.com/{i}.jpg" for i in range(11)]}, "photos"),
    ({"photos": ["https://cdn.example.com/a.jpg", "http://cdn.example.com/b.jpg"]}, "photos[1]"),
    ({"photos": "https://cdn.example.com/a.jpg"}, "photos"),
    ({"price": {"amount": 0, "currency": "EUR"}}, "price.amount"),
    ({"price": {"amount": -5, "currency": "EUR"}}, "price.amount"),
    ({"price": {"amount": 12.5, "currency": "EUR"}}, "price.amount"),
    ({"price": {"amount": "100", "currency": "EUR"}}, "price.amount"),
    ({"price": {"amount": 100}}, "price.currency"),
    ({"price": {"amount": 100, "currency": "XYZ"}}, "price.currency"),
    ({"price": {"amount": 100, "currency": "EURO"}}, "price.currency"),
    ({"price": {"amount": 100, "currency": "EUR", "tax": 1}}, "price"),
    # amounts Stripe would refuse: under its minimum charge, over eight digits, a
    # three-decimal currency's last digit not 0
    ({"price": {"amount": 49, "currency": "EUR"}}, "price.amount"),
    ({"price": {"amount": 29, "currency": "GBP"}}, "price.amount"),
    ({"price": {"amount": 49, "currency": "JPY"}}, "price.amount"),
    ({"price": {"amount": 100000000, "currency": "USD"}}, "price.amount"),
    ({"price": {"amount": 1505, "currency": "KWD"}}, "price.amount"),
    ({"price": {"amount": 5, "currency": "BHD"}}, "price.amount"),
    ({"price": 100}, "price"),
    ({"category": "weapons"}, "category"),
    ({"condition": "broken"}, "condition"),
    ({"location": {"lat": 91, "lon": 0}}, "location.lat"),
    ({"location": {"lat": 0, "lon": -180.5}}, "location.lon"),
    ({"location": {"lat": "1", "lon": 0}}, "location.lat"),
    ({"location": {"lat": 1}}, "location"),
    ({"colour": "red"}, "colour"),
]


@pytest.mark.parametrize("over,field", BAD, ids=[f for _, f in BAD])
def test_bad_input_is_422_and_stores_nothing(seller, over, field):
    expect_problem(seller.post("/v1/listings", json=listing_body(**over)), 422, "invalid_field", field)
    assert listings_of(seller, seller.id)["items"] == []


@pytest.mark.parametrize("missing", ["title", "price", "category", "condition", "photos", "location"])
def test_required_fields(seller, missing):
    body = listing_body()
    del body[missing]
    expect_problem(seller.post("/v1/listings", json=body), 422, "invalid_field", missing)
    assert listings_of(seller, seller.id)["items"] == []


def test_edit_by_owner_only(seller, other):
    lst = create_listing(seller)
    r = expect_status(seller.patch(f"/v1/listings/{lst['id']}",
                                   json={"price": {"amount": 22000, "currency": "EUR"}, "title": "Road bike"}), 200)
    assert r.json["price"]["amount"] == 22000 and r.json["title"] == "Road bike"
    assert r.json["photos"] == lst["photos"]
    assert other.get(f"/v1/listings/{lst['id']}").json["price"]["amount"] == 22000
    expect_problem(other.patch(f"/v1/listings/{lst['id']}", json={"title": "mine"}), 403, "forbidden")
    expect_problem(other.delete(f"/v1/listings/{lst['id']}"), 403, "forbidden")
    for bad, field in [({}, None), ({"title": None}, "title"), ({"photos": []}, "photos"), ({"colour": "red"}, "colour"),
                       ({"price": {"amount": 1, "currency": "ABC"}}, "price.currency"),
                       ({"price": {"amount": 1505, "currency": "KWD"}}, "price.amount")]:
        r = seller.patch(f"/v1/listings/{lst['id']}", json=bad)
        expect_problem(r, 422, "invalid_field")
        if field:
            assert r.json["field"] == field
    after = seller.get(f"/v1/listings/{lst['id']}").json
    assert after["title"] == "Road bike" and after["price"]["amount"] == 22000


def test_reserved_and_sold_listings(seller, server, backends):
    reserved, sold = create_listing(seller), create_listing(seller)
    social.db_rows(server, backends, f"UPDATE listings SET state = 'reserved', order_id = 1 WHERE id = {reserved['id']}")
    social.db_rows(server, backends, f"UPDATE listings SET state = 'sold', order_id = 2 WHERE id = {sold['id']}")
    for lst in (reserved, sold):
        expect_problem(seller.patch(f"/v1/listings/{lst['id']}", json={"title": "new"}), 409, "conflict", "state")
    expect_problem(seller.delete(f"/v1/listings/{reserved['id']}"), 409, "conflict", "state")
    rows = social.db_rows(server, backends, f"SELECT state, title FROM listings WHERE id IN ({reserved['id']}, {sold['id']}) ORDER BY id")
    assert rows == [("reserved", "Road bike, 56 cm"), ("sold", "Road bike, 56 cm")]
    expect_status(seller.delete(f"/v1/listings/{sold['id']}"), 204)


def test_remove_hides_it_everywhere(seller, other):
    a, b = create_listing(seller), create_listing(seller, title="Lamp", category="home")
    expect_status(seller.delete(f"/v1/listings/{a['id']}"), 204)
    for acc in (seller, other):
        expect_problem(acc.get(f"/v1/listings/{a['id']}"), 404, "not_found")
        assert [i["id"] for i in listings_of(acc, seller.id)["items"]] == [b["id"]]
    expect_problem(seller.patch(f"/v1/listings/{a['id']}", json={"title": "back"}), 404, "not_found")
    r = other.client.request("PUT", f"/v1/listings/{a['id']}/reaction", json={"kind": "like"}, token=other.access_token)
    expect_problem(r, 404, "not_found")


def test_seller_page_cursor(seller, other):
    ids = [create_listing(seller, title=f"item {i}")["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        page = listings_of(other, seller.id, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    expect_problem(other.get(f"/v1/users/{seller.id}/listings?limit=0"), 422, "invalid_field", "limit")


def test_blocks_hide_listings(seller, other):
    lst = create_listing(seller)
    social.block(seller, other)
    expect_problem(other.get(f"/v1/listings/{lst['id']}"), 404, "not_found")
    expect_problem(other.get(f"/v1/users/{seller.id}/listings"), 404, "not_found")
    r = other.client.request("PUT", f"/v1/listings/{lst['id']}/reaction", json={"kind": "like"}, token=other.access_token)
    expect_problem(r, 404, "not_found")
    expect_problem(other.post(f"/v1/listings/{lst['id']}/comments", json={"text": "hi"}), 404, "not_found")


def test_reactions_and_comments_on_a_listing(seller, other):
    lst = create_listing(seller)
    r = other.client.request("PUT", f"/v1/listings/{lst['id']}/reaction", json={"kind": "love"}, token=other.access_token)
    expect_status(r, 200)
    c = expect_status(other.post(f"/v1/listings/{lst['id']}/comments", json={"text": "Still available?"}), 201).json
    got = other.get(f"/v1/listings/{lst['id']}").json
    assert got["my_reaction"] == "love"
    assert got["counts"]["reactions"] == {"love": 1} and got["counts"]["comments"] == 1
    assert seller.get(f"/v1/listings/{lst['id']}").json["my_reaction"] is None
    reactors = expect_status(seller.get(f"/v1/listings/{lst['id']}/reactions"), 200).json["items"]
    assert [x["user"]["id"] for x in reactors] == [other.id]
    comments = expect_status(seller.get(f"/v1/listings/{lst['id']}/comments"), 200).json["items"]
    assert [x["id"] for x in comments] == [c["id"]]
    # a reaction on the comment of a listing (its visibility goes through the listing)
    r = seller.client.request("PUT", f"/v1/comments/{c['id']}/reaction", json={"kind": "like"}, token=seller.access_token)
    expect_status(r, 200)
    assert seller.get(f"/v1/comments/{c['id']}").json["counts"]["reactions_total"] == 1
    r = other.client.request("DELETE", f"/v1/listings/{lst['id']}/reaction", token=other.access_token)
    expect_status(r, 204)
    assert other.get(f"/v1/listings/{lst['id']}").json["counts"]["reactions_total"] == 0


def test_the_seller_is_notified_of_reactions_and_comments(seller, other):
    from notify_helpers import wait_group
    lst = create_listing(seller)
    r = other.client.request("PUT", f"/v1/listings/{lst['id']}/reaction", json={"kind": "like"}, token=other.access_token)
    expect_status(r, 200)
    expect_status(other.post(f"/v1/listings/{lst['id']}/comments", json={"text": "Is it still there?"}), 201)
    target = {"type": "listing", "id": lst["id"]}
    assert [a["id"] for a in wait_group(seller, "reaction", target)["actors"]] == [other.id]
    assert [a["id"] for a in wait_group(seller, "comment", target)["actors"]] == [other.id]


def test_idempotency_key(seller):
    h = {"Idempotency-Key": "listing-once"}
    a = expect_status(seller.post("/v1/listings", json=listing_body(), headers=h), 201)
    b = expect_status(seller.post("/v1/listings", json=listing_body(), headers=h), 201)
    assert b.json["id"] == a.json["id"] and b.header("Idempotent-Replayed") == "true"
    expect_problem(seller.post("/v1/listings", json=listing_body(title="Other"), headers=h), 422, "idempotency_mismatch")
    assert [i["id"] for i in listings_of(seller, seller.id)["items"]] == [a.json["id"]]


def test_removing_a_listing_drops_its_notifications(seller, other):
    from notify_helpers import group, wait_group, wait_until
    lst = create_listing(seller)
    r = other.client.request("PUT", f"/v1/listings/{lst['id']}/reaction", json={"kind": "like"}, token=other.access_token)
    expect_status(r, 200)
    target = {"type": "listing", "id": lst["id"]}
    wait_group(seller, "reaction", target)
    expect_status(seller.delete(f"/v1/listings/{lst['id']}"), 204)
    wait_until(lambda: group(seller, "reaction", target) is None, "the removed listing's notification to go")

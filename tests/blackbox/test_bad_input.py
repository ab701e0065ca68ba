"""Bad input answers (issue 9): unknown members where the spec says
`additionalProperties: false`, numbers beyond 64 bits, display names with bidi/format
characters or nothing visible, the UTF-8 error naming its field, and hashtags folded by a
Unicode library (NFC and NFD spellings are one tag). Each bad request changes nothing."""
import json
import pathlib
import time
import unicodedata
import urllib.parse

import pytest
import yaml

from client import PASSWORD, expect_problem, expect_status, unique_handle
from social import post, reel

SPEC = pathlib.Path(__file__).resolve().parents[2] / "api" / "openapi.yaml"
REGISTER, LOGIN, REFRESH, ME = "/v1/auth/register", "/v1/auth/login", "/v1/auth/refresh", "/v1/me"


def handle_free(viewer, handle):
    return viewer.get(f"/v1/users/by-handle/{handle}").status == 404


# ---- unknown members -----------------------------------------------------------------------

def closed_request_bodies():
    """(METHOD, path, schema name) of every request body the spec closes."""
    spec = yaml.safe_load(SPEC.read_text())
    schemas = spec["components"]["schemas"]
    found = set()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if not isinstance(op, dict) or "requestBody" not in op:
                continue
            for content in op["requestBody"].get("content", {}).values():
                ref = content["schema"].get("$ref", "")
                name = ref.rsplit("/", 1)[-1]
                if schemas.get(name, {}).get("additionalProperties") is False:
                    found.add((method.upper(), path, name))
    return found


def test_every_closed_request_schema_is_tested():
    """The routes below are all the spec closes: a new closed schema must join them."""
    assert closed_request_bodies() == {("POST", REGISTER, "RegisterRequest"), ("POST", LOGIN, "LoginRequest"),
                                       ("POST", REFRESH, "RefreshRequest"), ("PATCH", ME, "MeUpdate"),
                                       ("PATCH", "/v1/me/presence", "PresenceSettings"),
                                       ("POST", "/v1/conversations/{id}/messages", "MessageSendRequest"),
                                       ("PATCH", "/v1/conversations/{id}/messages/{msg_id}", "MessageEditRequest"),
                                       ("POST", "/v1/conversations/{id}/read", "ReadReceiptRequest"),
                                       # market (test_market_listings/sellers/roles.py test each)
                                       ("POST", "/v1/listings", "ListingCreate"),
                                       ("PATCH", "/v1/listings/{id}", "ListingUpdate"),
                                       ("POST", "/v1/me/seller", "SellerOnboardRequest"),
                                       ("PATCH", "/v1/me/seller", "SellerUpdate"),
                                       ("POST", "/v1/admin/users/{id}/roles", "RoleGrant"),
                                       ("POST", "/v1/orders", "OrderCreate")}


def test_order_body_refuses_unknown_members(user):
    # Checked before anything else (no listing, no Stripe call): nothing is made.
    expect_problem(user.post("/v1/orders", json={"listing_id": "1", "quantity": 2}), 422, "invalid_field", "quantity")
    assert user.get("/v1/orders").json["items"] == []


def test_presence_setting_refuses_unknown_members(user):
    expect_problem(user.patch("/v1/me/presence", json={"hidden": True, "visible": False}), 422, "invalid_field",
                   "visible")
    assert user.get("/v1/me/presence").json == {"hidden": False}


def test_chat_bodies_refuse_unknown_members(api, user):
    import chat_helpers
    other = api.register()
    cid = chat_helpers.conv(user, other)["id"]
    r = user.post(f"/v1/conversations/{cid}/messages", json={"client_msg_id": "c1", "text": "x", "silent": True})
    expect_problem(r, 422, "invalid_field", "silent")
    assert chat_helpers.history(user, cid)["items"] == []
    msg = chat_helpers.send(user, cid, "hello")
    r = user.patch(f"/v1/conversations/{cid}/messages/{msg['id']}", json={"text": "edited", "pinned": True})
    expect_problem(r, 422, "invalid_field", "pinned")
    expect_problem(user.post(f"/v1/conversations/{cid}/read", json={"seq": 1, "all": True}), 422, "invalid_field",
                   "all")


@pytest.mark.parametrize("extra", ["is_admin", "Handle", "handle ", "", "\u00e9t\u00e9"])
def test_register_refuses_unknown_members(api, user, extra):
    handle = unique_handle()
    body = {"handle": handle, "password": PASSWORD, "display_name": "Fine", extra: True}
    p = expect_problem(api.post(REGISTER, json=body), 422, "invalid_field", extra or '""')
    assert f'unknown field "{extra}"' in p["detail"]
    assert handle_free(user, handle)
    # The allowed members are all accepted.
    body.pop(extra)
    expect_status(api.post(REGISTER, json={**body, "device_name": "phone"}), 201)


def test_login_refuses_unknown_members(api, user):
    before = len(user.all_sessions())
    r = api.post(LOGIN, json={"handle": user.handle, "password": PASSWORD, "remember_me": True})
    expect_problem(r, 422, "invalid_field", "remember_me")
    assert len(user.all_sessions()) == before  # no session opened
    expect_status(api.post(LOGIN, json={"handle": user.handle, "password": PASSWORD, "device_name": "d"}), 200)


def test_refresh_refuses_unknown_members_and_keeps_the_token(api, user):
    r = api.post(REFRESH, json={"refresh_token": user.refresh_token, "scope": "all"})
    expect_problem(r, 422, "invalid_field", "scope")
    # The token was not used up: it still rotates once.
    expect_status(api.post(REFRESH, json={"refresh_token": user.refresh_token}), 200)


@pytest.mark.parametrize("extra,value", [("handle", "someone_else"), ("followers_count", 10**6),
                                         ("is_verified", True), ("displayName", "x")])
def test_patch_me_refuses_unknown_members_and_changes_nothing(api, user, extra, value):
    r = user.patch(ME, json={"bio": "changed", extra: value})
    expect_problem(r, 422, "invalid_field", extra)
    assert user.me() == user.user


# ---- numbers beyond 64 bits ----------------------------------------------------------------

BIG = [b"99999999999999999999999", b"9223372036854775808", b"-9223372036854775809", b"1e999", b"-1e400"]


@pytest.mark.parametrize("num", BIG, ids=[n.decode() for n in BIG])
def test_huge_watch_ms_is_422_naming_it(api, user, other, num):
    r = reel(user)
    resp = other.post(f"/v1/reels/{r['id']}/view", body=b'{"watch_ms": ' + num + b"}")
    p = expect_problem(resp, 422, "invalid_field", "watch_ms")
    assert "watch_ms" in p["detail"]
    # In range but too big for the field is the field's own 422.
    expect_problem(other.post(f"/v1/reels/{r['id']}/view", body=b'{"watch_ms": 9223372036854775807}'), 422,
                   "invalid_field", "watch_ms")


def test_huge_numbers_elsewhere_name_their_field(api, user):
    handle = unique_handle()
    body = b'{"handle": "' + handle.encode() + b'", "password": "' + PASSWORD.encode() + b'", "n": 1' + b"0" * 40 + b"}"
    expect_problem(api.post(REGISTER, body=body), 422, "invalid_field", "n")
    assert handle_free(user, handle)
    expect_problem(user.patch(ME, body=b'{"bio": "x", "is_private": 123456789012345678901234567890}'), 422,
                   "invalid_field", "is_private")
    assert user.me() == user.user
    body = (b'{"text": "hi", "media": [{"url": "https://cdn.example.com/a.jpg", "kind": "image", '
            b'"width": 184467440737095516160}]}')
    expect_problem(user.post("/v1/posts", body=body), 422, "invalid_field", "media[0].width")


def test_huge_number_with_broken_json_is_still_400(api, user):
    expect_problem(user.patch(ME, body=b'{"bio": 99999999999999999999999,}'), 400, "malformed_json")
    expect_problem(user.patch(ME, body=b"99999999999999999999999"), 400, "malformed_json")
    assert user.me() == user.user


# ---- display names -------------------------------------------------------------------------

BAD_NAMES = [
    "abc\u202edcba",        # RIGHT-TO-LEFT OVERRIDE
    "\u202aAlice\u202c",    # LRE ... PDF
    "\u202bAlice",          # RLE
    "Alice\u202d",          # LRO
    "\u2066Alice\u2069",    # LRI ... PDI
    "\u2067Alice",          # RLI
    "\u2068Alice",          # FSI
    "Al\u200bice",          # ZERO WIDTH SPACE
    "Al\u00adice",          # SOFT HYPHEN
    "Alice\u200f",          # RIGHT-TO-LEFT MARK
    "Al\u2060ice",          # WORD JOINER
    "\ufeffAlice",          # BOM
    "Alice\u2028Liddell",   # LINE SEPARATOR
    "Alice\ue000",          # private use
    "Alice\U000e0041",      # TAG LATIN CAPITAL LETTER A
    "   ",                  # only spaces
    "\u3000\u00a0",         # ideographic space, NBSP
    "\u200d",               # ZWJ alone
    "\u3164",               # HANGUL FILLER
    "\u115f\u1160",         # Hangul choseong/jungseong fillers
    "\uffa0",               # HALFWIDTH HANGUL FILLER
    "\u0301\u0301",         # combining marks alone
    "\ufe0f",               # VARIATION SELECTOR-16 alone
    "\u2800",               # BRAILLE PATTERN BLANK
]
GOOD_NAMES = ["Alice", "Zo\u00eb", "Zoe\u0308", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
              "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\u2764\ufe0f", "\u05e9\u05dc\u05d5\u05dd",
              "\ud55c\uad6d\uc5b4", " Spaced Out "]


@pytest.mark.parametrize("name", BAD_NAMES, ids=[f"n{i}" for i in range(len(BAD_NAMES))])
def test_bad_display_names_are_422(api, user, name):
    handle = unique_handle()
    r = api.post(REGISTER, json={"handle": handle, "password": PASSWORD, "display_name": name})
    expect_problem(r, 422, "invalid_field", "display_name")
    assert handle_free(user, handle)
    expect_problem(user.patch(ME, json={"bio": "changed", "display_name": name}), 422, "invalid_field",
                   "display_name")
    assert user.me() == user.user


@pytest.mark.parametrize("name", GOOD_NAMES, ids=[f"g{i}" for i in range(len(GOOD_NAMES))])
def test_good_display_names_are_kept(api, user, name):
    r = expect_status(user.patch(ME, json={"display_name": name}), 200)
    assert r.json["display_name"] == name
    acc = api.register(display_name=name)
    assert acc.user["display_name"] == name


# ---- the UTF-8 error names its field -------------------------------------------------------

@pytest.mark.parametrize("field", ["bio", "display_name", "region"])
def test_invalid_utf8_detail_names_the_field(api, user, field):
    body = b'{"' + field.encode() + b'": "ab\xff"}'
    p = expect_problem(user.patch(ME, body=body), 422, "invalid_field", field)
    assert p["detail"].startswith(field + " "), p
    assert "UTF-8" in p["detail"]
    assert user.me() == user.user


def test_invalid_utf8_in_a_nested_field_is_named(api, user):
    body = b'{"text": "hi", "media": [{"url": "https://cdn.example.com/\xc3", "kind": "image"}]}'
    p = expect_problem(user.post("/v1/posts", body=body), 422, "invalid_field", "media[0].url")
    assert p["detail"].startswith("media[0].url ")


# ---- hashtags folded by a library ----------------------------------------------------------

def test_nfd_and_nfc_hashtags_are_one_page(api, user, other):
    n = time.monotonic_ns()
    nfd = unicodedata.normalize("NFD", f"café{n}")
    nfc_upper = unicodedata.normalize("NFC", f"CAFÉ{n}")
    assert nfd != unicodedata.normalize("NFC", nfd)
    a = post(user, f"morning #{nfd}")
    b = post(other, f"evening #{nfc_upper}")
    want = f"café{n}"
    assert a["hashtags"] == [want] and b["hashtags"] == [want]
    for spelling in (nfd, nfc_upper, f"#{want}", unicodedata.normalize("NFD", f"CAFÉ{n}")):
        path = "/v1/hashtags/" + urllib.parse.quote(spelling, safe="")
        assert expect_status(user.get(path), 200).json == {"tag": want, "items_count": 2}
        items = expect_status(user.get(path + "/items"), 200).json["items"]
        assert {i["id"] for i in items} == {a["id"], b["id"]}


def test_case_folding_beyond_latin1(api, user):
    n = time.monotonic_ns()
    p = post(user, f"#\u01c4a{n} #\u01c5a{n} #\u01c6a{n} #\u03a3\u0391\u03a3{n} #\u03c3\u03b1\u03c2{n} #STRASSE{n} "
                   f"#stra\u00dfe{n}")
    assert p["hashtags"] == [f"\u01c6a{n}", f"\u03c3\u03b1\u03c3{n}", f"strasse{n}"]
    path = "/v1/hashtags/" + urllib.parse.quote(f"\u03c3\u03b1\u03c2{n}", safe="")
    assert expect_status(user.get(path), 200).json["items_count"] == 1

"""Registration, login, refresh-token rotation, logout and access-token checks."""
import base64
import json
import time

import pytest

from client import PASSWORD, expect_problem, expect_status, unique_handle

REGISTER = "/v1/auth/register"
LOGIN = "/v1/auth/login"
REFRESH = "/v1/auth/refresh"
LOGOUT = "/v1/auth/logout"


def handle_is_free(api, handle):
    """True when `handle` can still be registered (nothing was created under it)."""
    probe = api.register()
    r = probe.get(f"/v1/users/by-handle/{handle}")
    if r.status == 404:
        return True
    assert r.status == 200, r.describe()
    return False


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url_encode(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


# ---- register ----------------------------------------------------------------------------

def test_register_returns_user_and_tokens(api):
    handle = unique_handle()
    r = expect_status(api.post(REGISTER, json={"handle": handle, "password": PASSWORD}), 201)
    body = r.json
    assert body["expires_in"] == 900
    u = body["user"]
    assert u["handle"] == handle
    assert u["display_name"] == handle  # default
    assert u["bio"] == ""
    assert u["avatar_url"] is None
    assert u["is_private"] is False
    assert (u["followers_count"], u["following_count"], u["posts_count"]) == (0, 0, 0)
    assert u["interests"] == []
    assert u["region"] is None
    assert body["access_token"] != body["refresh_token"]
    # The access token works and names this user.
    me = expect_status(api.get("/v1/me", token=body["access_token"]), 200).json
    assert me == u
    # The refresh token works too.
    expect_status(api.post(REFRESH, json={"refresh_token": body["refresh_token"]}), 200)


def test_register_ids_are_distinct(api):
    a, b = api.register(), api.register()
    assert a.id != b.id


def test_register_lowercases_handle(api):
    handle = unique_handle("Up")
    mixed = handle.upper()
    r = expect_status(api.post(REGISTER, json={"handle": mixed, "password": PASSWORD}), 201)
    assert r.json["user"]["handle"] == handle.lower()
    assert r.json["user"]["display_name"] in (handle.lower(), mixed)
    # Login with the lower-case handle works.
    expect_status(api.post(LOGIN, json={"handle": handle.lower(), "password": PASSWORD}), 200)


def test_register_with_display_and_device_name(api):
    handle = unique_handle()
    r = expect_status(api.post(REGISTER, json={
        "handle": handle, "password": PASSWORD, "display_name": "Zoë 🎶 Ünïcode",
        "device_name": "Zoë's phone"}), 201)
    assert r.json["user"]["display_name"] == "Zoë 🎶 Ünïcode"
    sessions = api.get("/v1/me/sessions", token=r.json["access_token"]).json["items"]
    assert [s["device_name"] for s in sessions] == ["Zoë's phone"]


@pytest.mark.parametrize("variant", ["same", "upper"])
def test_register_taken_handle_is_409(api, variant):
    first = api.register()
    handle = first.handle if variant == "same" else first.handle.upper()
    r = api.post(REGISTER, json={"handle": handle, "password": "another password 1"})
    expect_problem(r, 409, "handle_taken")
    # Nothing changed: the original password still works, the new one does not.
    expect_status(api.post(LOGIN, json={"handle": first.handle, "password": PASSWORD}), 200)
    expect_problem(api.post(LOGIN, json={"handle": first.handle, "password": "another password 1"}),
                   401, "invalid_credentials")


INVALID_HANDLES = {
    "too_short": lambda b: "ab",
    "too_long": lambda b: (b + "x" * 31)[:31],
    "dash": lambda b: b[:20] + "-x",
    "space": lambda b: b[:20] + " x",
    "dot": lambda b: b[:20] + ".x",
    "non_ascii": lambda b: b[:20] + "é",
    "bang": lambda b: b[:20] + "!",
    "empty": lambda b: "",
    "leading_space": lambda b: " " + b[:20],
    "trailing_newline": lambda b: b[:20] + "\n",
    "number": lambda b: 123,
    "null": lambda b: None,
    "array": lambda b: [b],
    "object": lambda b: {"h": b},
    "bool": lambda b: True,
}


@pytest.mark.parametrize("kind", sorted(INVALID_HANDLES))
def test_register_invalid_handle(api, kind):
    base = unique_handle()
    handle = INVALID_HANDLES[kind](base)
    r = api.post(REGISTER, json={"handle": handle, "password": PASSWORD})
    expect_problem(r, 422, "invalid_field", "handle")
    # Nothing was created under a "cleaned-up" version of the handle either.
    if isinstance(handle, str):
        cleaned = "".join(c for c in handle.lower() if c in "abcdefghijklmnopqrstuvwxyz0123456789_")
        if 3 <= len(cleaned) <= 30:
            assert handle_is_free(api, cleaned)


def test_register_missing_handle(api):
    expect_problem(api.post(REGISTER, json={"password": PASSWORD}), 422, "invalid_field", "handle")


def test_register_handle_length_bounds(api):
    import secrets
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_"
    for _ in range(10):  # 3-char handles can collide with earlier tests' handles: retry
        three = "".join(secrets.choice(alphabet) for _ in range(3))
        r = api.post(REGISTER, json={"handle": three, "password": PASSWORD})
        if r.status != 409:
            break
    expect_status(r, 201)
    assert r.json["user"]["handle"] == three
    thirty = (unique_handle() + "_" * 30)[:30]
    assert len(thirty) == 30
    r = expect_status(api.post(REGISTER, json={"handle": thirty, "password": PASSWORD}), 201)
    assert r.json["user"]["handle"] == thirty


@pytest.mark.parametrize("password", ["1234567", "é" * 3 + "x", "x" * 129, "é" * 65, "", 12345678,
                                      None, ["password1"]])
def test_register_invalid_password(api, password):
    handle = unique_handle()
    r = api.post(REGISTER, json={"handle": handle, "password": password})
    expect_problem(r, 422, "invalid_field", "password")
    # Nothing was created: the handle is still free.
    expect_status(api.post(REGISTER, json={"handle": handle, "password": PASSWORD}), 201)


def test_register_missing_password(api):
    handle = unique_handle()
    expect_problem(api.post(REGISTER, json={"handle": handle}), 422, "invalid_field", "password")
    assert handle_is_free(api, handle)


@pytest.mark.parametrize("password", ["12345678", "é" * 4, "x" * 128, "é" * 64, "🎵" * 32])
def test_register_password_byte_bounds(api, password):
    """8..128 bytes (not characters): 'é' is 2 bytes, '🎵' is 4."""
    acct = api.register(password=password)
    expect_status(api.post(LOGIN, json={"handle": acct.handle, "password": password}), 200)


@pytest.mark.parametrize("name", ["", "x" * 65, "é" * 65, "🎵" * 65, "bell\x07", "new\nline",
                                  "tab\tname", "del\x7f", 42, ["x"], False])
def test_register_invalid_display_name(api, name):
    handle = unique_handle()
    r = api.post(REGISTER, json={"handle": handle, "password": PASSWORD, "display_name": name})
    expect_problem(r, 422, "invalid_field", "display_name")
    assert handle_is_free(api, handle)


@pytest.mark.parametrize("name", ["x", "x" * 64, "é" * 64, "🎵" * 64, "名前" * 32])
def test_register_display_name_character_bounds(api, name):
    """64 Unicode characters, whatever their UTF-8 length."""
    acct = api.register(display_name=name)
    assert acct.user["display_name"] == name
    assert acct.me()["display_name"] == name


@pytest.mark.parametrize("device", [42, ["phone"], {"n": 1}, True])
def test_register_invalid_device_name(api, device):
    handle = unique_handle()
    r = api.post(REGISTER, json={"handle": handle, "password": PASSWORD, "device_name": device})
    expect_problem(r, 422, "invalid_field", "device_name")
    assert handle_is_free(api, handle)


# ---- idempotency -------------------------------------------------------------------------

def test_register_idempotency_replay(api):
    key = "reg-" + unique_handle()
    body = {"handle": unique_handle(), "password": PASSWORD, "display_name": "Idem"}
    first = expect_status(api.post(REGISTER, json=body, headers={"Idempotency-Key": key}), 201)
    assert first.header("Idempotent-Replayed") in (None, "false")
    second = expect_status(api.post(REGISTER, json=body, headers={"Idempotency-Key": key}), 201)
    assert second.header("Idempotent-Replayed") == "true", second.describe()
    assert second.json["user"] == first.json["user"], "a replay answers the first user again"
    # Tokens are never stored: the replay checked the password and opened a new session.
    assert second.json["access_token"] != first.json["access_token"]
    assert second.json["refresh_token"] != first.json["refresh_token"]
    assert set(second.json) == set(first.json)
    sessions = api.get("/v1/me/sessions", token=first.json["access_token"]).json["items"]
    assert len(sessions) == 2, sessions


def test_register_idempotency_mismatch(api):
    key = "reg-" + unique_handle()
    body = {"handle": unique_handle(), "password": PASSWORD}
    expect_status(api.post(REGISTER, json=body, headers={"Idempotency-Key": key}), 201)
    other = {"handle": unique_handle(), "password": PASSWORD}
    r = api.post(REGISTER, json=other, headers={"Idempotency-Key": key})
    expect_problem(r, 422, "idempotency_mismatch")
    assert handle_is_free(api, other["handle"])


def test_register_without_key_is_not_replayed(api):
    body = {"handle": unique_handle(), "password": PASSWORD}
    expect_status(api.post(REGISTER, json=body), 201)
    expect_problem(api.post(REGISTER, json=body), 409, "handle_taken")


def test_register_same_key_different_clients_bodies_independent(api):
    """Two different keys with different bodies create two users."""
    a = expect_status(api.post(REGISTER, json={"handle": unique_handle(), "password": PASSWORD},
                               headers={"Idempotency-Key": "k1-" + unique_handle()}), 201)
    b = expect_status(api.post(REGISTER, json={"handle": unique_handle(), "password": PASSWORD},
                               headers={"Idempotency-Key": "k2-" + unique_handle()}), 201)
    assert a.json["user"]["id"] != b.json["user"]["id"]


@pytest.mark.parametrize("key", ["", "k" * 256, "caf\xe9"])
def test_register_invalid_idempotency_key(api, key):
    handle = unique_handle()
    r = api.post(REGISTER, json={"handle": handle, "password": PASSWORD},
                 headers={"Idempotency-Key": key})
    expect_problem(r, 422, "invalid_field", "Idempotency-Key")
    assert handle_is_free(api, handle)


@pytest.mark.parametrize("key", ["bad\x01key", "del\x7fkey"])
def test_register_idempotency_key_with_control_bytes_is_refused_by_http(api, key):
    """Control bytes are not allowed in HTTP header values (RFC 9110): the HTTP parser
    answers 400 before routing, and nothing is created."""
    handle = unique_handle()
    r = api.post(REGISTER, json={"handle": handle, "password": PASSWORD},
                 headers={"Idempotency-Key": key}, check=False)
    assert r.status == 400, r.describe()
    assert handle_is_free(api, handle)


def test_register_idempotency_key_255_is_valid(api):
    key = ("k" + unique_handle() + "x" * 255)[:255]
    body = {"handle": unique_handle(), "password": PASSWORD}
    first = expect_status(api.post(REGISTER, json=body, headers={"Idempotency-Key": key}), 201)
    second = expect_status(api.post(REGISTER, json=body, headers={"Idempotency-Key": key}), 201)
    assert second.json["user"]["id"] == first.json["user"]["id"]


# ---- login -------------------------------------------------------------------------------

def test_login_returns_new_session(api, user):
    r = expect_status(api.post(LOGIN, json={"handle": user.handle, "password": PASSWORD,
                                           "device_name": "laptop"}), 200)
    body = r.json
    assert body["expires_in"] == 900
    assert body["user"] == user.me()
    assert body["access_token"] != user.access_token
    assert body["refresh_token"] != user.refresh_token
    sessions = user.all_sessions()
    assert len(sessions) == 2
    assert "laptop" in [s["device_name"] for s in sessions]
    me = expect_status(api.get("/v1/me", token=body["access_token"]), 200).json
    assert me["id"] == user.id


def test_login_handle_is_case_insensitive(api, user):
    expect_status(api.post(LOGIN, json={"handle": user.handle.upper(), "password": PASSWORD}), 200)


def test_login_wrong_password_and_unknown_handle_answer_the_same(api, user):
    wrong = expect_problem(api.post(LOGIN, json={"handle": user.handle, "password": "wrong password"}),
                           401, "invalid_credentials")
    unknown = expect_problem(api.post(LOGIN, json={"handle": unique_handle(), "password": PASSWORD}),
                             401, "invalid_credentials")
    wrong.pop("request_id")
    unknown.pop("request_id")
    assert wrong == unknown
    # No session was created.
    assert len(user.all_sessions()) == 1


@pytest.mark.parametrize("body,field", [
    ({"password": PASSWORD}, "handle"),
    ({"handle": "someone"}, "password"),
    ({"handle": 5, "password": PASSWORD}, "handle"),
    ({"handle": "someone", "password": 12345678}, "password"),
    ({"handle": "someone", "password": PASSWORD, "device_name": 7}, "device_name"),
])
def test_login_invalid_fields(api, user, body, field):
    body = {k: (user.handle if v == "someone" else v) for k, v in body.items()}
    expect_problem(api.post(LOGIN, json=body), 422, "invalid_field", field)
    assert len(user.all_sessions()) == 1


# Login throttling (per handle and address, per address, per handle): test_auth_throttle.py


# ---- refresh -----------------------------------------------------------------------------

def test_refresh_rotates_tokens(api, user):
    r = expect_status(api.post(REFRESH, json={"refresh_token": user.refresh_token}), 200)
    body = r.json
    assert body["expires_in"] == 900
    assert body["user"]["id"] == user.id
    assert body["refresh_token"] != user.refresh_token
    # (The access token may be byte-identical to the old one if issued within the same
    # second for the same session: that is not observable misbehaviour.)
    expect_status(api.get("/v1/me", token=body["access_token"]), 200)
    # Same session: still one session listed, and it is the current one of the new token.
    items = api.get("/v1/me/sessions", token=body["access_token"]).json["items"]
    assert len(items) == 1 and items[0]["current"] is True
    # The new refresh token works once more.
    expect_status(api.post(REFRESH, json={"refresh_token": body["refresh_token"]}), 200)


def test_refresh_reuse_revokes_the_session(api):
    acct = api.register()
    second = api.login(acct.handle)  # another session of the same user, must survive
    old_refresh = acct.refresh_token
    r1 = expect_status(api.post(REFRESH, json={"refresh_token": old_refresh}), 200).json
    r2 = expect_status(api.post(REFRESH, json={"refresh_token": r1["refresh_token"]}), 200).json
    # Presenting the already-used token again once its successor was used (so not a retry
    # within the reuse interval: test_refresh_reuse.py): theft -> 401 and the whole session
    # is revoked.
    expect_problem(api.post(REFRESH, json={"refresh_token": old_refresh}), 401, "invalid_token")
    expect_problem(api.post(REFRESH, json={"refresh_token": r2["refresh_token"]}), 401, "invalid_token")
    expect_problem(api.get("/v1/me", token=r2["access_token"]), 401, "invalid_token")
    expect_problem(api.get("/v1/me", token=r1["access_token"]), 401, "invalid_token")
    expect_problem(api.get("/v1/me", token=acct.access_token), 401, "invalid_token")
    # The other session is untouched, and the revoked one is no longer listed.
    sessions = second.all_sessions()
    assert len(sessions) == 1 and sessions[0]["current"] is True
    expect_status(api.post(REFRESH, json={"refresh_token": second.refresh_token}), 200)


@pytest.mark.parametrize("token", ["garbage", "x" * 43, "A" * 200, "eyJhbGciOi.e30.sig", "🎵"])
def test_refresh_unknown_token(api, token):
    expect_problem(api.post(REFRESH, json={"refresh_token": token}), 401, "invalid_token")


def test_refresh_with_access_token_is_rejected(api, user):
    expect_problem(api.post(REFRESH, json={"refresh_token": user.access_token}), 401, "invalid_token")
    user.me()


@pytest.mark.parametrize("body", [{}, {"refresh_token": 5}, {"refresh_token": None},
                                  {"refresh_token": ["x"]}])
def test_refresh_invalid_field(api, body):
    expect_problem(api.post(REFRESH, json=body), 422, "invalid_field", "refresh_token")


def test_refresh_unknown_member_is_named_first(api):
    # A misspelt member is named itself (additionalProperties: false), before the missing one.
    expect_problem(api.post(REFRESH, json={"token": "x"}), 422, "invalid_field", "token")


# ---- logout ------------------------------------------------------------------------------

def test_logout_revokes_current_session_only(api):
    acct = api.register()
    second = api.login(acct.handle, device_name="second")
    r = expect_status(acct.post(LOGOUT), 204)
    assert r.body == b""
    expect_problem(acct.get("/v1/me"), 401, "invalid_token")
    expect_problem(api.post(REFRESH, json={"refresh_token": acct.refresh_token}), 401, "invalid_token")
    expect_problem(acct.post(LOGOUT), 401, "invalid_token")
    # The second session still works and sees only itself.
    assert [s["device_name"] for s in second.all_sessions()] == ["second"]
    expect_status(api.post(REFRESH, json={"refresh_token": second.refresh_token}), 200)


def test_logout_requires_auth(api):
    expect_problem(api.post(LOGOUT), 401, "unauthorized")


# ---- access tokens -----------------------------------------------------------------------

PROTECTED = ["/v1/me", "/v1/me/sessions", "/v1/users/1", "/v1/users/by-handle/someone"]


@pytest.mark.parametrize("path", PROTECTED)
def test_missing_token_is_401_unauthorized(api, path):
    expect_problem(api.get(path), 401, "unauthorized")


def test_protected_writes_need_a_token(api):
    expect_problem(api.patch("/v1/me", json={"bio": "x"}), 401, "unauthorized")
    expect_problem(api.delete("/v1/me/sessions/1"), 401, "unauthorized")


@pytest.mark.parametrize("auth", ["Bearer garbage", "Bearer ", "Bearer a.b.c", "Bearer e30.e30.e30",
                                  "Bearer " + "A" * 2000])
def test_malformed_token_is_401_invalid_token(api, auth):
    expect_problem(api.get("/v1/me", headers={"Authorization": auth}), 401, "invalid_token")


@pytest.mark.parametrize("auth", ["Basic dXNlcjpwYXNz", "Token abc", "bearer"])
def test_other_auth_schemes_are_401(api, auth):
    r = api.get("/v1/me", headers={"Authorization": auth})
    assert r.status == 401, r.describe()
    assert r.json["code"] in ("unauthorized", "invalid_token"), r.describe()


def test_forged_token_payload_is_rejected(api, user, other):
    header, payload, sig = user.access_token.split(".")
    claims = json.loads(b64url_decode(payload))
    # Claim to be the other user, keep the original signature.
    forged_claims = dict(claims)
    for k, v in claims.items():
        if v == user.id:
            forged_claims[k] = other.id
        elif isinstance(v, (int, float)) and k == "exp":
            forged_claims[k] = v + 3600
    if forged_claims == claims:
        forged_claims["sub"] = other.id
    forged = ".".join([header, b64url_encode(json.dumps(forged_claims).encode()), sig])
    expect_problem(api.get("/v1/me", token=forged), 401, "invalid_token")


def test_token_with_bad_signature_is_rejected(api, user):
    header, payload, sig = user.access_token.split(".")
    raw = bytearray(b64url_decode(sig))
    raw[0] ^= 0x01
    expect_problem(api.get("/v1/me", token=f"{header}.{payload}.{b64url_encode(bytes(raw))}"),
                   401, "invalid_token")
    expect_problem(api.get("/v1/me", token=f"{header}.{payload}."), 401, "invalid_token")
    expect_problem(api.get("/v1/me", token=f"{header}.{payload}"), 401, "invalid_token")


def test_alg_none_token_is_rejected(api, user):
    _, payload, _ = user.access_token.split(".")
    header = b64url_encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    expect_problem(api.get("/v1/me", token=f"{header}.{payload}."), 401, "invalid_token")


def test_token_of_another_instance_is_rejected(api, start_server):
    """A token signed by another deployment's key (fresh storage) is not accepted."""
    srv = start_server()
    foreign = srv.client().register()
    expect_problem(api.get("/v1/me", token=foreign.access_token), 401, "invalid_token")


def test_access_token_expires(start_server):
    srv = start_server(env={"CHORUS_ACCESS_TTL": "1"})
    api = srv.client()
    acct = api.register()
    assert acct.user and api.post(LOGIN, json={"handle": acct.handle, "password": PASSWORD}).json["expires_in"] == 1
    # JWT "exp" has whole-second precision, so a 1 s token may be issued just before a
    # second boundary and expire at once: a fresh token must work on some attempt.
    worked = None
    for _ in range(5):
        fresh = api.login(acct.handle)
        if fresh.get("/v1/me").status == 200:
            worked = fresh
            break
    assert worked is not None, "a freshly issued access token never worked with CHORUS_ACCESS_TTL=1"
    time.sleep(2.5)
    expect_problem(worked.get("/v1/me"), 401, "invalid_token")
    # The refresh token outlives the access token and gives a working new one.
    r = expect_status(api.post(REFRESH, json={"refresh_token": worked.refresh_token}), 200).json
    assert r["expires_in"] == 1
    assert r["user"]["id"] == acct.id

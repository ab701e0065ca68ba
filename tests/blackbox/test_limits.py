"""Body size, JSON, content type, routing errors and write rate limits."""
import json
import time

import pytest

from client import PASSWORD, expect_problem, expect_status, unique_handle

MiB = 1024 * 1024
REGISTER = "/v1/auth/register"


def free(api, viewer, handle):
    return viewer.get(f"/v1/users/by-handle/{handle}").status == 404


def padded_register_body(handle, size):
    """A register body of exactly `size` bytes (padding in display_name's JSON whitespace)."""
    base = json.dumps({"handle": handle, "password": PASSWORD}).encode()
    assert size >= len(base)
    return base[:-1] + b" " * (size - len(base)) + b"}"


# ---- body size ---------------------------------------------------------------------------

def test_body_over_1mib_is_413(api, user):
    handle = unique_handle()
    r = api.post(REGISTER, body=padded_register_body(handle, MiB + 1))
    expect_problem(r, 413, "payload_too_large")
    assert free(api, user, handle)


def test_body_of_exactly_1mib_is_accepted(api, user):
    handle = unique_handle()
    r = api.post(REGISTER, body=padded_register_body(handle, MiB))
    expect_status(r, 201)
    assert r.json["user"]["handle"] == handle


def test_big_patch_is_413_and_changes_nothing(api, user):
    r = user.patch("/v1/me", json={"bio": "x" * (MiB + 1024)})
    expect_problem(r, 413, "payload_too_large")
    assert user.me()["bio"] == ""


def test_huge_body_is_413(api, user):
    """Past the transport cap (2 MiB) h2o refuses the body itself, before routing, and
    closes the connection: still 413, but plain text (documented in the spec)."""
    handle = unique_handle()
    r = api.post(REGISTER, body=padded_register_body(handle, 8 * MiB), check=False)
    assert r.status == 413, r.describe()
    assert free(api, user, handle)


def test_chunked_body_over_1mib_is_413(api, user):
    handle = unique_handle()
    data = padded_register_body(handle, MiB + 4096)

    def chunks():
        for i in range(0, len(data), 64 * 1024):
            yield data[i:i + 64 * 1024]

    r = api.post(REGISTER, body=chunks(), chunked=True)
    expect_problem(r, 413, "payload_too_large")
    assert free(api, user, handle)


def test_chunked_small_body_is_accepted(api):
    handle = unique_handle()
    data = json.dumps({"handle": handle, "password": PASSWORD}).encode()
    r = api.post(REGISTER, body=iter([data[:10], data[10:]]), chunked=True)
    expect_status(r, 201)


# ---- JSON --------------------------------------------------------------------------------

MALFORMED = [
    b"{",
    b'{"handle": }',
    b'{"handle": "abc", "password": "12345678"',
    b'{"handle": "abc" "password": "12345678"}',
    b"{'handle': 'abc'}",
    b'{"handle": "abc",}',
    b'{"a":1} trailing',
    b'{"handle": \xff\xfe, "password": "12345678"}',
    b"\xef\xbb\xbf\xff",
    b"nul\x00",
    b"not json at all",
]


@pytest.mark.parametrize("body", MALFORMED, ids=[f"m{i}" for i in range(len(MALFORMED))])
def test_malformed_json_is_400(api, user, body):
    expect_problem(api.post(REGISTER, body=body), 400, "malformed_json")
    expect_problem(user.patch("/v1/me", body=body), 400, "malformed_json")
    assert user.me() == user.user


# Bytes that are not UTF-8 *inside a JSON string* answer 422 invalid_field naming the field
# (decided in commit e3f5346; outside strings they are malformed JSON, above).
BAD_UTF8 = [
    ("handle", b"\xff\xfe"),           # not UTF-8 at all
    ("handle", b"abc\xc3"),             # truncated sequence
    ("display_name", b"\xed\xa0\x80"),  # UTF-16 surrogate encoded as UTF-8
    ("display_name", b"bad \xc0\xaf"),   # overlong encoding of '/'
    ("password", b"pass\xffword1"),
]


@pytest.mark.parametrize("field,raw", BAD_UTF8, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_UTF8)])
def test_invalid_utf8_inside_string_is_422_and_registers_nothing(api, user, field, raw):
    handle = unique_handle()
    fields = {"handle": handle.encode(), "password": PASSWORD.encode(), "display_name": b"Fine"}
    fields[field] = raw
    body = b"{" + b", ".join(b'"' + k.encode() + b'": "' + v + b'"' for k, v in fields.items()) + b"}"
    expect_problem(api.post(REGISTER, body=body), 422, "invalid_field", field)
    assert free(api, user, handle)


@pytest.mark.parametrize("field,raw", [("display_name", b"\xff"), ("bio", b"ok \xe2\x82"),
                                       ("avatar_url", b"https://x.example/\xfe")])
def test_invalid_utf8_in_patch_is_422_and_changes_nothing(api, user, field, raw):
    valid = b'"display_name": "Valid change"' if field == "bio" else b'"bio": "valid change"'
    body = b"{" + valid + b', "' + field.encode() + b'": "' + raw + b'"}'
    expect_problem(user.patch("/v1/me", body=body), 422, "invalid_field", field)
    assert user.me() == user.user


@pytest.mark.parametrize("body", [b"[]", b'[{"handle":"abc"}]', b'"string"', b"123", b"null",
                                  b"true", b"false"])
def test_non_object_json_is_400_bad_request(api, body):
    expect_problem(api.post(REGISTER, body=body), 400, "bad_request")


# ---- content type ------------------------------------------------------------------------

@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", "application/xml",
                                   "application/jsonx", "json", None])
def test_wrong_content_type_is_415(api, user, ctype):
    handle = unique_handle()
    body = json.dumps({"handle": handle, "password": PASSWORD}).encode()
    r = api.post(REGISTER, body=body, content_type=ctype)
    expect_problem(r, 415, "unsupported_media_type")
    assert free(api, user, handle)
    r = user.patch("/v1/me", body=b'{"bio": "changed"}', content_type=ctype)
    expect_problem(r, 415, "unsupported_media_type")
    assert user.me()["bio"] == ""


@pytest.mark.parametrize("ctype", ["application/json; charset=utf-8", "application/json;charset=UTF-8",
                                   "application/json ; charset=utf-8"])
def test_json_content_type_with_parameters_is_accepted(api, ctype):
    body = json.dumps({"handle": unique_handle(), "password": PASSWORD}).encode()
    expect_status(api.post(REGISTER, body=body, content_type=ctype), 201)


# ---- routing -----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/nope", "/v1", "/v1/", "/v1/nope", "/v1/users", "/v1/users/1/extra",
                                  "/v1/me/sessions/1/extra", "/v1/auth", "/v2/me", "/V1/ME",
                                  "/healthz/x", "/v1/users/by-handle/a/b", "/v1/me/sessions/"])
def test_unknown_route_is_404_problem(api, user, path):
    expect_problem(user.get(path), 404, "not_found")
    expect_problem(api.post(path, json={}), 404, "not_found")


@pytest.mark.parametrize("method,path,allowed", [
    ("DELETE", "/v1/me", {"GET", "PATCH"}),
    ("PUT", "/v1/me", {"GET", "PATCH"}),
    ("POST", "/v1/me", {"GET", "PATCH"}),
    ("GET", "/v1/auth/register", {"POST"}),
    ("PUT", "/v1/auth/login", {"POST"}),
    ("GET", "/v1/auth/refresh", {"POST"}),
    ("GET", "/v1/auth/logout", {"POST"}),
    ("POST", "/v1/me/sessions", {"GET"}),
    ("GET", "/v1/me/sessions/1", {"DELETE"}),
    ("PATCH", "/v1/users/1", {"GET"}),
    ("DELETE", "/v1/users/by-handle/abc", {"GET"}),
    ("POST", "/healthz", {"GET"}),
    ("DELETE", "/readyz", {"GET"}),
    ("POST", "/metrics", {"GET"}),
])
def test_wrong_method_is_405_with_allow(api, user, method, path, allowed):
    r = user.client.request(method, path, token=user.access_token)
    expect_problem(r, 405, "method_not_allowed")
    got = {m.strip().upper() for m in r.header("Allow").split(",") if m.strip()}
    assert got - {"HEAD", "OPTIONS"} == allowed, r.describe()


def test_405_changes_nothing(api, user):
    r = user.client.request("PUT", "/v1/me", json={"bio": "put"}, token=user.access_token)
    expect_problem(r, 405, "method_not_allowed")
    assert user.me()["bio"] == ""


# ---- write rate limits -------------------------------------------------------------------

def test_per_user_write_limit(start_server):
    srv = start_server(env={"CHORUS_RATE_LIMIT_USER": "5", "CHORUS_RATE_LIMIT_IP": "10000"})
    api = srv.client()
    acct = api.register()
    other = api.register()
    statuses = []
    for i in range(5):
        r = acct.patch("/v1/me", json={"bio": f"bio {i}"})
        statuses.append(r.status)
        if r.status == 429:
            break
    # Registration may or may not count as one of the user's writes.
    assert statuses[:4] == [200] * 4, statuses
    for _ in range(3):
        r = acct.patch("/v1/me", json={"bio": "over the limit"})
        if r.status == 429:
            break
    expect_problem(r, 429, "rate_limited")
    assert 1 <= int(r.header("Retry-After")) <= 60
    # The refused write did not happen; reads still work; other users still write.
    assert acct.me()["bio"].startswith("bio ")
    expect_status(other.patch("/v1/me", json={"bio": "other writes"}), 200)
    # Every write method counts: DELETE and POST are refused too.
    expect_problem(acct.delete("/v1/me/sessions/1"), 429, "rate_limited")
    expect_problem(acct.post("/v1/auth/logout"), 429, "rate_limited")
    acct.me()  # the logout was refused: still signed in


def test_per_ip_write_limit(start_server):
    srv = start_server(env={"CHORUS_RATE_LIMIT_IP": "5", "CHORUS_RATE_LIMIT_USER": "10000"})
    api = srv.client()
    first = api.register()
    for i in range(4):
        expect_status(first.patch("/v1/me", json={"bio": f"b{i}"}), 200)
    handle = unique_handle()
    r = api.post(REGISTER, json={"handle": handle, "password": PASSWORD})
    expect_problem(r, 429, "rate_limited")
    assert 1 <= int(r.header("Retry-After")) <= 60
    r = first.patch("/v1/me", json={"bio": "refused"})
    expect_problem(r, 429, "rate_limited")
    # Reads are not limited, and the refused writes changed nothing.
    assert first.me()["bio"] == "b3"
    expect_problem(first.get(f"/v1/users/by-handle/{handle}"), 404, "not_found")


def test_rate_limit_window_resets(start_server):
    # A 2 s window (CHORUS_RATE_LIMIT_WINDOW) instead of the default minute: the same
    # reset, without sleeping a minute out.
    srv = start_server(env={"CHORUS_RATE_LIMIT_USER": "2", "CHORUS_RATE_LIMIT_IP": "10000",
                            "CHORUS_RATE_LIMIT_WINDOW": "2000"})
    api = srv.client()
    acct = api.register()
    r = None
    for i in range(4):
        r = acct.patch("/v1/me", json={"bio": f"w{i}"})
        if r.status == 429:
            break
    expect_problem(r, 429, "rate_limited")
    wait = int(r.header("Retry-After"))
    assert 1 <= wait <= 2  # the window's rest, rounded up: the setting is obeyed
    time.sleep(wait + 0.5)
    expect_status(acct.patch("/v1/me", json={"bio": "after the window"}), 200)

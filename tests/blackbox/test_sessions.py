"""GET /v1/me/sessions and DELETE /v1/me/sessions/{id}."""
import base64
import time
import urllib.parse

import pytest

from apispec import parse_time
from client import PASSWORD, expect_problem, expect_status
from social import db_rows

SESSIONS = "/v1/me/sessions"


def login_n(api, acct, n, prefix="dev"):
    """n more sessions of acct's user; returns their Accounts, oldest first."""
    return [api.login(acct.handle, device_name=f"{prefix}{i}") for i in range(n)]


def test_list_sessions_newest_first(api):
    first = api.register(device_name="first")
    others = login_n(api, first, 3)
    page = others[-1].sessions()
    assert page["next_cursor"] is None
    items = page["items"]
    assert [s["device_name"] for s in items] == ["dev2", "dev1", "dev0", "first"]
    assert [s["current"] for s in items] == [True, False, False, False]
    times = [parse_time(s["created_at"]) for s in items]
    assert times == sorted(times, reverse=True)
    assert len({s["id"] for s in items}) == 4
    for s in items:
        assert parse_time(s["last_seen_at"]) >= parse_time(s["created_at"])
    # "current" follows the token used.
    mine = [s for s in first.sessions()["items"] if s["current"]]
    assert [s["device_name"] for s in mine] == ["first"]


def test_sessions_are_per_user(api, user, other):
    ids_user = {s["id"] for s in user.all_sessions()}
    ids_other = {s["id"] for s in other.all_sessions()}
    assert len(ids_user) == 1 and len(ids_other) == 1
    assert not ids_user & ids_other


def test_session_without_device_name(api, user):
    items = user.sessions()["items"]
    assert len(items) == 1
    assert items[0]["device_name"] is None or isinstance(items[0]["device_name"], str)


def test_revoked_sessions_are_not_listed(api, user):
    gone = api.login(user.handle, device_name="gone")
    expect_status(gone.post("/v1/auth/logout"), 204)
    items = user.all_sessions()
    assert len(items) == 1 and items[0]["current"] is True, items
    assert "gone" not in [s["device_name"] for s in items]


def test_pagination_walks_every_session_once(api):
    acct = api.register(device_name="d-first")
    login_n(api, acct, 4)
    full = acct.sessions(limit=100)["items"]
    assert len(full) == 5
    for limit in (1, 2, 3):
        seen, cursor, pages = [], None, 0
        while True:
            q = {"limit": limit}
            if cursor is not None:
                q["cursor"] = cursor
            page = acct.sessions(**q)
            pages += 1
            assert 1 <= len(page["items"]) <= limit or (not page["items"] and page["next_cursor"] is None)
            seen.extend(s["id"] for s in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
            assert pages < 20
        assert seen == [s["id"] for s in full], f"limit={limit}"


def test_default_limit_is_20(api):
    acct = api.register()
    login_n(api, acct, 21)
    page = acct.sessions()
    assert len(page["items"]) == 20
    assert page["next_cursor"] is not None
    rest = acct.sessions(cursor=page["next_cursor"])
    assert len(rest["items"]) == 2
    assert rest["next_cursor"] is None
    assert not {s["id"] for s in page["items"]} & {s["id"] for s in rest["items"]}


def test_pages_stable_while_new_sessions_arrive(api):
    acct = api.register(device_name="s0")
    login_n(api, acct, 3, prefix="s")  # s0 s1 s2 (+ registration's s0)
    before = [s["id"] for s in acct.sessions(limit=100)["items"]]
    page1 = acct.sessions(limit=2)
    api.login(acct.handle, device_name="newcomer")
    api.login(acct.handle, device_name="newcomer2")
    seen = [s["id"] for s in page1["items"]]
    cursor = page1["next_cursor"]
    while cursor is not None:
        page = acct.sessions(limit=2, cursor=cursor)
        seen.extend(s["id"] for s in page["items"])
        cursor = page["next_cursor"]
    assert seen == before, "pages repeated or skipped a session while new ones arrived"


def test_pages_skip_sessions_revoked_meanwhile(api):
    acct = api.register(device_name="reg")
    more = login_n(api, acct, 3, prefix="p")  # newest first: p2 p1 p0 reg
    page1 = acct.sessions(limit=2)
    assert [s["device_name"] for s in page1["items"]] == ["p2", "p1"]
    expect_status(more[0].post("/v1/auth/logout"), 204)  # p0, due on page 2
    rest = acct.sessions(limit=100, cursor=page1["next_cursor"])
    assert [s["device_name"] for s in rest["items"]] == ["reg"]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize("limit", ["1", "100"])
def test_limit_bounds_accepted(api, user, limit):
    expect_status(user.get(f"{SESSIONS}?limit={limit}"), 200)


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", "", "1e2", "10abc", " 5",
                                   "99999999999999999999"])
def test_invalid_limit(api, user, limit):
    r = user.get(f"{SESSIONS}?limit={urllib.parse.quote(limit)}")
    expect_problem(r, 422, "invalid_field", "limit")


@pytest.mark.parametrize("cursor", ["garbage", "!!!", "A" * 500, "eyJ4IjoxfQ", "%%%",
                                    base64.urlsafe_b64encode(b'{"t":"x","i":"y"}').decode()])
def test_invalid_cursor(api, user, cursor):
    r = user.get(f"{SESSIONS}?cursor={urllib.parse.quote(cursor)}")
    expect_problem(r, 422, "invalid_field", "cursor")


def test_sessions_need_auth(api):
    expect_problem(api.get(SESSIONS), 401, "unauthorized")


# ---- DELETE ------------------------------------------------------------------------------

def test_revoke_other_session(api):
    acct = api.register(device_name="keeper")
    victim = api.login(acct.handle, device_name="victim")
    victim.me()
    vid = victim.current_session_id()
    r = expect_status(acct.delete(f"{SESSIONS}/{vid}"), 204)
    assert r.body == b""
    expect_problem(victim.get("/v1/me"), 401, "invalid_token")
    expect_problem(api.post("/v1/auth/refresh", json={"refresh_token": victim.refresh_token}),
                   401, "invalid_token")
    assert [s["device_name"] for s in acct.all_sessions()] == ["keeper"]
    acct.me()


def test_revoke_current_session(api):
    acct = api.register()
    keep = api.login(acct.handle, device_name="keep")
    sid = acct.current_session_id()
    expect_status(acct.delete(f"{SESSIONS}/{sid}"), 204)
    expect_problem(acct.get("/v1/me"), 401, "invalid_token")
    assert [s["device_name"] for s in keep.all_sessions()] == ["keep"]


def test_revoke_twice_succeeds_again(api):
    """A retry of a revocation (its first answer lost) answers as the first did."""
    acct = api.register()
    victim = api.login(acct.handle)
    vid = victim.current_session_id()
    expect_status(acct.delete(f"{SESSIONS}/{vid}"), 204)
    expect_status(acct.delete(f"{SESSIONS}/{vid}"), 204)
    expect_problem(victim.get("/v1/me"), 401, "invalid_token")


def test_a_retried_revocation_writes_the_marks_the_first_attempt_did_not(api, server, backends):
    """The first attempt committed revoked_at and then failed (503) before it marked the
    session revoked in the shared store, so the session's ok mark still vouches for it: the
    retry answers 204 and writes the marks, and the session is refused at once."""
    acct = api.register()
    victim = api.login(acct.handle)
    victim.me()  # the ok mark vouches for the session from now on
    vid = victim.current_session_id()
    db_rows(server, backends, f"UPDATE sessions SET revoked_at = 1 WHERE id = {vid}")
    victim.me()  # still vouched for: the marks were never written
    expect_status(acct.delete(f"{SESSIONS}/{vid}"), 204)
    expect_problem(victim.get("/v1/me"), 401, "invalid_token")


def test_revoke_another_users_session_is_404(api, user, other):
    their = other.current_session_id()
    expect_problem(user.delete(f"{SESSIONS}/{their}"), 404, "not_found")
    # Nothing changed for the other user.
    other.me()
    assert len(other.all_sessions()) == 1
    expect_status(api.post("/v1/auth/refresh", json={"refresh_token": other.refresh_token}), 200)


def test_revoke_another_users_revoked_session_is_404(api, user, other):
    gone = api.login(other.handle)
    gid = gone.current_session_id()
    expect_status(gone.post("/v1/auth/logout"), 204)
    expect_problem(user.delete(f"{SESSIONS}/{gid}"), 404, "not_found")


@pytest.mark.parametrize("sid", ["1", "999999999999999999", "0", "abc", "-5", "1.5",
                                 "99999999999999999999999"])
def test_revoke_unknown_session_is_404(api, user, sid):
    expect_problem(user.delete(f"{SESSIONS}/{sid}"), 404, "not_found")
    assert len(user.all_sessions()) == 1
    user.me()


def test_revoke_needs_auth(api, user):
    sid = user.current_session_id()
    expect_problem(api.delete(f"{SESSIONS}/{sid}"), 401, "unauthorized")
    user.me()


def test_last_seen_moves_forward(api):
    acct = api.register()
    first = acct.sessions()["items"][0]
    time.sleep(1.1)
    acct.me()
    acct.me()
    later = acct.sessions()["items"][0]
    assert later["id"] == first["id"]
    assert later["created_at"] == first["created_at"]
    assert parse_time(later["last_seen_at"]) >= parse_time(first["last_seen_at"])

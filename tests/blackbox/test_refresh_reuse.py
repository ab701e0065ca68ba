"""The refresh-token reuse interval (CHORUS_REFRESH_REUSE_INTERVAL, default 30 s): a refresh
token presented again soon after its use, while its successor is still unused, answers the
same successor (a retry whose answer was lost: issue 10's "a retried refresh logs the user
out"); presented again later, or after the successor was used, it still revokes the session
(theft detection)."""
import concurrent.futures
import hashlib
import signal
import socket
import threading
import time

from client import expect_problem, expect_status
from conftest import MODE
from notify_helpers import wait_until
from social import db_rows

import pytest

REFRESH = "/v1/auth/refresh"


def refresh(client, token, **kw):
    return client.post(REFRESH, json={"refresh_token": token}, **kw)


def token_states(server, backends, session_id):
    """'used' or 'unused' for every refresh token row of a session, oldest first."""
    return [s for (s,) in db_rows(server, backends, "SELECT CASE WHEN used_at IS NULL THEN 'unused' ELSE 'used' END "
                                  f"FROM refresh_tokens WHERE session_id = {int(session_id)} "
                                  "ORDER BY created_at, used_at")]


def assert_revoked(api, *pairs):
    """Every access token of pairs is refused, and every refresh token too."""
    for pair in pairs:
        expect_problem(api.get("/v1/me", token=pair["access_token"]), 401, "invalid_token")
    for pair in pairs:
        expect_problem(refresh(api, pair["refresh_token"]), 401, "invalid_token")


# ---- within the interval ------------------------------------------------------------------

def test_retry_within_the_interval_gets_the_same_pair(api, server, backends):
    acct = api.register()
    old = acct.refresh_token
    first = expect_status(refresh(api, old), 200).json
    again = expect_status(refresh(api, old), 200).json
    assert again["refresh_token"] == first["refresh_token"]
    assert again["user"]["id"] == acct.id and again["expires_in"] == first["expires_in"]
    # Both access tokens are good for the same, still usable, session.
    for pair in (first, again):
        expect_status(api.get("/v1/me", token=pair["access_token"]), 200)
        sessions = api.get("/v1/me/sessions", token=pair["access_token"]).json["items"]
        assert len(sessions) == 1 and sessions[0]["current"] is True, sessions
    # One rotation only: the first token (used) and its successor (unused).
    sid = acct.current_session_id()
    assert token_states(server, backends, sid) == ["used", "unused"]
    # The successor works once, as any refresh token.
    nxt = expect_status(refresh(api, again["refresh_token"]), 200).json
    assert nxt["refresh_token"] not in (old, first["refresh_token"])
    expect_status(api.get("/v1/me", token=nxt["access_token"]), 200)
    expect_status(refresh(api, nxt["refresh_token"]), 200)


def test_reuse_after_the_successor_was_used_revokes(api):
    acct = api.register()
    keeper = api.login(acct.handle, device_name="keeper")  # another session, must survive
    old = acct.refresh_token
    first = expect_status(refresh(api, old), 200).json
    second = expect_status(refresh(api, first["refresh_token"]), 200).json
    # Within the interval, but the successor has been used: someone else holds a copy.
    expect_problem(refresh(api, old), 401, "invalid_token")
    assert_revoked(api, second, first)
    expect_problem(acct.get("/v1/me"), 401, "invalid_token")
    sessions = keeper.all_sessions()
    assert [s["device_name"] for s in sessions] == ["keeper"], sessions
    expect_status(refresh(api, keeper.refresh_token), 200)


def test_reuse_after_the_session_was_revoked_gets_no_pair(api):
    acct = api.register()
    first = expect_status(refresh(api, acct.refresh_token), 200).json
    expect_status(api.post("/v1/auth/logout", token=first["access_token"]), 204)
    expect_problem(refresh(api, acct.refresh_token), 401, "invalid_token")
    assert_revoked(api, first)


def test_reuse_once_the_successor_has_expired_gets_no_pair(api, server, backends):
    acct = api.register()
    first = expect_status(refresh(api, acct.refresh_token), 200).json
    succ = hashlib.sha256(first["refresh_token"].encode()).hexdigest()
    db_rows(server, backends, f"UPDATE refresh_tokens SET expires_at = 1 WHERE token_hash = '{succ}'")
    expect_problem(refresh(api, acct.refresh_token), 401, "invalid_token")
    expect_problem(refresh(api, first["refresh_token"]), 401, "invalid_token")


def test_concurrent_presentations_get_one_pair_and_one_rotation(api, server, backends):
    acct = api.register()
    sid = acct.current_session_id()
    n = 6
    barrier = threading.Barrier(n)

    def present(_):
        barrier.wait(10)
        return refresh(api, acct.refresh_token)

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(present, range(n)))
    pairs = [expect_status(r, 200).json for r in answers]
    assert len({p["refresh_token"] for p in pairs}) == 1, [p["refresh_token"] for p in pairs]
    assert token_states(server, backends, sid) == ["used", "unused"]
    for p in pairs:
        expect_status(api.get("/v1/me", token=p["access_token"]), 200)
    expect_status(refresh(api, pairs[0]["refresh_token"]), 200)


# ---- after the interval, and without one --------------------------------------------------

def test_reuse_after_the_interval_revokes(start_server):
    c = start_server(name="reuse-1s", env={"CHORUS_REFRESH_REUSE_INTERVAL": "1"}).client()
    acct = c.register()
    keeper = c.login(acct.handle, device_name="keeper")
    first = expect_status(refresh(c, acct.refresh_token), 200).json
    time.sleep(1.5)  # past the interval (not a speed assertion: the answer must be 401 after it)
    expect_problem(refresh(c, acct.refresh_token), 401, "invalid_token")
    assert_revoked(c, first)
    assert [s["device_name"] for s in keeper.all_sessions()] == ["keeper"]


def test_interval_zero_keeps_reuse_always_revoking(start_server):
    c = start_server(name="reuse-off", env={"CHORUS_REFRESH_REUSE_INTERVAL": "0"}).client()
    acct = c.register()
    first = expect_status(refresh(c, acct.refresh_token), 200).json
    expect_problem(refresh(c, acct.refresh_token), 401, "invalid_token")
    assert_revoked(c, first)


# ---- issue 10: a refresh whose answer was lost in a database stall ------------------------

def _pg_stop_all(pg):
    from test_backend_failure import _pg_pids, _signal_all
    master, kids = _pg_pids(pg)
    _signal_all([master] + kids, signal.SIGSTOP)
    return lambda: _signal_all([master] + _pg_pids(pg)[1], signal.SIGCONT)


@pytest.mark.skipif(MODE != "cluster", reason="needs CHORUS_BACKENDS=cluster")
def test_refresh_retried_after_a_database_stall_keeps_the_user_logged_in(start_server, pg_ctl, backends):
    """Two replicas on one PostgreSQL. A refresh sent to the first while PostgreSQL is
    stopped: the client gives up, PostgreSQL resumes within the statement deadline and the
    refresh commits on the server; the client's retry (to the other replica) must get the
    pair, not revoke the session."""
    a = start_server(name="stall-a")
    b = start_server(name="stall-b", storage=a.storage_env)
    ca, cb = a.client(), b.client()
    acct = ca.register()
    old = acct.refresh_token
    digest = hashlib.sha256(old.encode()).hexdigest()
    resume = _pg_stop_all(pg_ctl)
    try:
        t0 = time.monotonic()
        try:
            r = refresh(ca, old, timeout=1.5)
            raise AssertionError(f"answered while PostgreSQL was stopped:\n{r.describe()}")
        except (TimeoutError, socket.timeout):
            pass  # the client gave up; the server still holds the refresh
        time.sleep(max(0.0, 3.5 - (time.monotonic() - t0)))  # a stall of about 4 s
    finally:
        resume()
    # The abandoned refresh completes on the server.
    wait_until(lambda: [u for (u,) in db_rows(a, backends, "SELECT used_at FROM refresh_tokens "
                                              f"WHERE token_hash = '{digest}'") if u],
               "the stalled refresh to commit", 20)
    retry = expect_status(refresh(cb, old), 200).json
    expect_status(cb.get("/v1/me", token=retry["access_token"]), 200)
    expect_status(ca.get("/v1/me", token=acct.access_token), 200)
    # The retry's refresh token is the successor the server stored: it rotates once.
    nxt = expect_status(refresh(ca, retry["refresh_token"]), 200).json
    expect_status(ca.get("/v1/me", token=nxt["access_token"]), 200)
    assert len(acct.all_sessions()) == 1

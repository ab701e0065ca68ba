"""Login throttling: failed logins slow down the address that fails, per handle, with
exponential backoff; a stranger's failures never lock the owner out (the owner logs in
from another client address); an address spraying many handles is refused; a handle
failed on from many addresses is slowed, not locked. Loopback has a whole /8, so a
client bound to 127.0.0.2 is another client address to chorusd."""
import time

from client import PASSWORD, Client, expect_problem, expect_status

LOGIN = "/v1/auth/login"


def from_address(srv, addr):
    return Client(srv.base_url, source_address=(addr, 0))


def fail(api, handle, n=1):
    for i in range(n):
        expect_problem(api.post(LOGIN, json={"handle": handle, "password": f"wrong pw {i}"}),
                       401, "invalid_credentials")


def refused(r, max_wait):
    expect_problem(r, 429, "rate_limited")
    wait = int(r.header("Retry-After"))
    assert 1 <= wait <= max_wait, r.describe()
    return wait


def test_a_strangers_failures_do_not_lock_the_owner_out(start_server):
    srv = start_server(env={"CHORUS_LOGIN_MAX_FAILURES": "3"})
    stranger, owner = srv.client(), from_address(srv, "127.0.0.2")
    acct = stranger.register()
    fail(stranger, acct.handle, 3)
    # The guessing address now waits, even with the right password ...
    refused(stranger.post(LOGIN, json={"handle": acct.handle, "password": PASSWORD}), 1)
    # ... and the refused attempt opened no session.
    assert len(acct.all_sessions()) == 1
    # The owner, from another address, logs in at once, and again.
    expect_status(owner.post(LOGIN, json={"handle": acct.handle, "password": PASSWORD}), 200)
    expect_status(owner.post(LOGIN, json={"handle": acct.handle, "password": PASSWORD}), 200)
    # Other handles from the guessing address are not affected.
    other = stranger.register()
    expect_status(stranger.post(LOGIN, json={"handle": other.handle, "password": PASSWORD}), 200)


def test_guessing_from_one_address_backs_off_exponentially(start_server):
    srv = start_server(env={"CHORUS_LOGIN_MAX_FAILURES": "2"})
    api = srv.client()
    acct = api.register()
    fail(api, acct.handle, 2)
    first = refused(api.post(LOGIN, json={"handle": acct.handle, "password": "wrong pw x"}), 1)
    time.sleep(first + 0.2)
    fail(api, acct.handle)  # allowed again, and fails: the wait doubles
    second = refused(api.post(LOGIN, json={"handle": acct.handle, "password": PASSWORD}), 2)
    assert second == 2
    time.sleep(second + 0.2)
    fail(api, acct.handle)
    third = refused(api.post(LOGIN, json={"handle": acct.handle, "password": PASSWORD}), 4)
    assert third >= 3
    time.sleep(third + 0.2)
    # The right password gets in, and forgets this address's failures.
    expect_status(api.post(LOGIN, json={"handle": acct.handle, "password": PASSWORD}), 200)
    fail(api, acct.handle)
    expect_status(api.post(LOGIN, json={"handle": acct.handle, "password": PASSWORD}), 200)


def test_backoff_never_exceeds_the_window(start_server):
    srv = start_server(env={"CHORUS_LOGIN_MAX_FAILURES": "1", "CHORUS_LOGIN_WINDOW": "2"})
    api = srv.client()
    acct = api.register()
    fail(api, acct.handle)
    refused(api.post(LOGIN, json={"handle": acct.handle, "password": PASSWORD}), 2)
    time.sleep(2.5)  # the window ended: the failures are forgotten
    expect_status(api.post(LOGIN, json={"handle": acct.handle, "password": PASSWORD}), 200)


def test_spraying_from_one_address_is_refused_for_every_handle(start_server):
    srv = start_server(env={"CHORUS_LOGIN_IP_MAX_FAILURES": "4", "CHORUS_LOGIN_WINDOW": "600"})
    sprayer, elsewhere = srv.client(), from_address(srv, "127.0.0.3")
    accounts = [sprayer.register() for _ in range(5)]
    for acct in accounts[:4]:
        fail(sprayer, acct.handle)  # one guess per handle: never the per-handle limit
    r = sprayer.post(LOGIN, json={"handle": accounts[4].handle, "password": PASSWORD})
    refused(r, 600)
    # Only that address: the same accounts log in from another one.
    for acct in accounts:
        expect_status(elsewhere.post(LOGIN, json={"handle": acct.handle, "password": PASSWORD}), 200)


def test_a_handle_failed_on_from_many_addresses_is_slowed_not_locked(start_server):
    srv = start_server(env={"CHORUS_LOGIN_HANDLE_MAX_FAILURES": "3", "CHORUS_LOGIN_WINDOW": "600"})
    bots = [from_address(srv, f"127.0.1.{i}") for i in range(1, 4)]
    owner = from_address(srv, "127.0.0.2")
    acct = owner.register()
    for bot in bots:
        fail(bot, acct.handle)
    # Addresses that failed on the handle wait for the window's end, right password or not.
    refused(bots[0].post(LOGIN, json={"handle": acct.handle, "password": PASSWORD}), 600)
    # An address without failures gets through (at most one attempt a second for the handle).
    expect_status(owner.post(LOGIN, json={"handle": acct.handle, "password": PASSWORD}), 200)
    time.sleep(1.1)
    expect_status(owner.post(LOGIN, json={"handle": acct.handle, "password": PASSWORD}), 200)


def test_unknown_handles_are_throttled_like_known_ones(start_server):
    srv = start_server(env={"CHORUS_LOGIN_MAX_FAILURES": "2"})
    api = srv.client()
    fail(api, "nobody_here_at_all", 2)
    refused(api.post(LOGIN, json={"handle": "nobody_here_at_all", "password": PASSWORD}), 1)

"""Password hashing is admitted through its own bounded queue: a burst of logins beyond
what the hashing threads and their queue hold is answered at once 503 `overloaded` with
Retry-After (never 500), and logins work again right after."""
import json
import shutil
import socket
import subprocess
import threading
import time

import pytest

from client import PASSWORD, expect_problem, expect_status
from test_service import find, get_metrics

LOGIN = "/v1/auth/login"
# One hashing thread (memory budget = one hash) and one waiting place; each hash 32 MiB,
# so that a burst of concurrent logins certainly outlasts them.
ENV = {
    "CHORUS_PWHASH_MEMLIMIT": str(32 << 20),
    "CHORUS_PWHASH_OPSLIMIT": "2",
    "CHORUS_PWHASH_MAX_MEMORY": str(32 << 20),
    "CHORUS_PWHASH_QUEUE": "1",
    "CHORUS_LOGIN_MAX_FAILURES": "100",
}
BURST = 12


def metric(api, name):
    _, samples = get_metrics(api)
    return sum(v for _, v in find(samples, name))


def test_a_login_burst_is_admitted_or_refused_503_never_500(start_server):
    srv = start_server(env=ENV)
    api = srv.client()
    accounts = [api.register() for _ in range(3)]
    barrier = threading.Barrier(BURST)
    results = [None] * BURST

    def attempt(i):
        acct = accounts[i % len(accounts)]
        password = PASSWORD if i % 2 else f"wrong password {i}"
        barrier.wait()
        try:
            results[i] = api.post(LOGIN, json={"handle": acct.handle, "password": password})
        except BaseException as e:  # noqa: BLE001 - reported below
            results[i] = e

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(BURST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    errors = [r for r in results if not hasattr(r, "status")]
    assert not errors, errors
    statuses = sorted(r.status for r in results)
    assert set(statuses) <= {200, 401, 503}, statuses
    overloaded = [r for r in results if r.status == 503]
    assert overloaded, f"no 503 in a burst of {BURST}: {statuses}"
    for r in overloaded:
        expect_problem(r, 503, "overloaded")
        assert int(r.header("Retry-After")) >= 1, r.describe()
    # Admitted ones were answered for real.
    for i, r in enumerate(results):
        if r.status != 503:
            assert r.status == (200 if i % 2 else 401), r.describe()
    assert metric(api, "chorus_pwhash_rejected_total") == len(overloaded)
    assert metric(api, "chorus_pwhash_queued") == 0
    assert metric(api, "chorus_pwhash_running") == 0
    # Afterwards logins and registrations work.
    for acct in accounts:
        expect_status(api.post(LOGIN, json={"handle": acct.handle, "password": PASSWORD}), 200)
    api.register()


def test_a_registration_burst_is_refused_503_not_half_done(start_server):
    srv = start_server(env=ENV)
    api = srv.client()
    handles = [f"burst_{i}_{id(api) % 10000}" for i in range(BURST)]
    barrier = threading.Barrier(BURST)
    results = [None] * BURST

    def attempt(i):
        barrier.wait()
        results[i] = api.post("/v1/auth/register", json={"handle": handles[i], "password": PASSWORD})

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(BURST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(r is not None for r in results)
    assert {r.status for r in results} <= {201, 503}
    refused = [h for h, r in zip(handles, results) if r.status == 503]
    assert refused
    # A refused registration created nothing: the handle is still free.
    for h in refused:
        expect_status(api.post("/v1/auth/register", json={"handle": h, "password": PASSWORD}), 201)


def curl_with_http2():
    curl = shutil.which("curl")
    if not curl or "HTTP2" not in subprocess.run([curl, "-V"], capture_output=True, text=True).stdout:
        pytest.fail("needs curl with HTTP/2 (scripts/deps.sh test installs Debian's curl, which has it)",
                    pytrace=False)
    return curl


def test_queued_logins_of_departed_http2_clients_are_dropped(start_server):
    """A client that gives up (HTTP/2: the connection closes, its streams are reset)
    before its login's turn costs no hash. (HTTP/1: h2o 2.2.5 does not read a connection
    while its request is handled, so a close is only noticed when the answer is written.)"""
    curl = curl_with_http2()
    # Cleartext HTTP/2 is off by default (h2o 2.2.5 lacks the rapid-reset fixes).
    # Slow hashes (opslimit 16: ~0.4-0.8 s each, one at a time) and clients that leave after
    # 1.5 s: every curl has time to start and send its login even on a loaded machine (with
    # 0.3 s some never did, and the count below came short), and most logins are still
    # queued when their clients go.
    srv = start_server(env={**ENV, "CHORUS_PWHASH_QUEUE": "20", "CHORUS_HTTP2": "on", "CHORUS_PWHASH_OPSLIMIT": "16"})
    api = srv.client()
    body = json.dumps({"handle": "nobody_at_all", "password": "some password"})
    procs = [subprocess.Popen([curl, "-s", "-o", "/dev/null", "--http2-prior-knowledge", "-m", "1.5",
                               "-H", "Content-Type: application/json", "-d", body,
                               f"{srv.base_url}{LOGIN}"]) for _ in range(10)]
    for p in procs:
        p.wait(30)
    # Wait (bounded) for the hasher to go idle, then count.
    for _ in range(300):
        if metric(api, "chorus_pwhash_queued") == 0 and metric(api, "chorus_pwhash_running") == 0:
            break
        time.sleep(0.1)
    dropped, ran = metric(api, "chorus_pwhash_dropped_total"), metric(api, "chorus_pwhash_total")
    assert dropped >= 1, (dropped, ran)
    assert dropped + ran == 10


def test_queued_logins_of_departed_http1_clients_are_dropped(start_server):
    """HTTP/1: h2o reads nothing from a connection while its request is handled, so a
    client that hangs up is seen by peeking at the socket just before its hash starts
    (core/client_watch.h). Ten logins queue behind one hashing thread; their clients close
    once all ten are at the hasher; the queued ones are dropped, not hashed. Each hash is made slow (opslimit
    8: ~0.2-0.4 s) so that at most a few can run before the clients leave, however fast
    the machine."""
    srv = start_server(env={**ENV, "CHORUS_PWHASH_QUEUE": "20", "CHORUS_PWHASH_OPSLIMIT": "8"})
    api = srv.client()
    body = json.dumps({"handle": "nobody_at_all", "password": "some password"}).encode()
    request = (f"POST {LOGIN} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    socks = []
    for _ in range(10):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(request)
        socks.append(s)
    # The clients leave once all ten logins reached the hasher (queued, running or done):
    # a fixed sleep let a loaded machine close some before chorusd had read them.
    def arrived():
        return sum(metric(api, m) for m in ("chorus_pwhash_queued", "chorus_pwhash_running",
                                            "chorus_pwhash_total", "chorus_pwhash_dropped_total"))
    for _ in range(200):
        if arrived() >= 10:
            break
        time.sleep(0.01)
    for s in socks:
        s.close()
    for _ in range(300):  # bounded wait for the hasher to go idle, then count
        if metric(api, "chorus_pwhash_queued") == 0 and metric(api, "chorus_pwhash_running") == 0:
            break
        time.sleep(0.1)
    dropped, ran = metric(api, "chorus_pwhash_dropped_total"), metric(api, "chorus_pwhash_total")
    assert dropped >= 5, (dropped, ran)  # one hash at a time, ~0.1 s each: most were still queued
    assert dropped + ran == 10

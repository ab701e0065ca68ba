"""Cluster mode: Redis or PostgreSQL goes away under a running chorusd and comes back on the
same port. Without PostgreSQL chorusd must answer a clear 503 (never hang, never 500);
without Redis it keeps serving in a degraded mode (test_kv_degraded.py). /readyz names the
failing backend; nothing is lost, and all recovers without a restart."""
import concurrent.futures
import os
import signal
import subprocess
import time

import pytest

from conftest import MODE, PG_BIN
from pg_signals import pg_pids, signal_pg
from notify_helpers import wait_until
from client import PASSWORD, expect_problem, expect_status, unique_handle

pytestmark = pytest.mark.skipif(MODE != "cluster", reason="needs CHORUS_BACKENDS=cluster")


def wait_ready(api, timeout=40):
    deadline = time.monotonic() + timeout
    r = None
    while time.monotonic() < deadline:
        r = api.get("/readyz")
        if r.status == 200 and r.json["status"] == "ready":
            return r
        time.sleep(0.2)
    raise AssertionError(f"/readyz not 200 within {timeout}s after the backend returned:\n{r.describe()}")


def backend_errors(api):
    from test_service import find, get_metrics
    _, samples = get_metrics(api)
    return sum(v for _, v in find(samples, "chorus_backend_errors_total"))


def timed(fn, *a, **kw):
    t0 = time.monotonic()
    r = fn(*a, **kw)
    took = time.monotonic() - t0
    assert took < 10, f"request took {took:.1f}s while a backend was down (must fail fast):\n{r.describe()}"
    return r


def test_redis_outage_and_recovery(start_server, redis_ctl, api):
    """Redis is optional for the API (test_kv_degraded.py has the details): reads, writes and
    registration keep working on PostgreSQL alone; /readyz names the missing backend."""
    srv = start_server(name="kv-outage")
    c = srv.client()
    acct = c.register()
    expect_status(acct.patch("/v1/me", json={"bio": "before"}), 200)
    errors_before = backend_errors(c)

    redis_ctl.stop()
    try:
        # Redis alone does not make the replica unready (every replica would leave the
        # load balancer at once): 200 degraded, once the background check has seen it.
        r = wait_until(lambda: (lambda r: r if r.json["checks"]["kv"] == "unavailable" else None)(
            timed(c.get, "/readyz")), "/readyz kv: unavailable", 30)
        expect_status(r, 200)
        assert r.json == {"status": "degraded", "checks": {"db": "ok", "kv": "unavailable"}}, r.describe()
        expect_status(timed(c.get, "/healthz"), 200)
        assert expect_status(timed(acct.get, "/v1/me"), 200).json["bio"] == "before"
        expect_status(timed(acct.patch, "/v1/me", json={"bio": "during"}), 200)
        expect_status(timed(acct.get, "/v1/me/sessions"), 200)
        handle = unique_handle()
        expect_status(timed(c.post, "/v1/auth/register", json={"handle": handle, "password": PASSWORD}), 201)
    finally:
        redis_ctl.start()

    wait_ready(c)
    me = acct.me()  # same token, no chorusd restart
    assert me["bio"] == "during", "a write answered 200 was lost"
    expect_status(acct.patch("/v1/me", json={"bio": "after"}), 200)
    assert acct.me()["bio"] == "after"
    # Registration made during the outage holds.
    expect_status(c.post("/v1/auth/login", json={"handle": handle, "password": PASSWORD}), 200)
    assert backend_errors(c) > errors_before
    wait_ready(api)  # the session's server recovers too


def test_postgres_outage_and_recovery(start_server, pg_ctl, api):
    srv = start_server(name="db-outage")
    c = srv.client()
    acct = c.register(display_name="Before Outage")
    expect_status(acct.patch("/v1/me", json={"bio": "written before", "region": "nl"}), 200)
    errors_before = backend_errors(c)

    pg_ctl.stop()
    try:
        r = wait_until(lambda: (lambda r: r if r.status == 503 else None)(timed(c.get, "/readyz")),
                       "/readyz 503", 30)  # from a background check: about a second old at most
        body = expect_problem(r, 503, "unavailable")
        assert body["checks"] == {"db": "unavailable", "kv": "ok"}, r.describe()
        assert "db" in body["detail"] or "postgres" in body["detail"].lower(), r.describe()
        expect_status(timed(c.get, "/healthz"), 200)
        expect_problem(timed(acct.get, "/v1/me"), 503, "unavailable")
        expect_problem(timed(acct.patch, "/v1/me", json={"bio": "during"}), 503, "unavailable")
        expect_problem(timed(acct.get, f"/v1/users/{acct.id}"), 503, "unavailable")
        handle = unique_handle()
        expect_problem(timed(c.post, "/v1/auth/register", json={"handle": handle, "password": PASSWORD}),
                       503, "unavailable")
        expect_problem(timed(c.post, "/v1/auth/login", json={"handle": acct.handle, "password": PASSWORD}),
                       503, "unavailable")
        expect_problem(timed(c.post, "/v1/auth/refresh", json={"refresh_token": acct.refresh_token}),
                       503, "unavailable")
    finally:
        pg_ctl.start()

    wait_ready(c)
    me = acct.me()
    assert (me["display_name"], me["bio"], me["region"]) == ("Before Outage", "written before", "NL")
    # The refresh token was not consumed by the failed refresh.
    fresh = expect_status(c.post("/v1/auth/refresh", json={"refresh_token": acct.refresh_token}), 200).json
    expect_status(c.get("/v1/me", token=fresh["access_token"]), 200)
    # The registration answered 503 created nothing.
    c.register(handle=handle)
    assert backend_errors(c) > errors_before
    wait_ready(api)


def test_revocation_survives_redis_restart(start_server, redis_ctl, api):
    """Redis runs without persistence here: a restart loses every key. Revoked sessions
    and used refresh tokens must stay dead (the database is the source of truth)."""
    srv = start_server(name="kv-restart")
    c = srv.client()
    acct = c.register()
    used = acct.refresh_token
    acct.update(expect_status(c.post("/v1/auth/refresh", json={"refresh_token": used}), 200).json)
    # Its successor used too, so that presenting `used` again is theft, not a retry
    # within the reuse interval.
    acct.update(expect_status(c.post("/v1/auth/refresh", json={"refresh_token": acct.refresh_token}), 200).json)
    gone = c.login(acct.handle, device_name="gone")
    expect_status(gone.post("/v1/auth/logout"), 204)
    revoked = c.login(acct.handle, device_name="revoked")
    expect_status(acct.delete(f"/v1/me/sessions/{revoked.current_session_id()}"), 204)

    redis_ctl.stop()
    redis_ctl.start()
    wait_ready(c)

    expect_problem(gone.get("/v1/me"), 401, "invalid_token")
    expect_problem(revoked.get("/v1/me"), 401, "invalid_token")
    expect_problem(c.post("/v1/auth/refresh", json={"refresh_token": gone.refresh_token}), 401, "invalid_token")
    acct.me()
    assert len(acct.all_sessions()) == 1
    # Re-using the already-used refresh token is still detected as theft.
    expect_problem(c.post("/v1/auth/refresh", json={"refresh_token": used}), 401, "invalid_token")
    expect_problem(acct.get("/v1/me"), 401, "invalid_token")
    wait_ready(api)


def test_server_starts_while_redis_is_down(start_server, fresh_storage, redis_ctl):
    """chorusd starts with Redis down (connections are lazy), reports degraded (ready for
    what needs only the database), and becomes ready once Redis is there."""
    storage = fresh_storage()
    redis_ctl.stop()
    try:
        srv = start_server(storage=storage, name="kv-down-at-start", wait=False)
        deadline = time.monotonic() + 30
        r = None
        while time.monotonic() < deadline:
            assert srv.proc.poll() is None, "chorusd exited because Redis was down at start"
            try:
                r = srv.client().get("/readyz")
                if r.status == 200:  # 503 until its database is migrated
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert r is not None, "chorusd never listened"
        expect_status(r, 200)
        assert r.json == {"status": "degraded", "checks": {"db": "ok", "kv": "unavailable"}}, r.describe()
    finally:
        redis_ctl.start()
    wait_ready(srv.client(), timeout=30)
    srv.client().register()


def test_every_request_works_once_ready_again(start_server, redis_ctl, pg_ctl):
    """After a backend returns and /readyz says 200, requests must not fail on connections
    that were broken during the outage (a load balancer routes traffic as soon as ready)."""
    import threading
    srv = start_server(name="stale-conns", env={"CHORUS_WORKERS": "4"})
    c = srv.client()
    accts = [c.register() for _ in range(4)]

    def burst():
        """40 authenticated requests from 8 threads; returns the failures."""
        failures = []

        def worker(a):
            for _ in range(5):
                r = a.get("/v1/me", check=False)
                if r.status != 200:
                    failures.append(r.describe())
        ts = [threading.Thread(target=worker, args=(accts[i % 4],)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return failures

    assert not burst()  # every pooled connection is in use before the outage
    for ctl in (redis_ctl, pg_ctl):
        ctl.stop()
        ctl.start()
        wait_ready(c)
        failures = burst()
        assert not failures, f"requests failed after /readyz was 200 again ({type(ctl).__name__}):\n" + \
            "\n".join(failures[:3])


# ---- PostgreSQL that stops answering, and a pool that runs dry ---------------------------

# Shared with other test files (they import these names from here).
_pg_pids = pg_pids
_signal_all = signal_pg


DEADLINE_ENV = {"CHORUS_DB_STATEMENT_TIMEOUT": "500", "CHORUS_DB_POOL_WAIT": "500"}


def answered_within(bound, fn, *a, **kw):
    t0 = time.monotonic()
    r = fn(*a, timeout=bound + 10, **kw)
    took = time.monotonic() - t0
    assert took < bound, f"took {took:.1f}s (bound {bound}s) while PostgreSQL did not answer:\n{r.describe()}"
    return r


def test_a_stopped_postgres_answers_503_within_the_deadline(start_server, pg_ctl, api):
    """SIGSTOP leaves every socket open and the kernel acknowledging: only chorusd's own
    deadlines (statement, answer, connect, pool wait) stop a request from hanging."""
    srv = start_server(name="db-stopped", env=DEADLINE_ENV)
    c = srv.client()
    acct = c.register(display_name="Before Stop")
    expect_status(acct.patch("/v1/me", json={"bio": "before"}), 200)
    master, kids = _pg_pids(pg_ctl)
    stopped = [master] + kids
    _signal_all(stopped, signal.SIGSTOP)
    try:
        for _ in range(2):  # the first finds pooled connections, the second makes new ones
            r = answered_within(15, acct.patch, "/v1/me", json={"bio": "during"})
            expect_problem(r, 503, "unavailable")
            assert int(r.header("Retry-After")) >= 1, r.describe()
            expect_problem(answered_within(15, acct.get, f"/v1/users/{acct.id}"), 503, "unavailable")
        r = answered_within(15, c.get, "/readyz")
        assert expect_problem(r, 503, "unavailable")["checks"]["db"] == "unavailable", r.describe()
        expect_status(answered_within(5, c.get, "/healthz"), 200)
    finally:
        _signal_all([master] + _pg_pids(pg_ctl)[1], signal.SIGCONT)
    wait_ready(c)
    me = acct.me()
    assert me["bio"] in ("before", "during"), me  # a write cut off by the deadline: either, never lost
    expect_status(acct.patch("/v1/me", json={"bio": "after"}), 200)
    assert acct.me()["bio"] == "after"
    wait_ready(api)


def test_an_exhausted_pool_answers_503_instead_of_waiting(start_server, pg_ctl):
    """Pool of 2, every statement on users blocked by a lock held elsewhere: concurrent
    requests answer 503 (statement deadline or pool wait, with Retry-After) within the
    bounds, and all is well once the lock goes."""
    srv = start_server(name="db-pool", env={"CHORUS_DB_POOL_SIZE": "2", "CHORUS_DB_STATEMENT_TIMEOUT": "1500",
                                            "CHORUS_DB_POOL_WAIT": "300"})
    c = srv.client()
    acct = c.register()
    expect_status(acct.get(f"/v1/users/{acct.id}"), 200)
    # profiles the reads below have never read: in cluster mode a warm one is a cached fact
    others = [c.register() for _ in range(6)]
    dbname = srv.storage_env["CHORUS_DB"].rsplit("/", 1)[1]
    holder = subprocess.Popen(
        [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(pg_ctl.port), "-U", "chorus", "-d", dbname, "-Atc",
         "BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(40); COMMIT;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: pg_ctl.psql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                                       "WHERE c.relname = 'users' AND l.mode = 'AccessExclusiveLock' AND l.granted",
                                       dbname=dbname).strip() == "1", "the lock on users", 30)
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            t0 = time.monotonic()
            answers = list(pool.map(lambda o: acct.get(f"/v1/users/{o.id}", timeout=30), others))
            took = time.monotonic() - t0
        # bound: well below the lock's 40 s, which a request queued behind it would wait out
        # (and then answer 200); 8 s left ASan servers at load 20 little room
        assert took < 20, f"6 requests took {took:.1f}s against a pool of 2 (must not queue behind the lock)"
        for r in answers:
            expect_problem(r, 503, "unavailable")
            assert int(r.header("Retry-After")) >= 1, r.describe()
    finally:
        holder.kill()
        holder.wait()
        pg_ctl.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE '%pg_sleep(40)%' AND pid <> pg_backend_pid()")
    wait_until(lambda: acct.get(f"/v1/users/{acct.id}").status == 200, "a read after the lock went", 20)
    expect_status(acct.patch("/v1/me", json={"bio": "after"}), 200)


def test_readyz_reports_a_postgres_that_cannot_write(start_server, pg_ctl):
    """A server that answers but refuses writes (here: read-only by default) is not ready."""
    srv = start_server(name="db-readonly")
    c = srv.client()
    expect_status(c.get("/readyz"), 200)
    dbname = srv.storage_env["CHORUS_DB"].rsplit("/", 1)[1]
    kick = (f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}' "
            "AND pid <> pg_backend_pid()")
    pg_ctl.psql(f"ALTER DATABASE {dbname} SET default_transaction_read_only = on")
    try:
        pg_ctl.psql(kick)  # its connections come back read-only
        r = wait_until(lambda: (lambda r: r if r.status == 503 else None)(c.get("/readyz")), "/readyz 503", 30)
        body = expect_problem(r, 503, "unavailable")
        assert body["checks"] == {"db": "unwritable", "kv": "ok"}, r.describe()
        assert "postgres" in body["detail"], r.describe()
    finally:
        pg_ctl.psql(f"ALTER DATABASE {dbname} SET default_transaction_read_only = off")
        pg_ctl.psql(kick)
    wait_ready(c)

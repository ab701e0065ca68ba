"""Start-up during a database outage, and /readyz from background checks (cluster mode).

A replica started while PostgreSQL is down must start, say so (/readyz 503, /v1 503 with
Retry-After, /healthz 200), and migrate once the database returns; SIGTERM meanwhile stops
it at once. /readyz answers from checks that run in the background: a hung ClickHouse or
PostgreSQL never makes the probe itself slow."""
import signal
import time
from pathlib import Path

import pytest

from conftest import MODE, run_chorusd
from client import PASSWORD, expect_problem, expect_status
from notify_helpers import wait_until
from social import post

pytestmark = pytest.mark.skipif(MODE != "cluster", reason="needs CHORUS_BACKENDS=cluster")

FAST = 0.5  # s: a probe that reads results never takes longer, whatever the backends do


def threads(srv):
    return sorted(p.read_text().strip() for p in Path(f"/proc/{srv.proc.pid}/task").glob("*/comm"))


def timed_get(c, path, bound=FAST):
    t0 = time.monotonic()
    r = c.get(path, timeout=bound + 10)
    took = time.monotonic() - t0
    assert took < bound, f"GET {path} took {took:.2f}s (bound {bound}s):\n{r.describe()}"
    return r


def wait_listening(srv, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert srv.proc.poll() is None, f"chorusd exited ({srv.proc.returncode}) while the database was down"
        try:
            return srv.client().get("/healthz")
        except OSError:
            time.sleep(0.05)
    raise AssertionError("chorusd never listened")


def readyz_where(c, pred, what, timeout):
    """Polls /readyz (each answer fast) until pred(response); returns that response."""
    return wait_until(lambda: (lambda r: r if pred(r) else None)(timed_get(c, "/readyz")), what, timeout)


def test_starts_while_postgres_is_down_and_migrates_when_it_returns(start_server, fresh_storage, pg_ctl):
    storage = fresh_storage()  # a new, empty database: its migrations visibly run later
    dbname = storage["CHORUS_DB"].rsplit("/", 1)[1]
    pg_ctl.stop()
    try:
        srv = start_server(storage=storage, name="db-down-at-start", wait=False)
        expect_status(wait_listening(srv), 200)
        c = srv.client()
        r = timed_get(c, "/readyz")
        body = expect_problem(r, 503, "unavailable")
        assert body["checks"]["db"] == "unavailable", r.describe()
        assert "starting" in body["detail"] and "postgres" in body["detail"], r.describe()
        for method, path, kw in (("POST", "/v1/auth/register", {"json": {"handle": "early_bird", "password": PASSWORD}}),
                                 ("GET", "/v1/me", {"token": "anything"}), ("GET", "/v1/users/1", {})):
            t0 = time.monotonic()
            r = c.request(method, path, **kw)
            assert time.monotonic() - t0 < FAST, r.describe()
            body = expect_problem(r, 503, "unavailable")
            assert "starting" in body["detail"], r.describe()
            assert int(r.header("Retry-After")) >= 1, r.describe()
        # It keeps retrying (0.5 s, 1 s, ...) and keeps answering; nothing that needs the
        # database runs yet.
        time.sleep(1.6)
        assert srv.proc.poll() is None
        expect_problem(timed_get(c, "/readyz"), 503, "unavailable")
        assert "ch-reactions" not in threads(srv)
    finally:
        pg_ctl.start()
    r = readyz_where(c, lambda r: r.status == 200, "/readyz 200 once PostgreSQL is back", 30)
    assert r.json == {"status": "ready", "checks": {"db": "ok", "kv": "ok"}}, r.describe()
    assert int(pg_ctl.psql("SELECT count(*) FROM schema_migrations", dbname=dbname)) > 0
    assert "ch-reactions" in threads(srv)
    acct = c.register()
    expect_status(c.post("/v1/auth/login", json={"handle": acct.handle, "password": PASSWORD}), 200)
    post(acct, "after the outage")
    # The early refusal created nothing.
    assert pg_ctl.psql("SELECT count(*) FROM users WHERE handle = 'early_bird'", dbname=dbname).strip() == "0"


@pytest.mark.parametrize("how", ["stopped", "hung"])
def test_sigterm_while_waiting_for_postgres_exits_promptly(start_server, fresh_storage, chorusd_env, pg_ctl, how):
    """stopped: start-up sleeps between two refused attempts; hung (SIGSTOP): it is inside
    a connect that only connect_timeout (3 s) ends, which shutdown does not wait out."""
    from test_backend_failure import _pg_pids, _signal_all
    storage = fresh_storage()
    env = chorusd_env()
    if how == "stopped":
        pg_ctl.stop()
    else:
        master, kids = _pg_pids(pg_ctl)
        _signal_all([master] + kids, signal.SIGSTOP)
    try:
        if how == "stopped":
            # `chorusd migrate` is a one-shot command: it still fails fast.
            t0 = time.monotonic()
            p = run_chorusd(["migrate"], env, timeout=30)
            assert p.returncode != 0 and time.monotonic() - t0 < 10, p.stderr
            assert "CHORUS_DB" in p.stderr, p.stderr
        srv = start_server(storage=storage, name=f"db-{how}-sigterm", wait=False)
        wait_listening(srv)
        expect_problem(timed_get(srv.client(), "/readyz"), 503, "unavailable")
        time.sleep(0.7)  # stopped: into the backoff between two attempts
        t0 = time.monotonic()
        srv.stop()  # SIGTERM; asserts exit status 0 and no sanitizer report
        took = time.monotonic() - t0
        assert took < 4, f"SIGTERM during start-up took {took:.1f}s"
    finally:
        if how == "stopped":
            pg_ctl.start()
        else:
            _signal_all([master] + _pg_pids(pg_ctl)[1], signal.SIGCONT)


def test_readyz_answers_fast_when_clickhouse_hangs(start_server, clickhouse_ctl):
    db = f"chorus_t{time.monotonic_ns()}"
    srv = start_server(env={"CHORUS_CLICKHOUSE": clickhouse_ctl.url(db)}, name="ch-hung")
    c = srv.client()
    readyz_where(c, lambda r: r.status == 200 and r.json["status"] == "ready", "ready with ClickHouse", 15)
    pid = clickhouse_ctl.proc.pid
    clickhouse_ctl.proc.send_signal(signal.SIGSTOP)
    try:
        r = readyz_where(c, lambda r: r.json["checks"].get("clickhouse") == "unavailable",
                         "clickhouse: unavailable", 10)
        expect_status(r, 200)
        assert r.json == {"status": "degraded", "checks": {"db": "ok", "kv": "ok", "clickhouse": "unavailable"}}, \
            r.describe()
        for _ in range(5):  # stays fast while the checker waits on ClickHouse
            assert expect_status(timed_get(c, "/readyz"), 200).json["status"] == "degraded"
            time.sleep(0.2)
        acct = c.register()  # the API goes on serving
        expect_status(acct.get("/v1/me"), 200)
    finally:
        import os
        os.kill(pid, signal.SIGCONT)
    readyz_where(c, lambda r: r.status == 200 and r.json["status"] == "ready", "ready again", 15)


def test_readyz_answers_503_within_its_deadline_when_postgres_hangs(start_server, pg_ctl):
    from test_backend_failure import _pg_pids, _signal_all
    srv = start_server(name="db-hung-readyz")
    c = srv.client()
    readyz_where(c, lambda r: r.status == 200, "ready", 15)
    master, kids = _pg_pids(pg_ctl)
    _signal_all([master] + kids, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = readyz_where(c, lambda r: r.status == 503, "/readyz 503 while PostgreSQL is stopped", 12)
        took = time.monotonic() - t0
        # The deadline is 2 s after the check in flight started, and a check starts at most
        # 1 s after the last: about 3 s on an idle machine. The bound leaves room for a
        # loaded CI machine (four ASan sessions on two cores: 5.9 s seen once), not for a
        # missing deadline: without one the check never ends while PostgreSQL is stopped.
        assert took < 10, f"/readyz said 503 only after {took:.1f}s"
        body = expect_problem(r, 503, "unavailable")
        assert body["checks"] == {"db": "unavailable", "kv": "ok"}, r.describe()
        assert "did not answer within" in body["detail"], r.describe()
        expect_status(timed_get(c, "/healthz"), 200)
    finally:
        _signal_all([master] + _pg_pids(pg_ctl)[1], signal.SIGCONT)
    readyz_where(c, lambda r: r.status == 200, "ready again", 20)

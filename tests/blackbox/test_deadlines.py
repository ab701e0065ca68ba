"""Request deadlines (CHORUS_REQUEST_TIMEOUT), the bounded work queue (CHORUS_QUEUE_MAX) and
a stop within CHORUS_SHUTDOWN_GRACE, against a database that stops answering: PostgreSQL
SIGSTOPped (cluster) or a SQLite write lock held from outside (embedded). Every request
answers 503 with Retry-After within its deadline and a margin, nothing it did not finish is
kept, and all is well once the database answers again."""
import concurrent.futures
import signal
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from conftest import MODE, sanitizer_reports, tail
from client import expect_problem, expect_status
from test_backend_failure import _pg_pids, _signal_all, wait_ready
from test_service import find, get_metrics
from notify_helpers import wait_until

cluster = pytest.mark.skipif(MODE != "cluster", reason="needs CHORUS_BACKENDS=cluster")
embedded = pytest.mark.skipif(MODE != "embedded", reason="needs CHORUS_BACKENDS=embedded")

# Slack for a connection attempt (libpq's connect_timeout counts whole seconds, at least 2)
# and a loaded test machine; without the request deadline a statement alone takes the
# statement timeout (5 s) + 2 s.
MARGIN_S = 4.5


def metric(api, name, **labels):
    _, samples = get_metrics(api)
    return sum(v for _, v in find(samples, name, **labels))


class StoppedPostgres:
    """SIGSTOP on the postmaster and every backend: sockets stay open, nothing answers."""

    def __init__(self, pg):
        self.pg = pg
        self.master = None

    def __enter__(self):
        self.master, kids = _pg_pids(self.pg)
        _signal_all([self.master] + kids, signal.SIGSTOP)
        return self

    def resume(self):
        if self.master is not None:
            _signal_all([self.master] + _pg_pids(self.pg)[1], signal.SIGCONT)
            self.master = None

    def __exit__(self, *exc):
        self.resume()


def wait_queued(api, n, what):
    """Waits (generously: an ASan server on a loaded machine) until at least n requests wait
    for a worker thread (chorus_work_queued, read on the loop)."""
    wait_until(lambda: metric(api, "chorus_work_queued") >= n, what, 60)


def timed(fn, *a, **kw):
    t0 = time.monotonic()
    r = fn(*a, timeout=60, **kw)
    return r, time.monotonic() - t0


@cluster
def test_a_stopped_postgres_answers_every_request_503_within_its_deadline(start_server, pg_ctl):
    """40 concurrent requests of several kinds, 8 workers, request deadline 1.5 s (the
    statement deadline stays 5 s + 2 s): each answers 503 with Retry-After by the request
    deadline plus a margin, whether it waited for a worker, a pooled connection or an
    answer. Afterwards everything works, and nothing half-done was kept."""
    deadline_s = 1.5
    # The accounts are made by an instance with the default deadline on the same storage: a
    # registration's password hash can outlast 1.5 s on a loaded machine (503 by its deadline).
    setup = start_server(name="deadline-pg-setup")
    acct, other = setup.client().register(display_name="Deadline"), setup.client().register()
    post = expect_status(acct.post("/v1/posts", json={"text": "before the stop"}), 201).json["id"]
    expect_status(acct.patch("/v1/me", json={"bio": "before"}), 200)
    setup.stop()
    srv = start_server(name="deadline-pg", storage=setup.storage_env,
                       env={"CHORUS_REQUEST_TIMEOUT": str(int(deadline_s * 1000)), "CHORUS_WORKERS": "8"})
    c = srv.client()
    acct.client = c  # the same session, on this instance
    kinds = [
        lambda a: a.get(f"/v1/users/{other.id}", timeout=60),
        lambda a: a.patch("/v1/me", json={"bio": "during"}, timeout=60),
        lambda a: a.post("/v1/posts", json={"text": "during the stop"}, timeout=60),
        lambda a: a.get(f"/v1/posts/{post}", timeout=60),
        lambda a: a.client.request("PUT", f"/v1/posts/{post}/reaction", json={"kind": "like"}, token=a.access_token, timeout=60),
        lambda a: a.post(f"/v1/users/{other.id}/follow", timeout=60),
        lambda a: a.get("/v1/me", timeout=60),
        lambda a: a.get(f"/v1/users/{acct.id}/posts", timeout=60),
    ]

    def one(i):
        t0 = time.monotonic()
        r = kinds[i % len(kinds)](acct)
        return r, time.monotonic() - t0

    with StoppedPostgres(pg_ctl):
        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            answers = list(pool.map(one, range(40)))
    for r, took in answers:
        assert r.status == 503, r.describe()
        assert r.json["code"] in ("unavailable", "overloaded"), r.describe()
        assert r.json["detail"] != r.json["title"], r.describe()  # says what ended it
        assert int(r.header("Retry-After")) >= 1, r.describe()
        assert took < deadline_s + MARGIN_S, f"took {took:.1f}s (deadline {deadline_s}s):\n{r.describe()}"
    assert metric(c, "chorus_db_deadline_hits_total") > 0

    wait_ready(c)
    assert acct.me()["bio"] in ("before",), acct.me()  # every write was answered 503: none kept
    posts = expect_status(acct.get(f"/v1/users/{acct.id}/posts"), 200).json
    assert [p["text"] for p in posts["items"]] == ["before the stop"], posts
    expect_status(acct.patch("/v1/me", json={"bio": "after"}), 200)
    expect_status(acct.post("/v1/posts", json={"text": "after"}), 201)
    expect_status(acct.client.request("PUT", f"/v1/posts/{post}/reaction", json={"kind": "like"},
                                      token=acct.access_token), 200)
    expect_status(acct.get(f"/v1/posts/{post}"), 200)


@cluster
def test_sigterm_while_postgres_hangs_exits_within_the_grace(start_server, pg_ctl):
    """Requests stuck on a stopped PostgreSQL with long deadlines (30 s): a SIGTERM still
    ends the process within CHORUS_SHUTDOWN_GRACE (3 s) plus a margin."""
    grace_s = 3
    srv = start_server(name="deadline-grace", env={"CHORUS_SHUTDOWN_GRACE": str(grace_s * 1000),
                                                   "CHORUS_REQUEST_TIMEOUT": "30000",
                                                   "CHORUS_DB_STATEMENT_TIMEOUT": "30000",
                                                   "CHORUS_DB_POOL_WAIT": "30000"})
    c = srv.client()
    acct = c.register()
    with StoppedPostgres(pg_ctl):
        pool = concurrent.futures.ThreadPoolExecutor(10)
        futures = [pool.submit(acct.patch, "/v1/me", json={"bio": f"hung {i}"}, timeout=60, check=False)
                   for i in range(10)]
        time.sleep(1)  # they are all waiting for PostgreSQL now
        assert not any(f.done() for f in futures)
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)
        try:
            code = srv.proc.wait(grace_s + 20)
        except Exception:
            srv.kill()
            raise AssertionError(f"still running {grace_s + 20}s after SIGTERM; stderr:\n{tail(srv.stderr_path)}")
        took = time.monotonic() - t0
        pool.shutdown(wait=True)
    stderr = srv.stderr_path
    srv.stop(check=False)  # already exited: nothing left for the fixture to stop
    # The margin is for an ASan process's exit (its leak scan) on a loaded machine; without
    # the grace the stuck requests would keep it 30 s.
    assert took < grace_s + 7, f"exited {took:.1f}s after SIGTERM (grace {grace_s}s)"
    # 0: every wait was cut off in time and the stop finished; 70: the watchdog ended it
    assert code in (0, 70), f"exit status {code}; stderr:\n{tail(stderr)}"
    assert not sanitizer_reports(stderr), tail(stderr, 80)
    for f in futures:  # answered 503 (cut off) or the connection closed: never a 2xx
        try:
            r = f.result()
        except OSError:
            continue
        assert r.status == 503, r.describe()
    # The same storage serves again: nothing was left half-done.
    again = start_server(name="deadline-grace-again", storage=srv.storage_env).client()
    wait_ready(again)
    expect_status(again.login(acct.handle).patch("/v1/me", json={"bio": "after"}), 200)


@cluster
def test_a_full_queue_answers_503_overloaded_at_once(start_server, pg_ctl):
    """One worker thread held by a stopped PostgreSQL, CHORUS_QUEUE_MAX=2: two requests
    wait, every further one is answered 503 overloaded at once, well before the 20 s request
    deadline it would otherwise wait out (the bound below leaves a loaded machine half of it).
    The statement timeout is longer than that deadline, so the queue stays full until then."""
    deadline_s = 20
    srv = start_server(name="deadline-queue", env={"CHORUS_WORKERS": "1", "CHORUS_QUEUE_MAX": "2",
                                                   "CHORUS_REQUEST_TIMEOUT": str(deadline_s * 1000),
                                                   "CHORUS_DB_STATEMENT_TIMEOUT": "60000"})
    c = srv.client()
    acct = c.register()
    path = "/v1/me/sessions"  # a worker's read (a profile is an L1 route: tried on the loop first)
    before = metric(c, "chorus_work_not_run_total", reason="queue_full")
    with StoppedPostgres(pg_ctl):
        pool = concurrent.futures.ThreadPoolExecutor(3)
        # The first holder is seen on the worker (in flight beside this /metrics read, and
        # nothing queued), then the queue full, not guessed after sleeps: a third holder that
        # arrived before the worker took the first would be refused, and a probe sent before
        # the holders arrive would take their place in the queue.
        held = [pool.submit(acct.get, path, timeout=90)]
        wait_until(lambda: metric(c, "http_server_requests_in_flight") >= 2
                   and metric(c, "chorus_work_queued") == 0, "the first holder on the worker", 60)
        held += [pool.submit(acct.get, path, timeout=90) for _ in range(2)]
        wait_queued(c, 2, "one request on the worker and two queued")
        for _ in range(5):
            r, took = timed(acct.get, path)
            expect_problem(r, 503, "overloaded")
            assert int(r.header("Retry-After")) >= 1, r.describe()
            assert took < deadline_s / 2, f"an overloaded answer took {took:.1f}s:\n{r.describe()}"
        # A read tried on the loop first that must move to a worker (a profile nobody read:
        # not in the L1) is bound by the same queue: refused at once, not queued past it.
        r, took = timed(acct.get, "/v1/users/123456789")
        expect_problem(r, 503, "overloaded")
        assert took < deadline_s / 2, f"a moved read's overloaded answer took {took:.1f}s:\n{r.describe()}"
        for f in held:
            expect_problem(f.result(), 503, "unavailable")
        pool.shutdown(wait=True)
    assert metric(c, "chorus_work_not_run_total", reason="queue_full") >= before + 6
    wait_ready(c)
    expect_status(acct.get(path), 200)


@cluster
def test_work_of_a_client_that_hung_up_is_not_run(start_server, pg_ctl):
    """A PATCH queued behind a worker stuck on PostgreSQL, whose client hangs up: when the
    worker frees up, the PATCH is dropped, not run."""
    # The holders wait for PostgreSQL until it is resumed, however long the waits below take.
    srv = start_server(name="deadline-gone", env={"CHORUS_WORKERS": "1", "CHORUS_REQUEST_TIMEOUT": "60000",
                                                  "CHORUS_DB_STATEMENT_TIMEOUT": "60000"})
    c = srv.client()
    acct = c.register()
    expect_status(acct.patch("/v1/me", json={"bio": "kept"}), 200)
    before = metric(c, "chorus_work_not_run_total", reason="client_gone")
    with StoppedPostgres(pg_ctl) as stopped:
        # Two holders: once one of them is seen queued, the only worker is busy with the
        # other, so the PATCH sent after that is queued behind a stuck holder whatever the
        # order the machine's load gives their arrivals (a fixed sleep was a guess).
        pool = concurrent.futures.ThreadPoolExecutor(2)
        holders = [pool.submit(acct.get, f"/v1/users/{acct.id}", timeout=90) for _ in range(2)]
        wait_queued(c, 1, "a holder queued behind the other")
        body = b'{"bio": "from a client that left"}'
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"PATCH /v1/me HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  + f"Authorization: Bearer {acct.access_token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                  + body)
        wait_queued(c, 2, "the PATCH queued behind the holders")
        s.close()  # the worker looks at the socket itself when the PATCH's turn comes
        stopped.resume()
        for holder in holders:
            expect_status(holder.result(), 200)
        pool.shutdown(wait=True)
    wait_ready(c)
    assert acct.me()["bio"] == "kept"
    assert metric(c, "chorus_work_not_run_total", reason="client_gone") >= before + 1


@embedded
def test_a_sqlite_lock_wait_ends_at_the_request_deadline(start_server):
    """Another process holds SQLite's write lock for 4.5 s: with a 1 s request deadline a
    write answers 503 at the deadline (the 5 s busy timeout alone would wait, then succeed
    once the lock went), nothing changed; after the lock goes it works. The bound leaves a
    loaded machine 3 s past the deadline, still before the lock goes. The account is made
    by an instance with the default deadline on the same storage: a registration's password
    hash can take longer than 1 s on a loaded machine (503 by its own deadline)."""
    setup = start_server(name="deadline-sqlite-setup")
    acct = setup.client().register()
    expect_status(acct.patch("/v1/me", json={"bio": "before"}), 200)
    setup.stop()
    srv = start_server(name="deadline-sqlite", storage=setup.storage_env, env={"CHORUS_REQUEST_TIMEOUT": "1000"})
    c = srv.client()
    acct.client = c  # the same session, on this instance
    db = Path(srv.storage_env["CHORUS_DATA_DIR"]) / "chorus.db"
    if not db.is_absolute():
        db = srv.dir / db
    locked = threading.Event()

    def hold():
        con = sqlite3.connect(str(db), isolation_level=None, timeout=10)
        try:
            con.execute("BEGIN IMMEDIATE")
            locked.set()
            time.sleep(4.5)
            con.execute("ROLLBACK")
        finally:
            con.close()

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert locked.wait(10)
        r, took = timed(acct.patch, "/v1/me", json={"bio": "during"})
        body = expect_problem(r, 503, "unavailable")
        assert "CHORUS_REQUEST_TIMEOUT" in body["detail"], r.describe()  # says which limit ended it
        assert int(r.header("Retry-After")) >= 1, r.describe()
        assert took < 4, f"took {took:.1f}s with a 1 s request deadline:\n{r.describe()}"
    finally:
        t.join()
    assert acct.me()["bio"] == "before"
    expect_status(acct.patch("/v1/me", json={"bio": "after"}), 200)
    assert metric(c, "chorus_db_deadline_hits_total") > 0

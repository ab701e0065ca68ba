"""chorus_consumer_lag_seconds tells the truth (issue 10): per durable consumer, the age of the
oldest row it has not applied yet (0 when none), read in one statement so that two replicas
never see false spikes of the 30 s window, and taken when /metrics renders, so it keeps
growing while the consumer cannot reach its database (or the ClickHouse shipper,
consumer="clickhouse", cannot reach ClickHouse) instead of freezing at its last value."""
import os
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from client import expect_status
from conftest import MODE, PG_BIN
from notify_helpers import ID_EPOCH_MS, TEST_NODE, emit_event, new_id, sql, wait_until
from pg_signals import pg_pids, signal_pg
from social import post

cluster_only = pytest.mark.skipif(MODE != "cluster", reason="needs CHORUS_BACKENDS=cluster")

LAG = "chorus_consumer_lag_seconds"
HOLDER_APP = "chorus-lag-test-holder"


def lags(client, timeout=10):
    """{consumer: lag in seconds} from client's /metrics."""
    text = expect_status(client.get("/metrics", timeout=timeout), 200).text
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r'^' + LAG + r'\{consumer="([^"]+)"\} (\S+)$', text, re.M)}


def wait_lag(client, consumer, pred, what, timeout=30):
    return wait_until(lambda: (lambda v: v if v is not None and pred(v) else None)(lags(client).get(consumer)),
                      f"{consumer} lag {what}", timeout)


def wait_caught_up(client, consumers, timeout=60):
    wait_until(lambda: all(lags(client).get(c) == 0 for c in consumers),
               lambda: f"{consumers} caught up (lags {lags(client)})", timeout)


def grows_between_every_scrape(client, consumer, samples=4, pause=1.0):
    """Scrapes samples times, pause s apart; each value must exceed the one before by more
    than half the pause (a consumer that reads again only every few seconds, as a blocked
    one does, would show steps). Returns the values."""
    values = [lags(client)[consumer]]
    for _ in range(samples - 1):
        time.sleep(pause)
        values.append(lags(client)[consumer])
    steps = [b - a for a, b in zip(values, values[1:])]
    assert all(s > pause / 2 for s in steps), f"{consumer} lag did not grow with time: {values}"
    return values


# ---- a consumer that cannot apply its rows ----------------------------------------------

class _SqliteWriteLock:
    """Holds SQLite's write lock from outside chorusd, taken right after committing one
    event: the consumer still reads (WAL) but cannot apply it."""

    def __init__(self, server):
        self.db = Path(server.storage_env["CHORUS_DATA_DIR"]) / "chorus.db"
        self.conn = None

    def hold_with_event(self, user_id):
        self.conn = sqlite3.connect(str(self.db), timeout=30, isolation_level=None)
        self.conn.execute("INSERT INTO engagement_events(id, ts, user_id, kind, target_type, target_id, author_id, "
                          f"value) VALUES({new_id()}, {int(time.time() * 1000)}, {user_id}, 'view', 'post', "
                          f"{new_id()}, {user_id}, 0.2)")
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self):
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None


class _PgRowLock:
    """Holds the row lock of the signals consumer's cursor (consumer_offsets) in a psql of
    its own: the consumer's batch waits for it (up to the statement timeout) while its
    lag read, a plain SELECT, goes on."""

    def __init__(self, server, backends):
        self.server, self.backends = server, backends
        self.dbname = server.storage_env["CHORUS_DB"].rsplit("/", 1)[1]
        self.proc = None

    def hold_with_event(self, user_id):
        env = dict(os.environ, PGAPPNAME=HOLDER_APP)
        self.proc = subprocess.Popen(
            [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.backends.pg.port), "-U", "chorus", "-d",
             self.dbname, "-Atc",
             "BEGIN; SELECT last_id FROM consumer_offsets WHERE name = 'signals' FOR UPDATE; "
             "SELECT pg_sleep(60); COMMIT;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        wait_until(lambda: sql(self.server, self.backends,
                               f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{HOLDER_APP}' "
                               "AND query LIKE '%pg_sleep%'") == "1", "the row lock held", 10)
        emit_event(self.server, self.backends, user_id, "view", "post", new_id(), user_id, value=0.2)

    def release(self):
        if self.proc is not None:
            sql(self.server, self.backends,
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{HOLDER_APP}'")
            self.proc.wait(30)
            self.proc = None


def _signals_cursor_made(srv, backends, acct):
    """One event applied by the signals consumer, so that its cursor row exists."""
    emit_event(srv, backends, acct.id, "view", "post", new_id(), acct.id, value=0.2)
    wait_until(lambda: sql(srv, backends, "SELECT count(*) FROM consumer_offsets WHERE name = 'signals'") == "1",
               "the signals cursor")
    wait_caught_up(srv.client(), ["signals"])


def _blocked_signals(srv, backends, acct):
    """Leaves one event the signals consumer sees but cannot apply; returns the holder
    (release() it). SQLite: retried if the consumer took the write lock first."""
    for _ in range(5):
        holder = _PgRowLock(srv, backends) if MODE == "cluster" else _SqliteWriteLock(srv)
        holder.hold_with_event(acct.id)
        try:
            # the consumer's next poll sees it: seconds on a loaded machine
            wait_lag(srv.client(), "signals", lambda v: v > 0, "above 0 (the event seen)", timeout=20)
            return holder
        except AssertionError:
            holder.release()  # applied in the moment between commit and lock: again
    raise AssertionError("could not leave an unapplied event behind a lock")


def test_lag_of_a_consumer_that_cannot_apply_grows_with_time(start_server, backends):
    """A consumer whose batches wait for a lock (and fail after the 5 s lock or statement
    timeout, then back off) reads again only every few seconds; its lag still grows between
    any two scrapes, and drops to 0 once the lock goes."""
    srv = start_server(name="lag-blocked")
    c = srv.client()
    acct = c.register()
    _signals_cursor_made(srv, backends, acct)
    holder = _blocked_signals(srv, backends, acct)
    try:
        time.sleep(1.0)
        grows_between_every_scrape(c, "signals")
        assert lags(c)["notify.outbox"] == 0  # the other consumers are not behind
    finally:
        holder.release()
    wait_caught_up(c, ["signals", "notify.events", "notify.outbox"])


# ---- two replicas: one consistent read -----------------------------------------------------

NO_RATE_LIMITS = {"CHORUS_RATE_LIMIT_USER": "1000000", "CHORUS_RATE_LIMIT_REACTIONS": "1000000"}


def _id_at(ms, seq=0):
    return ((ms - ID_EPOCH_MS) << 22) | (TEST_NODE << 12) | seq


def _as_if_running_for_a_minute(srv, backends):
    """Gives the two event-log consumers the state of a minute of steady traffic: events
    every 20 ms from 60 s ago to 1 s ago, all applied (below the window as seen rows), the
    watermark 60 s back. Every batch from now on moves the watermark across applied rows
    and drops their seen rows, which is when a lag read made of two statements (watermark,
    then rows) saw them as unapplied: a false ~30 s lag."""
    now = int(time.time() * 1000)
    start, end = now - 60000, now - 1000
    id_expr = f"(((ms - {ID_EPOCH_MS}) << 22) | ({TEST_NODE} << 12))"
    sql(srv, backends,
        "INSERT INTO consumer_offsets(name, last_id, updated_at) "
        f"VALUES('signals', {_id_at(start)}, {now}), ('notify.events', {_id_at(start)}, {now}) "
        "ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id; "
        "INSERT INTO engagement_events(id, ts, user_id, kind, target_type, target_id, author_id, value) "
        f"SELECT {id_expr}, ms, 1, 'reaction', 'post', 1, 2, 1.0 "
        f"FROM generate_series({start + 20}, {end}, 20) AS ms; "
        "INSERT INTO consumer_seen(name, event_id) "
        f"SELECT c.name, {id_expr} FROM generate_series({start + 20}, {end}, 20) AS ms, "
        "(VALUES ('signals'), ('notify.events')) AS c(name)")


class _SlowLink:
    """A TCP proxy to PostgreSQL that holds every client-to-server chunk for delay s: a
    replica far from its database. It widens the moment between two statements of one
    replica, which is where the old two-statement lag read met the other replica's commit
    (on loopback that moment is a fraction of a millisecond and the spike rare)."""

    def __init__(self, pg_port, delay):
        self.pg_port, self.delay = pg_port, delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.pg_port))
            threading.Thread(target=self._pipe, args=(client, server, self.delay), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, 0), daemon=True).start()

    @staticmethod
    def _pipe(src, dst, delay):
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                if delay:
                    time.sleep(delay)
                dst.sendall(chunk)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@cluster_only
def test_two_replicas_never_see_a_false_lag_spike(start_server, backends):
    """Two replicas on one PostgreSQL database (one of them 20 ms away from it) under a
    steady write load: sampled every 50 ms for 20 s on both, no consumer's lag comes near
    the 30 s window (each row is applied within a poll or two; the bound, 20 s, is for a
    loaded machine)."""
    a = start_server(name="lag-replica-a", env=NO_RATE_LIMITS)
    _as_if_running_for_a_minute(a, backends)
    link = _SlowLink(backends.pg.port, 0.02)  # left open: b is stopped after the test returns
    far = dict(a.storage_env, CHORUS_DB=a.storage_env["CHORUS_DB"].replace(f":{backends.pg.port}/", f":{link.port}/"))
    b = start_server(name="lag-replica-b", storage=far, env=NO_RATE_LIMITS)
    _sample_under_load(a, b)


def _sample_under_load(a, b):
    ca, cb = a.client(), b.client()
    author = ca.register()
    fan = a.client().register()  # clients of their own: the load runs on another thread
    fan_b = b.client().login(fan.handle)
    item = post(author, text="lag load")
    stop = threading.Event()
    errors = []

    def load():
        kinds = ("like", "love", "haha")
        i = 0
        while not stop.is_set():
            acc = fan if i % 2 else fan_b
            r = acc.client.request("PUT", f"/v1/posts/{item['id']}/reaction", json={"kind": kinds[i % 3]},
                                   token=acc.access_token)
            if r.status != 200:
                errors.append(r.describe())
                return
            i += 1
            time.sleep(0.1)

    t = threading.Thread(target=load, daemon=True)
    t.start()
    worst = {}
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for name, c in (("a", ca), ("b", cb)):
                for consumer, v in lags(c).items():
                    if v > worst.get((name, consumer), (-1,))[0]:
                        worst[(name, consumer)] = (v, time.strftime("%H:%M:%S"))
            time.sleep(0.05)
    finally:
        stop.set()
        t.join(30)
    assert not errors, errors[0]
    assert ("a", "signals") in worst and ("b", "signals") in worst, worst
    # A false spike shows the 30 s window; a real lag of 11 s on both replicas at once was
    # seen when the machine stalled at load 20 (busy loops beside the whole suite).
    assert all(v < 20 for v, _ in worst.values()), f"lag spikes (worst per replica, consumer): {worst}"


# ---- PostgreSQL stopped --------------------------------------------------------------------

def _pg_pids(pg):
    master, kids = pg_pids(pg)
    return [master] + kids


@cluster_only
def test_lag_grows_while_postgres_is_stopped(start_server, backends, pg_ctl):
    """Unapplied rows, then PostgreSQL SIGSTOPped for 4 s: /metrics is served without the
    database and the signals lag grows during the stall; after it (and the lock that kept
    the row unapplied) it drops to 0."""
    srv = start_server(name="lag-pg-stop", env={"CHORUS_DB_STATEMENT_TIMEOUT": "1000",
                                                "CHORUS_DB_POOL_WAIT": "500"})
    c = srv.client()
    acct = c.register()
    _signals_cursor_made(srv, backends, acct)
    holder = _blocked_signals(srv, backends, acct)
    try:
        stopped = _pg_pids(pg_ctl)
        signal_pg(stopped, signal.SIGSTOP)
        try:
            time.sleep(0.5)
            t0 = time.monotonic()
            values = grows_between_every_scrape(c, "signals", samples=4, pause=1.0)
            assert time.monotonic() - t0 < 8, "/metrics waited for the database"
            assert values[0] > 0
        finally:
            signal_pg(stopped + _pg_pids(pg_ctl), signal.SIGCONT)
    finally:
        holder.release()
    wait_caught_up(c, ["signals", "notify.events", "notify.outbox"])


# ---- ClickHouse stopped ----------------------------------------------------------------------

@cluster_only
def test_shipper_backlog_age_grows_while_clickhouse_is_down(start_server, fresh_storage, backends, clickhouse_ctl):
    srv = start_server(env={"CHORUS_CLICKHOUSE": clickhouse_ctl.url(f"chorus_lag{time.monotonic_ns()}")},
                       storage=fresh_storage(), name="lag-clickhouse")
    c = srv.client()
    acct = c.register()
    emit_event(srv, backends, acct.id, "view", "post", new_id(), acct.id, value=0.2)
    wait_caught_up(c, ["clickhouse"])
    clickhouse_ctl.stop()
    try:
        emit_event(srv, backends, acct.id, "view", "post", new_id(), acct.id, value=0.2)
        wait_lag(c, "clickhouse", lambda v: v > 0, "above 0 (an event waits)", timeout=15)
        grows_between_every_scrape(c, "clickhouse", samples=3, pause=1.0)
        assert lags(c)["signals"] < 10  # the database side is not behind
    finally:
        clickhouse_ctl.start()
    wait_caught_up(c, ["clickhouse"], timeout=60)

"""Shipping the engagement event log to ClickHouse (cluster mode): every event arrives once
(counted by id in ClickHouse, without FINAL, equal to the SQL rows), also after a lost
"shipped" mark forces a batch to be sent again and across a ClickHouse outage, during which
chorusd keeps serving and /readyz reports ClickHouse as unavailable."""
import json
import time
import urllib.parse

import pytest

from client import expect_status
from conftest import MODE, base_env, run_chorusd
from notify_helpers import emit_event, new_id, sql, wait_until

cluster_only = pytest.mark.skipif(MODE != "cluster", reason="needs CHORUS_BACKENDS=cluster")

DATABASE = "chorus"  # the shared chorusd's CHORUS_CLICKHOUSE database (conftest)


def make_events(server, backends, user, n, author):
    return [emit_event(server, backends, user.id, "reaction", "post", new_id(), author.id) for _ in range(n)]


def id_list(ids):
    return ",".join(str(i) for i in ids)


def ch_counts(ch, ids):
    """(rows, distinct ids) in ClickHouse for ids; no FINAL, so a duplicate would show."""
    out = ch.query(f"SELECT count(), uniqExact(id) FROM engagement_events WHERE id IN ({id_list(ids)})",
                   database=DATABASE)
    rows, distinct = out.split()
    return int(rows), int(distinct)


def unshipped(server, backends, ids):
    out = sql(server, backends,
              f"SELECT COUNT(*) FROM engagement_events WHERE shipped_at IS NULL AND id IN ({id_list(ids)})")
    return int(out.strip())


def wait_shipped(server, backends, ch, ids, timeout=60):
    wait_until(lambda: unshipped(server, backends, ids) == 0, f"{len(ids)} events marked shipped", timeout)
    wait_until(lambda: ch_counts(ch, ids) == (len(ids), len(ids)), f"{len(ids)} events in ClickHouse", timeout)


@cluster_only
def test_events_arrive_once_with_their_fields(api, server, backends, clickhouse_ctl, user, other):
    assert "CHORUS_CLICKHOUSE" in server.storage_env
    ids = make_events(server, backends, user, 7, other)
    wait_shipped(server, backends, clickhouse_ctl, ids)
    row = clickhouse_ctl.query(
        f"SELECT user_id, kind, target_type, author_id, value, toUnixTimestamp(event_time) * 1000 <= ts "
        f"FROM engagement_events WHERE id = {ids[0]} FORMAT TabSeparated", database=DATABASE).split("\t")
    assert row[:5] == [user.id, "reaction", "post", other.id, "1"], row
    assert row[5].strip() == "1"


@cluster_only
def test_a_lost_shipped_mark_does_not_duplicate(api, server, backends, clickhouse_ctl, user, other):
    ids = make_events(server, backends, user, 5, other)
    wait_shipped(server, backends, clickhouse_ctl, ids)
    # As if chorusd had died after ClickHouse took the batch but before it was marked.
    sql(server, backends, f"UPDATE engagement_events SET shipped_at = NULL WHERE id IN ({id_list(ids)})")
    more = make_events(server, backends, user, 3, other)
    wait_shipped(server, backends, clickhouse_ctl, ids + more)
    assert ch_counts(clickhouse_ctl, ids) == (5, 5)


@cluster_only
def test_clickhouse_outage_loses_nothing_and_chorusd_keeps_serving(api, server, backends, clickhouse_ctl, user,
                                                                    other):
    before = make_events(server, backends, user, 3, other)
    wait_shipped(server, backends, clickhouse_ctl, before)
    clickhouse_ctl.stop()
    try:
        # still serving (degraded): events wait in the database. The check runs in the
        # background, about once a second.
        r = wait_until(lambda: (lambda r: r if r.json["checks"]["clickhouse"] == "unavailable" else None)(
            expect_status(api.get("/readyz"), 200)), "/readyz clickhouse: unavailable", 30)
        assert r.json == {"status": "degraded", "checks": {"db": "ok", "kv": "ok", "clickhouse": "unavailable"}}, \
            r.describe()
        during = make_events(server, backends, user, 4, other)
        fan = api.register()  # the API goes on serving
        expect_status(fan.post(f"/v1/users/{user.id}/follow"), 200)
        expect_status(user.get("/v1/notifications"), 200)
        time.sleep(1.5)  # the shipper tries, fails and backs off
        assert unshipped(server, backends, during) == 4
    finally:
        clickhouse_ctl.start()
    after = make_events(server, backends, user, 2, other)
    wait_shipped(server, backends, clickhouse_ctl, before + during + after)
    wait_until(lambda: expect_status(api.get("/readyz"), 200).json["checks"]["clickhouse"] == "ok",
               "/readyz clickhouse: ok", 30)


@cluster_only
def test_a_dedicated_chorusd_makes_its_own_database(start_server, fresh_storage, backends, clickhouse_ctl):
    storage = fresh_storage()
    db = f"chorus_t{time.monotonic_ns()}"
    srv = start_server(env={"CHORUS_CLICKHOUSE": clickhouse_ctl.url(db)}, storage=storage, name="ch-own-db")
    acct = srv.client().register()
    ids = [emit_event(srv, backends, acct.id, "view", "reel", new_id(), acct.id, value=3.5) for _ in range(2)]
    wait_until(lambda: unshipped(srv, backends, ids) == 0, "events marked shipped", 60)
    out = clickhouse_ctl.query(f"SELECT count(), sum(value) FROM engagement_events WHERE id IN ({id_list(ids)})",
                               database=db)
    assert out.split() == ["2", "7"]


def test_a_bad_clickhouse_url_stops_chorusd_at_start(tmp_path):
    # Configuration is checked before any backend is opened: no storage is needed.
    for url in ["127.0.0.1:8123", "ftp://ch:21", "http://", "http://ch:8123/a/b", "http://ch:8123/bad-name",
                "http://user:pw@ch:8123"]:
        env = base_env()
        env.update({"CHORUS_DATA_DIR": str(tmp_path), "CHORUS_CLICKHOUSE": url})
        p = run_chorusd(["migrate"], env)
        assert p.returncode == 2, (url, p)
        assert "CHORUS_CLICKHOUSE" in p.stderr, (url, p.stderr)


class HangingClickHouse:
    """A stand-in for ClickHouse's HTTP interface that answers DDL, the presence query and
    /ping at once but holds every INSERT until release() (then takes it)."""

    def __init__(self):
        import http.server
        import threading
        outer = self
        self.insert_seen = threading.Event()
        self.go = threading.Event()
        self.received = []  # ids of the rows INSERTs brought, in order

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _answer(self, body=b""):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._answer(b"Ok.\n")

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                if "INSERT" in urllib.parse.unquote_plus(self.path):
                    outer.insert_seen.set()
                    outer.go.wait(30)
                    outer.received += [json.loads(line)["id"] for line in body.splitlines() if line.strip()]
                self._answer()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/chorus"

    def release(self):
        self.go.set()

    def close(self):
        self.go.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@cluster_only
def test_a_hung_clickhouse_holds_no_database_lock(start_server, backends):
    """While the shipper waits on ClickHouse, nothing of it is locked in the database: another
    replica's (or anyone's) statement on the lease row and on the batch's rows goes through
    at once. Once ClickHouse answers, the batch is marked shipped."""
    fake = HangingClickHouse()
    try:
        srv = start_server(env={"CHORUS_CLICKHOUSE": fake.url}, name="ch-hung")
        acct = srv.client().register()
        ids = [emit_event(srv, backends, acct.id, "view", "post", new_id(), acct.id) for _ in range(3)]
        assert fake.insert_seen.wait(30), "the shipper never sent its INSERT"
        # lock_timeout makes a blocked statement fail instead of waiting: psql exits non-zero.
        sql(srv, backends, "SET lock_timeout = '1s'; "
                           "SELECT name FROM consumer_offsets FOR UPDATE; "
                           f"UPDATE engagement_events SET value = value WHERE id IN ({id_list(ids)})")
        assert unshipped(srv, backends, ids) == 3  # not marked while ClickHouse has not taken them
        fake.release()
        wait_until(lambda: unshipped(srv, backends, ids) == 0, "events marked shipped", 30)
        assert sorted(fake.received) == sorted(ids), fake.received  # each once
    finally:
        fake.close()


@cluster_only
def test_two_replicas_ship_each_event_once(api, server, start_server, backends, clickhouse_ctl, user, other):
    """A second chorusd on the same database and ClickHouse: the shippers take turns by
    lease, and every event arrives exactly once."""
    start_server(env={"CHORUS_NODE_ID": "9"}, storage=server.storage_env, name="ch-replica")
    ids = make_events(server, backends, user, 40, other)
    wait_shipped(server, backends, clickhouse_ctl, ids)
    assert ch_counts(clickhouse_ctl, ids) == (40, 40)

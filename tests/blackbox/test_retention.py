"""Retention of the outbox and the engagement event log (CHORUS_RETENTION_OUTBOX,
CHORUS_RETENTION_EVENTS, CHORUS_RETENTION_INTERVAL): the worker deletes rows older than the
age that every consumer has passed (below each one's watermark, which trails "now" by 30 s),
and, while ClickHouse shipping is on, only rows already shipped. Rows the consumers have not
passed yet stay however old they are, and so do unshipped events. Both backends.

A consumer moves its watermark only when a row it reads arrives (notify.events reads
reactions, comments, replies and mentions), so each test makes a reaction after writing its
old rows.

Old rows are written straight into the tables with ids of an hour ago (ids are
time-sortable: their age is read from them), as a writer of that time would have."""
import socket
import time

import pytest

from client import Client, expect_status
from conftest import run_chorusd
from notify_helpers import follow, new_id, post, react, sql, wait_until

HOUR_MS = 3600 * 1000
SHORT = {"CHORUS_RETENTION_OUTBOX": "2", "CHORUS_RETENTION_EVENTS": "2", "CHORUS_RETENTION_INTERVAL": "1"}


def old_rows(srv, backends, n=3, ago_ms=HOUR_MS):
    """n outbox rows and n view events with ids of ago_ms before now; their ids."""
    at = int(time.time() * 1000) - ago_ms
    outbox, events = [new_id(at + i) for i in range(n)], [new_id(at + i) for i in range(n)]
    for i in outbox:
        sql(srv, backends, "INSERT INTO outbox(id, topic, aggregate_id, payload, created_at) "
                           f"VALUES({i}, 'test.retention', 1, '{{}}', {at})")
    for i in events:
        sql(srv, backends, "INSERT INTO engagement_events(id, ts, user_id, kind, target_type, target_id, "
                           f"author_id, value) VALUES({i}, {at}, 1, 'view', 'post', 1, 2, 0.2)")
    return outbox, events


def present(srv, backends, table, ids):
    if not ids:
        return 0
    return int(sql(srv, backends, f"SELECT COUNT(*) FROM {table} WHERE id IN ({','.join(map(str, ids))})"))


def purged_metric(srv):
    out = {}
    for ln in Client(srv.base_url).get("/metrics").text.splitlines():
        if ln.startswith("chorus_retention_purged_rows_total{"):
            out[ln.split('table="')[1].split('"')[0]] = int(float(ln.split()[1]))
    return out


def sweeps(srv):
    """chorus_retention_sweeps_total: sweeps completed so far (0 before the first)."""
    for ln in Client(srv.base_url).get("/metrics").text.splitlines():
        if ln.startswith("chorus_retention_sweeps_total "):
            return int(float(ln.split()[1]))
    return 0


def wait_sweeps(srv, n=2):
    """Until n more sweeps have completed: the last one began after this call (instead of
    sleeping "a few intervals", which a slow worker would make vacuous)."""
    n0 = sweeps(srv)
    wait_until(lambda: sweeps(srv) >= n0 + n, f"{n} more retention sweeps after {n0}")


def test_old_consumed_rows_go_and_rows_not_yet_passed_stay(start_server, backends):
    srv = start_server(env=SHORT, name="retention")
    old_outbox, old_events = old_rows(srv, backends)
    c = Client(srv.base_url)
    author, fan = c.register(), c.register()
    assert follow(fan, author) == "following"
    p = post(author)
    react(fan, p["id"], "love")
    recent_at = time.time()  # the recent rows are at most this new
    recent_outbox = [int(r) for r in sql(srv, backends, "SELECT id FROM outbox WHERE topic IN "
                                                        "('follow.created', 'reaction.created') ORDER BY id").split()]
    recent_events = [int(r) for r in sql(srv, backends, "SELECT id FROM engagement_events WHERE kind = 'reaction' "
                                                        f"AND target_id = {int(p['id'])}").split()]
    assert len(recent_outbox) == 2 and len(recent_events) == 1
    # Also old enough, but newer than the watermark (30 s behind now): not passed yet.
    _, unpassed_events = old_rows(srv, backends, n=1, ago_ms=5000)

    wait_until(lambda: present(srv, backends, "outbox", old_outbox) == 0
               and present(srv, backends, "engagement_events", old_events) == 0, "old consumed rows deleted")
    # the purge is counted beside its delete, not before it: polled
    wait_until(lambda: (lambda m: m.get("outbox", 0) >= 3 and m.get("engagement_events", 0) >= 3)(purged_metric(srv)),
               lambda: f"the purged rows counted: {purged_metric(srv)}")
    # Let every recent row pass the age (2 s), then let sweeps run that began after that.
    time.sleep(max(0.0, recent_at + 2.1 - time.time()))
    wait_sweeps(srv)
    assert present(srv, backends, "outbox", recent_outbox) == 2
    assert present(srv, backends, "engagement_events", recent_events + unpassed_events) == 2
    # What the consumers made of the rows is untouched.
    g = expect_status(author.get("/v1/notifications"), 200).json["items"]
    assert sorted(n["kind"] for n in g) == ["follow", "reaction"]


def test_unshipped_events_stay_until_shipped(start_server, backends):
    # Shipping on, to a ClickHouse that never answers: nothing gets shipped. The address is
    # a port this test holds bound and never listens on, so connecting to it is refused and
    # no other process can take it meanwhile (a port that was merely free a moment ago could).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as dead:
        dead.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{dead.getsockname()[1]}"
        check_unshipped_events_stay(start_server, backends, dead_url)


def check_unshipped_events_stay(start_server, backends, dead_url):
    srv = start_server(env=dict(SHORT, CHORUS_CLICKHOUSE=dead_url), name="retention-ch")
    old_outbox, old_events = old_rows(srv, backends)
    c = Client(srv.base_url)
    a, b = c.register(), c.register()
    # Something new for every consumer to move on with (notify.events reads only its kinds).
    assert follow(a, b) == "following"
    react(a, post(b)["id"], "like")
    wait_until(lambda: present(srv, backends, "outbox", old_outbox) == 0, "old outbox rows deleted")
    # The event consumers have passed the old events too (one thread runs every consumer in
    # turn; the outbox's went first), but they were never shipped.
    wait_until(lambda: int(sql(srv, backends, "SELECT COUNT(*) FROM consumer_offsets WHERE name IN "
                                              "('notify.events', 'signals') AND last_id >= "
                                              f"{max(old_events)}")) == 2, "event consumers past the old rows")
    wait_sweeps(srv)
    assert present(srv, backends, "engagement_events", old_events) == 3
    # Once shipped (as the shipper marks them), they go.
    sql(srv, backends, f"UPDATE engagement_events SET shipped_at = 1 WHERE id IN ({','.join(map(str, old_events))})")
    wait_until(lambda: present(srv, backends, "engagement_events", old_events) == 0, "shipped old events deleted")


def test_age_zero_keeps_everything(start_server, backends):
    srv = start_server(env={"CHORUS_RETENTION_OUTBOX": "0", "CHORUS_RETENTION_EVENTS": "0",
                            "CHORUS_RETENTION_INTERVAL": "1"}, name="retention-keep")
    old_outbox, old_events = old_rows(srv, backends)
    c = Client(srv.base_url)
    a, b = c.register(), c.register()
    assert follow(a, b) == "following"
    react(a, post(b)["id"], "like")
    wait_until(lambda: int(sql(srv, backends, "SELECT COUNT(*) FROM consumer_offsets WHERE name IN "
                                              "('notify.outbox', 'notify.events', 'signals') AND last_id >= "
                                              f"{max(old_events + old_outbox)}")) == 3, "consumers past the old rows")
    wait_sweeps(srv)
    assert present(srv, backends, "outbox", old_outbox) == 3
    assert present(srv, backends, "engagement_events", old_events) == 3
    assert purged_metric(srv) == {"outbox": 0, "engagement_events": 0, "stripe_events": 0}


# ---- settings --------------------------------------------------------------------------------

RETENTION_VARS = ["CHORUS_RETENTION_OUTBOX", "CHORUS_RETENTION_EVENTS", "CHORUS_RETENTION_INTERVAL"]


def test_help_lists_the_retention_settings(chorusd_env):
    p = run_chorusd(["--help"], chorusd_env())
    assert p.returncode == 0, p.stderr
    assert [v for v in RETENTION_VARS if v not in p.stdout] == []


@pytest.mark.parametrize("var,value", [("CHORUS_RETENTION_OUTBOX", "-1"), ("CHORUS_RETENTION_EVENTS", "abc"),
                                       ("CHORUS_RETENTION_EVENTS", "999999999999"),
                                       ("CHORUS_RETENTION_INTERVAL", "0")])
def test_bad_retention_settings_stop_chorusd(chorusd_env, var, value):
    p = run_chorusd(["migrate"], dict(chorusd_env(), **{var: value}))
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert var in p.stderr

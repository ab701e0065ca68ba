"""Helpers for the notification, signal and ClickHouse tests.

The worker is asynchronous, so tests poll (bounded) until what they wait for shows up. Some
tests write engagement events straight into the event log (`engagement_events`): the log is
the contract between whatever records an engagement (reactions, comments, mentions, views)
and the worker, so the worker's rules are tested whichever writer produced the event. Tests
that go through the engagement API check which routes this chorusd serves and fail with a
clear message when one is missing."""
import itertools
import random
import subprocess
import time
import urllib.parse

import pytest

from client import expect_status
from conftest import CHORUS_BIN, base_env
from social import db_rows, follow, post  # noqa: F401  (follow, post: re-exported for the tests)

ID_EPOCH_MS = 1704067200000
TEST_NODE = 1023  # ids made here never collide with the server's (node 0)
_seq = itertools.count(random.randrange(4096))
_routes = None


def served_routes():
    """(METHOD, template) pairs of `chorusd routes`."""
    global _routes
    if _routes is None:
        p = subprocess.run([str(CHORUS_BIN), "routes"], env=base_env(), capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 0, p.stderr
        _routes = {tuple(ln.split()) for ln in p.stdout.splitlines() if ln.strip()}
    return _routes


def need_route(method, template):
    """Fails (not skips) when this chorusd does not serve the route: a missing feature is a
    failure, not a test that quietly did not run."""
    if (method, template) not in served_routes():
        pytest.fail(f"{method} {template} is not served by this chorusd", pytrace=False)


def wait_until(fn, what, timeout=30.0, interval=0.1):
    """Calls fn until it returns something true; returns that. Fails after timeout s (what
    may be a callable, asked for the message then)."""
    deadline = time.monotonic() + timeout
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            what = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def new_id(at_ms=None):
    ms = int(time.time() * 1000) if at_ms is None else at_ms
    return ((ms - ID_EPOCH_MS) << 22) | (TEST_NODE << 12) | (next(_seq) % 4096)


def sql(server, backends, statement):
    """Runs one statement on server's database; rows as 'a|b' lines (NULL as '')."""
    return "\n".join("|".join(r) for r in db_rows(server, backends, statement))


def emit_event(server, backends, user_id, kind, target_type, target_id, author_id, value=1.0, ts=None):
    """Appends one engagement event to the log, as an engagement writer would; its id."""
    eid = new_id()
    ts = int(time.time() * 1000) if ts is None else ts
    sql(server, backends,
        "INSERT INTO engagement_events(id, ts, user_id, kind, target_type, target_id, author_id, value) "
        f"VALUES({eid}, {ts}, {int(user_id)}, '{kind}', '{target_type}', {int(target_id)}, {int(author_id)}, "
        f"{float(value)})")
    return eid


# ---- API helpers ---------------------------------------------------------------------------

def notifications(acc, **query):
    q = ("?" + urllib.parse.urlencode(query)) if query else ""
    return expect_status(acc.get("/v1/notifications" + q), 200).json


def all_notifications(acc, limit=100):
    items, cursor = [], None
    while True:
        q = {"limit": limit}
        if cursor:
            q["cursor"] = cursor
        page = notifications(acc, **q)
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert len(items) < 10000, "cursor never ends"


def unread(acc):
    return expect_status(acc.get("/v1/notifications/unread_count"), 200).json["count"]


def group(acc, kind, target=None):
    """acc's notification group of kind (about target {type, id}), or None. The target's
    rendering ("available", "item") is not compared."""
    for n in all_notifications(acc):
        t = n.get("target")
        if n["kind"] == kind and (t and {"type": t["type"], "id": t["id"]}) == target:
            return n
    return None


def wait_group(acc, kind, target=None, count=None, timeout=30.0):
    """Waits until acc has the group (with actors_count == count when given)."""
    def check():
        g = group(acc, kind, target)
        return g if g and (count is None or g["actors_count"] == count) else None
    return wait_until(check, f"{kind} group {target} with {count} actors for {acc.handle}", timeout)


def actor_ids(g):
    return [a["id"] for a in g["actors"]]


def react(acc, post_id, kind):
    """PUT /v1/posts/{id}/reaction as acc."""
    r = acc.client.request("PUT", f"/v1/posts/{post_id}/reaction", json={"kind": kind}, token=acc.access_token)
    return expect_status(r, 200).json

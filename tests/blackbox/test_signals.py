"""Ranking signals folded by the worker from the engagement event log: per viewer -> author
affinity with a 7-day half-life, per item velocity (weighted engagements per hour, one-hour
half-life), read through the internal operator views. Weights: like 1, other reactions
(value) 1.5, comment 4, reply 6, mention 2, view 0.2 + 0.02/s (at most 1), unreaction minus its
value."""
import datetime
import math
import subprocess
import time
import urllib.parse

import pytest

from client import expect_problem, expect_status
from conftest import MODE
from notify_helpers import (emit_event, follow, group, need_route, new_id, post, react, sql, wait_group,
                            wait_until)

DAY = 24 * 3600


def at(seconds_from_now):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def affinity(acc, author_id, when=None):
    q = {"viewer": acc.id, "author": author_id}
    if when:
        q["at"] = when
    r = expect_status(acc.get("/v1/internal/signals/affinity?" + urllib.parse.urlencode(q)), 200).json
    assert r["viewer_id"] == acc.id and r["author_id"] == str(author_id) and r["half_life_hours"] == 168
    return r["affinity"]


def velocity(acc, type_, id_, when=None):
    q = {"type": type_, "id": id_}
    if when:
        q["at"] = when
    r = expect_status(acc.get("/v1/internal/signals/velocity?" + urllib.parse.urlencode(q)), 200).json
    assert r["target"] == {"type": type_, "id": str(id_)} and r["half_life_hours"] == 1
    return r["velocity"]


def wait_affinity(acc, author_id, want, rel=0.01):
    seen = []

    def check():
        seen.append(affinity(acc, author_id))
        return math.isclose(seen[-1], want, rel_tol=rel)
    wait_until(check, lambda: f"affinity {want} of {acc.handle} to {author_id} (last read {seen[-1:]})")


# ---- affinity -----------------------------------------------------------------------------------------

def test_affinity_grows_with_engagement_and_decays(api, server, backends, user):
    a, b = api.register(), api.register()
    assert affinity(user, a.id) == 0
    t = new_id()
    for _ in range(3):  # three comments on a's post: 3 * 4
        emit_event(server, backends, user.id, "comment", "post", t, a.id)
    emit_event(server, backends, user.id, "reaction", "post", new_id(), b.id)  # one like: 1
    wait_affinity(user, a.id, 12)
    wait_affinity(user, b.id, 1)
    assert affinity(user, a.id) > affinity(user, b.id)
    # More engagement raises it; time halves it every 7 days.
    emit_event(server, backends, user.id, "reply", "comment", new_id(), b.id)
    wait_affinity(user, b.id, 7)
    assert math.isclose(affinity(user, a.id, at(7 * DAY)), 6, rel_tol=0.01)
    assert math.isclose(affinity(user, a.id, at(14 * DAY)), 3, rel_tol=0.01)
    assert affinity(user, a.id, at(7 * DAY)) < affinity(user, a.id)
    # Affinity is directed: a has none towards the viewer.
    assert affinity(a, user.id) == 0


def test_weights_of_each_kind(api, server, backends, user):
    cases = [("mention", 1, 2), ("view", 0, 0.2), ("view", 10, 0.4), ("view", 600, 1.0), ("reaction", 1.5, 1.5)]
    for kind, value, want in cases:
        author = api.register()
        emit_event(server, backends, user.id, kind, "reel", new_id(), author.id, value=value)
        wait_affinity(user, author.id, want)


def test_unreaction_lowers_affinity_but_never_below_zero(api, server, backends, user, other):
    for _ in range(2):
        emit_event(server, backends, user.id, "reaction", "post", new_id(), other.id)
    wait_affinity(user, other.id, 2)
    emit_event(server, backends, user.id, "unreaction", "post", new_id(), other.id)
    wait_affinity(user, other.id, 1)
    for _ in range(3):
        emit_event(server, backends, user.id, "unreaction", "post", new_id(), other.id)
    sentinel = api.register()
    emit_event(server, backends, user.id, "reaction", "post", new_id(), sentinel.id)
    wait_affinity(user, sentinel.id, 1)  # the worker got past the unreactions
    assert affinity(user, other.id) == 0


def test_self_engagement_counts_for_velocity_not_affinity(api, server, backends, user):
    p = post(user)
    emit_event(server, backends, user.id, "comment", "post", p["id"], user.id)
    wait_until(lambda: velocity(user, "post", p["id"]) > 0, "velocity of the post")
    assert affinity(user, user.id) == 0


# ---- velocity --------------------------------------------------------------------------------------

def test_velocity_puts_a_replied_to_item_above_a_liked_one(api, server, backends, user, other):
    replied, liked, quiet = post(user, "replied"), post(user, "liked"), post(user, "quiet")
    emit_event(server, backends, other.id, "reply", "post", replied["id"], user.id)
    emit_event(server, backends, other.id, "reaction", "post", liked["id"], user.id)
    per_hour = math.log(2)  # a weight of 1 just now reads ln 2 per hour with a 1 h half-life
    wait_until(lambda: math.isclose(velocity(other, "post", replied["id"]), 6 * per_hour, rel_tol=0.01),
               "velocity of the replied-to post")
    wait_until(lambda: math.isclose(velocity(other, "post", liked["id"]), per_hour, rel_tol=0.01),
               "velocity of the liked post")
    assert velocity(other, "post", replied["id"]) > velocity(other, "post", liked["id"]) > 0
    assert velocity(other, "post", quiet["id"]) == 0
    # It decays by half every hour.
    assert math.isclose(velocity(other, "post", replied["id"], at(3600)), 3 * per_hour, rel_tol=0.01)
    # Several engagements add up.
    third = api.register()
    emit_event(server, backends, third.id, "reaction", "post", liked["id"], user.id)
    wait_until(lambda: math.isclose(velocity(other, "post", liked["id"]), 2 * per_hour, rel_tol=0.01),
               "two likes")


def test_signals_through_the_reactions_api(api, user, other):
    """A like weighs 1, the other kinds 1.5; replacing or taking one back takes back exactly
    what it gave."""
    need_route("PUT", "/v1/posts/{id}/reaction")
    p = post(user)
    react(other, p["id"], "like")
    wait_until(lambda: velocity(other, "post", p["id"]) > 0, "velocity after a reaction")
    wait_affinity(other, user.id, 1)
    react(other, p["id"], "love")  # replaces the like: -1 + 1.5
    wait_affinity(other, user.id, 1.5)
    expect_status(other.delete(f"/v1/posts/{p['id']}/reaction"), 204)
    sentinel = api.register()
    sp = post(sentinel)
    react(other, sp["id"], "wow")
    wait_affinity(other, sentinel.id, 1.5)  # the worker got past the removal
    assert affinity(other, user.id) == 0


# ---- the internal views ------------------------------------------------------------------------------

def test_internal_views_check_their_input(api, user, other):
    p = post(user)
    bad = [
        (f"/v1/internal/signals/affinity?author={other.id}", "viewer"),
        (f"/v1/internal/signals/affinity?viewer={user.id}", "author"),
        (f"/v1/internal/signals/affinity?viewer={user.id}&author=x", "author"),
        (f"/v1/internal/signals/affinity?viewer={user.id}&author={other.id}&at=yesterday", "at"),
        (f"/v1/internal/signals/velocity?id={p['id']}", "type"),
        (f"/v1/internal/signals/velocity?type=poll&id={p['id']}", "type"),
        ("/v1/internal/signals/velocity?type=post&id=-1", "id"),
        (f"/v1/internal/signals/velocity?type=post&id={p['id']}&at=2024-13-01T00:00:00Z", "at"),
    ]
    for path, field in bad:
        expect_problem(user.get(path), 422, "invalid_field", field)
    expect_problem(user.get(f"/v1/internal/signals/affinity?viewer={other.id}&author={user.id}"), 403, "forbidden")
    expect_problem(api.get(f"/v1/internal/signals/affinity?viewer={user.id}&author={other.id}"), 401,
                   "unauthorized")
    expect_problem(api.get(f"/v1/internal/signals/velocity?type=post&id={p['id']}"), 401, "unauthorized")
    # An item the caller may not see is 404, like one that does not exist.
    expect_status(user.post(f"/v1/users/{other.id}/block"), 204)
    expect_problem(other.get(f"/v1/internal/signals/velocity?type=post&id={p['id']}"), 404, "not_found")
    expect_problem(user.get(f"/v1/internal/signals/velocity?type=post&id={new_id()}"), 404, "not_found")
    # A time in the past reads as now (scores only decay forward); offsets are accepted.
    assert affinity(user, other.id, "2020-01-01T00:00:00Z") == 0
    assert affinity(user, other.id, "2030-01-01T00:00:00.5+02:00") == 0


# ---- exactly once: crashes and replicas -----------------------------------------------------------

def test_exactly_once_across_a_crash_and_a_second_replica(start_server, fresh_storage, backends):
    """Every event counts once: chorusd killed (SIGKILL) while its worker runs, restarted,
    and (cluster mode) a second replica consuming the same streams at the same time. The
    sums would show a batch applied twice or lost."""
    storage = fresh_storage()
    first = start_server(storage=storage, name="signals-crash")
    c = first.client()
    viewer, author = c.register(), c.register()
    fans = [c.register() for _ in range(12)]
    for f in fans[:6]:
        follow(f, viewer)
    ids = [emit_event(first, backends, viewer.id, "comment", "post", new_id(), author.id) for _ in range(40)]
    first.kill()  # no drain, whatever the worker was doing
    servers = [start_server(storage=storage, name="signals-restart")]
    if MODE == "cluster":  # replicas share PostgreSQL and Redis; embedded mode is one process
        servers.append(start_server(storage=storage, name="signals-replica"))
    c = servers[0].client()
    viewer = c.login(viewer.handle)
    for f in fans[6:]:
        f = c.login(f.handle)
        follow(f, viewer)
    ids += [emit_event(servers[-1], backends, viewer.id, "comment", "post", new_id(), author.id) for _ in range(40)]
    wait_affinity(viewer, author.id, 80 * 4, rel=1e-4)
    wait_group(viewer, "follow", None, count=12)
    time.sleep(1)  # a duplicate would show up now
    assert math.isclose(affinity(viewer, author.id), 320, rel_tol=1e-4), affinity(viewer, author.id)
    assert group(viewer, "follow")["actors_count"] == 12


@pytest.mark.skipif(MODE != "cluster", reason="PostgreSQL: a transaction left open by another connection")
def test_an_event_committed_long_after_its_id_is_not_skipped(start_server, backends):
    """An event whose transaction commits more than the consumers' window after it took
    its id still counts: the watermark waits for the oldest open transaction. The window
    is CHORUS_CONSUMER_WINDOW, 3 s here instead of the default 30 s (the same logic, without
    sleeping half a minute)."""
    window_s = 3
    server = start_server(env={"CHORUS_CONSUMER_WINDOW": str(window_s * 1000)}, name="signals-window")
    api = server.client()
    user, late, sentinel = api.register(), api.register(), api.register()
    late_event = new_id()
    held = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", server.storage_env["CHORUS_DB"]],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        held.stdin.write("BEGIN;\nINSERT INTO engagement_events(id, ts, user_id, kind, target_type, target_id,"
                         f" author_id, value) VALUES({late_event}, {int(time.time() * 1000)}, {user.id}, 'comment',"
                         f" 'post', {new_id()}, {late.id}, 1.0);\n")
        held.stdin.flush()
        time.sleep(window_s + 1.5)  # past the window: a plain "now - window" watermark would pass the row
        emit_event(server, backends, user.id, "comment", "post", new_id(), sentinel.id)
        wait_affinity(user, sentinel.id, 4)  # the consumer ran after the window
        held.stdin.write("COMMIT;\n")
        held.stdin.close()
        assert held.wait(timeout=30) == 0, held.stderr.read()
    finally:
        if held.poll() is None:
            held.kill()
            held.wait()
    wait_affinity(user, late.id, 4)
    # The batch that applied it moved the watermark to "now - window" past it: the window
    # is the setting's 3 s (with 30 s the sleep above would prove nothing).
    watermark = int(sql(server, backends, "SELECT last_id FROM consumer_offsets WHERE name = 'signals'"))
    assert watermark >= late_event, (watermark, late_event)

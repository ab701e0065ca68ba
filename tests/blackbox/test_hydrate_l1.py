"""Cluster mode's in-process L1 in front of the Redis hydration cache (store/hcache.h,
ch_hcache_l1_create), with two chorusd nodes on one PostgreSQL + Redis: warm reads on node
B are served from B's own memory (chorus_hcache_l1_gets_total{result="hit"} grows), and
still every change made on node A (reaction, edit, delete, unfollow, privacy, block) shows
on B's very next read, because A publishes each forget on the invalidation channel and B
drops it from its L1. When Redis restarts the L1 is flushed and bypassed until B is
subscribed again, and reads stay right throughout.

"Next read" here means the next read once B's subscriber thread has the forget: the write
answers after Redis took the PUBLISH, and delivery to B is sub-millisecond on an idle
loopback; the tests allow 10 s for a loaded machine, where each read of an ASan server may
itself take a second (the L1 TTL, which would otherwise end a stale entry, is 10 min in these
tests: without the invalidation each of them fails)."""
import re

import pytest

from client import Client, expect_status
from conftest import MODE, run_chorusd
import engage_helpers as engage
from notify_helpers import wait_until
from social import block, follow, make_private, post
from test_hydrate_cache import _as, item, react, user_posts, find

pytestmark = pytest.mark.skipif(MODE != "cluster", reason="needs PostgreSQL + Redis shared by two nodes")


def metric(srv, name, labels=""):
    t = Client(srv.base_url).request("GET", "/metrics", check=False).text
    m = re.search(rf"^{re.escape(name + labels)} (\S+)$", t, re.M)
    return float(m.group(1)) if m else None


def l1_hits(srv):
    return metric(srv, "chorus_hcache_l1_gets_total", '{result="hit"}') or 0.0


def wait_live(*servers):
    for s in servers:
        wait_until(lambda: metric(s, "chorus_hcache_l1_live") == 1.0, f"{s.name}'s L1 in use", 30)


def pair(start_server, fresh_storage, name):
    storage = fresh_storage()
    env = {"CHORUS_HYDRATE_L1_TTL_MS": "600000"}  # the safety net out of the way: only invalidations help
    a = start_server(env=env, storage=storage, name=f"{name}-a")
    b = start_server(env={**env, "CHORUS_ROLES": "api"}, storage=storage, name=f"{name}-b")
    wait_live(a, b)
    return a, b


def warm(read):
    """Reads three times (the first fills Redis, the second B's L1 from Redis, the third is
    served from B's L1); returns the last answer."""
    read()
    read()
    return read()


def soon(fn, what, within=10.0):
    """fn() true now or within the pub/sub delivery of the forget to B's subscriber thread
    (sub-millisecond on an idle loopback; bounded here for a loaded machine, far below the
    10 min L1 TTL these nodes run with, which would otherwise end the stale entry)."""
    return wait_until(fn, what, within, 0.02)


def test_every_change_on_one_node_shows_on_the_other_nodes_next_read(start_server, fresh_storage):
    a, b = pair(start_server, fresh_storage, "l1")
    api = a.client()
    author, fan, stranger, other = (api.register() for _ in range(4))
    follow(fan, author)
    p = post(author, "public")
    fo = post(author, "followers only", visibility="followers")
    d = post(author, "to delete")
    q = post(other, "by another author")
    fan_b, stranger_b = _as(b, fan), _as(b, stranger)

    # Warm on B; the second round is served from B's L1.
    def reads():
        return {"p": item(fan_b, p["id"]), "fo": item(fan_b, fo["id"]), "d": item(fan_b, d["id"]),
                "q": item(fan_b, q["id"]), "list": find(user_posts(fan_b, author), p["id"]),
                "stranger": item(stranger_b, p["id"])}
    hits = l1_hits(b)
    seen = warm(reads)
    assert all(seen.values()), seen
    assert l1_hits(b) > hits, "warm reads on B never hit its L1"

    # A reaction, then a change of it, on A.
    react(fan, "posts", p["id"], "like")
    soon(lambda: (lambda v: (v["my_reaction"], v["counts"]["reactions_total"]) == ("like", 1))(item(fan_b, p["id"])),
         "the reaction on B")
    warm(lambda: item(fan_b, p["id"]))
    react(fan, "posts", p["id"], "love")
    soon(lambda: item(fan_b, p["id"])["my_reaction"] == "love", "the changed reaction on B")
    # An edit on A.
    expect_status(author.patch(f"/v1/posts/{p['id']}", json={"text": "edited on A"}), 200)
    soon(lambda: item(fan_b, p["id"])["text"] == "edited on A", "the edit on B")
    assert find(user_posts(fan_b, author), p["id"])["text"] == "edited on A"
    # A delete on A.
    expect_status(author.delete(f"/v1/posts/{d['id']}"), 204)
    soon(lambda: item(fan_b, d["id"]) is None, "the delete on B")
    # An unfollow on A hides the followers-only post on B.
    assert warm(lambda: item(fan_b, fo["id"]))
    expect_status(fan.delete(f"/v1/users/{author.id}/follow"), 204)
    soon(lambda: item(fan_b, fo["id"]) is None, "the unfollow on B")
    assert item(fan_b, p["id"])  # public: still seen
    # Going private on A hides everything from non-followers on B.
    assert warm(lambda: item(stranger_b, p["id"]))
    make_private(author)
    soon(lambda: item(stranger_b, p["id"]) is None, "the privacy change on B")
    assert item(fan_b, p["id"]) is None
    assert user_posts(stranger_b, author) is None
    # A block on A.
    assert warm(lambda: item(fan_b, q["id"]))
    block(other, fan)
    soon(lambda: item(fan_b, q["id"]) is None, "the block on B")
    assert metric(b, "chorus_hcache_l1_invalidations_total", '{direction="received"}') > 0


def test_a_redis_restart_flushes_the_l1_and_reads_stay_right(start_server, fresh_storage, redis_ctl):
    a, b = pair(start_server, fresh_storage, "l1-restart")
    api = a.client()
    author, fan = api.register(), api.register()
    follow(fan, author)
    p = post(author, "before the restart")
    fan_b = _as(b, fan)
    assert warm(lambda: item(fan_b, p["id"]))["text"] == "before the restart"
    flushes = metric(b, "chorus_hcache_l1_flushes_total")
    redis_ctl.stop()
    try:
        wait_until(lambda: metric(b, "chorus_hcache_l1_live") == 0.0, "B's L1 bypassed", 30)
        r = author.patch(f"/v1/posts/{p['id']}", json={"text": "during the outage"})
        assert r.status in (200, 503), r.describe()
        wrote = r.status == 200
    finally:
        redis_ctl.start()
    a.wait_ready(30, full=True)
    b.wait_ready(30, full=True)
    wait_live(a, b)
    assert metric(b, "chorus_hcache_l1_flushes_total") > flushes
    if not wrote:
        expect_status(author.patch(f"/v1/posts/{p['id']}", json={"text": "during the outage"}), 200)
    assert warm(lambda: item(fan_b, p["id"]))["text"] == "during the outage"
    # And invalidations flow again after the restart.
    expect_status(author.patch(f"/v1/posts/{p['id']}", json={"text": "after the restart"}), 200)
    # A's kv breaker may still be open from the outage: its forget and PUBLISH are then refused,
    # and once its cache has moved the epoch A tells every node to empty its L1 (the probe
    # runs every second).
    soon(lambda: item(fan_b, p["id"])["text"] == "after the restart", "the edit on B after the restart", 15.0)


def test_repair_counters_reaches_the_nodes_l1(start_server, fresh_storage, backends):
    """`chorusd repair-counters` is another process: its forgets must reach the serving nodes'
    L1 through the invalidation channel, not only Redis (a node had the tampered count in
    its L1 and kept serving it for the L1 TTL, 10 min here)."""
    a = start_server(env={"CHORUS_HYDRATE_L1_TTL_MS": "600000"}, storage=fresh_storage(), name="l1-repair")
    wait_live(a)
    api = a.client()
    author, fan = api.register(), api.register()
    p = post(author, "counted")
    engage.react(fan, "posts", p["id"], "like")
    engage.sql(a, backends, f"UPDATE target_counters SET r_like = 999 WHERE target_type = 'post' "
                            f"AND target_id = {int(p['id'])}")
    assert warm(lambda: engage.counts(author, "posts", p["id"]))["reactions"] == {"like": 999}
    out = run_chorusd(["repair-counters", "--type", "post", "--id", p["id"]], engage.server_env(a))
    assert out.returncode == 0, out.stderr
    assert "reactions 999 -> 1" in out.stdout, out.stdout
    soon(lambda: engage.counts(author, "posts", p["id"])["reactions"] == {"like": 1}, "the repaired count", 15.0)

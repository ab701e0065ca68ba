"""Bounds (issue 9): "top" comment snapshots shared per item and bounded in number, the
in-process kv store's memory metrics. Hashtag bounds and aggregates are in test_hashtags.py.

Every response is checked against api/openapi.yaml."""
import re

from client import expect_problem, expect_status
from comments_helpers import block, comment, ids, page, post, walk
from conftest import MODE

SLOTS = 8  # CH_COMMENTS_TOP_SLOTS


def metric(acc, name):
    text = expect_status(acc.get("/metrics"), 200).text
    m = re.search(rf"^{name} (\d+)$", text, re.M)
    assert m, f"{name} not in /metrics"
    return int(m.group(1))


def kv_keys(server, backends, acc, item_id):
    """Cluster: the snapshot keys of the item in Redis. Embedded: every key of the
    in-process store (the caller compares before and after)."""
    if MODE == "cluster":
        reply = backends.redis.command("EVAL", "\"return #redis.call('keys', ARGV[1])\"", "0",
                                       f"cmt:top:post:{item_id}*")
        assert reply.startswith(":"), reply
        return int(reply[1:])
    return metric(acc, "chorus_kv_keys")


def test_top_snapshots_are_shared_and_bounded(api, server, backends, user, other):
    p = post(user)
    path = f"/v1/posts/{p['id']}/comments"
    made = [comment(other, p["id"], f"c{i}")["id"] for i in range(12)]
    viewers = [user, other, api.register()]
    for v in viewers:  # sessions vouched for, rate-limit windows open: their keys exist
        page(v, path, sort="top", limit=5)
    before = kv_keys(server, backends, user, p["id"])
    for i in range(150):
        first = page(viewers[i % 3], path, sort="top", limit=5)
        assert len(first["items"]) == 5 and first["next_cursor"]
    # One shared ordering (its slot, the item's name for it, the slot counter), not one
    # per read.
    grown = kv_keys(server, backends, user, p["id"]) - before
    assert grown <= (3 if MODE == "cluster" else 5), grown
    # A comment written drops the name, so the next first page ranks again: a new
    # generation per write at most, in at most SLOTS slots per item.
    for i in range(2 * SLOTS):
        made.append(comment(other, p["id"], f"late {i}")["id"])
        page(viewers[i % 3], path, sort="top", limit=5)
    grown = kv_keys(server, backends, user, p["id"]) - before
    assert grown <= (SLOTS + 2 if MODE == "cluster" else SLOTS + 5), grown
    # Paging through still shows every comment once, for every viewer.
    for v in viewers:
        seen = ids(walk(v, path, limit=5, sort="top"))
        assert len(seen) == len(set(seen)) and set(seen) == set(made)


def test_top_walk_filters_what_the_viewer_may_not_see(api, user, other):
    """The ordering is shared; comments of a user blocked either way with the viewer are
    left out when a page is read (a page may be short, the walk never repeats or skips)."""
    p = post(user)
    path = f"/v1/posts/{p['id']}/comments"
    viewer, blocker = api.register(), api.register()
    block(blocker, viewer)
    visible, hidden_ids = [], []
    for i in range(20):
        if i % 3 == 1:
            hidden_ids.append(comment(blocker, p["id"], f"b{i}")["id"])
        else:
            visible.append(comment(other, p["id"], f"o{i}")["id"])
    everyone = walk(user, path, limit=4, sort="top")
    assert set(ids(everyone)) == set(visible) | set(hidden_ids)
    # The viewer walks the same shared ordering, without the blocker's comments.
    for limit in (1, 3, 4):
        seen = ids(walk(viewer, path, limit=limit, sort="top"))
        assert seen == [c for c in ids(everyone) if c not in hidden_ids]
    # The blocker's first page comes from the same ordering too.
    seen = ids(walk(blocker, path, limit=3, sort="top"))
    assert seen == ids(everyone)


def test_kv_memory_metrics(api):
    if MODE == "cluster":
        text = expect_status(api.get("/metrics"), 200).text
        assert "chorus_kv_memory_bytes" not in text  # Redis reports its own (INFO memory)
        return
    assert metric(api, "chorus_kv_max_memory_bytes") == 256 << 20
    assert 0 < metric(api, "chorus_kv_memory_bytes") <= 256 << 20
    assert metric(api, "chorus_kv_keys") > 0
    assert metric(api, "chorus_kv_evictions_total") == 0


def test_kv_max_memory_setting(start_server):
    srv = start_server({"CHORUS_KV_MAX_MEMORY": str(16 << 20)})
    api = srv.client()
    api.register()
    if MODE == "cluster":
        return  # the bound is Redis's own (maxmemory); nothing to report
    assert metric(api, "chorus_kv_max_memory_bytes") == 16 << 20
    assert 0 < metric(api, "chorus_kv_memory_bytes") <= 16 << 20


def test_top_walk_survives_newer_orderings(api, user, other):
    """Orderings of one item take their slots in turn: a walk goes on while up to
    SLOTS - 1 newer orderings are made (comments written, first pages read), and answers 422
    on cursor (start again) once its slot was taken."""
    p = post(user)
    path = f"/v1/posts/{p['id']}/comments"
    for i in range(9):
        comment(other, p["id"], f"c{i}")
    first = page(user, path, sort="top", limit=3)
    walked = ids(first["items"])
    for i in range(SLOTS - 1):
        comment(other, p["id"], f"newer {i}")
        assert page(other, path, sort="top", limit=3)["next_cursor"] != first["next_cursor"]
    cursor = first["next_cursor"]
    while cursor:
        pg = page(user, path, sort="top", limit=3, cursor=cursor)
        walked.extend(ids(pg["items"]))
        cursor = pg["next_cursor"]
    assert len(walked) == len(set(walked)) == 9
    comment(other, p["id"], "one more")
    page(other, path, sort="top", limit=3)  # takes the first walk's slot
    expect_problem(user.get(f"{path}?sort=top&limit=3&cursor={first['next_cursor']}"), 422, "invalid_field", "cursor")

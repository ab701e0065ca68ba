"""Reactions (BRD engagement.md, "Reactions" and "Limits"): PUT/DELETE /v1/{type}/{id}/reaction
and GET /v1/{type}/{id}/reactions on every target type; one reaction per user per target;
counts exact under concurrency (checked against the rows, through the API); blocked users,
deleted items and expired stories refused with 404; the per-user limit; the event log and
the outbox written with every change; the repair path; nothing acknowledged lost on SIGTERM.

Every response is checked against api/openapi.yaml by the client."""
import collections
import concurrent.futures
import json
import random
import signal
import threading
import time

import pytest

from apispec import parse_time
from client import Client, expect_problem, expect_status
from conftest import MODE, run_chorusd
from notify_helpers import wait_until
from engage_helpers import (KINDS, UNKNOWN_ID, all_reactions, block, counts, events, follow, item, outbox, post,
                            put, react, reactions_page, reel, server_env, sql, story, unreact)

BAD_IDS = ["abc", "0", "-5", "12a", "99999999999999999999", "9223372036854775808", UNKNOWN_ID]
SEGS = {"posts": post, "reels": reel, "stories": story}


@pytest.fixture
def third(api):
    return api.register()


def expected_counts(kinds, comments=0, views=0):
    c = collections.Counter(kinds)
    return {"reactions": {k: n for k, n in c.items() if n}, "reactions_total": sum(c.values()),
            "comments": comments, "views": views}


def rows_agree(viewer, seg, item_id):
    """Counts on the item equal the rows as the list shows them; returns the list."""
    rows = all_reactions(viewer, seg, item_id)
    got = counts(viewer, seg, item_id)
    assert got["reactions"] == dict(collections.Counter(r["kind"] for r in rows)), (got, rows)
    assert got["reactions_total"] == len(rows)
    assert len({r["user"]["id"] for r in rows}) == len(rows), "a user listed twice"
    return rows


# ---- set, replace, remove -----------------------------------------------------------------

@pytest.mark.parametrize("seg", sorted(SEGS))
def test_react_answers_kind_and_counts_on_every_item_type(api, user, other, third, seg):
    it = SEGS[seg](user)
    r = react(other, seg, it["id"], "love")
    assert r == {"kind": "love", "counts": expected_counts(["love"])}
    r = react(third, seg, it["id"], "like")
    assert r == {"kind": "like", "counts": expected_counts(["love", "like"])}
    assert react(user, seg, it["id"], "like")["counts"] == expected_counts(["love", "like", "like"])
    # The item shows the counts and each viewer's own reaction.
    for acc, mine in ((other, "love"), (third, "like"), (user, "like")):
        got = item(acc, seg, it["id"])
        assert got["counts"] == expected_counts(["love", "like", "like"])
        assert got["my_reaction"] == mine
    assert item(api.register(), seg, it["id"])["my_reaction"] is None


def test_same_kind_again_changes_nothing(api, user, other, server, backends):
    p = post(user)
    first = react(other, "posts", p["id"], "wow")
    for _ in range(3):
        assert react(other, "posts", p["id"], "wow") == first
    rows = all_reactions(user, "posts", p["id"])
    assert [(r["user"]["id"], r["kind"]) for r in rows] == [(other.id, "wow")]
    assert [t for t, _ in outbox(server, backends, p["id"], "reaction.")] == ["reaction.created"]
    assert [e[0] for e in events(server, backends, p["id"], ["reaction", "unreaction"])] == ["reaction"]


def test_another_kind_replaces_and_keeps_its_place(api, user, other, third, server, backends):
    p = post(user)
    react(other, "posts", p["id"], "like")
    time.sleep(0.005)
    react(third, "posts", p["id"], "sad")
    before = {r["user"]["id"]: r for r in all_reactions(user, "posts", p["id"])}
    assert react(other, "posts", p["id"], "angry") == {"kind": "angry", "counts": expected_counts(["angry", "sad"])}
    rows = all_reactions(user, "posts", p["id"])
    assert [(r["user"]["id"], r["kind"]) for r in rows] == [(third.id, "sad"), (other.id, "angry")]
    assert rows[1]["reacted_at"] == before[other.id]["reacted_at"]
    assert item(other, "posts", p["id"])["my_reaction"] == "angry"
    box = [(t, json.loads(pl)) for t, pl in outbox(server, backends, p["id"], "reaction.")]
    assert box[-1] == ("reaction.updated", {"user_id": other.id, "target_type": "post", "target_id": p["id"],
                                            "author_id": user.id, "kind": "angry", "previous_kind": "like"})
    # The event log nets out: a replace is one unreaction and one reaction.
    evs = [(e[0], e[1]) for e in events(server, backends, p["id"], ["reaction", "unreaction"])]
    assert evs == [("reaction", other.id), ("reaction", third.id), ("unreaction", other.id), ("reaction", other.id)]


def test_delete_removes_and_is_a_no_op_when_none(api, user, other, server, backends):
    p = post(user)
    unreact(other, "posts", p["id"])  # none yet: 204, nothing written
    react(other, "posts", p["id"], "haha")
    unreact(other, "posts", p["id"])
    unreact(other, "posts", p["id"])
    got = item(other, "posts", p["id"])
    assert got["counts"] == expected_counts([]) and got["my_reaction"] is None
    assert all_reactions(user, "posts", p["id"]) == []
    box = [(t, json.loads(pl)) for t, pl in outbox(server, backends, p["id"], "reaction.")]
    assert box == [
        ("reaction.created", {"user_id": other.id, "target_type": "post", "target_id": p["id"], "author_id": user.id,
                              "kind": "haha"}),
        ("reaction.deleted", {"user_id": other.id, "target_type": "post", "target_id": p["id"], "author_id": user.id,
                              "kind": "haha"}),
    ]
    evs = events(server, backends, p["id"], ["reaction", "unreaction"])
    assert [(e[0], e[1], e[2], e[3], float(e[4])) for e in evs] == [
        ("reaction", other.id, user.id, "post", 1.5), ("unreaction", other.id, user.id, "post", 1.5)]  # haha
    # React again after removing: counted again.
    assert react(other, "posts", p["id"], "like")["counts"] == expected_counts(["like"])


def test_comments_are_targets_too(api, user, other, third):
    p = post(user)
    c = expect_status(other.post(f"/v1/posts/{p['id']}/comments", json={"text": "first"}), 201).json
    assert react(user, "comments", c["id"], "love") == {"kind": "love", "counts": expected_counts(["love"])}
    assert react(third, "comments", c["id"], "haha")["counts"] == expected_counts(["love", "haha"])
    assert [x["user"]["id"] for x in all_reactions(other, "comments", c["id"])] == [third.id, user.id]
    # The item's own reactions are separate.
    assert counts(user, "posts", p["id"])["reactions_total"] == 0
    block(other, third)  # the comment's author blocks a reactor
    expect_problem(put(third, f"/v1/comments/{c['id']}/reaction", json={"kind": "wow"}), 404, "not_found")
    expect_status(other.delete(f"/v1/comments/{c['id']}"), 204)
    expect_problem(put(user, f"/v1/comments/{c['id']}/reaction", json={"kind": "wow"}), 404, "not_found")


# ---- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [{"kind": "nope"}, {"kind": ""}, {"kind": "LIKE"}, {"kind": " like"},
                                  {"kind": "like\u0000"}, {"kind": 1}, {"kind": None}, {"kind": ["like"]},
                                  {"kind": {"like": 1}}, {}, {"type": "like"}])
def test_bad_kind_is_422_and_changes_nothing(api, user, other, server, backends, body):
    p = post(user)
    react(other, "posts", p["id"], "love")
    expect_problem(put(other, f"/v1/posts/{p['id']}/reaction", json=body), 422, "invalid_field", "kind")
    got = item(other, "posts", p["id"])
    assert got["counts"] == expected_counts(["love"]) and got["my_reaction"] == "love"
    assert len(outbox(server, backends, p["id"], "reaction.")) == 1


def test_malformed_bodies(api, user, other):
    p = post(user)
    path = f"/v1/posts/{p['id']}/reaction"
    expect_problem(put(other, path, body=b'{"kind": "like"', content_type="application/json"), 400, "malformed_json")
    expect_problem(put(other, path, body=b'["like"]', content_type="application/json"), 400, "bad_request")
    expect_problem(put(other, path, body=b""), 400, "malformed_json")
    expect_problem(put(other, path, body=b'{"kind":"like"}', content_type="text/plain"), 415,
                   "unsupported_media_type")
    expect_problem(put(other, path, body=b'{"kind":"li\xffke"}'), 422, "invalid_field", "kind")
    assert item(other, "posts", p["id"])["counts"] == expected_counts([])


@pytest.mark.parametrize("bad", BAD_IDS)
def test_unknown_or_bad_ids_are_404(api, user, bad):
    for seg in ("posts", "reels", "stories", "comments", "livestreams", "listings"):
        expect_problem(put(user, f"/v1/{seg}/{bad}/reaction", json={"kind": "like"}), 404, "not_found")
        expect_problem(user.delete(f"/v1/{seg}/{bad}/reaction"), 404, "not_found")
        expect_problem(user.get(f"/v1/{seg}/{bad}/reactions"), 404, "not_found")


def test_items_are_addressed_by_their_own_type(api, user, other):
    p, r = post(user), reel(user)
    expect_problem(put(other, f"/v1/reels/{p['id']}/reaction", json={"kind": "like"}), 404, "not_found")
    expect_problem(put(other, f"/v1/stories/{r['id']}/reaction", json={"kind": "like"}), 404, "not_found")
    expect_problem(put(other, f"/v1/comments/{p['id']}/reaction", json={"kind": "like"}), 404, "not_found")
    assert counts(other, "posts", p["id"]) == expected_counts([])


def test_unknown_type_segment_is_404(api, user):
    p = post(user)
    for seg in ("items", "post", "users", "hashtags"):
        expect_problem(put(user, f"/v1/{seg}/{p['id']}/reaction", json={"kind": "like"}), 404, "not_found")
        expect_problem(user.get(f"/v1/{seg}/{p['id']}/reactions"), 404, "not_found")
    # Known path, other method: 405 with Allow.
    r = user.post(f"/v1/posts/{p['id']}/reaction", json={"kind": "like"})
    assert r.status == 405 and set(r.header("Allow").replace(" ", "").split(",")) == {"PUT", "DELETE"}


def test_every_reaction_endpoint_needs_a_token(api, user):
    p = post(user)
    for method, path in (("PUT", f"/v1/posts/{p['id']}/reaction"), ("DELETE", f"/v1/posts/{p['id']}/reaction"),
                         ("GET", f"/v1/posts/{p['id']}/reactions")):
        kw = {"json": {"kind": "like"}} if method == "PUT" else {}
        expect_problem(api.request(method, path, **kw), 401, "unauthorized")
        expect_problem(api.request(method, path, token="not.a.token", **kw), 401, "invalid_token")


# ---- who may react --------------------------------------------------------------------------

def test_blocked_users_are_refused_404_both_ways(api, user, other, third):
    p = post(user)
    react(other, "posts", p["id"], "like")
    react(third, "posts", p["id"], "love")
    block(user, other)  # the author blocks a reactor
    for call in (lambda: put(other, f"/v1/posts/{p['id']}/reaction", json={"kind": "wow"}),
                 lambda: other.delete(f"/v1/posts/{p['id']}/reaction"),
                 lambda: other.get(f"/v1/posts/{p['id']}/reactions")):
        expect_problem(call(), 404, "not_found")
    q = post(third)
    react(other, "posts", q["id"], "haha")
    block(other, third)  # a reactor blocks the author
    expect_problem(put(other, f"/v1/posts/{q['id']}/reaction", json={"kind": "wow"}), 404, "not_found")
    expect_problem(other.delete(f"/v1/posts/{q['id']}/reaction"), 404, "not_found")
    # The refused writes changed nothing.
    assert item(third, "posts", p["id"])["counts"] == expected_counts(["like", "love"])
    assert item(third, "posts", q["id"])["counts"] == expected_counts(["haha"])


def test_list_leaves_out_users_blocked_either_way_with_the_viewer(api, user, other, third):
    p = post(user)
    fan = api.register()
    for acc, kind in ((other, "like"), (third, "love"), (fan, "wow")):
        react(acc, "posts", p["id"], kind)
    viewer = api.register()
    block(viewer, other)   # the viewer blocks a reactor
    block(third, viewer)   # a reactor blocks the viewer
    assert [r["user"]["id"] for r in all_reactions(viewer, "posts", p["id"])] == [fan.id]
    # Counts stay the item's counts; the author's list is whole.
    assert counts(viewer, "posts", p["id"])["reactions_total"] == 3
    assert [r["user"]["id"] for r in all_reactions(user, "posts", p["id"])] == [fan.id, third.id, other.id]
    assert all_reactions(user, "posts", p["id"])[0]["user"] == {
        "id": fan.id, "handle": fan.handle, "display_name": fan.user["display_name"], "avatar_url": None}


def test_followers_only_and_private_items_only_for_followers(api, user, other, third):
    p = post(user, visibility="followers")
    expect_problem(put(other, f"/v1/posts/{p['id']}/reaction", json={"kind": "like"}), 404, "not_found")
    follow(other, user)
    react(other, "posts", p["id"], "like")
    expect_problem(third.get(f"/v1/posts/{p['id']}/reactions"), 404, "not_found")
    assert [r["user"]["id"] for r in all_reactions(other, "posts", p["id"])] == [other.id]


def test_deleted_item_refuses_engagement_404(api, user, other):
    for seg, make in SEGS.items():
        it = make(user)
        react(other, seg, it["id"], "like")
        expect_status(user.delete(f"/v1/{seg}/{it['id']}"), 204)
        expect_problem(put(other, f"/v1/{seg}/{it['id']}/reaction", json={"kind": "love"}), 404, "not_found")
        expect_problem(other.delete(f"/v1/{seg}/{it['id']}/reaction"), 404, "not_found")
        expect_problem(other.get(f"/v1/{seg}/{it['id']}/reactions"), 404, "not_found")


def test_expired_story_refuses_engagement_404(start_server):
    srv = start_server(env={"CHORUS_STORY_TTL": "2"}, name="react-ttl")
    c = Client(srv.base_url)
    author, fan = c.register(), c.register()
    s = story(author)
    assert react(fan, "stories", s["id"], "love")["counts"] == expected_counts(["love"])
    time.sleep(max(0.0, (parse_time(s["expires_at"]) - parse_time(s["created_at"])).total_seconds()) + 0.6)
    expect_problem(put(fan, f"/v1/stories/{s['id']}/reaction", json={"kind": "wow"}), 404, "not_found")
    expect_problem(fan.delete(f"/v1/stories/{s['id']}/reaction"), 404, "not_found")
    expect_problem(author.get(f"/v1/stories/{s['id']}/reactions"), 404, "not_found")


# ---- the list -------------------------------------------------------------------------------

def test_list_newest_first_filtered_and_paged_without_repeats_or_skips(api, user):
    p = post(user)
    accs = [api.register() for _ in range(7)]
    kinds = ["like", "love", "like", "wow", "like", "sad", "love"]
    for acc, kind in zip(accs, kinds):
        react(acc, "posts", p["id"], kind)
    rows = all_reactions(user, "posts", p["id"])
    assert [r["user"]["id"] for r in rows] == [a.id for a in accs][::-1]
    assert [r["kind"] for r in rows] == kinds[::-1]
    times = [parse_time(r["reacted_at"]) for r in rows]
    assert times == sorted(times, reverse=True)
    assert [r["user"]["id"] for r in all_reactions(user, "posts", p["id"], kind="like")] == \
        [accs[4].id, accs[2].id, accs[0].id]
    assert all_reactions(user, "posts", p["id"], kind="angry") == []
    # Pages of 2 while reactions arrive and an early reactor changes kind: no repeat, no skip.
    got, cursor, n = [], None, 0
    while True:
        q = {"limit": 2}
        if cursor:
            q["cursor"] = cursor
        page = reactions_page(user, "posts", p["id"], **q)
        assert len(page["items"]) <= 2
        got.extend(r["user"]["id"] for r in page["items"])
        cursor = page["next_cursor"]
        n += 1
        if n == 1:
            react(api.register(), "posts", p["id"], "haha")  # newer: before the cursor
            react(accs[1], "posts", p["id"], "angry")        # changes kind, keeps its place
        if cursor is None:
            break
    assert got == [a.id for a in accs][::-1]
    assert n == 4


@pytest.mark.parametrize("query,field", [("kind=nope", "kind"), ("kind=", "kind"), ("kind=LIKE", "kind"),
                                         ("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"),
                                         ("cursor=abc", "cursor"), ("cursor=0", "cursor"),
                                         ("cursor=99999999999999999999", "cursor")])
def test_list_bad_query_is_422(api, user, query, field):
    p = post(user)
    expect_problem(user.get(f"/v1/posts/{p['id']}/reactions?{query}"), 422, "invalid_field", field)


# ---- exact counts under concurrency ----------------------------------------------------------

def test_many_users_reacting_at_once_are_counted_exactly(api, user):
    p = post(user)
    accs = [api.register() for _ in range(40)]
    kinds = [KINDS[i % len(KINDS)] for i in range(len(accs))]
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as ex:
        results = list(ex.map(lambda ak: react(ak[0], "posts", p["id"], ak[1]), zip(accs, kinds)))
    assert all(r["kind"] == k for r, k in zip(results, kinds))
    assert max(r["counts"]["reactions_total"] for r in results) == len(accs)
    assert counts(user, "posts", p["id"]) == expected_counts(kinds)
    rows_agree(user, "posts", p["id"])


def test_users_switching_kinds_concurrently_leave_exact_counts(api, user):
    p = post(user)
    accs = [api.register() for _ in range(16)]
    rng = random.Random(7)
    plans = {a.id: [rng.choice(KINDS + ["-"]) for _ in range(12)] for a in accs}

    def run(acc, plan, lane):
        # Two lanes per user: the same user's requests race each other too.
        for step in plan[lane::2]:
            r = acc.client.request("DELETE", f"/v1/posts/{p['id']}/reaction", token=acc.access_token) \
                if step == "-" else put(acc, f"/v1/posts/{p['id']}/reaction", json={"kind": step})
            assert r.status in (200, 204), r.describe()

    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as ex:
        futs = [ex.submit(run, a, plans[a.id], lane) for a in accs for lane in (0, 1)]
        for f in futs:
            f.result()
    rows = rows_agree(user, "posts", p["id"])
    mine = {r["user"]["id"]: r["kind"] for r in rows}
    for a in accs:  # each user's own view agrees with the rows
        assert item(a, "posts", p["id"])["my_reaction"] == mine.get(a.id)
    # One final, sequential round: every user sets a known kind.
    final = {a.id: KINDS[i % 6] for i, a in enumerate(accs)}
    for a in accs:
        react(a, "posts", p["id"], final[a.id])
    assert counts(user, "posts", p["id"]) == expected_counts(final.values())
    rows_agree(user, "posts", p["id"])


# ---- limits -----------------------------------------------------------------------------------

def test_reactions_are_rate_limited_per_user(start_server):
    srv = start_server(env={"CHORUS_RATE_LIMIT_REACTIONS": "3"}, name="react-limit")
    c = Client(srv.base_url)
    author, fan, other = c.register(), c.register(), c.register()
    p = post(author)
    react(fan, "posts", p["id"], "like")
    react(fan, "posts", p["id"], "love")
    unreact(fan, "posts", p["id"])
    r = put(fan, f"/v1/posts/{p['id']}/reaction", json={"kind": "wow"})
    expect_problem(r, 429, "rate_limited")
    assert 1 <= int(r.header("Retry-After")) <= 60
    expect_problem(fan.delete(f"/v1/posts/{p['id']}/reaction"), 429, "rate_limited")
    # The refused write changed nothing; another user is not limited.
    assert item(fan, "posts", p["id"])["my_reaction"] is None
    assert react(other, "posts", p["id"], "wow")["counts"] == expected_counts(["wow"])


# ---- repair ------------------------------------------------------------------------------------

def test_repair_restores_tampered_counters(api, user, other, third, server, backends, start_server):
    """Reads after each repair go through a process whose hydration cache is fresh: in
    embedded mode the cache is in the serving process, which the repair command (another
    process) cannot reach (docs/design.md, "lists"); in cluster mode it is shared in Redis."""
    def reader():
        if MODE == "cluster":
            return user
        fresh = start_server(storage=server.storage_env, name="repair-reader")
        return fresh.client().login(user.handle)

    p, r = post(user), reel(user)
    react(other, "posts", p["id"], "like")
    react(third, "posts", p["id"], "love")
    c = expect_status(other.post(f"/v1/posts/{p['id']}/comments", json={"text": "nice"}), 201).json
    expect_status(third.post(f"/v1/posts/{p['id']}/comments", json={"text": "yes", "parent_id": c["id"]}), 201)
    expect_status(other.post(f"/v1/reels/{r['id']}/view", json={"watch_ms": 1500}), 204)
    sql(server, backends, f"UPDATE target_counters SET r_like = 999, r_sad = 5, comments = 77 "
                          f"WHERE target_type = 'post' AND target_id = {int(p['id'])}")
    sql(server, backends, f"UPDATE target_counters SET views = 42 WHERE target_type = 'reel' "
                          f"AND target_id = {int(r['id'])}")
    assert counts(user, "posts", p["id"])["reactions"] == {"like": 999, "love": 1, "sad": 5}
    # One target.
    out = run_chorusd(["repair-counters", "--type", "post", "--id", p["id"]], server_env(server))
    assert out.returncode == 0, out.stderr
    assert "reactions 1005 -> 2, comments 77 -> 2" in out.stdout
    acc = reader()
    assert counts(acc, "posts", p["id"]) == expected_counts(["like", "love"], comments=2)
    assert counts(acc, "reels", r["id"])["views"] == 42
    # Every target.
    out = run_chorusd(["repair-counters"], server_env(server))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("checked ") and "repaired" in out.stdout
    assert int(out.stdout.split("repaired ")[1]) >= 1
    assert counts(reader(), "reels", r["id"])["views"] == 1
    assert sql(server, backends, f"SELECT watch_ms FROM target_counters WHERE target_type = 'reel' "
                                 f"AND target_id = {int(r['id'])}") == [("1500",)]
    # Nothing left to repair.
    out = run_chorusd(["repair-counters", "--type", "post", "--id", p["id"]], server_env(server))
    assert "reactions 2 -> 2" in out.stdout


@pytest.mark.parametrize("args", [["--type", "post"], ["--id", "5"], ["--type", "nope", "--id", "5"],
                                  ["--type", "post", "--id", "x"], ["--bogus"]])
def test_repair_bad_arguments(chorusd_env, args):
    p = run_chorusd(["repair-counters", *args], chorusd_env())
    assert p.returncode != 0, p.stdout


# ---- durability -----------------------------------------------------------------------------

def test_nothing_acknowledged_is_lost_on_sigterm(start_server, fresh_storage):
    """Reactions pour in while the server is asked to stop: every one answered 200 is there
    after a restart on the same storage (the group-commit writer drains before exit)."""
    storage = fresh_storage()
    srv = start_server(storage=storage, name="react-drain")
    c = Client(srv.base_url)
    author = c.register()
    p = post(author)
    accs = [c.register() for _ in range(24)]
    acked, stop = {}, threading.Event()
    lock = threading.Lock()

    def pour(acc, seed):
        rng = random.Random(seed)
        while not stop.is_set():
            kind = rng.choice(KINDS)
            try:
                r = put(acc, f"/v1/posts/{p['id']}/reaction", json={"kind": kind}, timeout=20)
            except OSError:
                return  # the server went away: this request was never acknowledged
            if r.status == 200:
                with lock:
                    acked[acc.id] = kind
            elif r.status != 503:
                raise AssertionError(r.describe())

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(accs)) as ex:
        futs = [ex.submit(pour, a, i) for i, a in enumerate(accs)]
        # SIGTERM once every user has an acknowledged reaction (they keep pouring): a fixed
        # 1 s let a loaded machine stop the server before some had one
        wait_until(lambda: len(acked) == len(accs) or any(f.done() for f in futs),
                   lambda: f"an acknowledged reaction for every user ({len(acked)} of {len(accs)})", 60)
        srv.signal(signal.SIGTERM)
        time.sleep(0.3)
        stop.set()
        for f in futs:
            f.result()
    assert srv.proc.wait(15) == 0
    srv.stop()
    assert len(acked) == len(accs)
    again = start_server(storage=storage, name="react-drain-again")
    c2 = Client(again.base_url)
    rows = {r["user"]["id"]: r["kind"] for r in all_reactions(c2.login(author.handle), "posts", p["id"])}
    # Each user's last acknowledged kind is what is stored: requests are answered only after
    # their commit, and the drain answers every request it accepted.
    assert rows == acked
    assert counts(c2.login(author.handle), "posts", p["id"])["reactions_total"] == len(acked)


# ---- a block or delete committed while the write waits for its batch ------------------------

def _in_flight(srv):
    for ln in Client(srv.base_url).get("/metrics").text.splitlines():
        if ln.startswith("http_server_requests_in_flight "):
            return int(float(ln.split()[1]))
    raise AssertionError("no in-flight gauge on /metrics")


@pytest.mark.parametrize("change", ["block", "delete"])
def test_block_or_delete_committed_before_the_batch_wins(start_server, backends, change):
    """The handler checks the target and queues the write; the group-commit writer then waits
    for SQLite's write lock, which the test holds while it commits a block (the author blocks
    the reactor) or the item's deletion. The batch must check again: 404, and no row, event,
    outbox row or counter change. One event loop, so once /metrics shows the PUT in flight
    its check has run (a reaction write runs inline on the loop with local backends)."""
    import sqlite3
    from pathlib import Path
    import conftest
    if conftest.MODE != "embedded":
        pytest.skip("holds SQLite's write lock to hold the batch (embedded only)")
    srv = start_server(env={"CHORUS_THREADS": "1"}, name="react-recheck")
    c = Client(srv.base_url)
    author, fan, early = c.register(), c.register(), c.register()
    p = post(author)
    react(early, "posts", p["id"], "love")
    before = item(author, "posts", p["id"])["counts"]
    db = sqlite3.connect(str(Path(srv.storage_env["CHORUS_DATA_DIR"]) / "chorus.db"), timeout=30,
                         isolation_level=None)
    result = {}
    try:
        db.execute("BEGIN IMMEDIATE")
        if change == "block":
            db.execute("INSERT INTO blocks(blocker_id, blocked_id, created_at) VALUES(?, ?, 0)",
                       (int(author.id), int(fan.id)))
        else:
            db.execute("UPDATE items SET deleted_at = 1 WHERE id = ?", (int(p["id"]),))
        t = threading.Thread(target=lambda: result.setdefault(
            "r", put(fan, f"/v1/posts/{p['id']}/reaction", json={"kind": "wow"})))
        t.start()
        deadline = time.monotonic() + 30
        while _in_flight(srv) < 2:  # this /metrics request and the PUT
            assert time.monotonic() < deadline, "the PUT never got in flight"
            time.sleep(0.01)
        db.execute("COMMIT")
    finally:
        db.close()
    t.join(30)
    expect_problem(result["r"], 404, "not_found")
    rows = sql(srv, backends, f"SELECT COUNT(*) FROM reactions WHERE target_id = {int(p['id'])}"
                                  f" AND user_id = {int(fan.id)}")
    assert rows == [("0",)]
    assert [(k, u) for k, u, *_ in events(srv, backends, p["id"], ["reaction", "unreaction"])] == [
        ("reaction", early.id)]
    assert [t for t, _ in outbox(srv, backends, p["id"], "reaction.")] == ["reaction.created"]
    if change == "block":
        assert item(author, "posts", p["id"])["counts"] == before
    else:
        assert sql(srv, backends, "SELECT r_love + r_wow FROM target_counters WHERE target_type = 'post'"
                                      f" AND target_id = {int(p['id'])}") == [("1",)]


def _metric(srv, name):
    for ln in Client(srv.base_url).get("/metrics").text.splitlines():
        if ln.startswith(name + " "):
            return float(ln.split()[1])
    raise AssertionError(f"no {name} on /metrics")


@pytest.mark.parametrize("change", ["block", "delete"])
def test_block_or_delete_committed_while_queued_wins_on_postgres(start_server, backends, change):
    """PostgreSQL: the test holds the counter row of another item locked, so the writer's
    batch with a reaction to that item waits on it; a second PUT, checked by its handler,
    queues behind (chorus_reaction_queue shows it). A block by the author (or the item's
    deletion) then commits through the API, and the lock goes. The queued write must be
    refused in its own batch: 404, no row, no event, no outbox row, counters unchanged."""
    import subprocess
    import conftest
    if conftest.MODE != "cluster":
        pytest.skip("holds a PostgreSQL row lock to hold the writer (cluster only)")
    srv = start_server(name="react-recheck-pg")
    dbname = srv.storage_env["CHORUS_DB"].rsplit("/", 1)[1]
    c = Client(srv.base_url)
    author, fan, other_fan = c.register(), c.register(), c.register()
    p, x = post(author), post(author)
    react(other_fan, "posts", x["id"], "like")  # the counter row of x exists
    before = item(author, "posts", p["id"])["counts"]
    pg = backends.pg
    holder = subprocess.Popen([str(conftest.PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "chorus",
                               "-d", dbname, "-At", "-v", "ON_ERROR_STOP=1"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = {}
    threads = []
    try:
        holder.stdin.write("BEGIN;\nSELECT 'locked' FROM target_counters WHERE target_type = 'post' AND "
                           f"target_id = {int(x['id'])} FOR UPDATE;\n")
        holder.stdin.flush()
        for _ in range(5):  # "BEGIN", then the locked row
            if holder.stdout.readline().strip() == "locked":
                break
        else:
            raise AssertionError("psql never reported the row locked")

        def run(key, acc, item_id, kind):
            results[key] = put(acc, f"/v1/posts/{item_id}/reaction", json={"kind": kind})

        threads.append(threading.Thread(target=run, args=("first", author, x["id"], "love")))
        threads[-1].start()
        wait_until(lambda: pg.psql("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                                   f"datname = '{dbname}'", dbname).strip() != "0", "the writer waiting on the lock")
        threads.append(threading.Thread(target=run, args=("victim", fan, p["id"], "wow")))
        threads[-1].start()
        wait_until(lambda: _metric(srv, "chorus_reaction_queue") >= 1, "the second write queued")
        if change == "block":
            block(author, fan)
        else:
            expect_status(author.delete(f"/v1/posts/{p['id']}"), 204)
        holder.stdin.write("COMMIT;\n")
        holder.stdin.flush()
    finally:
        holder.stdin.close()
        holder.wait(30)
        for t in threads:
            t.join(30)
    expect_status(results["first"], 200)
    expect_problem(results["victim"], 404, "not_found")
    assert sql(srv, backends, f"SELECT COUNT(*) FROM reactions WHERE target_id = {int(p['id'])}") == [("0",)]
    assert events(srv, backends, p["id"], ["reaction", "unreaction"]) == []
    assert outbox(srv, backends, p["id"], "reaction.") == []
    counters = sql(srv, backends, "SELECT r_like + r_love + r_haha + r_wow + r_sad + r_angry FROM target_counters "
                                  f"WHERE target_type = 'post' AND target_id = {int(p['id'])}")
    assert counters in ([], [("0",)])
    if change == "block":
        assert item(author, "posts", p["id"])["counts"] == before

"""Cluster reads served on the event loop from the L1 (docs/design.md, "### l1", package
reads16): with two chorusd nodes on one PostgreSQL + Redis, node B answers warm first pages
of author timelines (posts, reels), follower and following lists, and single items on its
event loop (chorus_loop_reads_total grows, chorus_loop_reads_moved_total does not), without
PostgreSQL or Redis: the page's ids are cached facts (a:<author>, F:/G:<user>) and the session
is vouched for in the L1 (S:<session>:<minute>). Every change made on node A shows on B's
next read: a new item, a delete, an edit, a reaction change, a block, an unfollow, a private
account, a follow, a session revoked (401 on B).

"Next read" allows 10 s (1 s would do on an idle machine) for the forget to reach B's
subscriber thread (see test_hydrate_l1.py); the nodes run with a 10 min L1 TTL, so only the
invalidations can pass."""
import pytest

from client import expect_problem, expect_status
from conftest import MODE
from social import block, follow, make_private, post, reel
from test_hydrate_cache import _as, _get, find, react
from test_hydrate_l1 import metric, pair, soon

pytestmark = pytest.mark.skipif(MODE != "cluster", reason="needs PostgreSQL + Redis shared by two nodes")


def on_loop(srv):
    return metric(srv, "chorus_loop_reads_total") or 0.0


def moved(srv):
    return metric(srv, "chorus_loop_reads_moved_total") or 0.0


def page(acc, path):
    p = _get(acc, path + ("&" if "?" in path else "?") + "limit=20")
    return None if p is None else p["items"]


def ids(items):
    return [i["id"] for i in items or []]


def served_on_loop(srv, read, times=5):
    """Warms read (Redis, then B's L1), then reads it `times` more times: each must be
    answered on B's loop without a move. Returns the last answer. Tried three times: the
    session's vouch fact is per minute (S:<session>:<minute>), so the first read of a new
    minute moves once, and a forget still on its way from A (a change's second forget, a
    fan-out's) may empty the L1 once more after the warm reads."""
    for attempt in range(3):
        for _ in range(3):
            read()
        loop0, moved0 = on_loop(srv), moved(srv)
        for _ in range(times):
            got = read()
        # /metrics itself is not a point read: the counters move only with the reads above
        answered = on_loop(srv) - loop0
        if answered == times and moved(srv) == moved0:
            return got
        if attempt == 2:
            assert answered == times, f"{times} warm reads, {answered} answered on the loop"
            assert moved(srv) == moved0, "a warm read left the loop"


def test_warm_lists_on_the_loop_and_every_change_on_a_shows_on_b(start_server, fresh_storage):
    a, b = pair(start_server, fresh_storage, "loop")
    api = a.client()
    author, fan, stranger, other = (api.register() for _ in range(4))
    follow(fan, author)
    p = post(author, "public")
    fo = post(author, "followers only", visibility="followers")
    d = post(author, "to delete")
    r1 = reel(author)
    fan_b, stranger_b = _as(b, fan), _as(b, stranger)
    posts = lambda acc: page(acc, f"/v1/users/{author.id}/posts")  # noqa: E731
    reels = lambda acc: page(acc, f"/v1/users/{author.id}/reels")  # noqa: E731
    followers = lambda acc: page(acc, f"/v1/users/{author.id}/followers")  # noqa: E731
    following = lambda acc: page(acc, f"/v1/users/{fan.id}/following")  # noqa: E731

    assert ids(served_on_loop(b, lambda: posts(fan_b))) == [d["id"], fo["id"], p["id"]]
    assert ids(served_on_loop(b, lambda: posts(stranger_b))) == [d["id"], p["id"]]  # followers-only hidden
    assert ids(served_on_loop(b, lambda: reels(fan_b))) == [r1["id"]]
    assert ids(served_on_loop(b, lambda: followers(stranger_b))) == [fan.id]
    assert ids(served_on_loop(b, lambda: following(stranger_b))) == [author.id]
    served_on_loop(b, lambda: _get(fan_b, f"/v1/posts/{p['id']}"))

    # A new post and a new reel on A: first in B's next pages.
    n = post(author, "new on A")
    soon(lambda: ids(posts(fan_b))[:1] == [n["id"]], "the new post on B")
    r2 = reel(author)
    soon(lambda: ids(reels(fan_b)) == [r2["id"], r1["id"]], "the new reel on B")
    # An edit and a reaction change on A.
    served_on_loop(b, lambda: posts(fan_b), 1)
    expect_status(author.patch(f"/v1/posts/{p['id']}", json={"text": "edited on A"}), 200)
    soon(lambda: find(posts(fan_b), p["id"])["text"] == "edited on A", "the edit in B's list")
    react(fan, "posts", p["id"], "like")
    soon(lambda: find(posts(fan_b), p["id"])["my_reaction"] == "like", "the reaction in B's list")
    react(fan, "posts", p["id"], "love")
    soon(lambda: (lambda i: (i["my_reaction"], i["counts"]["reactions_total"]) == ("love", 1))(find(posts(fan_b), p["id"])),
         "the changed reaction in B's list")
    # A delete on A.
    expect_status(author.delete(f"/v1/posts/{d['id']}"), 204)
    soon(lambda: d["id"] not in ids(posts(fan_b)), "the delete in B's list")
    # A new follower on A: in B's follower list.
    follow(other, author)
    soon(lambda: ids(followers(stranger_b)) == [other.id, fan.id], "the new follower on B")
    # A block on A: the blocked one no longer sees the author's lists, nor the author in lists.
    served_on_loop(b, lambda: followers(stranger_b), 1)
    block(author, stranger)
    soon(lambda: posts(stranger_b) is None, "the block on B (timeline)")
    soon(lambda: followers(stranger_b) is None, "the block on B (followers)")
    # An unfollow on A: the followers-only post leaves the fan's page, the fan the list.
    served_on_loop(b, lambda: posts(fan_b), 1)
    expect_status(fan.delete(f"/v1/users/{author.id}/follow"), 204)
    soon(lambda: fo["id"] not in ids(posts(fan_b)), "the unfollow on B (followers-only item)")
    soon(lambda: ids(followers(_as(b, other))) == [other.id], "the unfollow on B (followers)")
    soon(lambda: ids(following(_as(b, other))) == [], "the unfollow on B (following)")
    # Private on A: a non-follower gets 404 on B; the follower still sees the page.
    other_b = _as(b, other)
    served_on_loop(b, lambda: posts(fan_b), 1)
    make_private(author)
    soon(lambda: posts(fan_b) is None, "the privacy change on B")
    assert ids(posts(other_b)) == [n["id"], fo["id"], p["id"]]  # an approved follower: everything
    assert metric(b, "chorus_hcache_l1_invalidations_total", '{direction="received"}') > 0


def test_a_session_revoked_on_a_is_refused_on_bs_loop(start_server, fresh_storage):
    a, b = pair(start_server, fresh_storage, "loop-sess")
    api = a.client()
    author, reader = api.register(), api.register()
    post(author, "hello")
    reader_b = _as(b, reader)
    served_on_loop(b, lambda: page(reader_b, f"/v1/users/{author.id}/posts"))
    expect_status(reader.post("/v1/auth/logout"), 204)
    soon(lambda: reader_b.get(f"/v1/users/{author.id}/posts?limit=20").status == 401, "the revocation on B")
    expect_problem(reader_b.get(f"/v1/users/{author.id}/posts?limit=20"), 401, "invalid_token")


def test_a_cold_page_moves_to_a_worker_and_is_right(start_server, fresh_storage):
    """The first read of a page has nothing in B's L1: it is moved (not answered from the
    loop with an empty page) and answered right; the next ones stay on the loop."""
    a, b = pair(start_server, fresh_storage, "loop-cold")
    api = a.client()
    author, reader = api.register(), api.register()
    made = [post(author, f"p{i}")["id"] for i in range(25)]
    reader_b = _as(b, reader)
    moved0 = moved(b)
    first = _get(reader_b, f"/v1/users/{author.id}/posts?limit=20")
    assert moved(b) > moved0, "a cold read was answered on the loop"
    assert ids(first["items"]) == made[::-1][:20] and first["next_cursor"] == made[5]
    warm = served_on_loop(b, lambda: _get(reader_b, f"/v1/users/{author.id}/posts?limit=20"))
    assert warm == first
    rest = _get(reader_b, f"/v1/users/{author.id}/posts?limit=20&cursor={first['next_cursor']}")
    assert ids(rest["items"]) == made[::-1][20:] and rest["next_cursor"] is None


def test_reactions_list_on_the_loop_follows_every_change_on_a(start_server, fresh_storage):
    a, b = pair(start_server, fresh_storage, "loop-react")
    api = a.client()
    author, r1, r2, viewer = (api.register() for _ in range(4))
    p = post(author, "react to me")
    react(r1, "posts", p["id"], "like")
    react(r2, "posts", p["id"], "haha")
    viewer_b = _as(b, viewer)
    reactions = lambda: [(i["user"]["id"], i["kind"]) for i in page(viewer_b, f"/v1/posts/{p['id']}/reactions")]  # noqa: E731
    assert served_on_loop(b, reactions) == [(r2.id, "haha"), (r1.id, "like")]
    # a changed kind, a removal, a new reaction on A: on B's next read
    react(r1, "posts", p["id"], "love")
    soon(lambda: dict(reactions()).get(r1.id) == "love", "the changed reaction on B")
    expect_status(r2.delete(f"/v1/posts/{p['id']}/reaction"), 204)
    soon(lambda: r2.id not in dict(reactions()), "the removed reaction on B")
    react(author, "posts", p["id"], "wow")
    soon(lambda: reactions()[:1] == [(author.id, "wow")], "the new reaction on B")
    # a block on A: the blocked reactor leaves the viewer's list; a deleted post is 404
    served_on_loop(b, reactions, 1)
    block(viewer, r1)
    soon(lambda: r1.id not in dict(reactions()), "the block on B")
    expect_status(author.delete(f"/v1/posts/{p['id']}"), 204)
    soon(lambda: viewer_b.get(f"/v1/posts/{p['id']}/reactions?limit=20").status == 404, "the delete on B")

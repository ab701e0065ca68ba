"""Comment threads, replies and hashtag pages served on the event loop from the L1 in cluster
mode (docs/design.md, "### l1 on the loop", packages reads17a and ctop18): with two chorusd
nodes on one PostgreSQL + Redis, node B answers warm first pages of a post's comments (sort=new
and sort=top, with each thread's first replies), ranked cursor pages, a comment's replies and a
hashtag's items on its event loop (chorus_loop_reads_total grows by the reads,
chorus_loop_reads_moved_total does not): their ids are cached facts (C:<type>:<id>,
K:<type>:<id>, Y:<comment>, T:<hash of the tag>). Every change made on node A shows on B's next
read: a new comment and reply, a deleted comment and reply, a block between the viewer and a
commenter, an account turned private, a post gaining or losing a tag by an edit, a new tagged
post, a deleted post; in ranked pages a reply moving a comment up and a reaction's counts.

"Next read" allows 10 s (1 s would do on an idle machine) for the forget to reach B's
subscriber thread (test_hydrate_l1.py); the nodes run with a 10 min L1 TTL, so only the
invalidations can pass."""
import secrets

import pytest

from client import expect_status
from conftest import MODE
from social import block, follow, make_private, post, reel
from test_cluster_loop_lists import ids, moved, served_on_loop
from test_hydrate_cache import _as, _get, comment
from test_hydrate_l1 import pair, soon

pytestmark = pytest.mark.skipif(MODE != "cluster", reason="needs PostgreSQL + Redis shared by two nodes")


def thread(acc, item_id, seg="posts"):
    p = _get(acc, f"/v1/{seg}/{item_id}/comments?sort=new&limit=20")
    return None if p is None else p["items"]


def replies_of(acc, comment_id, route="replies"):
    p = _get(acc, f"/v1/comments/{comment_id}/{route}?limit=20")
    return None if p is None else p["items"]


def tagged(acc, tag):
    return expect_status(acc.get(f"/v1/hashtags/{tag}/items?limit=20"), 200).json["items"]


def first_replies(items, comment_id):
    return [r["id"] for c in items or [] if c["id"] == comment_id for r in c["replies"]]


def test_warm_threads_and_replies_on_the_loop_and_every_change_on_a_shows_on_b(start_server, fresh_storage):
    a, b = pair(start_server, fresh_storage, "threads")
    api = a.client()
    author, fan, stranger, c1_by, c2_by = (api.register() for _ in range(5))
    follow(fan, author)
    p = post(author, "a thread")
    c1 = comment(c1_by, p["id"], "first")
    c2 = comment(c2_by, p["id"], "second")
    r1 = comment(author, p["id"], "a reply", parent_id=c1["id"])
    fan_b, stranger_b = _as(b, fan), _as(b, stranger)

    got = served_on_loop(b, lambda: thread(fan_b, p["id"]))
    assert ids(got) == [c2["id"], c1["id"]] and first_replies(got, c1["id"]) == [r1["id"]]
    assert ids(served_on_loop(b, lambda: replies_of(fan_b, c1["id"]))) == [r1["id"]]
    assert ids(served_on_loop(b, lambda: replies_of(fan_b, c1["id"], "comments"))) == [r1["id"]]
    served_on_loop(b, lambda: thread(stranger_b, p["id"]))

    # A new comment and a new reply on A: in B's next pages.
    c3 = comment(c2_by, p["id"], "third")
    soon(lambda: ids(thread(fan_b, p["id"])) == [c3["id"], c2["id"], c1["id"]], "the new comment on B")
    r2 = comment(fan, p["id"], "another reply", parent_id=c1["id"])
    soon(lambda: ids(replies_of(fan_b, c1["id"])) == [r1["id"], r2["id"]], "the new reply on B (replies)")
    soon(lambda: first_replies(thread(fan_b, p["id"]), c1["id"]) == [r1["id"], r2["id"]], "the new reply on B (thread)")
    served_on_loop(b, lambda: thread(fan_b, p["id"]), 1)
    served_on_loop(b, lambda: replies_of(fan_b, c1["id"]), 1)

    # A deleted comment and a deleted reply on A.
    expect_status(c2_by.delete(f"/v1/comments/{c3['id']}"), 204)
    soon(lambda: ids(thread(fan_b, p["id"])) == [c2["id"], c1["id"]], "the deleted comment on B")
    expect_status(author.delete(f"/v1/comments/{r1['id']}"), 204)
    soon(lambda: ids(replies_of(fan_b, c1["id"])) == [r2["id"]], "the deleted reply on B (replies)")
    soon(lambda: first_replies(thread(fan_b, p["id"]), c1["id"]) == [r2["id"]], "the deleted reply on B (thread)")
    # A deleted comment with live replies stays as its placeholder, its replies readable.
    expect_status(c1_by.delete(f"/v1/comments/{c1['id']}"), 204)
    soon(lambda: [bool(c.get("deleted")) for c in thread(fan_b, p["id"])] == [False, True], "the placeholder on B")
    assert ids(served_on_loop(b, lambda: replies_of(fan_b, c1["id"]), 1)) == [r2["id"]]

    # A block between the viewer and a commenter, made on A: the comment leaves B's page.
    served_on_loop(b, lambda: thread(fan_b, p["id"]), 1)
    block(c2_by, fan)
    soon(lambda: ids(thread(fan_b, p["id"])) == [c1["id"]], "the block on B")
    assert ids(thread(stranger_b, p["id"])) == [c2["id"], c1["id"]]

    # The post's author turns private on A: a non-follower gets 404 on B, the follower the page.
    served_on_loop(b, lambda: thread(stranger_b, p["id"]), 1)
    make_private(author)
    soon(lambda: thread(stranger_b, p["id"]) is None, "the private account on B (thread)")
    soon(lambda: replies_of(stranger_b, c1["id"]) is None, "the private account on B (replies)")
    assert ids(thread(fan_b, p["id"])) == [c1["id"]]


def test_warm_hashtag_pages_on_the_loop_and_every_change_on_a_shows_on_b(start_server, fresh_storage):
    a, b = pair(start_server, fresh_storage, "tags")
    api = a.client()
    author, reader = api.register(), api.register()
    tag = "loop" + secrets.token_hex(5)
    p = post(author, f"with #{tag}")
    q = post(author, "without a tag yet")
    r = reel(author, caption=f"a reel #{tag}")
    reader_b = _as(b, reader)
    assert ids(served_on_loop(b, lambda: tagged(reader_b, tag))) == [r["id"], p["id"]]

    # A post gaining the tag by an edit on A, and a new tagged post.
    expect_status(author.patch(f"/v1/posts/{q['id']}", json={"text": f"now #{tag}"}), 200)
    soon(lambda: ids(tagged(reader_b, tag)) == [r["id"], q["id"], p["id"]], "the edit adding the tag on B")
    n = post(author, f"new #{tag}")
    soon(lambda: ids(tagged(reader_b, tag)) == [n["id"], r["id"], q["id"], p["id"]], "the new tagged post on B")
    served_on_loop(b, lambda: tagged(reader_b, tag), 1)
    # A post losing it by an edit, and a deleted post, on A.
    expect_status(author.patch(f"/v1/posts/{p['id']}", json={"text": "no tag any more"}), 200)
    soon(lambda: ids(tagged(reader_b, tag)) == [n["id"], r["id"], q["id"]], "the edit removing the tag on B")
    expect_status(author.delete(f"/v1/posts/{n['id']}"), 204)
    soon(lambda: ids(tagged(reader_b, tag)) == [r["id"], q["id"]], "the deleted post on B")
    assert ids(served_on_loop(b, lambda: tagged(reader_b, tag), 1)) == [r["id"], q["id"]]
    # A block and a private account: the layer's facts, per viewer.
    block(author, reader)
    soon(lambda: tagged(reader_b, tag) == [], "the block on B")


def test_cold_pages_move_and_cursor_pages_are_right(start_server, fresh_storage):
    """A first read has nothing in B's L1: it moves to a worker and is right; the next ones stay
    on the loop, and their cursor pages continue where they stopped. Ranked (sort=top) pages
    move once too, then their fact serves them."""
    a, b = pair(start_server, fresh_storage, "threads-cold")
    api = a.client()
    author, reader = api.register(), api.register()
    p = post(author, "many comments")
    made = [comment(author, p["id"], f"c{i}")["id"] for i in range(5)]
    reader_b = _as(b, reader)
    moved0 = moved(b)
    first = _get(reader_b, f"/v1/posts/{p['id']}/comments?sort=new&limit=2")
    assert moved(b) > moved0, "a cold read was answered on the loop"
    assert ids(first["items"]) == made[::-1][:2] and first["next_cursor"] == made[3]
    warm = served_on_loop(b, lambda: _get(reader_b, f"/v1/posts/{p['id']}/comments?sort=new&limit=2"))
    assert warm == first
    rest = served_on_loop(b, lambda: _get(reader_b, f"/v1/posts/{p['id']}/comments?sort=new&limit=2"
                                                    f"&cursor={first['next_cursor']}"))
    assert ids(rest["items"]) == made[::-1][2:4]
    # Ranked (sort=top, the default): the first read ranks on a worker, the next ones are
    # served from the ranking's fact in B's L1.
    moved1 = moved(b)
    top = _get(reader_b, f"/v1/posts/{p['id']}/comments?limit=20")
    assert ids(top["items"]) == made[::-1] and moved(b) > moved1, "a cold ranked read was answered on the loop"
    assert served_on_loop(b, lambda: _get(reader_b, f"/v1/posts/{p['id']}/comments?limit=20")) == top


def top_page(acc, item_id, limit=2, cursor=None):
    return _get(acc, f"/v1/posts/{item_id}/comments?limit={limit}" + (f"&cursor={cursor}" if cursor else ""))


def top_walk(acc, item_id, limit=2):
    """Every comment of a ranked walk (sort=top, the default), following its cursors."""
    seen, cursor = [], None
    for _ in range(50):
        pg = top_page(acc, item_id, limit, cursor)
        seen.extend(pg["items"])
        cursor = pg["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("cursor never ends")


def react(acc, comment_id, kind="like"):
    expect_status(acc.client.request("PUT", f"/v1/comments/{comment_id}/reaction", json={"kind": kind},
                                     token=acc.access_token), 200)


def test_warm_ranked_pages_on_the_loop_and_every_change_on_a_shows_on_b(start_server, fresh_storage):
    """sort=top: the item's shared ranking is a cached fact (K:<type>:<id>), so B answers a warm
    first page and a cursor page of its generation on its loop; a comment, a reply (which moves
    it up), a delete and a block made on A show on B's next read; a reaction shows in the
    counts at once, its ranking is the shared one (A and B agree)."""
    a, b = pair(start_server, fresh_storage, "ranked")
    api = a.client()
    author, fan, stranger, c_by, d_by = (api.register() for _ in range(5))
    p = post(author, "ranked thread")
    made = [comment(c_by if i % 2 else d_by, p["id"], f"c{i}")["id"] for i in range(5)]
    r1 = comment(author, p["id"], "a reply", parent_id=made[0])
    fan_b, stranger_b, fan_a = _as(b, fan), _as(b, stranger), _as(a, fan)
    # All scored alike but the oldest, which has a reply: it first, then newest first.
    order = [made[0]] + made[:0:-1]

    first = served_on_loop(b, lambda: top_page(fan_b, p["id"]))
    assert ids(first["items"]) == order[:2] and first_replies(first["items"], made[0]) == [r1["id"]]
    cursor = first["next_cursor"]
    assert cursor and "." in cursor
    second = served_on_loop(b, lambda: top_page(fan_b, p["id"], cursor=cursor))
    assert ids(second["items"]) == order[2:4]
    assert ids(top_walk(fan_b, p["id"])) == order
    assert ids(top_walk(fan_a, p["id"])) == order  # one ranking, shared by the nodes

    # A new comment on A: ranked again on B's next first page (newest after the replied one).
    c5 = comment(d_by, p["id"], "c5")["id"]
    soon(lambda: ids(top_page(fan_b, p["id"])["items"]) == [made[0], c5], "the new comment on B")
    # Two replies to made[2] on A: it now ranks first.
    for _ in range(2):
        comment(stranger, p["id"], "reply", parent_id=made[2])
    soon(lambda: ids(top_page(fan_b, p["id"])["items"]) == [made[2], made[0]], "the replies on B")
    served_on_loop(b, lambda: top_page(fan_b, p["id"]), 1)
    # A deleted comment on A leaves B's walk.
    expect_status(d_by.delete(f"/v1/comments/{c5}"), 204)
    soon(lambda: c5 not in ids(top_walk(fan_b, p["id"])), "the deleted comment on B")
    assert ids(served_on_loop(b, lambda: top_page(fan_b, p["id"]), 1)["items"]) == [made[2], made[0]]
    # A reaction on a comment on A: its counts at once on B; the order is the shared ranking's.
    react(stranger, made[3])
    soon(lambda: {c["id"]: c["counts"]["reactions_total"] for c in top_walk(fan_b, p["id"], 20)}[made[3]] == 1,
         "the reaction on B")
    assert ids(top_walk(fan_b, p["id"], 20)) == ids(top_walk(fan_a, p["id"], 20))
    # A block between the viewer and a commenter, made on A: that commenter's comments leave
    # B's pages for the viewer (either way), not for others.
    served_on_loop(b, lambda: top_page(fan_b, p["id"]), 1)
    block(c_by, fan)
    soon(lambda: not set(ids(top_walk(fan_b, p["id"]))) & {made[1], made[3]}, "the block on B")
    assert {made[1], made[3]} <= set(ids(top_walk(stranger_b, p["id"])))
    first = served_on_loop(b, lambda: top_page(fan_b, p["id"]), 1)
    assert ids(first["items"]) == [made[2], made[0]]

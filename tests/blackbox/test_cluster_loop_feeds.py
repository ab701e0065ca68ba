"""The following and home feeds served on the event loop in cluster mode (docs/design.md "### feedwarm",
"### l1 on the loop", package feeds18): with two chorusd nodes on one PostgreSQL + Redis, a
warm first page of /v1/feed/following on node B is answered on B's loop
(chorus_loop_reads_total grows by the reads, chorus_loop_reads_moved_total does not) from its
L1: the viewer's and the celebrity set's generations (g:), the timeline's head (H:), the
authors' recent items, relations and records; the timeline's read-rate touch is queued to a
thread. Every change made on node A shows on B's next read: a new post by a followee pushed
by the fan-out (push mode: the head's forget), a new post by a pulled followee (pull mode),
an unfollow, a block either way, a mute, a delete.

"Next read" allows 10 s (a loaded machine's; test_hydrate_l1.py) for a forget to reach B's
subscriber thread, and 30 s for a post that the fan-out (an outbox consumer on A) must push
first; the nodes run with a 10 min L1 TTL, so only the invalidations can pass. In pull mode
the home feed's warm reads after a change are not checked on the loop (the changes themselves
are): the joined note of pull mode is the newest post of any author, an unfollowed one's
included, and every read ranks again (on a worker) while it lives (docs/design.md
"### feedhot", "Cluster mode").

The home feed (a reused ranking, docs/design.md "### feedhot") reads the same generations and
timeline head, and the ranking's head (h:) and the fan-out's notes (n:) as cached copies of
their kv values; its seen-set update is queued to the same thread. A change on A ends B's
reuse (the cursor's generation changes) or hides the item at its next read."""
import pytest

from client import expect_status
from conftest import MODE
from notify_helpers import wait_until
from social import block, follow, mute, post
from test_cluster_loop_lists import moved, on_loop
from test_cluster_loop_lists import served_on_loop as served_on_loop_now
from test_hydrate_cache import _as
from test_hydrate_l1 import metric, soon, wait_live

pytestmark = pytest.mark.skipif(MODE != "cluster", reason="needs PostgreSQL + Redis shared by two nodes")

FEED = "/v1/feed/following?limit=20"


def pair(start_server, fresh_storage, name, fanout):
    storage = fresh_storage()
    env = {"CHORUS_HYDRATE_L1_TTL_MS": "600000", "CHORUS_FEED_FANOUT": fanout, "CHORUS_FEED_REUSE_MS": "600000"}
    a = start_server(env=env, storage=storage, name=f"{name}-a")
    b = start_server(env={**env, "CHORUS_ROLES": "api"}, storage=storage, name=f"{name}-b")
    wait_live(a, b)
    return a, b


def served_on_loop(srv, read, times=5):
    """read() answered on srv's loop `times` times in a row, once the fan-out on A has applied
    the last change (its forgets of the timeline head and notes arrive after the change's own
    forgets: until then a read may move, and fills the L1 again on the worker). Tried three
    times: the session's vouch fact is per minute (S:<session>:<minute>), so the first read of
    a new minute moves once."""
    def one():
        loop0 = on_loop(srv)
        read()
        return on_loop(srv) - loop0 == 1
    for attempt in range(3):
        wait_until(one, "a read answered on B's loop again", 30.0, 0.05)
        try:
            return served_on_loop_now(srv, read, times)
        except AssertionError:
            if attempt == 2:
                raise


def feed(acc):
    return [e["item"]["id"] for e in expect_status(acc.get(FEED), 200).json["items"]]


def fanned_out(fn, what):
    """fn() true once the fan-out on A pushed the post and its forget reached B."""
    return wait_until(fn, what, 30.0, 0.05)


@pytest.mark.parametrize("fanout", ["push", "pull"])
def test_warm_following_feed_on_bs_loop_and_every_change_on_a_shows(start_server, fresh_storage, fanout):
    a, b = pair(start_server, fresh_storage, f"loop-feed-{fanout}", fanout)
    again = served_on_loop
    api = a.client()
    fan, author, blocker, blocked, muted, deleter = (api.register() for _ in range(6))
    for who in (author, blocker, blocked, muted, deleter):
        follow(fan, who)
    made = {who.id: post(who, f"by {who.handle}")["id"] for who in (author, blocker, blocked, muted, deleter)}
    fan_b = _as(b, fan)
    everyone = sorted(made.values(), reverse=True)
    # The first read builds the timeline and the pull set on a worker; then B's loop answers.
    fanned_out(lambda: feed(fan_b) == everyone, "the first page on B")
    assert served_on_loop(b, lambda: feed(fan_b)) == everyone

    # A new post by a followee on A: pushed (the timeline head forgotten) or pulled (the
    # author's recent items forgotten), first on B's next page, which is on the loop again.
    n = post(author, "new on A")["id"]
    fanned_out(lambda: feed(fan_b)[:1] == [n], "the new post on B")
    everyone = [n] + everyone
    assert again(b, lambda: feed(fan_b)) == everyone

    # A delete on A.
    expect_status(deleter.delete(f"/v1/posts/{made[deleter.id]}"), 204)
    everyone.remove(made[deleter.id])
    soon(lambda: feed(fan_b) == everyone, "the delete on B")
    again(b, lambda: feed(fan_b), 1)

    # An unfollow on A: the author's posts leave B's page.
    expect_status(fan.delete(f"/v1/users/{author.id}/follow"), 204)
    everyone = [i for i in everyone if i not in (n, made[author.id])]
    soon(lambda: feed(fan_b) == everyone, "the unfollow on B")
    again(b, lambda: feed(fan_b), 1)

    # A block either way on A.
    block(blocker, fan)
    everyone.remove(made[blocker.id])
    soon(lambda: feed(fan_b) == everyone, "a block of the viewer on B")
    block(fan, blocked)
    everyone.remove(made[blocked.id])
    soon(lambda: feed(fan_b) == everyone, "the viewer's block on B")
    again(b, lambda: feed(fan_b), 1)

    # A mute on A.
    mute(fan, muted)
    soon(lambda: feed(fan_b) == [], "the mute on B")
    again(b, lambda: feed(fan_b), 1)
    assert metric(b, "chorus_hcache_l1_invalidations_total", '{direction="received"}') > 0


def test_a_warm_read_queues_its_touch_and_a_cold_one_moves(start_server, fresh_storage):
    """The first read on B (no timeline, no pull set) moves to a worker and is right; the warm
    ones are on the loop, and their read-rate touches are made by B's touch thread."""
    a, b = pair(start_server, fresh_storage, "loop-feed-touch", "push")
    api = a.client()
    fan, author = api.register(), api.register()
    follow(fan, author)
    p = post(author, "hello")["id"]
    fan_b = _as(b, fan)
    moved0, loop0 = moved(b), on_loop(b)
    assert feed(fan_b) == [p]
    assert on_loop(b) == loop0, "a cold read was answered on the loop"
    served_on_loop(b, lambda: feed(fan_b))
    wait_until(lambda: (metric(b, "chorus_feed_touches_total", '{result="applied"}') or 0) > 0,
               "a queued touch applied on B", 5.0, 0.05)
    assert moved(b) > moved0, "the cold read was not moved to a worker"


HOME_LIMIT = 3  # below the ranking's length: the ranking is kept, and reused


def home(acc):
    return expect_status(acc.get(f"/v1/feed/home?limit={HOME_LIMIT}"), 200).json


def gen(page):
    assert page["next_cursor"], "a ranking longer than a page is kept"
    return page["next_cursor"].split(".")[0]


def home_ids(acc):
    """The whole ranking from a first page (reused or ranked again), then its cursor pages."""
    page = home(acc)
    out = [e["item"]["id"] for e in page["items"]]
    for _ in range(50):
        if not page["next_cursor"]:
            break
        page = expect_status(acc.get(f"/v1/feed/home?limit={HOME_LIMIT}&cursor={page['next_cursor']}"), 200).json
        out += [e["item"]["id"] for e in page["items"]]
    return out


@pytest.mark.parametrize("fanout", ["push", "pull"])
def test_warm_home_feed_on_bs_loop_and_every_change_on_a_shows(start_server, fresh_storage, fanout):
    a, b = pair(start_server, fresh_storage, f"loop-home-{fanout}", fanout)
    again = served_on_loop if fanout == "push" else (lambda srv, read, times=5: read())
    api = a.client()
    fan, author, blocker, blocked, muted, deleter = (api.register() for _ in range(6))
    made = {}
    for who in (author, blocker, blocked, muted, deleter):
        follow(fan, who)
        # 3 each: longer than a page even after three authors leave the ranking (a ranking no
        # longer than its page is not kept, so never reused: each read ranks on a worker)
        made[who.id] = [post(who, f"by {who.handle} {i}")["id"] for i in range(3)]
    fan_b = _as(b, fan)
    fanned_out(lambda: set(sum(made.values(), [])) <= set(home_ids(fan_b)), "the posts in B's ranking")
    warm = home(fan_b)
    assert gen(served_on_loop(b, lambda: home(fan_b))) == gen(warm), "the reused ranking"
    wait_until(lambda: (metric(b, "chorus_feed_seen_later_total", '{result="noted"}') or 0) > 0,
               "the loop's seen-set updates noted on B", 5.0, 0.05)

    # A new post by a followee on A: B's reuse ends (pushed: the timeline head; pulled: the note).
    n = post(author, "new on A")["id"]
    fanned_out(lambda: gen(home(fan_b)) != gen(warm), "the reuse ended on B")
    assert n in home_ids(fan_b)
    warm = again(b, lambda: home(fan_b))

    # A delete on A: gone from B's next read, the ranking reused or not.
    gone = made[deleter.id][0]
    expect_status(deleter.delete(f"/v1/posts/{gone}"), 204)
    soon(lambda: gone not in home_ids(fan_b), "the delete on B")

    # An unfollow, blocks either way and a mute on A: B ranks again without those authors.
    for what, change, who in (("unfollow", lambda: expect_status(fan.delete(f"/v1/users/{author.id}/follow"), 204), author),
                              ("a block of the viewer", lambda: block(blocker, fan), blocker),
                              ("the viewer's block", lambda: block(fan, blocked), blocked),
                              ("the mute", lambda: mute(fan, muted), muted)):
        again(b, lambda: home(fan_b), 1)
        change()
        hidden = set(made[who.id]) | ({n} if who is author else set())
        soon(lambda: not hidden & set(home_ids(fan_b)), f"{what} on B")

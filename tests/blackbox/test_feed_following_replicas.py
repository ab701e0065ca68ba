"""The warm following feed across replicas (cluster only): each chorusd caches a viewer's pull
set in its own process, and the generations in Redis (the viewer's, the celebrity set's) end
it at the next read on any node. A follow made on node A, or a followee crossing the celebrity
bound there, shows at once in a warm read on node B."""
import pytest

from client import expect_status
from conftest import MODE
from social import follow, post

pytestmark = pytest.mark.skipif(MODE != "cluster", reason="needs PostgreSQL + Redis shared by two nodes")

FEED = "/v1/feed/following"


def ids(acc):
    return [e["item"]["id"] for e in expect_status(acc.get(FEED), 200).json["items"]]


def two_nodes(start_server, env, name):
    """Two nodes without their in-process L1s: "at once" here is Redis's (the generations are
    read from it at every read). With the L1 a forget reaches B by pub/sub some ms later, a
    window a loaded machine widens past the next read: test_cluster_loop_feeds.py checks
    that path, with a window."""
    env = {**env, "CHORUS_HYDRATE_L1_MEMORY": "0"}
    a = start_server(env=env, name=f"{name}-a")
    b = start_server(env=env, storage=a.storage_env, name=f"{name}-b")
    return a, b


def test_a_follow_on_one_node_shows_in_a_warm_read_on_the_other(start_server):
    a, b = two_nodes(start_server, {"CHORUS_FEED_FANOUT": "pull"}, "feed-follow")
    ca = a.client()
    fan, friend, star = (ca.register() for _ in range(3))
    fan_b = b.client().login(fan.handle)
    follow(fan, friend)
    p = post(friend, "hello")["id"]
    s1 = post(star, "before the follow")["id"]
    assert ids(fan_b) == [p]
    assert ids(fan_b) == [p]  # warm on B: its own pull set
    follow(fan, star)  # on A: the fan's generation (Redis) moves
    assert ids(fan_b) == [s1, p]


def test_a_followee_crossing_the_bound_on_one_node_shows_on_the_other(start_server):
    a, b = two_nodes(start_server, {"CHORUS_FEED_CELEBRITY_FOLLOWERS": "2"}, "feed-crossing")
    ca = a.client()
    fan, star, third = (ca.register() for _ in range(3))
    fan_b = b.client().login(fan.handle)
    follow(fan, star)
    assert ids(fan_b) == []
    assert ids(fan_b) == []  # warm on B
    follow(third, star)  # on A: star crosses the bound, the fan's relations unchanged
    s = post(star, "now a celebrity")["id"]
    assert ids(fan_b) == [s]

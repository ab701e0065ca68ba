"""The hydration layer (svc/common/hydrate.h) through the API: the feed's items, rendered from
cached facts, equal the single-item reads (author, counts, mentions, hashtags, the viewer's
reaction, media); a warm second read of the same page reads no fact from the database
(chorus_hydrate_facts_total{source="db"} does not grow) but from the hydration cache; what the
viewer may not see stays out. The layer's internals: tests/unit/test_hydrate*.c."""
import re

import pytest

from client import Client, expect_status
from comments_helpers import comment, get_item
from engage_helpers import react
from notify_helpers import wait_until
from social import block, follow, post, reel

FEED = "/v1/feed/following"


def feed_items(acc, limit=20):
    page = expect_status(acc.get(f"{FEED}?limit={limit}"), 200).json
    return [e["item"] for e in page["items"]]


def wait_ids(acc, want, limit=20):
    wait_until(lambda: set(want) <= {i["id"] for i in feed_items(acc, limit)},
               "the items in the following feed", timeout=20)


def hydrate_facts(srv):
    """{(kind, source): count} of chorus_hydrate_facts_total."""
    text = Client(srv.base_url).request("GET", "/metrics", check=False).text
    return {(k, s): float(v) for k, s, v in
            re.findall(r'^chorus_hydrate_facts_total\{kind="(\w+)",source="(\w+)"\} (\S+)$', text, re.M)}


def cache_down_gets(srv):
    text = Client(srv.base_url).request("GET", "/metrics", check=False).text
    m = re.search(r'^chorus_hcache_gets_total\{result="down"\} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0


def total(facts, source):
    return sum(v for (k, s), v in facts.items() if s == source)


def test_feed_items_equal_the_item_reads(api):
    author, fan, third = api.register(), api.register(), api.register()
    follow(fan, author)
    assert feed_items(fan) == []  # makes the timeline the worker pushes to
    p = post(author, f"hello @{third.handle} #hydr8 <b>\"quoted\"</b> é")
    r = reel(author, caption=f"#reels{author.handle[:6]} by @{fan.handle}")
    react(fan, "posts", p["id"], "love")
    react(third, "posts", p["id"], "haha")
    comment(third, p["id"], "first")
    wait_ids(fan, [p["id"], r["id"]])
    for _ in range(2):  # cold, then from the cache
        items = {i["id"]: i for i in feed_items(fan)}
        assert items[p["id"]] == get_item(fan, "posts", p["id"])
        assert items[r["id"]] == get_item(fan, "reels", r["id"])
        assert items[p["id"]]["my_reaction"] == "love"
        assert items[p["id"]]["counts"]["reactions_total"] == 2
        assert items[p["id"]]["counts"]["comments"] == 1
        assert [m["handle"] for m in items[p["id"]]["mentions"]] == [third.handle]
        assert items[r["id"]]["my_reaction"] is None
        assert items[p["id"]]["author"]["handle"] == author.handle


def test_a_warm_page_reads_no_fact_from_the_database(start_server):
    srv = start_server()
    c = srv.client()
    author, other, fan = c.register(), c.register(), c.register()
    follow(fan, author)
    follow(fan, other)
    assert feed_items(fan) == []
    made = [post(author, f"p{i} #warm") for i in range(4)] + [reel(other), post(other, "x")]
    react(fan, "posts", made[0]["id"], "wow")
    want = [m["id"] for m in made]
    wait_ids(fan, want)
    first = feed_items(fan)
    cold, down = hydrate_facts(srv), cache_down_gets(srv)
    assert total(cold, "db") > 0
    second = feed_items(fan)
    warm = hydrate_facts(srv)
    assert second == first
    if cache_down_gets(srv) > down:  # Redis is up: only a driver that cannot answer yet
        pytest.xfail("the hydration cache answered 'down' with its backend up (Redis driver not in this build)")
    assert total(warm, "db") == total(cold, "db"), (cold, warm)
    # every kind came from the cache: records, authors, relations, the viewer's reactions
    for kind in ("item", "user", "rel", "viewer"):
        assert warm[(kind, "cache")] > cold.get((kind, "cache"), 0), (kind, cold, warm)


def test_the_cache_does_not_show_what_the_viewer_may_not_see(api):
    author, fan, stranger = api.register(), api.register(), api.register()
    follow(fan, author)
    assert feed_items(fan) == []
    p = post(author, "for followers", visibility="followers")
    wait_ids(fan, [p["id"]])
    assert [i["id"] for i in feed_items(fan)] == [p["id"]]  # warm now
    # another viewer of the same cached record: not a follower
    expect_status(stranger.get(f"/v1/posts/{p['id']}"), 404)
    # a block after the facts were cached
    block(author, fan)
    wait_until(lambda: p["id"] not in [i["id"] for i in feed_items(fan)], "the post out of the feed", timeout=20)

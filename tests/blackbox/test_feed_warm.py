"""The warm home read (docs/design.md "### feedhot"): a reused ranking is served from its head
without SQL while nothing arrived in the viewer's network. Pulled items are never in the
timeline: a pulled author's new post must end the reuse at once (the fan-out worker's note,
svc/feed/nettop.h), not after CHORUS_FEED_REUSE_MS. Mutes, blocks, unfollows, deletes and
edits on warm reads are test_hydrate_cache.py's and test_feed_reuse.py's."""
from social import follow, post

from test_feed_home import feed, ids, wait_feed

# Every author with a follower is a celebrity (pulled by every follower, never pushed), and a
# ranking is reused for 10 minutes: longer than any wait below.
PULL_ALL_ENV = {"CHORUS_FEED_CELEBRITY_FOLLOWERS": "1", "CHORUS_FEED_REUSE_MS": "600000"}


def gen(page):
    assert page["next_cursor"], "a ranking longer than a page is kept"
    return page["next_cursor"].split(".")[0]


def test_a_pulled_authors_new_post_ends_the_reuse_at_once(start_server):
    api = start_server(env=PULL_ALL_ENV).client()
    viewer, author, other = api.register(), api.register(), api.register()
    follow(viewer, author)
    follow(viewer, other)
    first = [post(a, f"pulled {i}")["id"] for a in (author, other) for i in range(4)]
    wait_feed(viewer, first, "the pulled posts")
    warm = feed(viewer, limit=3)
    assert gen(feed(viewer, limit=3)) == gen(warm), "a young ranking with nothing new is served again"
    new = post(author, "pulled, after the ranking")["id"]
    page = wait_feed(viewer, [new], "a pulled author's post made after the ranking")
    assert new in ids(page)
    fresh = feed(viewer, limit=3)
    assert gen(fresh) != gen(warm), "the stale ranking was reused after a pulled author posted"
    assert gen(feed(viewer, limit=3)) == gen(fresh), "the new ranking is reused in turn"

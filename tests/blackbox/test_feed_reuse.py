"""A request without cursor reuses the viewer's latest ranking while it is young and nothing
it depends on changed (docs/design.md "### perf"): the same generation (cursor) comes back;
a new in-network item, feedback, a follow, unfollow, block (either way) or mute of the viewer
makes the next request rank anew, at once."""
from client import expect_status
from notify_helpers import need_route
from social import block, follow, mute, post

from test_feed_home import community, feed, give, ids, wait_feed


def gen(page):
    assert page["next_cursor"], "a ranking longer than a page is kept"
    return page["next_cursor"].split(".")[0]


def test_fresh_request_reuses_until_something_changes(api):
    need_route("POST", "/v1/feed/feedback")
    viewer, authors, items = community(api, 6, 3)
    every = [i for v in items.values() for i in v]
    wait_feed(viewer, every, "18 in-network posts")
    first = feed(viewer, limit=3)
    again = feed(viewer, limit=3)
    assert gen(again) == gen(first), "a young ranking with nothing new is served again"
    assert ids(again) == ids(first)
    last = gen(again)

    def ranks_anew(what):
        nonlocal last
        page = feed(viewer, limit=3)
        assert gen(page) != last, f"a stale ranking was reused after {what}"
        last = gen(page)
        assert gen(feed(viewer, limit=3)) == last, f"the ranking made after {what} is reused"
        return page

    # a new in-network post: in the ranking of a fresh request as soon as it is in the
    # timeline (the stale one does not hold it). Not necessarily on the first page: on the
    # shared server other tests' popular items may outrank it.
    new = post(authors[0], "new on top")["id"]
    wait_feed(viewer, [new], "the new post in the ranking of a fresh request")
    last = gen(feed(viewer, limit=3))
    shown = ids(feed(viewer, limit=3))
    give(viewer, shown[0], "not_interested")
    assert shown[0] not in ids(ranks_anew("not_interested"))
    give(viewer, items[authors[1].id][0], "see_less_author")
    ranks_anew("see_less_author")
    mute(viewer, authors[2])
    ranks_anew("a mute")
    block(viewer, authors[3])
    ranks_anew("a block by the viewer")
    block(authors[4], viewer)
    ranks_anew("a block of the viewer")
    other = api.register()
    follow(viewer, other)
    ranks_anew("a follow")
    expect_status(viewer.delete(f"/v1/users/{other.id}/follow"), 204)
    ranks_anew("an unfollow")

"""The story tray reads the viewer's followees from the hydration cache (docs/design.md,
"### feedwarm", svc/graph/followees.h): every change of the viewer's follows shows at the next
read, never an old list — a follow, an unfollow, a block either way, an approved request."""
from client import expect_status
from social import approve, block, follow, make_private, story


def tray_users(acc):
    return [e["user"]["id"] for e in expect_status(acc.get("/v1/stories/tray"), 200).json["items"]]


def test_the_tray_follows_the_viewers_follows_at_once(api):
    viewer = api.register()
    a, b, c, d = (api.register() for _ in range(4))
    for u in (a, b, c, d):
        story(u)
    follow(viewer, a)
    assert tray_users(viewer) == [a.id]
    assert tray_users(viewer) == [a.id]  # warm
    follow(viewer, b)
    assert tray_users(viewer) == [b.id, a.id]  # newest story first
    expect_status(viewer.delete(f"/v1/users/{a.id}/follow"), 204)
    assert tray_users(viewer) == [b.id]
    follow(viewer, c)
    assert set(tray_users(viewer)) == {b.id, c.id}
    # The two block steps do not depend on the f: forget: every tray entry is also checked
    # against the viewer's relation facts (forgotten with the pair), which hide a blocked or
    # blocking user by themselves. They guard the answer, not the forget.
    block(viewer, b)  # removes the follow
    assert tray_users(viewer) == [c.id]
    block(c, viewer)  # the other way
    assert tray_users(viewer) == []
    make_private(d)
    assert follow(viewer, d) == "requested"
    assert tray_users(viewer) == []
    approve(d, viewer)
    assert tray_users(viewer) == [d.id]


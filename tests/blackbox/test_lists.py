"""Lists through the hydration layer (docs/design.md, "Hydration", "lists"): the story tray
from the followees' active-story index (a story posted or deleted shows at once, a cached
entry's stories expire without any write), hashtag pages that read more ids than they show
so that pages stay full when the layer hides some, comment threads likewise."""
import time

from apispec import parse_time
from client import expect_status
from comments_helpers import comment, ids, page, walk
from social import block, follow, make_private, post, story


def tray(acc):
    return expect_status(acc.get("/v1/stories/tray"), 200).json["items"]


def tray_stories(acc):
    return [[s["id"] for s in e["stories"]] for e in tray(acc)]


# ---- the story tray ----------------------------------------------------------------------------

def test_tray_shows_a_new_story_and_drops_a_deleted_one_at_once(api, user, other):
    follow(other, user)
    assert tray(other) == []  # the author's empty index entry is read (and cached) here
    s1 = story(user)
    assert tray_stories(other) == [[s1["id"]]]
    s2 = story(user)
    assert tray_stories(other) == [[s1["id"], s2["id"]]]
    expect_status(user.delete(f"/v1/stories/{s1['id']}"), 204)
    assert tray_stories(other) == [[s2["id"]]]
    expect_status(user.get(f"/v1/users/{user.id}/stories"), 200)
    assert ids(page(other, f"/v1/users/{user.id}/stories")["items"]) == [s2["id"]]
    expect_status(user.delete(f"/v1/stories/{s2['id']}"), 204)
    assert tray(other) == []
    assert page(other, f"/v1/users/{user.id}/stories") == {"items": [], "next_cursor": None}


def test_tray_entries_expire_without_any_write(start_server):
    """Stories live 6 s: the index entry read while both were live still serves the tray
    after the first expired, with only the second left in it. (With 2 s lives 1 s apart, a
    loaded machine could make the first read after the first story's end, or the second
    after the second's; 3 s apart each read has 3 s.)"""
    srv = start_server(env={"CHORUS_STORY_TTL": "6"}, name="tray-ttl")
    api = srv.client()
    author, fan = api.register(), api.register()
    follow(fan, author)
    s1 = story(author)
    time.sleep(3.0)
    s2 = story(author)
    assert tray_stories(fan) == [[s1["id"], s2["id"]]]
    until = parse_time(s1["expires_at"]).timestamp() + 0.3
    time.sleep(max(0.0, until - time.time()))
    assert tray_stories(fan) == [[s2["id"]]]
    assert ids(page(fan, f"/v1/users/{author.id}/stories")["items"]) == [s2["id"]]


def test_tray_orders_unseen_first_and_follows_views(api):
    viewer, a, b, c = (api.register() for _ in range(4))
    for acc in (a, b, c):
        follow(viewer, acc)
    sa, sb, sc = story(a), story(b), story(c)
    assert [e["user"]["id"] for e in tray(viewer)] == [c.id, b.id, a.id]
    expect_status(viewer.post(f"/v1/stories/{sc['id']}/view"), 204)
    expect_status(viewer.post(f"/v1/stories/{sa['id']}/view"), 204)
    t = tray(viewer)
    assert [(e["user"]["id"], e["has_unseen"]) for e in t] == [(b.id, True), (c.id, False), (a.id, False)]
    assert [s["seen"] for s in t[1]["stories"]] == [True]
    assert t[0]["stories"][0]["id"] == sb["id"] and t[0]["stories"][0]["seen"] is False


# ---- hashtag pages -----------------------------------------------------------------------------

def test_hashtag_page_with_many_invisible_items_is_still_full(api, user):
    """Two hidden items (a private account's) between each visible one: the layer hides
    them after the ids are read, and a page of 5 still holds 5 items."""
    hider, stranger = api.register(), api.register()
    make_private(hider)
    tag = f"full{time.monotonic_ns()}"
    visible = []
    for i in range(7):
        visible.append(post(user, f"#{tag} visible {i}")["id"])
        for k in range(2):
            post(hider, f"#{tag} hidden {i}.{k}")
    first = page(stranger, f"/v1/hashtags/{tag}/items", limit=5)
    assert ids(first["items"]) == visible[::-1][:5]
    assert first["next_cursor"]
    rest = page(stranger, f"/v1/hashtags/{tag}/items", limit=5, cursor=first["next_cursor"])
    assert ids(rest["items"]) == visible[::-1][5:]
    assert ids(walk(stranger, f"/v1/hashtags/{tag}/items", limit=3)) == visible[::-1]
    # The owner sees them all, in full pages.
    assert len(walk(hider, f"/v1/hashtags/{tag}/items", limit=5)) == 21


# ---- comment threads ---------------------------------------------------------------------------

def test_comment_pages_stay_full_around_blocked_commenters(api, user, other):
    """Comments of users the viewer blocked are hidden by the layer after the ids are read;
    pages of 3 stay full and the walk shows every other comment once."""
    p = post(user, "thread")
    blocked = api.register()
    shown = []
    for i in range(6):
        shown.append(comment(other, p["id"], f"kept {i}")["id"])
        comment(blocked, p["id"], f"hidden {i}")
        comment(blocked, p["id"], f"hidden {i}b")
    block(user, blocked)
    first = page(user, f"/v1/posts/{p['id']}/comments", sort="new", limit=3)
    assert ids(first["items"]) == shown[::-1][:3]
    assert ids(walk(user, f"/v1/posts/{p['id']}/comments", limit=3, sort="new")) == shown[::-1]
    assert ids(walk(user, f"/v1/posts/{p['id']}/comments", limit=3, sort="top")) == sorted(
        shown, key=lambda c: int(c))[::-1]

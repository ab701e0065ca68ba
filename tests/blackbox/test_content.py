"""Posts, reels and stories (BRD content.md, "Posts, reels, stories" and "Bad input"):
create, read, edit, delete, author timelines, story expiry, tray, views and viewers, the
visibility rules (followers-only, private accounts, blocks) on every read path, and every
bad input answered 422 naming the field with nothing stored.

Every response is checked against api/openapi.yaml."""
import concurrent.futures
import json
import sqlite3
import time
import urllib.parse
from datetime import timedelta
from pathlib import Path

import pytest

from apispec import SPEC, parse_time
from client import Client, expect_problem, expect_status
from conftest import MODE, run_chorusd
from social import IMG, VID, approve, block, create, follow, make_private, post, reel, story

UNKNOWN_ID = "7262919837180000001"  # a well-formed id no item has
BAD_IDS = ["abc", "0", "-5", "12a", "99999999999999999999", "9223372036854775808", UNKNOWN_ID]


def _is_content_route(template):
    return template.startswith(("/v1/posts", "/v1/reels", "/v1/stories")) or \
        template in ("/v1/users/{id}/posts", "/v1/users/{id}/reels", "/v1/users/{id}/stories")


CONTENT_SPEC = SPEC
CONTENT_PATHS = {t: item for t, item in SPEC.doc["paths"].items() if _is_content_route(t)}


@pytest.fixture
def api(server):
    """Overrides conftest's api: the same server, checked against the merged spec."""
    return Client(server.base_url, spec=CONTENT_SPEC)


@pytest.fixture
def third(api):
    return api.register()


# ---- helpers ---------------------------------------------------------------------------

def get(acc, kind, item_id, status=200):
    r = expect_status(acc.get(f"/v1/{kind}/{item_id}"), status)
    return r.json if status == 200 else r


def hidden(acc, kind, item_id):
    """The item is 404 not_found for acc."""
    expect_problem(acc.get(f"/v1/{kind}/{item_id}"), 404, "not_found")


def page(acc, path, **query):
    q = ("?" + urllib.parse.urlencode(query)) if query else ""
    return expect_status(acc.get(path + q), 200).json


def walk(acc, path, limit=100):
    """Every item of a paginated list, following next_cursor."""
    items, cursor = [], None
    for _ in range(1000):
        q = {"limit": limit}
        if cursor:
            q["cursor"] = cursor
        p = page(acc, path, **q)
        items.extend(p["items"])
        cursor = p["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("cursor never ends")


def ids(items):
    return [i["id"] for i in items]


def timeline(viewer, author, kind="posts"):
    return ids(walk(viewer, f"/v1/users/{author.id}/{kind}"))


def posts_count(viewer, acc):
    """posts_count as others see it (the cached public profile) and as the owner sees it."""
    public = expect_status(viewer.get(f"/v1/users/{acc.id}"), 200).json["posts_count"]
    own = acc.me()["posts_count"]
    assert public == own, (public, own)
    return own


def tray(acc):
    return expect_status(acc.get("/v1/stories/tray"), 200).json["items"]


def view(acc, story_id, status=204):
    return expect_status(acc.post(f"/v1/stories/{story_id}/view"), status)


def nothing_stored(acc, viewer):
    """The account has no posts, reels or stories, and posts_count 0."""
    assert timeline(viewer, acc, "posts") == []
    assert timeline(viewer, acc, "reels") == []
    assert timeline(viewer, acc, "stories") == []
    assert posts_count(viewer, acc) == 0


def check_item_shape(item, kind, author):
    assert item["type"] == kind
    assert item["author"] == {"id": author.id, "handle": author.handle,
                              "display_name": author.user["display_name"],
                              "avatar_url": author.user["avatar_url"]}
    assert item["counts"] == {"reactions": {}, "reactions_total": 0, "comments": 0,
                              "views": item["counts"]["views"]}
    assert item["my_reaction"] is None
    created = parse_time(item["created_at"])
    assert abs((created - parse_time(author.user["created_at"])).total_seconds()) < 600


# ---- the spec ----------------------------------------------------------------

def test_spec_documents_every_content_route(chorusd_env):
    p = run_chorusd(["routes"], chorusd_env())
    assert p.returncode == 0, p.stderr
    documented = {(m.upper(), t) for t, item in CONTENT_PATHS.items()
                  for m in item if m != "parameters"}
    served = set()
    for ln in p.stdout.splitlines():
        method, path = ln.split()
        if _is_content_route(path):
            served.add((method, path))
    assert served == documented


# ---- create and read ----------------------------------------------------------------------

def test_create_post_and_read_it_back(api, user, other):
    p = post(user, "First light.\n\tSecond line ✓ 🎵")
    check_item_shape(p, "post", user)
    assert p["text"] == "First light.\n\tSecond line ✓ 🎵"
    assert p["media"] == [] and p["visibility"] == "public" and p["edited_at"] is None
    assert p["counts"]["views"] == 0
    assert set(p) == {"id", "type", "author", "created_at", "edited_at", "text", "media", "visibility",
                      "counts", "my_reaction", "mentions", "hashtags"}
    assert get(other, "posts", p["id"]) == p
    assert get(user, "posts", p["id"]) == p


def test_create_post_with_media(api, user, other):
    media = [{"url": IMG, "kind": "image", "width": 1080, "height": 1350},
             {"url": VID, "kind": "video"}]
    p = create(user, "posts", {"media": media, "visibility": "followers"})
    assert p["text"] is None and p["visibility"] == "followers"
    assert p["media"] == [media[0], {"url": VID, "kind": "video", "width": None, "height": None}]
    assert get(user, "posts", p["id"]) == p


def test_post_limits_accepted(api, user, other):
    for text in ["x" * 5000, "é" * 5000, "🎵" * 5000]:
        assert post(user, text)["text"] == text
    ten = [{"url": f"{IMG}?n={i}", "kind": "image", "width": 1, "height": 2147483647} for i in range(10)]
    assert len(create(user, "posts", {"media": ten})["media"]) == 10
    assert posts_count(other, user) == 4


def test_create_reel_and_read_it_back(api, user, other):
    r = reel(user, caption="Kick flip\ntake 12", cover_url="https://cdn.example.com/r/1.jpg")
    check_item_shape(r, "reel", user)
    assert (r["caption"], r["video_url"], r["cover_url"], r["duration_ms"]) == \
        ("Kick flip\ntake 12", VID, "https://cdn.example.com/r/1.jpg", 15000)
    assert r["visibility"] == "public" and "text" not in r and "media" not in r
    assert get(other, "reels", r["id"]) == r
    bare = reel(user, duration_ms=1000)
    assert bare["caption"] is None and bare["cover_url"] is None
    assert reel(user, duration_ms=180000, caption="c" * 2200)["duration_ms"] == 180000
    # Reels are not posts.
    assert posts_count(other, user) == 0


def test_create_story_and_read_it_back(api, user, other):
    s = story(user, kind="video", duration_ms=60000)
    check_item_shape(s, "story", user)
    assert (s["media_url"], s["kind"], s["duration_ms"]) == (IMG, "video", 60000)
    ttl = parse_time(s["expires_at"]) - parse_time(s["created_at"])
    assert ttl == timedelta(hours=24)
    assert s["seen"] is True  # the author's own
    seen_by_other = get(other, "stories", s["id"])
    assert seen_by_other["seen"] is False
    assert {k: v for k, v in seen_by_other.items() if k != "seen"} == {k: v for k, v in s.items() if k != "seen"}
    assert story(user)["duration_ms"] is None
    assert story(user, duration_ms=1000)["duration_ms"] == 1000
    assert posts_count(other, user) == 0


def test_items_are_addressed_by_their_own_type(api, user):
    p, r, s = post(user), reel(user), story(user)
    for kind, item in (("reels", p), ("stories", p), ("posts", r), ("stories", r), ("posts", s), ("reels", s)):
        hidden(user, kind, item["id"])


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_or_unknown_ids_are_404(api, user, bad):
    for kind in ("posts", "reels", "stories"):
        hidden(user, kind, bad)
        expect_problem(user.delete(f"/v1/{kind}/{bad}"), 404, "not_found")
    for kind in ("posts", "reels"):
        expect_problem(user.patch(f"/v1/{kind}/{bad}", json={"text": "x", "caption": "x"}), 404, "not_found")
    expect_problem(user.post(f"/v1/stories/{bad}/view"), 404, "not_found")
    expect_problem(user.get(f"/v1/stories/{bad}/viewers"), 404, "not_found")
    for kind in ("posts", "reels", "stories"):
        expect_problem(user.get(f"/v1/users/{bad}/{kind}"), 404, "not_found")


def test_every_endpoint_needs_a_token(api, user):
    p = post(user)
    calls = [("POST", "/v1/posts"), ("GET", f"/v1/posts/{p['id']}"), ("PATCH", f"/v1/posts/{p['id']}"),
             ("DELETE", f"/v1/posts/{p['id']}"), ("POST", "/v1/reels"), ("POST", "/v1/stories"),
             ("GET", "/v1/stories/tray"), ("GET", f"/v1/users/{user.id}/posts"),
             ("GET", f"/v1/users/{user.id}/reels"), ("GET", f"/v1/users/{user.id}/stories")]
    for method, path in calls:
        body = b'{"text": "x"}' if method in ("POST", "PATCH") else None
        expect_problem(api.request(method, path, body=body), 401, "unauthorized")
    assert get(user, "posts", p["id"])["text"] == "hello"


# ---- bad input ---------------------------------------------------------------------------

M = {"url": IMG, "kind": "image"}

BAD_POSTS = [
    ({}, "text"),
    ({"text": ""}, "text"),
    ({"text": None, "media": []}, "text"),
    ({"text": "x" * 5001}, "text"),
    ({"text": "é" * 5001}, "text"),
    ({"text": 5}, "text"),
    ({"text": ["a"]}, "text"),
    ({"text": "bell\u0007"}, "text"),
    ({"text": "nul\u0000"}, "text"),
    ({"text": "x", "media": "https://x.example/a.png"}, "media"),
    ({"text": "x", "media": {"url": IMG, "kind": "image"}}, "media"),
    ({"media": [M] * 11}, "media"),
    ({"media": ["https://x.example/a.png"]}, "media[0]"),
    ({"media": [M, None]}, "media[1]"),
    ({"media": [M, {"url": "http://x.example/a.png", "kind": "image"}]}, "media[1].url"),
    ({"media": [{"url": "ftp://x.example/a.png", "kind": "image"}]}, "media[0].url"),
    ({"media": [{"url": "https://", "kind": "image"}]}, "media[0].url"),
    ({"media": [{"url": "https://user@x.example/a.png", "kind": "image"}]}, "media[0].url"),
    ({"media": [{"url": "https://x.example/a b.png", "kind": "image"}]}, "media[0].url"),
    ({"media": [{"url": "https://x.example/" + "a" * 2040, "kind": "image"}]}, "media[0].url"),
    ({"media": [{"kind": "image"}]}, "media[0].url"),
    ({"media": [{"url": 7, "kind": "image"}]}, "media[0].url"),
    ({"media": [{"url": IMG}]}, "media[0].kind"),
    ({"media": [{"url": IMG, "kind": "gif"}]}, "media[0].kind"),
    ({"media": [{"url": IMG, "kind": "IMAGE"}]}, "media[0].kind"),
    ({"media": [{"url": IMG, "kind": "image", "width": 0}]}, "media[0].width"),
    ({"media": [{"url": IMG, "kind": "image", "width": 1.5}]}, "media[0].width"),
    ({"media": [{"url": IMG, "kind": "image", "width": "10"}]}, "media[0].width"),
    ({"media": [{"url": IMG, "kind": "image", "height": -1}]}, "media[0].height"),
    ({"media": [{"url": IMG, "kind": "image", "height": 2147483648}]}, "media[0].height"),
    ({"media": [M] * 9 + [{"url": "http://x.example/10.png", "kind": "image"}]}, "media[9].url"),
    ({"text": "x", "visibility": "friends"}, "visibility"),
    ({"text": "x", "visibility": "PUBLIC"}, "visibility"),
    ({"text": "x", "visibility": 1}, "visibility"),
]


@pytest.mark.parametrize("body,field", BAD_POSTS, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD_POSTS)])
def test_bad_post_is_422_and_stores_nothing(api, user, other, body, field):
    expect_problem(user.post("/v1/posts", json=body), 422, "invalid_field", field)
    nothing_stored(user, other)


BAD_REELS = [
    ({"duration_ms": 15000}, "video_url"),
    ({"video_url": "http://cdn.example.com/r.mp4", "duration_ms": 15000}, "video_url"),
    ({"video_url": "rtmp://cdn.example.com/r", "duration_ms": 15000}, "video_url"),
    ({"video_url": VID}, "duration_ms"),
    ({"video_url": VID, "duration_ms": 999}, "duration_ms"),
    ({"video_url": VID, "duration_ms": 180001}, "duration_ms"),
    ({"video_url": VID, "duration_ms": 0}, "duration_ms"),
    ({"video_url": VID, "duration_ms": "15000"}, "duration_ms"),
    ({"video_url": VID, "duration_ms": 15000.5}, "duration_ms"),
    ({"video_url": VID, "duration_ms": 15000, "caption": "c" * 2201}, "caption"),
    ({"video_url": VID, "duration_ms": 15000, "caption": "esc\u001b"}, "caption"),
    ({"video_url": VID, "duration_ms": 15000, "cover_url": "http://cdn.example.com/c.jpg"}, "cover_url"),
    ({"video_url": VID, "duration_ms": 15000, "cover_url": ""}, "cover_url"),
]


@pytest.mark.parametrize("body,field", BAD_REELS, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD_REELS)])
def test_bad_reel_is_422_and_stores_nothing(api, user, other, body, field):
    expect_problem(user.post("/v1/reels", json=body), 422, "invalid_field", field)
    nothing_stored(user, other)


BAD_STORIES = [
    ({"kind": "image"}, "media_url"),
    ({"media_url": "http://cdn.example.com/s.jpg", "kind": "image"}, "media_url"),
    ({"media_url": "javascript:alert(1)", "kind": "image"}, "media_url"),
    ({"media_url": IMG}, "kind"),
    ({"media_url": IMG, "kind": "audio"}, "kind"),
    ({"media_url": IMG, "kind": "image", "duration_ms": 999}, "duration_ms"),
    ({"media_url": IMG, "kind": "image", "duration_ms": 60001}, "duration_ms"),
    ({"media_url": IMG, "kind": "image", "duration_ms": True}, "duration_ms"),
]


@pytest.mark.parametrize("body,field", BAD_STORIES, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD_STORIES)])
def test_bad_story_is_422_and_stores_nothing(api, user, other, body, field):
    expect_problem(user.post("/v1/stories", json=body), 422, "invalid_field", field)
    nothing_stored(user, other)
    assert tray(user) == []


RAW_BAD_UTF8 = [
    ("posts", b'{"text": "caf\xe9 au lait"}', "text"),
    ("posts", b'{"text": "ok", "media": [{"url": "https://x.example/\xff.png", "kind": "image"}]}',
     "media[0].url"),
    ("posts", b'{"text": "ok", "media": [{"url": "https://x.example/a.png", "kind": "ima\xc3ge"}]}',
     "media[0].kind"),
    ("reels", b'{"video_url": "https://x.example/r.mp4", "duration_ms": 1000, "caption": "\xed\xa0\x80"}',
     "caption"),
    ("stories", b'{"media_url": "https://x.example/\xc0\xaf.jpg", "kind": "image"}', "media_url"),
]


@pytest.mark.parametrize("kind,body,field", RAW_BAD_UTF8, ids=[f"{k}-{f}" for k, _, f in RAW_BAD_UTF8])
def test_invalid_utf8_is_422_naming_the_field(api, user, other, kind, body, field):
    expect_problem(user.post(f"/v1/{kind}", body=body), 422, "invalid_field", field)
    nothing_stored(user, other)


def test_malformed_and_non_object_bodies(api, user, other):
    expect_problem(user.post("/v1/posts", body=b'{"text": "x"'), 400, "malformed_json")
    expect_problem(user.post("/v1/posts", body=b'["text"]'), 400, "bad_request")
    expect_problem(user.post("/v1/reels", body=b""), 400, "malformed_json")
    expect_problem(user.post("/v1/stories", body=b'{"kind": "image"}', content_type="text/plain"), 415,
                   "unsupported_media_type")
    nothing_stored(user, other)


# ---- idempotency ---------------------------------------------------------------------------

def test_create_honours_idempotency_key(api, user, other):
    for kind, body in (("posts", {"text": "once"}), ("reels", {"video_url": VID, "duration_ms": 2000}),
                       ("stories", {"media_url": IMG, "kind": "image"})):
        key = {"Idempotency-Key": f"create-{kind}-1"}
        first = expect_status(user.post(f"/v1/{kind}", json=body, headers=key), 201)
        again = expect_status(user.post(f"/v1/{kind}", json=body, headers=key), 201)
        assert again.header("Idempotent-Replayed") == "true"
        assert again.json == first.json
        changed = dict(body, duration_ms=3000) if kind != "posts" else {"text": "twice"}
        expect_problem(user.post(f"/v1/{kind}", json=changed, headers=key), 422, "idempotency_mismatch")
    assert len(timeline(other, user, "posts")) == 1
    assert len(timeline(other, user, "reels")) == 1
    assert len(timeline(other, user, "stories")) == 1
    assert posts_count(other, user) == 1


# ---- edit ---------------------------------------------------------------------------------

def test_author_edits_post_text(api, user, other):
    p = post(user, "draft")
    e = expect_status(user.patch(f"/v1/posts/{p['id']}", json={"text": "final\nversion"}), 200).json
    assert e["text"] == "final\nversion" and e["edited_at"] is not None
    assert parse_time(e["edited_at"]) >= parse_time(p["created_at"])
    assert {k: v for k, v in e.items() if k not in ("text", "edited_at")} == \
        {k: v for k, v in p.items() if k not in ("text", "edited_at")}
    assert get(other, "posts", p["id"]) == e
    assert posts_count(other, user) == 1


def test_edit_text_of_post_with_media_may_clear_it(api, user):
    p = create(user, "posts", {"text": "caption", "media": [M]})
    assert expect_status(user.patch(f"/v1/posts/{p['id']}", json={"text": None}), 200).json["text"] is None
    assert expect_status(user.patch(f"/v1/posts/{p['id']}", json={"text": ""}), 200).json["text"] is None
    assert get(user, "posts", p["id"])["media"] == [dict(M, width=None, height=None)]


@pytest.mark.parametrize("body,field", [({}, "text"), ({"text": None}, "text"), ({"text": ""}, "text"),
                                        ({"text": "x" * 5001}, "text"), ({"text": 3}, "text"),
                                        ({"text": "a\u0000b"}, "text"), ({"caption": "wrong field"}, "text")])
def test_bad_post_edit_is_422_and_changes_nothing(api, user, body, field):
    p = post(user, "keep me")
    expect_problem(user.patch(f"/v1/posts/{p['id']}", json=body), 422, "invalid_field", field)
    assert get(user, "posts", p["id"]) == p


def test_post_edit_with_invalid_utf8_changes_nothing(api, user):
    p = post(user, "keep me")
    expect_problem(user.patch(f"/v1/posts/{p['id']}", body=b'{"text": "\xfe"}'), 422, "invalid_field", "text")
    assert get(user, "posts", p["id"]) == p


def test_author_edits_reel_caption(api, user, other):
    r = reel(user, caption="take 12")
    e = expect_status(user.patch(f"/v1/reels/{r['id']}", json={"caption": "take 13"}), 200).json
    assert e["caption"] == "take 13" and e["edited_at"] is not None
    assert get(other, "reels", r["id"]) == e
    cleared = expect_status(user.patch(f"/v1/reels/{r['id']}", json={"caption": None}), 200).json
    assert cleared["caption"] is None
    expect_problem(user.patch(f"/v1/reels/{r['id']}", json={"caption": "c" * 2201}), 422, "invalid_field",
                   "caption")
    expect_problem(user.patch(f"/v1/reels/{r['id']}", json={}), 422, "invalid_field", "caption")
    assert get(other, "reels", r["id"]) == cleared


def test_editing_someone_elses_item_is_403_and_changes_nothing(api, user, other):
    p, r = post(user, "mine"), reel(user, caption="mine")
    expect_problem(other.patch(f"/v1/posts/{p['id']}", json={"text": "yours"}), 403, "forbidden")
    expect_problem(other.patch(f"/v1/reels/{r['id']}", json={"caption": "yours"}), 403, "forbidden")
    # Someone else's bad input is still refused as not theirs, before any validation.
    expect_problem(other.patch(f"/v1/posts/{p['id']}", json={"text": "x" * 6000}), 403, "forbidden")
    assert get(other, "posts", p["id"]) == p
    assert get(other, "reels", r["id"]) == r


def test_stories_cannot_be_edited(api, user):
    s = story(user)
    expect_problem(user.patch(f"/v1/stories/{s['id']}", json={"text": "x"}), 405, "method_not_allowed")
    assert get(user, "stories", s["id"]) == s


# ---- delete -------------------------------------------------------------------------------

def test_delete_post_removes_it_everywhere(api, user, other):
    keep, gone = post(user, "keep"), post(user, "gone")
    assert posts_count(other, user) == 2
    expect_problem(other.delete(f"/v1/posts/{gone['id']}"), 403, "forbidden")
    assert get(other, "posts", gone["id"]) == gone and posts_count(other, user) == 2
    expect_status(user.delete(f"/v1/posts/{gone['id']}"), 204)
    for viewer in (user, other):
        hidden(viewer, "posts", gone["id"])
        assert timeline(viewer, user) == [keep["id"]]
    assert posts_count(other, user) == 1
    # Acting on a deleted item is 404, and changes no count.
    expect_problem(user.delete(f"/v1/posts/{gone['id']}"), 404, "not_found")
    expect_problem(user.patch(f"/v1/posts/{gone['id']}", json={"text": "back"}), 404, "not_found")
    expect_problem(other.delete(f"/v1/posts/{gone['id']}"), 404, "not_found")
    assert posts_count(other, user) == 1


def test_delete_reel_and_story(api, user, other):
    r, s = reel(user), story(user)
    follow(other, user)
    expect_problem(other.delete(f"/v1/reels/{r['id']}"), 403, "forbidden")
    expect_problem(other.delete(f"/v1/stories/{s['id']}"), 403, "forbidden")
    view(other, s["id"])
    expect_status(user.delete(f"/v1/reels/{r['id']}"), 204)
    expect_status(user.delete(f"/v1/stories/{s['id']}"), 204)
    hidden(other, "reels", r["id"])
    hidden(other, "stories", s["id"])
    assert timeline(other, user, "reels") == [] and timeline(user, user, "stories") == []
    assert tray(other) == []
    expect_problem(user.patch(f"/v1/reels/{r['id']}", json={"caption": "x"}), 404, "not_found")
    expect_problem(other.post(f"/v1/stories/{s['id']}/view"), 404, "not_found")
    expect_problem(user.get(f"/v1/stories/{s['id']}/viewers"), 404, "not_found")
    expect_problem(user.delete(f"/v1/stories/{s['id']}"), 404, "not_found")
    assert posts_count(other, user) == 0


def test_posts_count_exact_after_creates_and_deletes(api, user, other):
    made = [post(user, f"p{i}") for i in range(5)]
    reel(user)
    story(user)
    assert posts_count(other, user) == 5
    for p in made[:3]:
        expect_status(user.delete(f"/v1/posts/{p['id']}"), 204)
        expect_problem(user.delete(f"/v1/posts/{p['id']}"), 404, "not_found")
    assert posts_count(other, user) == 2
    p5 = post(user, "p5")
    assert posts_count(other, user) == 3
    assert timeline(other, user) == [p5["id"], made[4]["id"], made[3]["id"]]


def test_counts_exact_under_concurrency(api, user, other, third):
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        made = list(ex.map(lambda i: post(user, f"c{i}"), range(12)))
    assert posts_count(other, user) == 12
    targets = [p["id"] for p in made[:6]] * 2  # each deleted twice at the same time
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        statuses = list(ex.map(lambda pid: user.delete(f"/v1/posts/{pid}").status, targets))
    assert sorted(statuses) == [204] * 6 + [404] * 6
    assert posts_count(other, user) == 6
    assert sorted(timeline(other, user)) == sorted(ids(made[6:]))
    s = story(user)
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        statuses = list(ex.map(lambda acc: acc.post(f"/v1/stories/{s['id']}/view").status, [other, third] * 6))
    assert statuses == [204] * 12
    assert get(user, "stories", s["id"])["counts"]["views"] == 2
    assert len(page(user, f"/v1/stories/{s['id']}/viewers")["items"]) == 2


# ---- timelines ----------------------------------------------------------------------------

def test_timeline_newest_first_and_per_type(api, user, other):
    ps = [post(user, f"p{i}") for i in range(4)]
    rs = [reel(user, caption=f"r{i}") for i in range(3)]
    story(user)
    assert timeline(other, user, "posts") == ids(ps)[::-1]
    assert timeline(other, user, "reels") == ids(rs)[::-1]
    first = page(other, f"/v1/users/{user.id}/posts")
    assert first["next_cursor"] is None and first["items"][0] == get(other, "posts", ps[-1]["id"])


def test_timeline_pages_never_repeat_or_skip_while_items_arrive(api, user, other):
    made = [post(user, f"p{i}") for i in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        q = {"limit": 3}
        if cursor:
            q["cursor"] = cursor
        p = page(other, f"/v1/users/{user.id}/posts", **q)
        assert len(p["items"]) <= 3
        seen.extend(ids(p["items"]))
        cursor = p["next_cursor"]
        pages += 1
        post(user, f"arrived during page {pages}")  # newer than every page still to come
        if cursor is None:
            break
    assert seen == ids(made)[::-1]
    assert pages == 3
    assert len(timeline(other, user)) == 7 + pages


def test_timeline_bad_limit_and_cursor(api, user, other):
    post(user)
    for limit in ("0", "101", "-1", "x", "1.5", ""):
        expect_problem(other.get(f"/v1/users/{user.id}/posts?limit={limit}"), 422, "invalid_field", "limit")
    for cursor in ("abc", "0", "-3", "99999999999999999999"):
        expect_problem(other.get(f"/v1/users/{user.id}/reels?cursor={cursor}"), 422, "invalid_field", "cursor")
        expect_problem(other.get(f"/v1/users/{user.id}/stories?cursor={cursor}"), 422, "invalid_field", "cursor")
    assert page(other, f"/v1/users/{user.id}/posts", limit=1)["next_cursor"] is None


def test_user_stories_oldest_first_and_paginated(api, user, other):
    made = [story(user) for _ in range(5)]
    assert timeline(other, user, "stories") == ids(made)
    got, cursor = [], None
    while True:
        q = {"limit": 2}
        if cursor:
            q["cursor"] = cursor
        p = page(other, f"/v1/users/{user.id}/stories", **q)
        got.extend(ids(p["items"]))
        cursor = p["next_cursor"]
        if cursor is None:
            break
        made.append(story(user))  # arrives at the end: the walk sees it exactly once
    assert got == ids(made)


# ---- visibility ---------------------------------------------------------------------------

def test_followers_only_post(api, user, other, third):
    public, private = post(user, "all"), post(user, "friends", visibility="followers")
    follow(third, user)
    hidden(other, "posts", private["id"])
    assert timeline(other, user) == [public["id"]]
    assert get(third, "posts", private["id"]) == private
    assert timeline(third, user) == [private["id"], public["id"]]
    assert timeline(user, user) == [private["id"], public["id"]]
    # 404, not 403, for someone who may not see it, even for changes.
    expect_problem(other.patch(f"/v1/posts/{private['id']}", json={"text": "x"}), 404, "not_found")
    expect_problem(other.delete(f"/v1/posts/{private['id']}"), 404, "not_found")
    expect_problem(third.patch(f"/v1/posts/{private['id']}", json={"text": "x"}), 403, "forbidden")
    assert get(user, "posts", private["id"]) == private
    # Unfollowing hides it again.
    expect_status(third.delete(f"/v1/users/{user.id}/follow"), 204)
    hidden(third, "posts", private["id"])


def test_private_account_content_only_for_approved_followers(api, user, other, third):
    make_private(user)
    p, r, s = post(user), reel(user), story(user)
    assert follow(other, user) == "requested"
    for viewer in (other, third):  # a pending request sees nothing either
        for kind, item in (("posts", p), ("reels", r), ("stories", s)):
            hidden(viewer, kind, item["id"])
            expect_problem(viewer.get(f"/v1/users/{user.id}/{kind}"), 404, "not_found")
        expect_problem(viewer.post(f"/v1/stories/{s['id']}/view"), 404, "not_found")
        assert tray(viewer) == []
    approve(user, other)
    assert get(other, "posts", p["id"]) == p and get(other, "reels", r["id"]) == r
    assert timeline(other, user, "posts") == [p["id"]]
    assert [e["user"]["id"] for e in tray(other)] == [user.id]
    hidden(third, "posts", p["id"])
    assert get(user, "posts", p["id"]) == p  # the owner always


def test_block_hides_content_both_ways(api, user, other):
    mine, theirs = post(user, "mine"), post(other, "theirs")
    s = story(user)
    follow(other, user)
    view(other, s["id"])
    block(user, other)
    for viewer, owner, item in ((other, user, mine), (user, other, theirs)):
        hidden(viewer, "posts", item["id"])
        for kind in ("posts", "reels", "stories"):
            expect_problem(viewer.get(f"/v1/users/{owner.id}/{kind}"), 404, "not_found")
    expect_problem(other.patch(f"/v1/posts/{mine['id']}", json={"text": "x"}), 404, "not_found")
    expect_problem(other.delete(f"/v1/posts/{mine['id']}"), 404, "not_found")
    hidden(other, "stories", s["id"])
    expect_problem(other.post(f"/v1/stories/{s['id']}/view"), 404, "not_found")
    expect_problem(other.get(f"/v1/stories/{s['id']}/viewers"), 404, "not_found")
    assert tray(other) == []
    # The blocked viewer leaves the author's viewers list.
    assert page(user, f"/v1/stories/{s['id']}/viewers")["items"] == []
    # Nothing was changed by the refused calls.
    assert get(user, "posts", mine["id"]) == mine
    expect_status(user.delete(f"/v1/users/{other.id}/block"), 204)
    assert get(other, "posts", mine["id"]) == mine


# ---- stories: tray, views, viewers ----------------------------------------------------------

def test_tray_unseen_first_stories_oldest_first(api, user, other, third):
    viewer = api.register()
    stranger = api.register()
    for acc in (user, other, third):
        follow(viewer, acc)
    a1, a2 = story(user), story(user)
    b1 = story(other)
    c1 = story(third)
    story(stranger)  # not followed: never in the tray
    story(viewer)    # one's own stories are not in one's tray
    t = tray(viewer)
    assert [e["user"]["id"] for e in t] == [third.id, other.id, user.id]  # all unseen: newest first
    assert [ids(e["stories"]) for e in t] == [[c1["id"]], [b1["id"]], [a1["id"], a2["id"]]]
    assert all(e["has_unseen"] for e in t)
    assert t[0]["user"] == c1["author"]

    view(viewer, c1["id"])
    view(viewer, a1["id"])
    t = tray(viewer)
    assert [e["user"]["id"] for e in t] == [other.id, user.id, third.id]
    assert [e["has_unseen"] for e in t] == [True, True, False]
    assert [s["seen"] for s in t[1]["stories"]] == [True, False]

    view(viewer, a2["id"])
    view(viewer, b1["id"])
    t = tray(viewer)
    assert [e["has_unseen"] for e in t] == [False, False, False]
    assert [e["user"]["id"] for e in t] == [third.id, other.id, user.id]  # seen: newest first

    b2 = story(other)  # a new story puts its author back among the unseen
    t = tray(viewer)
    assert [e["user"]["id"] for e in t] == [other.id, third.id, user.id]
    assert ids(t[0]["stories"]) == [b1["id"], b2["id"]] and t[0]["has_unseen"]


def test_tray_leaves_out_muted_and_unfollowed(api, user, other, third):
    follow(third, user)
    follow(third, other)
    story(user)
    story(other)
    assert {e["user"]["id"] for e in tray(third)} == {user.id, other.id}
    expect_status(third.post(f"/v1/users/{user.id}/mute"), 204)
    assert [e["user"]["id"] for e in tray(third)] == [other.id]
    expect_status(third.delete(f"/v1/users/{other.id}/follow"), 204)
    assert tray(third) == []


def test_story_view_is_idempotent_and_listed(api, user, other, third):
    s = story(user)
    for _ in range(3):
        view(other, s["id"])
    view(user, s["id"])  # the author's own view is not recorded
    assert get(user, "stories", s["id"])["counts"]["views"] == 1
    assert get(other, "stories", s["id"])["seen"] is True
    assert get(third, "stories", s["id"])["seen"] is False
    time.sleep(0.01)
    view(third, s["id"])
    view(third, s["id"])
    assert get(user, "stories", s["id"])["counts"]["views"] == 2
    v = page(user, f"/v1/stories/{s['id']}/viewers")
    assert [x["user"]["id"] for x in v["items"]] == [third.id, other.id]  # newest view first
    assert v["items"][0]["user"] == {"id": third.id, "handle": third.handle,
                                     "display_name": third.user["display_name"], "avatar_url": None}
    assert parse_time(v["items"][0]["viewed_at"]) >= parse_time(v["items"][1]["viewed_at"])
    assert v["next_cursor"] is None
    # Only the author sees who viewed: 403 for a user who can see the story.
    expect_problem(other.get(f"/v1/stories/{s['id']}/viewers"), 403, "forbidden")


def test_viewers_pages_never_repeat_or_skip(api, user):
    s = story(user)
    viewers = [api.register() for _ in range(5)]
    for v in viewers:
        view(v, s["id"])
    got, cursor, pages = [], None, 0
    while True:
        q = {"limit": 2}
        if cursor:
            q["cursor"] = cursor
        p = page(user, f"/v1/stories/{s['id']}/viewers", **q)
        got.extend(x["user"]["id"] for x in p["items"])
        cursor = p["next_cursor"]
        pages += 1
        if pages == 1:
            view(api.register(), s["id"])  # a newer view: not on later pages
        if cursor is None:
            break
    assert got == [v.id for v in viewers][::-1]
    for bad in ("abc", "1_", "_1", "1-2", "12_0", "x_1", "1_2_3", "99999999999999999999_1"):
        expect_problem(user.get(f"/v1/stories/{s['id']}/viewers?cursor={bad}"), 422, "invalid_field", "cursor")
    expect_problem(user.get(f"/v1/stories/{s['id']}/viewers?limit=0"), 422, "invalid_field", "limit")


def test_story_expiry_on_every_read_path(start_server):
    """A dedicated instance whose stories live 5 s: the five reads while it lives must fit in
    that on a loaded machine (2 s left them little room)."""
    srv = start_server(env={"CHORUS_STORY_TTL": "5"}, name="story-ttl")
    c = Client(srv.base_url, spec=CONTENT_SPEC)
    author, fan = c.register(), c.register()
    follow(fan, author)
    p = post(author)  # older than the story: still there after the story's end
    s = story(author)
    assert parse_time(s["expires_at"]) - parse_time(s["created_at"]) == timedelta(seconds=5)
    view(fan, s["id"])
    assert get(fan, "stories", s["id"])["id"] == s["id"]
    assert [e["user"]["id"] for e in tray(fan)] == [author.id]
    assert timeline(fan, author, "stories") == [s["id"]]
    assert len(page(author, f"/v1/stories/{s['id']}/viewers")["items"]) == 1
    time.sleep(max(0.0, (parse_time(s["expires_at"]) - parse_time(s["created_at"])).total_seconds()) + 0.6)
    for acc in (fan, author):
        hidden(acc, "stories", s["id"])
        assert timeline(acc, author, "stories") == []
    assert tray(fan) == []
    expect_problem(fan.post(f"/v1/stories/{s['id']}/view"), 404, "not_found")
    expect_problem(author.get(f"/v1/stories/{s['id']}/viewers"), 404, "not_found")
    expect_problem(author.delete(f"/v1/stories/{s['id']}"), 404, "not_found")
    # Posts are not touched by the story TTL (this one has lived longer than it).
    assert get(fan, "posts", p["id"]) == p


@pytest.mark.parametrize("bad", ["0", "-1", "604801", "1d", ""])
def test_bad_story_ttl_stops_start(chorusd_env, bad):
    p = run_chorusd(["migrate"], chorusd_env({"CHORUS_STORY_TTL": bad}))
    if bad == "":  # empty means unset: the default
        assert p.returncode == 0, p.stderr
        return
    assert p.returncode != 0 and "CHORUS_STORY_TTL" in p.stderr, p.stderr


# ---- outbox ---------------------------------------------------------------------------------

def _outbox(server, backends, item_ids):
    sql = ("SELECT topic, payload FROM outbox WHERE aggregate_id IN (" + ",".join(str(int(i)) for i in item_ids)
           + ") ORDER BY id")
    if MODE == "cluster":
        dbname = server.storage_env["CHORUS_DB"].rsplit("/", 1)[1]
        out = backends.pg.psql(sql, dbname)
        return [tuple(ln.split("|", 1)) for ln in out.splitlines() if ln]
    db = Path(server.storage_env["CHORUS_DATA_DIR"]) / "chorus.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [tuple(r) for r in conn.execute(sql)]


def test_every_write_is_in_the_outbox(api, server, backends, user, other):
    p = post(user)
    expect_status(user.patch(f"/v1/posts/{p['id']}", json={"text": "edited"}), 200)
    expect_status(user.delete(f"/v1/posts/{p['id']}"), 204)
    r = reel(user)
    expect_status(user.patch(f"/v1/reels/{r['id']}", json={"caption": "edited"}), 200)
    expect_status(user.delete(f"/v1/reels/{r['id']}"), 204)
    s = story(user)
    view(other, s["id"])
    view(other, s["id"])  # idempotent: no second event
    expect_status(user.delete(f"/v1/stories/{s['id']}"), 204)
    # Refused writes leave no event.
    expect_problem(user.post("/v1/posts", json={"text": "x" * 5001}), 422, "invalid_field", "text")
    got = [(t, json.loads(pl)) for t, pl in _outbox(server, backends, [p["id"], r["id"], s["id"]])]
    assert got == [
        ("post.created", {"post_id": p["id"]}), ("post.updated", {"post_id": p["id"]}),
        ("post.deleted", {"post_id": p["id"]}),
        ("reel.created", {"reel_id": r["id"]}), ("reel.updated", {"reel_id": r["id"]}),
        ("reel.deleted", {"reel_id": r["id"]}),
        ("story.created", {"story_id": s["id"]}), ("story.viewed", {"story_id": s["id"], "viewer_id": other.id}),
        ("story.deleted", {"story_id": s["id"]}),
    ]

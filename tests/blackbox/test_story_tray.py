"""The story tray (docs/design.md, "### tray19"): in embedded mode it keeps only the viewer's
followees found in an in-process set of the authors who may have a live story (noted by every
story create, loaded from the database at the first tray read and again every
CHORUS_HYDRATE_TTL_MS), then reads their active-story index entries; in cluster mode it reads
every followee's entry. Each change a viewer can see shows at the next read, on both sets:
a story posted, expired, deleted; an author blocked, muted, unfollowed, gone private; views."""
import random
import time

from apispec import parse_time
from client import expect_status
from social import IMG, approve, block, db_rows, follow, make_private, mute, story


def tray(acc):
    return expect_status(acc.get("/v1/stories/tray"), 200).json["items"]


def tray_users(acc):
    return [e["user"]["id"] for e in tray(acc)]


def test_only_followees_with_a_live_story_are_shown(api):
    viewer = api.register()
    idle = [api.register() for _ in range(4)]
    a, b = api.register(), api.register()
    for u in idle + [a, b]:
        follow(viewer, u)
    assert tray(viewer) == []
    sa = story(a)
    assert tray_users(viewer) == [a.id]
    sb = story(b)
    assert tray_users(viewer) == [b.id, a.id]  # both unseen: the newest story first
    entry = tray(viewer)[1]
    assert entry["user"]["id"] == a.id and [s["id"] for s in entry["stories"]] == [sa["id"]]
    assert entry["has_unseen"] is True and entry["stories"][0]["seen"] is False
    s3 = story(idle[0])  # an author with no story before: in the tray at the next read
    assert tray_users(viewer) == [idle[0].id, b.id, a.id]
    expect_status(idle[0].delete(f"/v1/stories/{s3['id']}"), 204)
    assert tray_users(viewer) == [b.id, a.id]
    expect_status(b.delete(f"/v1/stories/{sb['id']}"), 204)
    assert tray_users(viewer) == [a.id]
    sb2 = story(b)  # deleted, then posted again
    assert [[s["id"] for s in e["stories"]] for e in tray(viewer)] == [[sb2["id"]], [sa["id"]]]


def test_block_mute_unfollow_and_privacy_show_at_the_next_read(api):
    viewer = api.register()
    a, b, c, d = (api.register() for _ in range(4))
    for u in (a, b, c, d):
        follow(viewer, u)
        story(u)
    assert tray_users(viewer) == [d.id, c.id, b.id, a.id]
    mute(viewer, d)
    assert tray_users(viewer) == [c.id, b.id, a.id]
    expect_status(viewer.delete(f"/v1/users/{d.id}/mute"), 204)
    assert tray_users(viewer) == [d.id, c.id, b.id, a.id]
    expect_status(viewer.delete(f"/v1/users/{c.id}/follow"), 204)
    assert tray_users(viewer) == [d.id, b.id, a.id]
    block(b, viewer)
    assert tray_users(viewer) == [d.id, a.id]
    block(viewer, a)
    assert tray_users(viewer) == [d.id]
    # Private: a follower stays; a new follower waits for the approval.
    make_private(d)
    assert tray_users(viewer) == [d.id]
    stranger = api.register()
    assert follow(stranger, d) == "requested"
    assert tray_users(stranger) == []
    approve(d, stranger)
    assert tray_users(stranger) == [d.id]


def test_seen_authors_go_after_unseen_ones_and_come_back_with_a_new_story(api):
    viewer, a, b = api.register(), api.register(), api.register()
    follow(viewer, a)
    follow(viewer, b)
    sa, sb = story(a), story(b)
    assert tray_users(viewer) == [b.id, a.id]
    expect_status(viewer.post(f"/v1/stories/{sb['id']}/view"), 204)
    t = tray(viewer)
    assert [(e["user"]["id"], e["has_unseen"]) for e in t] == [(a.id, True), (b.id, False)]
    sb2 = story(b)
    t = tray(viewer)
    assert [(e["user"]["id"], e["has_unseen"]) for e in t] == [(b.id, True), (a.id, True)]
    assert [(s["id"], s["seen"]) for s in t[0]["stories"]] == [(sb["id"], True), (sb2["id"], False)]
    expect_status(viewer.post(f"/v1/stories/{sa['id']}/view"), 204)
    assert [(e["user"]["id"], e["has_unseen"]) for e in tray(viewer)] == [(b.id, True), (a.id, False)]


def test_an_expired_story_leaves_and_a_new_one_comes_back(start_server):
    # 4 s lives: each story is read once while live, a request a loaded machine may slow
    srv = start_server(env={"CHORUS_STORY_TTL": "4"}, name="tray-expiry")
    api = srv.client()
    author, fan = api.register(), api.register()
    follow(fan, author)
    s1 = story(author)
    assert tray_users(fan) == [author.id]
    until = parse_time(s1["expires_at"]).timestamp() + 0.3
    time.sleep(max(0.0, until - time.time()))
    assert tray(fan) == []
    s2 = story(author)
    assert [[s["id"] for s in e["stories"]] for e in tray(fan)] == [[s2["id"]]]


def test_stories_posted_before_a_restart_are_in_the_tray_after_it(start_server):
    """The embedded set is in memory: after a restart the first tray read loads it from the
    database (without that load this tray would be empty)."""
    first = start_server(name="tray-before")
    api = first.client()
    a, b, fan = api.register(), api.register(), api.register()
    follow(fan, a)
    follow(fan, b)
    sa = story(a)
    gone = story(b)
    expect_status(b.delete(f"/v1/stories/{gone['id']}"), 204)
    first.stop()
    second = start_server(storage=first.storage_env, name="tray-after")
    api2 = second.client()
    fan2 = api2.login(fan.handle)
    assert [[s["id"] for s in e["stories"]] for e in tray(fan2)] == [[sa["id"]]]


def test_a_story_written_by_another_process_shows_within_the_cache_ttl(start_server, backends):
    """A row written straight into the database (another process on the same SQLite file, as
    `chorusd seed`): no note reaches the set, and no forget the cache; both are read again after
    CHORUS_HYDRATE_TTL_MS (here 1 s)."""
    srv = start_server(env={"CHORUS_HYDRATE_TTL_MS": "1000"}, name="tray-other-process")
    api = srv.client()
    author, fan = api.register(), api.register()
    follow(fan, author)
    assert tray(fan) == []
    now = int(time.time() * 1000)
    # an id of this millisecond from a node no server here uses (1023)
    sid = ((now - 1704067200000) << 22) | (1023 << 12) | random.randrange(4096)
    db_rows(srv, backends,
            "INSERT INTO items(id, type, author_id, visibility, media_url, kind, created_at, expires_at)"
            f" VALUES({sid}, 'story', {author.id}, 'public', '{IMG}', 'image', {now}, {now + 3600 * 1000})")
    deadline = time.time() + 30
    while time.time() < deadline:
        t = tray(fan)
        if t:
            break
        time.sleep(0.3)
    assert [[s["id"] for s in e["stories"]] for e in t] == [[str(sid)]]


def test_a_tray_past_its_bound_keeps_the_newest_unseen_then_the_newest_seen(api):
    """130 followees with a story, the 40 newest seen: the tray is its 100 authors (the 90
    unseen, newest first, then the 10 newest seen). The tray reads 125 candidates first and
    then needs more (85 unseen among them), so the chunks and the stop rule both count."""
    viewer = api.register()
    authors = [api.register() for _ in range(130)]
    stories = []
    for a in authors:
        follow(viewer, a)
        stories.append(story(a))
    for s in stories[-40:]:
        expect_status(viewer.post(f"/v1/stories/{s['id']}/view"), 204)
    t = tray(viewer)
    newest_first = [a.id for a in reversed(authors)]
    unseen, seen = newest_first[40:], newest_first[:40]
    assert [e["user"]["id"] for e in t] == unseen + seen[:10]
    assert [e["has_unseen"] for e in t] == [True] * 90 + [False] * 10
    # A muted unseen author leaves; the next seen one takes its place.
    mute(viewer, authors[50])
    assert [e["user"]["id"] for e in tray(viewer)] == [u for u in unseen if u != authors[50].id] + seen[:11]

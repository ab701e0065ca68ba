"""Views (BRD engagement.md, "Views"): POST /v1/{reels|stories|livestreams}/{id}/view
{watch_ms?} counted at most once per user per item per 24 h, watch time always accumulated,
the author's own views not recorded; other types have no view route (404); bad watch_ms is
422 with nothing recorded; blocked users, deleted items and expired stories refused 404;
stories keep `seen` and their viewers list in step with the same service."""
import concurrent.futures
import json

import pytest

from client import expect_problem, expect_status
from engage_helpers import UNKNOWN_ID, block, counts, events, item, outbox, post, reel, sql, story, view


def watch(server, backends, seg_type, item_id):
    rows = sql(server, backends, f"SELECT views, watch_ms FROM target_counters WHERE target_type = '{seg_type}' "
                                 f"AND target_id = {int(item_id)}")
    return tuple(int(v) for v in rows[0]) if rows else (0, 0)


def test_reel_view_counted_once_per_user_watch_time_accumulated(api, user, other, server, backends):
    r = reel(user)
    view(other, "reels", r["id"], {"watch_ms": 1500})
    view(other, "reels", r["id"], {"watch_ms": 2500})
    view(other, "reels", r["id"])  # no body: no watch time
    assert counts(user, "reels", r["id"])["views"] == 1
    third = api.register()
    view(third, "reels", r["id"], {"watch_ms": 0})
    assert counts(user, "reels", r["id"])["views"] == 2
    view(user, "reels", r["id"], {"watch_ms": 9000})  # the author's own view is not recorded
    assert counts(user, "reels", r["id"])["views"] == 2
    assert watch(server, backends, "reel", r["id"]) == (2, 4000)
    evs = events(server, backends, r["id"], ["view"])
    # One event per recorded view that counted or carried watch time, value = watch seconds.
    assert [(e[1], e[2], float(e[4])) for e in evs] == [
        (other.id, user.id, 1.5), (other.id, user.id, 2.5), (third.id, user.id, 0.0)]


def test_view_counts_again_after_24_hours(api, user, other, server, backends):
    r = reel(user)
    view(other, "reels", r["id"])
    view(other, "reels", r["id"])
    assert counts(user, "reels", r["id"])["views"] == 1
    # Move the viewer's window 24 h + 1 s back: the next view opens a new one.
    sql(server, backends, f"UPDATE views SET counted_at = counted_at - 86401000 WHERE target_type = 'reel' "
                          f"AND target_id = {int(r['id'])} AND user_id = {int(other.id)}")
    view(other, "reels", r["id"], {"watch_ms": 100})
    view(other, "reels", r["id"])
    assert counts(user, "reels", r["id"])["views"] == 2
    # Just inside 24 h: not counted.
    sql(server, backends, f"UPDATE views SET counted_at = counted_at - 86399000 WHERE target_type = 'reel' "
                          f"AND target_id = {int(r['id'])} AND user_id = {int(other.id)}")
    view(other, "reels", r["id"])
    assert counts(user, "reels", r["id"])["views"] == 2


@pytest.mark.parametrize("body", [{"watch_ms": -1}, {"watch_ms": 86400001}, {"watch_ms": "5"},
                                  {"watch_ms": 1.5}, {"watch_ms": True}, {"watch_ms": [1]},
                                  {"watch_ms": 2 ** 62}])
def test_bad_watch_ms_is_422_and_records_nothing(api, user, other, server, backends, body):
    r = reel(user)
    expect_problem(other.post(f"/v1/reels/{r['id']}/view", json=body), 422, "invalid_field", "watch_ms")
    assert counts(user, "reels", r["id"])["views"] == 0
    assert watch(server, backends, "reel", r["id"]) == (0, 0)
    assert events(server, backends, r["id"], ["view"]) == []


def test_watch_ms_limits_accepted(api, user, other, server, backends):
    r = reel(user)
    view(other, "reels", r["id"], {"watch_ms": 86400000})
    view(api.register(), "reels", r["id"], {"watch_ms": None})  # null: absent
    assert watch(server, backends, "reel", r["id"]) == (2, 86400000)


def test_malformed_view_bodies(api, user, other):
    r = reel(user)
    path = f"/v1/reels/{r['id']}/view"
    expect_problem(other.post(path, body=b'{"watch_ms": 1', content_type="application/json"), 400, "malformed_json")
    expect_problem(other.post(path, body=b"[1]", content_type="application/json"), 400, "bad_request")
    expect_problem(other.post(path, body=b'{"watch_ms": 1}', content_type="text/plain"), 415,
                   "unsupported_media_type")
    assert counts(user, "reels", r["id"])["views"] == 0


def test_views_only_for_reels_stories_and_livestreams(api, user, other):
    p = post(user)
    for seg in ("posts", "comments", "listings"):
        expect_problem(other.post(f"/v1/{seg}/{p['id']}/view"), 404, "not_found")
    # The reel route does not take another type's id; livestreams do not exist yet.
    expect_problem(other.post(f"/v1/reels/{p['id']}/view"), 404, "not_found")
    for bad in ("abc", "0", UNKNOWN_ID, "99999999999999999999"):
        expect_problem(other.post(f"/v1/livestreams/{bad}/view"), 404, "not_found")
        expect_problem(other.post(f"/v1/reels/{bad}/view"), 404, "not_found")
    expect_problem(api.post(f"/v1/reels/{p['id']}/view"), 401, "unauthorized")


def test_blocked_and_deleted_refused_404(api, user, other):
    r = reel(user)
    block(user, other)
    expect_problem(other.post(f"/v1/reels/{r['id']}/view"), 404, "not_found")
    third = api.register()
    r2 = reel(user)
    expect_status(user.delete(f"/v1/reels/{r2['id']}"), 204)
    expect_problem(third.post(f"/v1/reels/{r2['id']}/view"), 404, "not_found")
    assert counts(user, "reels", r["id"])["views"] == 0


def test_story_view_goes_through_the_views_service(api, user, other, server, backends):
    s = story(user)
    view(other, "stories", s["id"], {"watch_ms": 3000})
    view(other, "stories", s["id"])
    got = item(other, "stories", s["id"])
    assert got["seen"] is True and got["counts"]["views"] == 1
    assert [v["user"]["id"] for v in expect_status(user.get(f"/v1/stories/{s['id']}/viewers"), 200).json["items"]] \
        == [other.id]
    assert watch(server, backends, "story", s["id"]) == (1, 3000)
    assert [(t, json.loads(p)) for t, p in outbox(server, backends, s["id"], "story.viewed")] == [
        ("story.viewed", {"story_id": s["id"], "viewer_id": other.id})]
    expect_problem(other.post(f"/v1/stories/{s['id']}/view", json={"watch_ms": -5}), 422, "invalid_field",
                   "watch_ms")


def test_concurrent_views_count_exactly(api, user):
    r = reel(user)
    viewers = [api.register() for _ in range(12)]
    jobs = [v for v in viewers for _ in range(4)]  # each viewer four times at once
    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as ex:
        list(ex.map(lambda v: view(v, "reels", r["id"], {"watch_ms": 10}), jobs))
    assert counts(user, "reels", r["id"])["views"] == len(viewers)

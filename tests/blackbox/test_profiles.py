"""GET/PATCH /v1/me, GET /v1/users/{id}, GET /v1/users/by-handle/{handle}."""
import pytest

from apispec import parse_time
from client import expect_problem, expect_status, unique_handle

ME = "/v1/me"
PUBLIC_FIELDS = ["id", "handle", "display_name", "bio", "avatar_url", "is_private",
                 "followers_count", "following_count", "posts_count", "created_at"]
NO_RELATIONSHIP = {"following": False, "followed_by": False, "requested": False,
                   "blocking": False, "muting": False}


def test_get_me(api, user):
    me = user.me()
    assert me == user.user
    assert me["handle"] == user.handle
    assert set(me) == set(PUBLIC_FIELDS) | {"interests", "region"}
    created = parse_time(me["created_at"])
    assert created.utcoffset().total_seconds() == 0


def test_patch_every_field(api, user):
    change = {
        "display_name": "Ada Lovelace",
        "bio": "Analytical engines.\nPoetical science.",
        "avatar_url": "https://cdn.example.com/avatars/ada.png?size=256",
        "is_private": True,
        "interests": ["#Math", "poetry", "math", "#POETRY", "engines_1"],
        "region": "gb",
    }
    r = expect_status(user.patch(ME, json=change), 200)
    me = r.json
    assert me["display_name"] == "Ada Lovelace"
    assert me["bio"] == change["bio"]
    assert me["avatar_url"] == change["avatar_url"]
    assert me["is_private"] is True
    assert sorted(me["interests"]) == ["engines_1", "math", "poetry"]
    assert me["region"] == "GB"
    # Unchanged fields stay; the change persisted.
    assert me["handle"] == user.handle and me["id"] == user.id
    assert me["created_at"] == user.user["created_at"]
    assert user.me() == me


def test_patch_partial_keeps_other_fields(api, user):
    expect_status(user.patch(ME, json={"bio": "one", "region": "DE"}), 200)
    me = expect_status(user.patch(ME, json={"display_name": "Only name"}), 200).json
    assert (me["bio"], me["region"], me["display_name"]) == ("one", "DE", "Only name")


def test_patch_empty_object_changes_nothing(api, user):
    expect_status(user.patch(ME, json={"bio": "kept", "is_private": True}), 200)
    before = user.me()
    me = expect_status(user.patch(ME, json={}), 200).json
    assert me == before
    assert user.me() == before


def test_patch_clears_nullable_fields(api, user):
    expect_status(user.patch(ME, json={"avatar_url": "https://x.example/a.png", "region": "fr",
                                       "interests": ["a1"]}), 200)
    me = expect_status(user.patch(ME, json={"avatar_url": None, "region": None, "interests": []}), 200).json
    assert me["avatar_url"] is None and me["region"] is None and me["interests"] == []
    assert user.me() == me


def test_patch_toggle_private(api, user):
    assert expect_status(user.patch(ME, json={"is_private": True}), 200).json["is_private"] is True
    assert expect_status(user.patch(ME, json={"is_private": False}), 200).json["is_private"] is False


@pytest.mark.parametrize("bio", ["", "x" * 500, "é" * 500, "🎵" * 500])
def test_patch_bio_bounds(api, user, bio):
    assert expect_status(user.patch(ME, json={"bio": bio}), 200).json["bio"] == bio


def test_patch_avatar_url_2048_bytes(api, user):
    url = "https://cdn.example.com/" + "a" * (2048 - len("https://cdn.example.com/"))
    assert len(url.encode()) == 2048
    assert expect_status(user.patch(ME, json={"avatar_url": url}), 200).json["avatar_url"] == url


def test_patch_20_interests(api, user):
    tags = [f"tag{i}" for i in range(20)]
    me = expect_status(user.patch(ME, json={"interests": tags}), 200).json
    assert sorted(me["interests"]) == sorted(tags)


def test_patch_interest_50_chars(api, user):
    tag = "t" * 50
    me = expect_status(user.patch(ME, json={"interests": ["#" + tag.upper()]}), 200).json
    assert me["interests"] == [tag]


@pytest.mark.parametrize("region", ["us", "US", "Jp", "de"])
def test_patch_region_case_insensitive(api, user, region):
    assert expect_status(user.patch(ME, json={"region": region}), 200).json["region"] == region.upper()


INVALID = [
    ("display_name", ""),
    ("display_name", "x" * 65),
    ("display_name", "🎵" * 65),
    ("display_name", "ctrl\x01char"),
    ("display_name", "line\nbreak"),
    ("display_name", None),
    ("display_name", 5),
    ("bio", "x" * 501),
    ("bio", "é" * 501),
    ("bio", 12),
    ("bio", ["x"]),
    ("avatar_url", "http://cdn.example.com/a.png"),
    ("avatar_url", "ftp://cdn.example.com/a.png"),
    ("avatar_url", "not a url"),
    ("avatar_url", "https://"),
    ("avatar_url", "javascript:alert(1)"),
    ("avatar_url", ""),
    ("avatar_url", "https://cdn.example.com/" + "a" * 2025),
    ("avatar_url", 7),
    ("is_private", "true"),
    ("is_private", 1),
    ("is_private", None),
    ("interests", "cats"),
    ("interests", [f"t{i}" for i in range(21)]),
    ("interests", ["#"]),
    ("interests", [""]),
    ("interests", ["two words"]),
    ("interests", ["dash-tag"]),
    ("interests", ["t" * 51]),
    ("interests", ["ok", 5]),
    ("interests", [None]),
    ("interests", None),
    ("interests", {"a": 1}),
    ("region", "XX"),
    ("region", "ZZ"),
    ("region", "DEU"),
    ("region", "D"),
    ("region", ""),
    ("region", "1A"),
    ("region", 49),
]


@pytest.mark.parametrize("field,value", INVALID, ids=[f"{f}-{i}" for i, (f, _) in enumerate(INVALID)])
def test_patch_invalid_field_changes_nothing(api, user, field, value):
    expect_status(user.patch(ME, json={"display_name": "Before", "bio": "before bio",
                                       "avatar_url": "https://before.example/a.png",
                                       "interests": ["before"], "region": "SE"}), 200)
    before = user.me()
    # The invalid field comes with valid changes to every other field: none may apply.
    body = {"display_name": "After", "bio": "after bio", "avatar_url": "https://after.example/b.png",
            "is_private": not before["is_private"], "interests": ["after"], "region": "NO"}
    body[field] = value
    r = user.patch(ME, json=body)
    expect_problem(r, 422, "invalid_field", field)
    assert user.me() == before


def test_patch_needs_auth(api, user):
    expect_problem(api.patch(ME, json={"bio": "x"}), 401, "unauthorized")
    assert user.me()["bio"] == ""


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null", b"true"])
def test_patch_non_object_body(api, user, body):
    expect_problem(user.patch(ME, body=body), 400, "bad_request")
    assert user.me() == user.user


# ---- other users -------------------------------------------------------------------------

def test_get_user_by_id(api, user, other):
    expect_status(other.patch(ME, json={"display_name": "Other One", "bio": "hi",
                                        "avatar_url": "https://o.example/p.png", "is_private": True,
                                        "interests": ["secret"], "region": "PT"}), 200)
    p = expect_status(user.get(f"/v1/users/{other.id}"), 200).json
    assert set(p) == set(PUBLIC_FIELDS) | {"relationship"}  # no interests / region
    assert p["id"] == other.id and p["handle"] == other.handle
    assert (p["display_name"], p["bio"], p["avatar_url"], p["is_private"]) == \
        ("Other One", "hi", "https://o.example/p.png", True)
    assert (p["followers_count"], p["following_count"], p["posts_count"]) == (0, 0, 0)
    assert p["created_at"] == other.user["created_at"]
    assert p["relationship"] == NO_RELATIONSHIP


def test_get_self_profile_has_no_relationship(api, user):
    p = expect_status(user.get(f"/v1/users/{user.id}"), 200).json
    assert "relationship" not in p
    assert {k: p[k] for k in PUBLIC_FIELDS} == {k: user.user[k] for k in PUBLIC_FIELDS}


@pytest.mark.parametrize("variant", ["lower", "upper", "mixed"])
def test_get_user_by_handle(api, user, other, variant):
    h = {"lower": other.handle, "upper": other.handle.upper(),
         "mixed": other.handle[:3].upper() + other.handle[3:]}[variant]
    p = expect_status(user.get(f"/v1/users/by-handle/{h}"), 200).json
    assert p["id"] == other.id and p["handle"] == other.handle
    assert p["relationship"] == NO_RELATIONSHIP
    assert p == expect_status(user.get(f"/v1/users/{other.id}"), 200).json


def test_get_self_by_handle(api, user):
    p = expect_status(user.get(f"/v1/users/by-handle/{user.handle}"), 200).json
    assert p["id"] == user.id and "relationship" not in p


@pytest.mark.parametrize("uid", ["1", "999999999999999999", "9223372036854775807",
                                 "99999999999999999999999", "abc", "-1", "0", "1.0", "12abc",
                                 "%20"])
def test_get_unknown_user_is_404(api, user, uid):
    expect_problem(user.get(f"/v1/users/{uid}"), 404, "not_found")


@pytest.mark.parametrize("handle", ["nobody_here_xyz", "x", "a" * 31, "%C3%A9t%C3%A9", "a-b"])
def test_get_unknown_handle_is_404(api, user, handle):
    expect_problem(user.get(f"/v1/users/by-handle/{handle}"), 404, "not_found")


def test_new_user_profile_visible_to_others(api, user):
    fresh = api.register(display_name="Fresh Face")
    p = expect_status(user.get(f"/v1/users/by-handle/{fresh.handle}"), 200).json
    assert p["display_name"] == "Fresh Face"
    assert p["bio"] == "" and p["avatar_url"] is None and p["is_private"] is False


def test_profiles_need_auth(api, user):
    expect_problem(api.get(f"/v1/users/{user.id}"), 401, "unauthorized")
    expect_problem(api.get(f"/v1/users/by-handle/{user.handle}"), 401, "unauthorized")


def test_unknown_handle_after_invalid_registration(api, user):
    h = unique_handle()
    expect_problem(api.post("/v1/auth/register", json={"handle": h, "password": "short"}),
                   422, "invalid_field", "password")
    expect_problem(user.get(f"/v1/users/by-handle/{h}"), 404, "not_found")

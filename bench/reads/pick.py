#!/usr/bin/python3
"""bench/reads: picks, on a seeded community, the ids every measured read needs, as the
logged-in viewer sees them: followed authors with the most posts and reels, the post with
the most comments (and a comment of it with replies), the post with the most reactions, a
trending hashtag. Prints one `label<TAB>path` line per read, in the order of the table.

Usage: pick.py BASE_URL TOKEN"""
import json
import sys
import time
import urllib.error
import urllib.request

base, token = sys.argv[1], sys.argv[2]


def get(path):
    """The JSON of GET path; a 503 (a cold first read past the request deadline on a loaded
    machine) is tried again, a few times."""
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    for attempt in range(6):
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            if e.code != 503 or attempt == 5:
                sys.exit(f"pick: GET {path} answered {e.code}: {e.read()[:300]!r}")
            time.sleep(1)


me = get("/v1/me")
viewer = me["id"] if "id" in me else me["user"]["id"]
home = [x["item"] for x in get("/v1/feed/home?limit=50")["items"]]
following = [x.get("item", x) for x in get("/v1/feed/following?limit=50")["items"]]
items = home + following

# Authors the viewer follows (or public), with their profiles.
authors = {}
for it in items:
    a = it["author"]["id"]
    if a != viewer and a not in authors:
        authors[a] = get(f"/v1/users/{a}")
visible = {a: p for a, p in authors.items() if not p["is_private"] or p["relationship"]["following"]}
if not visible:
    sys.exit("pick: the viewer's feeds name no visible author")
top = max(visible.values(), key=lambda p: (p["posts_count"], p["followers_count"]))
popular = max(visible.values(), key=lambda p: p["followers_count"])

# Posts: those in the feeds and the top author's latest.
posts = {it["id"]: it for it in items if it["type"] == "post"}
for it in get(f"/v1/users/{top['id']}/posts?limit=50")["items"]:
    posts.setdefault(it["id"], it)
by_comments = sorted(posts.values(), key=lambda p: -p["counts"]["comments"])
by_reactions = max(posts.values(), key=lambda p: p["counts"]["reactions_total"])

# A comment with replies, on the most commented posts.
thread = None
for p in by_comments[:10]:
    for c in get(f"/v1/posts/{p['id']}/comments?limit=20")["items"]:
        if c.get("replies_count", 0) > (thread["replies_count"] if thread else 0):
            thread = c
    if thread and thread["replies_count"] >= 5:
        break
if not thread:
    sys.exit("pick: no comment with replies on the viewer's posts")

# Reels: the visible author with the longest first page.
reel_authors = {it["author"]["id"] for it in items if it["type"] == "reel"} | set(visible)
best_reels, reels_of = -1, None
for a in reel_authors:
    if a in authors and a not in visible:
        continue
    n = len(get(f"/v1/users/{a}/reels?limit=20")["items"])
    if n > best_reels:
        best_reels, reels_of = n, a

trending = get("/v1/trending/hashtags")["items"]
tag = trending[0]["tag"] if trending else (by_comments[0].get("hashtags") or ["hiking"])[0]

rows = [
    ("user", f"/v1/users/{popular['id']}"),
    ("post", f"/v1/posts/{by_comments[0]['id']}"),
    ("user posts", f"/v1/users/{top['id']}/posts?limit=20"),
    ("post comments", f"/v1/posts/{by_comments[0]['id']}/comments?limit=20"),
    ("notifications", "/v1/notifications?limit=20"),
    ("story tray", "/v1/stories/tray"),
    ("trending hashtags", "/v1/trending/hashtags"),
    ("home feed", "/v1/feed/home?limit=20"),
    ("following feed", "/v1/feed/following?limit=20"),
    ("user reels", f"/v1/users/{reels_of}/reels?limit=20"),
    ("comment replies", f"/v1/comments/{thread['id']}/replies?limit=20"),
    ("post reactions", f"/v1/posts/{by_reactions['id']}/reactions?limit=20"),
    ("user followers", f"/v1/users/{popular['id']}/followers?limit=20"),
    ("hashtag items", f"/v1/hashtags/{tag}/items?limit=20"),
    ("post comments new", f"/v1/posts/{by_comments[0]['id']}/comments?sort=new&limit=20"),
]
for label, path in rows:
    print(f"{label}\t{path}")

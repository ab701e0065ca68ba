"""Helpers shared by test_comments.py and test_hashtags.py: creating items and comments
through the API, walking pages, and reading (or back-dating) rows in the server's database
(SQLite file in embedded mode, psql in cluster mode)."""
import json
import urllib.parse

from client import expect_problem, expect_status
from social import IMG, VID, approve, block, db_rows, follow, make_private, post, reel, story  # noqa: F401

UNKNOWN_ID = "7262919837180000001"


# ---- API ---------------------------------------------------------------------------------

def comment(acc, item_id, text="nice", kind="posts", parent_id=None, **kw):
    body = {"text": text}
    if parent_id is not None:
        body["parent_id"] = parent_id
    return expect_status(acc.post(f"/v1/{kind}/{item_id}/comments", json=body, **kw), 201).json


def page(acc, path, **query):
    q = ("?" + urllib.parse.urlencode(query)) if query else ""
    return expect_status(acc.get(path + q), 200).json


def walk(acc, path, limit=100, **query):
    """Every item of a paginated list, following next_cursor; also the pages' sizes."""
    items, cursor = [], None
    for _ in range(1000):
        q = {"limit": limit, **query}
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


def comments_of(acc, item_id, kind="posts", sort="new"):
    return walk(acc, f"/v1/{kind}/{item_id}/comments", sort=sort)


def get_item(acc, kind, item_id):
    return expect_status(acc.get(f"/v1/{kind}/{item_id}"), 200).json


def hidden(acc, path):
    expect_problem(acc.get(path), 404, "not_found")


# ---- the database ------------------------------------------------------------------------

sql = db_rows


def events(server, backends, kinds, user_ids):
    """(kind, user_id, target_type, target_id, author_id) of the engagement events of these
    kinds by these users, in order."""
    q = ("SELECT kind, user_id, target_type, target_id, author_id FROM engagement_events WHERE kind IN ("
         + ",".join(f"'{k}'" for k in kinds) + ") AND user_id IN (" + ",".join(str(int(u)) for u in user_ids)
         + ") ORDER BY id")
    return sql(server, backends, q)


def outbox(server, backends, topic_prefix, aggregate_ids):
    """(topic, payload dict) of outbox rows of topics starting with topic_prefix, for these
    aggregates, in order."""
    q = ("SELECT topic, payload FROM outbox WHERE topic LIKE '" + topic_prefix + "%' AND aggregate_id IN ("
         + ",".join(str(int(i)) for i in aggregate_ids) + ") ORDER BY id")
    return [(t, json.loads(p)) for t, p in sql(server, backends, q)]

"""Helpers shared by the reactions and views tests: items, reactions, and direct SQL on the
database behind a chorusd (sqlite3 on its data dir in embedded mode, psql in cluster mode),
used to look at the outbox and event log and to tamper with counters."""
import urllib.parse

from client import expect_status
from conftest import base_env
from social import IMG, VID, block, create, db_rows, follow, post, reel, story  # noqa: F401  (re-exported)

KINDS = ["like", "love", "haha", "wow", "sad", "angry"]
UNKNOWN_ID = "7262919837180000001"


def item(acc, seg, item_id):
    return expect_status(acc.get(f"/v1/{seg}/{item_id}"), 200).json


def counts(acc, seg, item_id):
    return item(acc, seg, item_id)["counts"]


def put(acc, path, **kw):
    return acc.client.request("PUT", path, token=acc.access_token, **kw)


def react(acc, seg, item_id, kind, status=200):
    r = expect_status(put(acc, f"/v1/{seg}/{item_id}/reaction", json={"kind": kind}), status)
    return r.json if status == 200 else r


def unreact(acc, seg, item_id, status=204):
    return expect_status(acc.delete(f"/v1/{seg}/{item_id}/reaction"), status)


def reactions_page(acc, seg, item_id, **query):
    q = ("?" + urllib.parse.urlencode(query)) if query else ""
    return expect_status(acc.get(f"/v1/{seg}/{item_id}/reactions{q}"), 200).json


def all_reactions(acc, seg, item_id, limit=100, **query):
    items, cursor = [], None
    for _ in range(10000):
        q = {"limit": limit, **query}
        if cursor:
            q["cursor"] = cursor
        p = reactions_page(acc, seg, item_id, **q)
        items.extend(p["items"])
        cursor = p["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("cursor never ends")


def view(acc, seg, item_id, body=None, status=204):
    kw = {"json": body} if body is not None else {}
    return expect_status(acc.post(f"/v1/{seg}/{item_id}/view", **kw), status)


# ---- SQL on the server's database ------------------------------------------------------------

def sql(server, backends, query, params=()):
    """Runs one statement on the database behind server; returns rows as tuples of strings
    (NULL as ''). params are inlined as integers or quoted strings."""
    for p in params:
        if isinstance(p, str):
            query = query.replace("?", "'" + p.replace("'", "''") + "'", 1)
        else:
            query = query.replace("?", str(int(p)), 1)
    return db_rows(server, backends, query)


def server_env(server):
    """The environment of a chorusd subcommand on server's storage."""
    env = base_env()
    env.update(server.storage_env)
    return env


def outbox(server, backends, target_id, prefix):
    return sql(server, backends,
               f"SELECT topic, payload FROM outbox WHERE aggregate_id = {int(target_id)} "
               f"AND topic LIKE '{prefix}%' ORDER BY id")


def events(server, backends, target_id, kinds):
    ks = ",".join(f"'{k}'" for k in kinds)
    return sql(server, backends,
               f"SELECT kind, user_id, author_id, target_type, value FROM engagement_events "
               f"WHERE target_id = {int(target_id)} AND kind IN ({ks}) ORDER BY id")

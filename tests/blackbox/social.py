"""Helpers every black-box test module may share: creating items through the API, the
graph actions between two accounts, and one statement on the database behind a chorusd
(the SQLite file in embedded mode, psql in cluster mode)."""
import sqlite3
from pathlib import Path

from client import expect_status
from conftest import MODE

IMG = "https://cdn.example.com/p/1.jpg"
VID = "https://cdn.example.com/r/1.mp4"


# ---- items ------------------------------------------------------------------------------------

def create(acc, kind, body, **kw):
    """POST /v1/{kind} expecting 201; returns the item."""
    return expect_status(acc.post(f"/v1/{kind}", json=body, **kw), 201).json


def post(acc, text="hello", **fields):
    return create(acc, "posts", {"text": text, **fields})


def reel(acc, **fields):
    return create(acc, "reels", {"video_url": VID, "duration_ms": 15000, **fields})


def story(acc, **fields):
    return create(acc, "stories", {"media_url": IMG, "kind": "image", **fields})


# ---- the graph --------------------------------------------------------------------------------

def follow(a, b, status=200):
    """a follows b; the state ("following" / "requested"), or the response when status is not 200."""
    r = expect_status(a.post(f"/v1/users/{b.id}/follow"), status)
    return r.json["state"] if status == 200 else r


def approve(owner, requester):
    expect_status(owner.post(f"/v1/me/follow-requests/{requester.id}/approve"), 204)


def block(a, b):
    expect_status(a.post(f"/v1/users/{b.id}/block"), 204)


def mute(a, b):
    expect_status(a.post(f"/v1/users/{b.id}/mute"), 204)


def make_private(acc):
    expect_status(acc.patch("/v1/me", json={"is_private": True}), 200)


# ---- the database -----------------------------------------------------------------------------

def db_rows(server, backends, query):
    """Runs one statement on the database behind server (committed); rows as tuples of
    strings, NULL as ''."""
    if MODE == "cluster":
        dbname = server.storage_env["CHORUS_DB"].rsplit("/", 1)[1]
        out = backends.pg.psql(query, dbname)
        return [tuple(ln.split("|")) for ln in out.splitlines() if ln]
    db = Path(server.storage_env["CHORUS_DATA_DIR"]) / "chorus.db"
    conn = sqlite3.connect(str(db), timeout=30)
    try:
        with conn:
            return [tuple("" if c is None else str(c) for c in r) for r in conn.execute(query)]
    finally:
        conn.close()

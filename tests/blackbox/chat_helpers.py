"""Helpers of the chat tests (test_chat*.py): conversations and messages through the API."""
import uuid

from client import expect_status


def conv(acc, *others, title=None, status=None):
    body = {"member_ids": [o.id if hasattr(o, "id") else o for o in others]}
    if title is not None:
        body["title"] = title
    r = acc.post("/v1/conversations", json=body)
    if status is not None:
        expect_status(r, status)
    assert r.status in (200, 201), r.describe()
    return r.json


def send(acc, cid, text="hi", client_msg_id=None, status=201, **extra):
    body = {"client_msg_id": client_msg_id or str(uuid.uuid4()), "text": text, **extra}
    return expect_status(acc.post(f"/v1/conversations/{cid}/messages", json=body), status).json


def history(acc, cid, **query):
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return expect_status(acc.get(f"/v1/conversations/{cid}/messages" + ("?" + q if q else "")), 200).json


def get_conv(acc, cid):
    return expect_status(acc.get(f"/v1/conversations/{cid}"), 200).json


def listing(acc, **query):
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return expect_status(acc.get("/v1/conversations" + ("?" + q if q else "")), 200).json


def all_conversations(acc, limit=100):
    items, cursor = [], None
    while True:
        page = listing(acc, limit=limit, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert len(items) < 10000


def member_ids(c):
    return sorted(m["user_id"] for m in c["members"])

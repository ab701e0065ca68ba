"""Chat robustness left-overs of issue 13: the chat writer's queue has a byte bound
(CHORUS_CHAT_WRITER_QUEUE_BYTES), a retry's republish with no ordering record never goes
out after a later message, and the chat and WebSocket rate limits count in
CHORUS_RATE_LIMIT_WINDOW, not a fixed minute."""
import time
import urllib.parse
import uuid

import pytest

from chat_helpers import conv, history, send
from client import expect_problem, expect_status
from conftest import MODE
from wsclient import connect, port_of


@pytest.mark.skipif(MODE == "cluster", reason="the group-commit writer runs on SQLite only (PostgreSQL: a transaction per send)")
def test_writer_queue_byte_bound_refuses_with_overloaded(start_server):
    """A send whose bytes would take the writer's queue past CHORUS_CHAT_WRITER_QUEUE_BYTES is
    answered 503 overloaded, nothing stored; a small one passes (REST and WebSocket)."""
    srv = start_server(env={"CHORUS_CHAT_WRITER_QUEUE_BYTES": "4096"}, name="chat-queue-bytes")
    c = srv.client()
    a, b = c.register(), c.register()
    cid = conv(a, b)["id"]
    send(a, cid, "small")
    r = a.post(f"/v1/conversations/{cid}/messages", json={"client_msg_id": str(uuid.uuid4()), "text": "x" * 4000})
    expect_problem(r, 503, "overloaded")
    ws = connect(port_of(srv), token=a.access_token)
    try:
        ws.hello()
        m = ws.call("message.send", {"conversation_id": cid, "client_msg_id": str(uuid.uuid4()), "text": "y" * 4000})
        assert m["op"] == "error" and m["d"]["code"] == "overloaded", m
        m = ws.call("message.send", {"conversation_id": cid, "client_msg_id": str(uuid.uuid4()), "text": "fits"},
                    ref="r2")
        assert m["op"] == "ack", m
    finally:
        ws.close()
    assert [x["text"] for x in history(a, cid)["items"]] == ["small", "fits"]


def test_republish_without_record_never_after_a_later_message(start_server, backends):
    """The ordering record of a conversation is gone (expired, or the kv store lost it): a
    retry of an older message answers 200 with the original but is not published again after
    a later one (devices would see seq 1 after seq 2); the next message is the next event."""
    srv = start_server(name="chat-republish-order")
    c = srv.client()
    a, b = c.register(), c.register()
    cid = conv(a, b)["id"]
    key = str(uuid.uuid4())
    first = send(a, cid, "one", client_msg_id=key)
    send(a, cid, "two")
    # Forget the record and the publication claims (both live 60 s): the in-process kv store
    # with a restart, Redis by deleting the keys.
    srv.stop()
    if MODE == "cluster":
        db = int(urllib.parse.urlsplit(srv.storage_env["CHORUS_REDIS"]).path.lstrip("/") or 0)
        assert backends.redis.command("DEL", f"chat:pubseq:{cid}", db=db) == ":1"
        assert backends.redis.command("DEL", f"chat:pubclaim:{cid}:1", f"chat:pubclaim:{cid}:2", db=db) == ":2"
    srv.start()
    for acc in (a, b):
        acc.client = srv.client()
    ws = connect(port_of(srv), token=b.access_token)
    try:
        ws.hello()
        again = send(a, cid, "one", client_msg_id=key, status=200)
        assert again == first
        third = send(a, cid, "three")
        ev = ws.recv_op("message.new")["d"]
        assert (ev["id"], ev["seq"]) == (third["id"], 3), ev
    finally:
        ws.close()


def test_chat_rate_limits_count_in_the_configured_window(start_server):
    """CHORUS_RATE_LIMIT_MESSAGES (REST and WebSocket sends) and the WebSocket ops' share of
    CHORUS_RATE_LIMIT_USER reset after CHORUS_RATE_LIMIT_WINDOW (2 s here), not a minute."""
    srv = start_server(env={"CHORUS_RATE_LIMIT_MESSAGES": "2", "CHORUS_RATE_LIMIT_USER": "4",
                            "CHORUS_RATE_LIMIT_IP": "100000", "CHORUS_RATE_LIMIT_WINDOW": "2000"},
                       name="chat-rate-window")
    c = srv.client()
    a, b = c.register(), c.register()
    cid = conv(a, b)["id"]  # a direct conversation: no message rate (a's write 1 of 4)
    send(a, cid, "m1")
    send(a, cid, "m2")
    r = a.post(f"/v1/conversations/{cid}/messages", json={"client_msg_id": str(uuid.uuid4()), "text": "m3"})
    expect_problem(r, 429, "rate_limited")
    assert 1 <= int(r.header("Retry-After")) <= 2  # the window's rest: the setting is obeyed
    ws = connect(port_of(srv), token=b.access_token)
    try:
        ws.hello()
        # b's window starts at its first op: the fifth op in it is refused. Ops until one is
        # (at most 10): six in a row could straddle the 2 s window on a loaded machine.
        codes = []
        while len(codes) < 10 and "rate_limited" not in codes:
            codes.append(ws.call("receipt.delivered", {"conversation_id": cid, "seq": 1},
                                 ref=f"d{len(codes)}")["d"].get("code"))
        assert codes[-1] == "rate_limited" and len(codes) >= 5, codes
        time.sleep(2.5)
        send(a, cid, "after the window")
        m = ws.call("receipt.delivered", {"conversation_id": cid, "seq": 2}, ref="after")
        assert m["op"] == "ack", m
    finally:
        ws.close()
    assert history(a, cid)["last_seq"] == 3

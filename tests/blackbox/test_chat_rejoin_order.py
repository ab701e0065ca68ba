"""A member's live connection after they were removed from a group (or left it) and added
back (issue 13, chatpg17): the connection remembers the last seq it delivered of each
conversation (gateway/ws_order.c) and holds a message ahead of it until the seqs between came;
the seqs sent while the member was out never come to them, so their first message after the
re-add used to wait out CHORUS_WS_REORDER_HOLD_MS and arrive with a gap. member.added now names
the seq they joined at and the connection continues from there: the message goes at once,
without a gap. Deleted messages keep their seqs (tombstones): no gap either. Both backend
sets; in cluster mode the member's device is on another node than the writers."""
import pytest

from chat_helpers import conv, send
from client import expect_status
from conftest import MODE
from wsclient import connect, port_of

# a held frame would come after 10 s, with its gap (what the asserts rule out)
HOLD = {"CHORUS_WS_REORDER_HOLD_MS": "10000"}  # the most it takes


def nodes(start_server):
    n1 = start_server(env={**HOLD, "CHORUS_NODE_ID": "1"}, name="rejoin-node1")
    if MODE != "cluster":
        return n1, n1
    return n1, start_server(env={**HOLD, "CHORUS_NODE_ID": "2"}, storage=n1.storage_env, name="rejoin-node2")


def device(node, acc):
    ws = connect(port_of(node), token=acc.access_token)
    ws.hello()
    return ws


def next_new(ws, cid, timeout=15):
    """The next message.new of conversation cid on ws."""
    while True:
        m = ws.recv_op("message.new", timeout=timeout)
        if m["d"]["conversation_id"] == cid:
            return m


def member_added(ws, cid, uid, timeout=15):
    while True:
        m = ws.recv_op("member.added", timeout=timeout)
        if m["d"]["conversation_id"] == cid and m["d"]["user_id"] == uid:
            return m


def test_removed_and_added_again_gets_the_next_message_at_once(start_server):
    n1, n2 = nodes(start_server)
    c = n1.client()
    admin, u, x = c.register(), c.register(), c.register()
    g = conv(admin, u, x, title="rejoin")
    cid = g["id"]
    ws = device(n2, u)
    try:
        for i in (1, 2):
            send(admin, cid, f"before {i}")
            assert next_new(ws, cid)["d"]["seq"] == i
        expect_status(admin.delete(f"/v1/conversations/{cid}/members/{u.id}"), 204)
        for i in range(3):
            send(x, cid, f"while out {i}")  # seqs 3..5: not u's
        expect_status(admin.post(f"/v1/conversations/{cid}/members/{u.id}"), 200)
        assert member_added(ws, cid, u.id)["d"]["joined_seq"] == 5
        send(admin, cid, "back")
        m = next_new(ws, cid)
        assert (m["d"]["seq"], m["d"]["text"]) == (6, "back")
        assert "gap" not in m["d"], m["d"]["gap"]
        send(x, cid, "and on")
        m = next_new(ws, cid)
        assert m["d"]["seq"] == 7 and "gap" not in m["d"]
    finally:
        ws.close()


def test_left_and_added_back_gets_the_next_message_at_once(start_server):
    n1, n2 = nodes(start_server)
    c = n1.client()
    admin, u = c.register(), c.register()
    g = conv(admin, u, c.register(), title="leave")
    cid = g["id"]
    ws = device(n2, u)
    try:
        send(admin, cid, "first")
        assert next_new(ws, cid)["d"]["seq"] == 1
        r = u.post(f"/v1/conversations/{cid}/leave")
        assert r.status in (200, 204), r.describe()
        send(admin, cid, "while away")
        send(admin, cid, "still away")
        expect_status(admin.post(f"/v1/conversations/{cid}/members/{u.id}"), 200)
        assert member_added(ws, cid, u.id)["d"]["joined_seq"] == 3
        send(admin, cid, "welcome back")
        m = next_new(ws, cid)
        assert m["d"]["seq"] == 4 and "gap" not in m["d"], m["d"]
    finally:
        ws.close()


def test_deleted_messages_leave_no_gap(start_server):
    n1, n2 = nodes(start_server)
    c = n1.client()
    a, b = c.register(), c.register()
    cid = conv(a, b)["id"]
    ws = device(n2, b)
    try:
        sent = [send(a, cid, f"m{i}") for i in range(3)]
        assert [next_new(ws, cid)["d"]["seq"] for _ in sent] == [1, 2, 3]
        for m in sent:
            expect_status(a.delete(f"/v1/conversations/{cid}/messages/{m['id']}"), 204)
        send(a, cid, "after the deletes")
        m = next_new(ws, cid)
        assert m["d"]["seq"] == 4 and "gap" not in m["d"], m["d"]
    finally:
        ws.close()

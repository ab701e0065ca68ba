"""Chat over the WebSocket gateway (brd/chat.md): message.send with acks (idempotent on
client_msg_id), message.new to every member device (the sender's other devices included)
in seq order, message.updated / message.deleted, receipts (ops and events), typing (at most
one per interval, never to the typist), membership events. Every frame is checked against
api/asyncapi.yaml (wsclient.py)."""
import threading
import uuid

import pytest

from chat_helpers import conv, history, send
from client import expect_status
from wsclient import connect, port_of


@pytest.fixture
def third(api):
    return api.register()


def dev(server, acc):
    ws = connect(port_of(server), token=acc.access_token)
    ws.hello()
    return ws


def call_keep(ws, op, d, ref):
    """Sends op and returns (its ack or error, the other frames seen before it): an event
    caused by the op may reach the device before the op's ack."""
    ws.send(op, d, ref)
    seen = []
    while True:
        m = ws.recv()
        if m["op"] in ("ack", "error") and m.get("ref") == ref:
            return m, seen
        seen.append(m)


def test_send_reaches_every_member_device(server, api, user, other):
    c = conv(user, other)
    a1, a2, b = dev(server, user), dev(server, user), dev(server, other)
    try:
        key = str(uuid.uuid4())
        ack, early = call_keep(a1, "message.send", {"conversation_id": c["id"], "client_msg_id": key,
                                                    "text": "over ws"}, ref="s1")
        assert ack["op"] == "ack", ack
        m = ack["d"]
        assert (m["seq"], m["text"], m["sender_id"]) == (1, "over ws", user.id)
        ev = early[0] if early else a1.recv_op("message.new")
        assert ev == {"op": "message.new", "d": m}
        for ws in (a2, b):
            assert ws.recv_op("message.new")["d"] == m
        # A retry acks the original; no second message.new (the next one b sees is seq 2).
        again, early = call_keep(a1, "message.send", {"conversation_id": c["id"], "client_msg_id": key, "text": "x"},
                                 ref="s2")
        assert again["d"] == m and early == []
        send(other, c["id"], "rest")
        assert b.recv_op("message.new")["d"]["seq"] == 2
        assert history(user, c["id"])["last_seq"] == 2
    finally:
        for ws in (a1, a2, b):
            ws.close()


def test_ws_errors(server, user, other, third):
    c = conv(user, other)
    ws = dev(server, third)
    try:
        e = ws.call("message.send", {"conversation_id": c["id"], "client_msg_id": "k", "text": "x"}, ref="e1")
        assert e["op"] == "error" and e["d"]["code"] == "not_found"
        e = ws.call("message.send", {"conversation_id": c["id"], "text": "x"}, ref="e2")
        assert e["op"] == "error" and e["d"]["code"] == "invalid_field"
        e = ws.call("receipt.read", {"conversation_id": c["id"]}, ref="e3")
        assert e["op"] == "error" and e["d"]["code"] == "invalid_field"
        e = ws.call("typing", {"conversation_id": "nope"}, ref="e4")
        assert e["op"] == "error" and e["d"]["code"] == "invalid_field"
    finally:
        ws.close()
    assert history(user, c["id"])["last_seq"] == 0


def test_devices_see_seq_order_under_concurrent_senders(server, api, user, other, third):
    g = conv(user, other, third)
    watcher = dev(server, user)
    errors = []

    def go(acc, k):
        try:
            for i in range(15):
                send(acc, g["id"], f"{k}-{i}")
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=go, args=(acc, k)) for k, acc in enumerate([other, third, other, third])]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[0]
        seqs = [watcher.recv_op("message.new")["d"]["seq"] for _ in range(60)]
        assert seqs == list(range(1, 61))
    finally:
        watcher.close()


def test_edit_delete_receipts_events(server, user, other):
    c = conv(user, other)
    m = send(user, c["id"], "typo")
    a, b = dev(server, user), dev(server, other)
    try:
        expect_status(user.patch(f"/v1/conversations/{c['id']}/messages/{m['id']}", json={"text": "fixed"}), 200)
        assert b.recv_op("message.updated")["d"]["text"] == "fixed"
        ack = b.call("receipt.delivered", {"conversation_id": c["id"], "seq": 1}, ref="d1")
        assert ack["d"] == {"conversation_id": c["id"], "user_id": other.id, "delivered_seq": 1, "read_seq": 0}
        ev = a.recv_op("receipt")["d"]
        assert (ev["user_id"], ev["delivered_seq"], ev["read_seq"]) == (other.id, 1, 0)
        ack = b.call("receipt.read", {"conversation_id": c["id"], "seq": 1}, ref="d2")
        assert (ack["d"]["delivered_seq"], ack["d"]["read_seq"]) == (1, 1)
        assert a.recv_op("receipt")["d"]["read_seq"] == 1
        # Lower: acked with the receipts as they are, no event (the next event a sees is the delete).
        ack = b.call("receipt.delivered", {"conversation_id": c["id"], "seq": 0}, ref="d3")
        assert (ack["d"]["delivered_seq"], ack["d"]["read_seq"]) == (1, 1)
        expect_status(user.delete(f"/v1/conversations/{c['id']}/messages/{m['id']}"), 204)
        ev = a.recv()
        while ev["op"] == "message.updated":
            ev = a.recv()
        assert ev["op"] == "message.deleted" and ev["d"]["deleted"] and ev["d"]["text"] is None
        assert b.recv_op("message.deleted")["d"]["id"] == m["id"]
    finally:
        a.close()
        b.close()


def test_typing_is_rate_limited_and_not_echoed(server, user, other):
    c = conv(user, other)
    a, b = dev(server, user), dev(server, other)
    try:
        assert a.call("typing", {"conversation_id": c["id"]}, ref="t1")["op"] == "ack"
        assert a.call("typing", {"conversation_id": c["id"]}, ref="t2")["op"] == "ack"  # within 2 s: dropped
        send(user, c["id"], "done typing")
        ev = b.recv()
        assert ev["op"] == "typing" and ev["d"] == {"conversation_id": c["id"], "user_id": user.id,
                                                    "expires_in_ms": 6000}
        assert b.recv()["op"] == "message.new"  # no second typing in between
        # The typist's own devices get no typing: the next frame a sees is the message.
        assert a.recv()["op"] == "message.new"
    finally:
        a.close()
        b.close()


def test_blocks_stop_typing_and_receipts_in_direct_conversations(server, user, other, third):
    from social import block
    c = conv(user, other)
    send(user, c["id"], "before")
    block(other, user)
    a, b = dev(server, user), dev(server, other)
    try:
        e = a.call("typing", {"conversation_id": c["id"]}, ref="t1")
        assert e["op"] == "error" and e["d"]["code"] == "not_found"
        ack, _ = call_keep(b, "receipt.read", {"conversation_id": c["id"], "seq": 1}, ref="r1")
        assert ack["op"] == "ack" and ack["d"]["read_seq"] == 1
        # The receipt stays with other's devices: the next frame user's device sees is this.
        g = conv(third, user)
        send(third, g["id"], "marker")
        ev = a.recv()
        assert ev["op"] != "receipt", ev
        while ev["op"] != "message.new":
            ev = a.recv()
            assert ev["op"] != "receipt", ev
        assert ev["d"]["text"] == "marker"
    finally:
        a.close()
        b.close()


def test_group_receipts_go_to_the_reader_and_the_author(server, api, user, other, third):
    g = conv(user, other, third)
    send(user, g["id"], "one")
    send(other, g["id"], "two")  # seq 2, by other
    a, b, c = dev(server, user), dev(server, other), dev(server, third)
    c2 = dev(server, third)
    try:
        ack, _ = call_keep(c, "receipt.read", {"conversation_id": g["id"], "seq": 2}, ref="r1")
        assert ack["op"] == "ack" and ack["d"]["read_seq"] == 2
        assert b.recv_op("receipt")["d"]["user_id"] == third.id  # the author of seq 2
        assert c2.recv_op("receipt")["d"]["read_seq"] == 2       # the reader's other device
        # user wrote seq 1, not seq 2: no receipt; the next frame it sees is this.
        send(other, g["id"], "marker")
        ev = a.recv()
        while ev["op"] != "message.new":
            assert ev["op"] != "receipt", ev
            ev = a.recv()
        assert ev["d"]["text"] == "marker"
    finally:
        for d in (a, b, c, c2):
            d.close()


def test_membership_events(server, api, user, other, third):
    g = conv(user, other, third)
    fourth = api.register()
    d4, d2 = dev(server, fourth), dev(server, other)
    try:
        expect_status(user.post(f"/v1/conversations/{g['id']}/members/{fourth.id}"), 200)
        ev = d4.recv_op("member.added")["d"]
        # joined_seq: the conversation's last seq at the add (nothing sent yet)
        assert ev == {"conversation_id": g["id"], "user_id": fourth.id, "joined_seq": 0, "by": user.id}
        assert d2.recv_op("member.added")["d"]["user_id"] == fourth.id
        expect_status(fourth.post(f"/v1/conversations/{g['id']}/leave"), 204)
        ev = d4.recv_op("member.removed")["d"]
        assert ev == {"conversation_id": g["id"], "user_id": fourth.id, "by": fourth.id}
        g2 = conv(user, other, fourth)
        assert d4.recv_op("conversation.created")["d"]["conversation_id"] == g2["id"]
    finally:
        d4.close()
        d2.close()


def test_push_jobs_only_for_members_without_a_connection(server, backends, api, user, other, third):
    from social import db_rows
    from notify_helpers import wait_until
    g = conv(user, other, third)
    online = dev(server, other)
    try:
        # Presence is recorded after the hello, asynchronously: send once it shows.
        wait_until(lambda: expect_status(user.get(f"/v1/users/{other.id}/presence"), 200).json["status"] == "online",
                   "other online")
        send(user, g["id"], "one")
        online.recv_op("message.new")
        rows = db_rows(server, backends, "SELECT user_id, pending FROM chat_push_jobs"
                                         f" WHERE conversation_id = {int(g['id'])}")
        assert rows == [(third.id, "1")]
    finally:
        online.close()

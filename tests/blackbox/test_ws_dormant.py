"""Dormant WebSocket connections (issue 13, memory per idle connection; docs/design.md
"Gateway"): an idle connection gives its wslay context (about 8 kB) back and takes a fresh
one at its next frame in either direction. Seen through the gauge
chorus_gateway_dormant_connections; what a client sees must not change: frames both ways
after a dormant spell, a frame or a fragmented message split across a pause, pings."""
import json
import os
import re
import struct
import time
import uuid

from chat_helpers import conv
from client import expect_status
from notify_helpers import wait_until
from wsclient import OP_PING, OP_PONG, OP_TEXT, connect, port_of

GAUGE = "chorus_gateway_dormant_connections"


def dormant(srv):
    text = expect_status(srv.client().get("/metrics"), 200).text
    m = re.search(rf"^{GAUGE} (\d+)$", text, re.M)
    return int(m.group(1)) if m else 0


def wait_dormant(srv, n, within=30):
    """Polls the gauge until it reads n (bounded); returns the last value read."""
    deadline = time.monotonic() + within
    v = dormant(srv)
    while v != n and time.monotonic() < deadline:
        time.sleep(0.05)
        v = dormant(srv)
    return v


def test_idle_connections_go_dormant_and_wake_for_frames(start_server):
    srv = start_server()
    a, b = srv.client().register(), srv.client().register()
    c = conv(a, b)
    wa, wb = connect(port_of(srv), token=a.access_token), connect(port_of(srv), token=b.access_token)
    try:
        wa.hello()
        wb.hello()
        assert wait_dormant(srv, 2) == 2
        # b's frame wakes b (a read); the message wakes a (a write); both go back to sleep
        wb.send("message.send", {"conversation_id": c["id"], "client_msg_id": str(uuid.uuid4()),
                                 "text": "after a nap"}, ref="s1")
        ack = wb.recv()
        while ack.get("ref") != "s1":
            ack = wb.recv()
        assert ack["op"] == "ack", ack
        assert wa.recv_op("message.new")["d"]["text"] == "after a nap"
        assert wait_dormant(srv, 2) == 2
        assert wa.call("ping", {"echo": "again"}, ref="p1")["d"]["echo"] == "again"
        assert wait_dormant(srv, 2) == 2
    finally:
        wa.close()
        wb.close()
    assert wait_dormant(srv, 0) == 0


def test_a_frame_split_across_a_pause_is_read_whole(start_server):
    """Half a frame, then (after the loop ran many rounds) the rest: the connection must
    not have gone dormant in between (its wslay reader held the first half)."""
    srv = start_server()
    acc = srv.client().register()
    ws = connect(port_of(srv), token=acc.access_token)
    try:
        ws.hello()
        assert wait_dormant(srv, 1) == 1
        payload = json.dumps({"op": "ping", "ref": "split", "d": {"echo": "x" * 300}}).encode()
        # the raw frame, written in two parts
        mask = os.urandom(4)
        head = bytes([0x80 | OP_TEXT, 0x80 | 126]) + struct.pack(">H", len(payload)) + mask
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        raw = head + body
        ws.sock.sendall(raw[:100])
        assert wait_dormant(srv, 0) == 0  # woken by the first half
        time.sleep(0.3)
        assert dormant(srv) == 0  # and held awake by it
        ws.sock.sendall(raw[100:])
        assert ws.recv()["d"]["echo"] == "x" * 300
        # a fragmented message with a pause between its frames
        msg = json.dumps({"op": "ping", "ref": "frag", "d": {"echo": "yz"}}).encode()
        ws.send_frame(OP_TEXT, msg[:10], fin=False)
        time.sleep(0.3)
        assert dormant(srv) == 0
        ws.send_frame(0, msg[10:], fin=True)
        ack = ws.recv()
        assert ack["ref"] == "frag" and ack["d"]["echo"] == "yz"
        assert wait_dormant(srv, 1) == 1
    finally:
        ws.close()


def test_a_dormant_connection_answers_pings_and_stays(start_server):
    """Heartbeats wake a dormant connection (the server's ping, the client's pong): with
    short heartbeats it stays open across many of them, and works after. 1 s heartbeats: a
    client silent for two is closed, and 600 ms (300 ms heartbeats) is a pause a loaded
    machine can give the test or the server; five heartbeats are counted, not timed."""
    srv = start_server(env={"CHORUS_WS_HEARTBEAT_MS": "1000"})
    acc = srv.client().register()
    ws = connect(port_of(srv), token=acc.access_token)
    try:
        ws.hello()
        ws.answer_pings(5)  # a server that closed the connection at a heartbeat fails here
        assert ws.call("ping", {"echo": "awake"}, ref="hb")["d"]["echo"] == "awake"
    finally:
        ws.close()


def counter(srv, name, labels=""):
    text = expect_status(srv.client().get("/metrics"), 200).text
    m = re.search(rf"^{name}{re.escape(labels)} (\d+)$", text, re.M)
    return int(m.group(1)) if m else 0


CONTEXTS = "chorus_gateway_ws_contexts_total"
DORMANT_FRAMES = "chorus_gateway_ws_dormant_frames_total"


def test_hello_events_and_heartbeats_need_no_wslay_context(start_server):
    """A connection is born dormant: its hello goes out with the 101, the presence event of
    its own arrival and the heartbeats (the server's pings, the client's pongs) are written
    and read without a wslay context (about 8 kB each). Only a frame from the client that is
    not a pong makes one. Heartbeats are counted, not timed, 2 s apart: the client reads
    /metrics four times after its last pong and before its next frame, which a loaded machine
    must fit in the two heartbeats of silence the server allows."""
    srv = start_server(env={"CHORUS_WS_HEARTBEAT_MS": "2000"})
    acc = srv.client().register()
    made = counter(srv, CONTEXTS)
    pongs = counter(srv, DORMANT_FRAMES, '{frame="pong"}')
    ws = connect(port_of(srv), token=acc.access_token)
    try:
        ws.hello()
        assert wait_dormant(srv, 1) == 1
        ws.answer_pings(2)
        # the server reads the last pong after the client sent it: polled
        wait_until(lambda: counter(srv, DORMANT_FRAMES, '{frame="pong"}') >= pongs + 2
                   and counter(srv, DORMANT_FRAMES, '{frame="ping"}') >= 2,
                   "two pings written and two pongs read by a dormant connection")
        assert counter(srv, CONTEXTS) == made, "a context was made for the hello, an event or a heartbeat"
        assert dormant(srv) == 1
        # a frame of the client's own wakes it, is answered, and it sleeps again
        assert ws.call("ping", {"echo": "wake"}, ref="w1")["d"]["echo"] == "wake"
        assert counter(srv, CONTEXTS) == made + 1
        assert wait_dormant(srv, 1) == 1
    finally:
        ws.close()


def test_a_dormant_connection_answers_a_client_ping_and_reads_split_pongs(start_server):
    """Control frames other than whole pongs go to wslay: a client's ping is answered with its
    payload; a pong split across two writes (and a pong with a payload) keeps the connection
    working."""
    srv = start_server()
    acc = srv.client().register()
    ws = connect(port_of(srv), token=acc.access_token)
    try:
        ws.hello()
        assert wait_dormant(srv, 1) == 1
        ws.send_frame(OP_PING, b"are you there")
        op, payload = ws.recv_frame()
        while op != OP_PONG:  # presence events may come first
            op, payload = ws.recv_frame()
        assert payload == b"are you there"
        assert wait_dormant(srv, 1) == 1
        mask = os.urandom(4)
        body = b"unsolicited"
        raw = bytes([0x80 | OP_PONG, 0x80 | len(body)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(body))
        ws.sock.sendall(raw[:5])
        time.sleep(0.3)
        ws.sock.sendall(raw[5:])
        ws.send_frame(OP_PONG, b"whole, with a payload")
        assert ws.call("ping", {"echo": "still here"}, ref="p2")["d"]["echo"] == "still here"
    finally:
        ws.close()

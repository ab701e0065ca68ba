"""The WebSocket gateway (brd/chat.md "Connection"; api/asyncapi.yaml): auth before the
upgrade, hello, acks and errors, bad frames, heartbeats, the output bound, limits, multi-device
delivery, clean close on SIGTERM. Every frame received is checked against api/asyncapi.yaml
(wsclient.py). One test drives the gateway with python3-websockets."""
import asyncio
import json
import signal
import time
from pathlib import Path

import pytest
import websockets

import asyncapi_check
import social
import wsclient
from client import Client
from wsclient import Closed, HandshakeRefused, connect, port_of


# chorusd's warning when it closes a slow consumer (gateway/ws_conn.c)
SLOW_CLOSE_LOG = "closing it with 4008"


def _port(server):
    return port_of(server)


def test_upgrade_needs_a_valid_token(server, api, user):
    p = _port(server)
    for kw, code in [({}, "unauthorized"), ({"token": "nonsense"}, "invalid_token"),
                     ({"query_token": "a.b.c"}, "invalid_token")]:
        with pytest.raises(HandshakeRefused) as e:
            connect(p, **kw)
        assert e.value.status == 401
        assert e.value.headers["content-type"] == "application/problem+json"
        assert json.loads(e.value.body)["code"] == code
    # a plain GET (no Upgrade) with a good token is not a handshake
    r = Client(server.base_url).request("GET", "/v1/ws", token=user.access_token, check=False)
    assert r.status == 400 and r.json["code"] == "bad_request"


def test_hello_by_header_and_by_query(server, user):
    p = _port(server)
    for ws in (connect(p, token=user.access_token), connect(p, query_token=user.access_token)):
        h = ws.hello()
        assert int(h["d"]["session_id"]) > 0 and h["d"]["heartbeat_ms"] == 15000
        ws.close()


def test_ops_get_acks_and_errors(server, user):
    ws = connect(_port(server), token=user.access_token)
    ws.hello()
    ack = ws.call("ping", {"echo": "hi"}, ref="a1")
    assert ack["op"] == "ack" and ack["d"]["echo"] == "hi" and isinstance(ack["d"]["t"], int)
    err = ws.call("no.such.op", {}, ref="a2")
    assert err["op"] == "error" and err["d"]["code"] == "unknown_op"
    err = ws.call("presence.set", {"status": "away"}, ref="a3")
    assert err["op"] == "error" and err["d"]["code"] == "invalid_field"
    # an op without ref: no ack; the next op's ack comes next
    ws.send("ping", {})
    assert ws.call("ping", {}, ref="a4")["ref"] == "a4"
    ws.close()


def test_bad_frames_get_errors_and_the_connection_stays(server, user):
    ws = connect(_port(server), token=user.access_token)
    ws.hello()
    ws.send_text("{not json")
    m = ws.recv()
    assert m["op"] == "error" and m["d"]["code"] == "malformed_json" and "ref" not in m
    ws.send_text('["op"]')
    assert ws.recv()["d"]["code"] == "bad_request"
    ws.send_text(json.dumps({"op": "ping", "ref": "x" * 129}))
    assert ws.recv()["d"]["code"] == "bad_request"
    ws.send_frame(wsclient.OP_BINARY, b"\x00\x01")
    assert ws.recv()["d"]["code"] == "bad_request"
    big = json.dumps({"op": "ping", "ref": "big", "d": {"echo": "x" * (65 * 1024)}})
    ws.send_text(big)
    m = ws.recv()
    assert m["op"] == "error" and m["d"]["code"] == "payload_too_large"
    assert ws.call("ping", {}, ref="still")["op"] == "ack"  # the connection stays
    ws.close()


def test_repeated_abuse_closes_with_policy_code(server, user):
    ws = connect(_port(server), token=user.access_token)
    ws.hello()
    for _ in range(11):
        ws.send_text("garbage")
    assert ws.expect_close() == 1008


def test_multi_device_echo_of_presence_and_notifications(server, api, user, other):
    """Every device of a user gets the user's own events: presence changes (idle on every
    device) and in-app notifications (another user follows them)."""
    p = _port(server)
    d1, d2 = connect(p, token=user.access_token), connect(p, token=user.access_token)
    d1.hello(), d2.hello()
    assert d1.call("presence.set", {"status": "idle"}, ref="i1")["op"] == "ack"
    assert d2.call("presence.set", {"status": "idle"}, ref="i2")["op"] == "ack"
    for d in (d1, d2):  # "online" came first, at the first connection
        ev = d.recv_op("presence")
        while ev["d"]["status"] == "online":
            ev = d.recv_op("presence")
        assert ev["d"]["user_id"] == user.id and ev["d"]["status"] == "idle"
    social.follow(other, user)
    for d in (d1, d2):
        ev = d.recv_op("notification.new", timeout=20)
        assert ev["d"]["kind"] == "follow" and ev["d"]["actor_id"] == other.id
    d1.close(), d2.close()


def test_websockets_library_interoperates(server, user):
    """python3-websockets as the client: hello, an ack, the server's pings answered."""
    async def run():
        url = f"ws://127.0.0.1:{_port(server)}/v1/ws"
        async with websockets.connect(url, extra_headers={"Authorization": f"Bearer {user.access_token}"}) as ws:
            hello = json.loads(await ws.recv())
            asyncapi_check.check_server_frame(hello)
            await ws.send(json.dumps({"op": "ping", "ref": "w1", "d": {"echo": "lib"}}))
            ack = json.loads(await ws.recv())
            while ack["op"] == "presence":  # the user's own "online"
                asyncapi_check.check_server_frame(ack)
                ack = json.loads(await ws.recv())
            asyncapi_check.check_server_frame(ack)
            assert ack["ref"] == "w1" and ack["d"]["echo"] == "lib"
    asyncio.run(run())


def test_heartbeat_timeout_closes_a_silent_client(start_server, fresh_storage):
    # 1 s heartbeats (a client silent for two is closed): with 300 ms, a 600 ms pause of the
    # test or the server on a loaded machine could close a client that does answer.
    srv = start_server(env={"CHORUS_WS_HEARTBEAT_MS": "1000"})
    acc = srv.client().register()
    ws = connect(port_of(srv), token=acc.access_token)
    assert ws.hello()["d"]["heartbeat_ms"] == 1000
    # a client that answers pings stays (three heartbeats, counted rather than timed)
    ws.answer_pings(3)
    assert ws.call("ping", {}, ref="alive")["op"] == "ack"
    # one that answers nothing is closed with 4000
    silent = connect(port_of(srv), token=acc.access_token)
    silent.hello()
    code = None
    deadline = time.monotonic() + 30
    while code is None and time.monotonic() < deadline:
        try:
            silent.recv(timeout=1, answer_pings=False)
        except Closed as c:
            code = c.code
        except TimeoutError:
            pass
    assert code == 4000
    ws.close()


def test_slow_consumer_is_closed_with_4008(start_server):
    """A client that stops reading while its output grows: closed with 4008 once the queued
    bytes pass CHORUS_WS_OUTPUT_MAX, instead of the server's memory growing."""
    srv = start_server(env={"CHORUS_WS_OUTPUT_MAX": "65536"})
    acc = srv.client().register()
    ws = connect(port_of(srv), token=acc.access_token, rcvbuf=4096)
    ws.hello()
    echo = "e" * 60000
    sent = 0
    # Up to 24 MB of acks asked for, never read meanwhile; the sending stops once the server
    # says (its log) that it closed the connection. The close frame waits behind what was
    # queued, and the server drops the socket when its close is not answered within 2 s
    # (CH_WS_CLOSE_GRACE_MS): a client still pushing megabytes of pings through a loaded
    # server then (each one parsed) met a reset that discarded the 4008 frame.
    try:
        for i in range(400):
            ws.send("ping", {"echo": echo}, ref=f"s{i}")
            sent += 1
            if sent % 4 == 0 and SLOW_CLOSE_LOG in Path(srv.stderr_path).read_text(errors="replace"):
                break
    except OSError:
        pass  # the server closed the connection
    assert ws.expect_close(timeout=20) == 4008
    assert sent > 2
    # the server is fine
    assert srv.client().get("/healthz").status == 200


def test_connections_per_user_are_bounded(start_server):
    srv = start_server(env={"CHORUS_WS_MAX_PER_USER": "2"})
    acc = srv.client().register()
    p = port_of(srv)
    a, b = connect(p, token=acc.access_token), connect(p, token=acc.access_token)
    a.hello(), b.hello()
    with pytest.raises(HandshakeRefused) as e:
        connect(p, token=acc.access_token)
    assert e.value.status == 429 and json.loads(e.value.body)["code"] == "rate_limited"
    a.close()
    # the server frees the place once it has seen the close: a retry is accepted then
    deadline = time.monotonic() + 30
    while True:
        try:
            c = connect(p, token=acc.access_token)
            break
        except HandshakeRefused as e:
            assert e.status == 429 and time.monotonic() < deadline
    c.hello()
    b.close(), c.close()


def test_sigterm_closes_connections_with_1001(start_server):
    srv = start_server()
    acc = srv.client().register()
    ws = connect(port_of(srv), token=acc.access_token)
    ws.hello()
    srv.signal(signal.SIGTERM)
    assert ws.expect_close(timeout=15) == 1001
    ws.close()
    assert srv.proc.wait(15) == 0


def test_gateway_role_only(start_server):
    """Without the gateway role /v1/ws is not served (503 role_not_served)."""
    srv = start_server(env={"CHORUS_ROLES": "api,worker"})
    acc = srv.client().register()
    with pytest.raises(HandshakeRefused) as e:
        connect(port_of(srv), token=acc.access_token)
    assert e.value.status == 503 and json.loads(e.value.body)["code"] == "role_not_served"

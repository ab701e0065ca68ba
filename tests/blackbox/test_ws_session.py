"""The gateway and the session's life (api/asyncapi.yaml close codes 4001, 4003): a revoked
session cannot upgrade and its open connections are closed; a connection is closed once the
access token it was opened with expires."""
import json

import pytest

from wsclient import HandshakeRefused, connect, port_of


def test_revoked_session_cannot_upgrade_and_its_socket_is_closed(server, api, user):
    p = port_of(server)
    other_device = api.login(user.handle)
    ws_other = connect(p, token=other_device.access_token)
    ws_other.hello()
    mine = api.login(user.handle)
    ws = connect(p, token=mine.access_token)
    ws.hello()
    token = mine.access_token
    assert mine.post("/v1/auth/logout").status == 204
    assert ws.expect_close(timeout=15) == 4003
    # the access token is still within its lifetime, but its session is gone
    with pytest.raises(HandshakeRefused) as e:
        connect(p, token=token)
    assert e.value.status == 401 and json.loads(e.value.body)["code"] == "invalid_token"
    # the user's other session keeps its connection
    assert ws_other.call("ping", {}, ref="still")["op"] == "ack"
    ws_other.close()


def test_connection_closes_when_its_token_expires(start_server):
    # 1 s heartbeats: with 400 ms a loaded machine's 800 ms pause could close the client for
    # its silence (4000) before its token expired (4001)
    srv = start_server(env={"CHORUS_ACCESS_TTL": "2", "CHORUS_WS_HEARTBEAT_MS": "1000"})
    acc = srv.client().register()
    ws = connect(port_of(srv), token=acc.access_token)
    ws.hello()
    assert ws.expect_close(timeout=15) == 4001


def test_ops_share_the_users_write_limit(start_server):
    """An op that runs on a worker thread is charged to CHORUS_RATE_LIMIT_USER as an HTTP
    write is: past the limit it gets rate_limited, and so does the user's next HTTP write.
    (Not typing: it has its own throttle, test_presence_leftovers.py.)"""
    srv = start_server(env={"CHORUS_RATE_LIMIT_USER": "3"})
    acc = srv.client().register()
    ws = connect(port_of(srv), token=acc.access_token)
    ws.hello()
    codes = [ws.call("receipt.delivered", {"conversation_id": "1", "seq": 1}, ref=f"t{i}")["d"].get("code")
             for i in range(6)]
    assert "rate_limited" in codes, codes
    assert codes[-1] == "rate_limited"
    r = acc.patch("/v1/me", json={"bio": "x"})
    assert r.status == 429, r.describe()
    ws.close()


def test_ops_of_one_connection_run_in_order(server, user, other):
    """Messages sent one after another without waiting for the acks are stored in the order
    sent and acked in that order (one op of a connection at a time)."""
    import uuid

    from chat_helpers import conv, history
    cid = conv(user, other)["id"]
    ws = connect(port_of(server), token=user.access_token)
    ws.hello()
    n = 24
    for i in range(n):
        ws.send("message.send", {"conversation_id": cid, "client_msg_id": str(uuid.uuid4()), "text": f"m{i}"},
                ref=f"m{i}")
    acks = []
    while len(acks) < n:
        m = ws.recv(timeout=20)
        if m["op"] in ("ack", "error"):
            acks.append(m)
    assert [a["ref"] for a in acks] == [f"m{i}" for i in range(n)], [a["ref"] for a in acks]
    assert all(a["op"] == "ack" for a in acks), acks
    items = history(user, cid, limit=100)["items"]
    by_seq = sorted(items, key=lambda m: m["seq"])
    assert [m["text"] for m in by_seq] == [f"m{i}" for i in range(n)]
    ws.close()


def test_frame_over_the_hard_limit_closes_with_1009(server, user):
    """Frames over 64 KiB get an error; over 80 KiB the connection is closed (1009), not
    buffered up to a megabyte per connection."""
    ws = connect(port_of(server), token=user.access_token)
    ws.hello()
    ws.send_text(json.dumps({"op": "ping", "ref": "big", "d": {"echo": "x" * (100 * 1024)}}))
    assert ws.expect_close() == 1009


def test_forced_exit_with_connections_and_ops_open(start_server):
    """SIGTERM with a client that never answers the close frame and ops still queued: the
    drain's share of the shutdown grace (4/5 of 4 s) ends before the close grace (8 s), the
    loop ends with the connection open; the process exits cleanly, before the watchdog's 70
    (the harness fails on a sanitizer report). A 1 s grace left the backends 0.2 s to close,
    too little on a loaded machine."""
    import signal
    srv = start_server(env={"CHORUS_SHUTDOWN_GRACE": "4000", "CHORUS_WS_CLOSE_GRACE_MS": "8000"})
    acc = srv.client().register()
    ws = connect(port_of(srv), token=acc.access_token, rcvbuf=4096)
    ws.hello()
    for i in range(30):
        ws.send("typing", {"conversation_id": "1"}, ref=f"t{i}")
    srv.signal(signal.SIGTERM)
    assert srv.proc.wait(15) == 0
    ws.close()

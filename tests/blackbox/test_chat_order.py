"""Order of a conversation's message.new on each device (brd/chat.md: "per conversation a
device sees messages in seq order"), when a publisher is slow or dies between its commit and
its publish. The test-only hook CHORUS_TEST_CHAT_PUBLISH_DELAY_MS (svc/chat/publish_hook.c)
publishes a message whose text starts with "[test:delay-publish]" that many ms late, and one
starting with "[test:drop-publish]" never: seq n then reaches the gateway before n - 1, or
alone. The gateway holds a message ahead of a device's last seq for at most
CHORUS_WS_REORDER_HOLD_MS, then sends it with a gap marker the client fills from history;
what comes after its gap was announced is not delivered (seqs on a device only go up)."""
import re
import time

import pytest

from chat_helpers import conv, history, send
from client import expect_status
from conftest import MODE
from wsclient import connect, port_of

DELAY = "[test:delay-publish]"
DROP = "[test:drop-publish]"


def dev(server, acc):
    ws = connect(port_of(server), token=acc.access_token)
    ws.hello()
    return ws


def news(ws, count, timeout=20):
    """The next count message.new frames of ws (other events skipped)."""
    return [ws.recv_op("message.new", timeout=timeout) for _ in range(count)]


def metric(acc, name):
    """A counter of /metrics; 0 while it is not rendered yet."""
    m = re.search(rf"^{name} (\d+)$", expect_status(acc.get("/metrics"), 200).text, re.M)
    return int(m.group(1)) if m else 0


def seqs(frames):
    return [f["d"]["seq"] for f in frames]


def test_slow_publisher_is_waited_for(start_server):
    """seq 2's publication comes 1.5 s late (after seq 3's, whose publisher waits 1 s at
    most for it on PostgreSQL and not at all in the SQLite writer): every device still gets
    1, 2, 3, and no gap."""
    srv = start_server(env={"CHORUS_TEST_CHAT_PUBLISH_DELAY_MS": "1500", "CHORUS_WS_REORDER_HOLD_MS": "8000"},
                       name="order-slow")
    api = srv.client()
    a, b = api.register(), api.register()
    c = conv(a, b)
    devices = [dev(srv, b), dev(srv, b), dev(srv, a)]
    send(a, c["id"], "one")
    send(a, c["id"], DELAY + " two")
    send(a, c["id"], "three")
    for ws in devices:
        got = news(ws, 3)
        assert seqs(got) == [1, 2, 3]
        assert all("gap" not in f for f in got), got
        assert got[1]["d"]["text"] == DELAY + " two"
    for ws in devices:
        ws.close()


def test_dead_publisher_gives_a_gap_the_client_fills_from_history(start_server):
    """seq 2 is never published (its publisher died after the commit): seq 3 goes after the
    hold with a gap marker naming what is missing, history has it, and later messages follow
    as usual."""
    srv = start_server(env={"CHORUS_TEST_CHAT_PUBLISH_DELAY_MS": "0", "CHORUS_WS_REORDER_HOLD_MS": "500"},
                       name="order-dead")
    api = srv.client()
    a, b = api.register(), api.register()
    c = conv(a, b)
    ws = dev(srv, b)
    send(a, c["id"], "one")
    send(a, c["id"], DROP + " two")
    send(a, c["id"], "three")
    first, third = news(ws, 2)
    assert first["d"]["seq"] == 1 and "gap" not in first
    assert third["d"]["seq"] == 3
    assert third["gap"] == {"after_seq": 1, "before_seq": 3}
    filled = history(b, c["id"], after_seq=third["gap"]["after_seq"], before_seq=third["gap"]["before_seq"])
    assert [m["seq"] for m in filled["items"]] == [2]
    assert filled["items"][0]["text"] == DROP + " two"
    send(a, c["id"], "four")
    (fourth,) = news(ws, 1)
    assert fourth["d"]["seq"] == 4 and "gap" not in fourth
    ws.close()


def test_late_publication_after_its_gap_is_not_delivered(start_server):
    """No hold (CHORUS_WS_REORDER_HOLD_MS=0): seq 3 goes at once with its gap (on PostgreSQL
    after its publisher's 1 s wait for seq 2); seq 2, published 6 s late, is not delivered
    after it: the device's next frame is seq 4. (With 3 s, a send of seq 3 slower than 2 s
    on a loaded machine could let seq 2 be published first, and 1, 2, 3 arrive in order.)"""
    srv = start_server(env={"CHORUS_TEST_CHAT_PUBLISH_DELAY_MS": "6000", "CHORUS_WS_REORDER_HOLD_MS": "0"},
                       name="order-late")
    api = srv.client()
    a, b = api.register(), api.register()
    c = conv(a, b)
    ws = dev(srv, b)
    send(a, c["id"], "one")
    send(a, c["id"], DELAY + " two")
    send(a, c["id"], "three")
    got = news(ws, 2)
    assert seqs(got) == [1, 3]
    assert got[1]["gap"] == {"after_seq": 1, "before_seq": 3}
    # seq 2's late publication reaches the gateway and is dropped there
    deadline = time.monotonic() + 30
    while metric(b, "chorus_gateway_chat_late_dropped_total") < 1:
        assert time.monotonic() < deadline, "seq 2's late publication never reached the gateway"
        time.sleep(0.1)
    send(a, c["id"], "four")
    (fourth,) = news(ws, 1)
    assert fourth["d"]["seq"] == 4 and "gap" not in fourth
    ws.close()


def test_held_frames_are_bounded_per_connection(start_server):
    """seq 2 never comes and the hold is long: the connection holds at most 32 frames, then
    sends what it held with the gap rather than growing; nothing after the gap is lost."""
    srv = start_server(env={"CHORUS_TEST_CHAT_PUBLISH_DELAY_MS": "0", "CHORUS_WS_REORDER_HOLD_MS": "10000"},
                       name="order-bound")
    api = srv.client()
    a, b = api.register(), api.register()
    c = conv(a, b)
    ws = dev(srv, b)
    send(a, c["id"], "one")
    send(a, c["id"], DROP + " two")
    for i in range(3, 3 + 40):
        send(a, c["id"], f"m{i}")
    got = news(ws, 1 + 40, timeout=9)  # the bound, not the 10 s hold, lets them go
    assert seqs(got) == [1] + list(range(3, 43))
    assert [f.get("gap") for f in got if "gap" in f] == [{"after_seq": 1, "before_seq": 3}]
    ws.close()


@pytest.mark.skipif(MODE != "cluster", reason="needs PostgreSQL + Redis shared by two nodes")
def test_slow_publisher_on_another_node(start_server):
    """The sender's node publishes seq 2 late; devices on both nodes get 1, 2, 3 in order."""
    env = {"CHORUS_TEST_CHAT_PUBLISH_DELAY_MS": "1500", "CHORUS_WS_REORDER_HOLD_MS": "8000"}
    n1 = start_server(env=env, name="order-node1")
    n2 = start_server(env=env, storage=n1.storage_env, name="order-node2")
    api = n1.client()
    a, b = api.register(), api.register()
    c = conv(a, b)
    devices = [dev(n2, b), dev(n1, b), dev(n2, a)]
    send(a, c["id"], "one")
    send(a, c["id"], DELAY + " two")
    send(a, c["id"], "three")
    for ws in devices:
        got = news(ws, 3)
        assert seqs(got) == [1, 2, 3]
        assert all("gap" not in f for f in got), got
    for ws in devices:
        ws.close()

"""The gateway across nodes (cluster only): two chorusd sharing PostgreSQL + Redis deliver a
user's events to their devices on both; Redis restarted (the bus resubscribes, events flow
again); a node killed with SIGKILL takes its users' presence with it within 30 s."""
import signal
import time

import pytest

import social
from conftest import MODE
from wsclient import connect, port_of

pytestmark = pytest.mark.skipif(MODE != "cluster", reason="needs PostgreSQL + Redis shared by two nodes")


def two_nodes(start_server):
    n1 = start_server(name="ws-node1")
    n2 = start_server(storage=n1.storage_env, name="ws-node2")
    return n1, n2


def test_events_reach_devices_on_both_nodes(start_server):
    n1, n2 = two_nodes(start_server)
    a = n1.client().register()
    b = n1.client().register()
    d1 = connect(port_of(n1), token=a.access_token)
    d2 = connect(port_of(n2), token=a.access_token)
    d1.hello(), d2.hello()  # hello comes once the node's SUBSCRIBE was answered
    social.follow(b, a)  # a notification for a, made by whichever node's worker
    for d in (d1, d2):
        ev = d.recv_op("notification.new", timeout=20)
        assert ev["d"]["actor_id"] == b.id
    # presence: idle on both devices, seen by a mutual follower connected to node 2
    social.follow(a, b)
    w = connect(port_of(n2), token=b.access_token)
    w.hello()
    d1.call("presence.set", {"status": "idle"}, ref="1")
    d2.call("presence.set", {"status": "idle"}, ref="2")
    ev = w.recv_op("presence", timeout=30)
    while not (ev["d"]["user_id"] == a.id and ev["d"]["status"] == "idle"):
        ev = w.recv_op("presence", timeout=30)
    r = b.get(f"/v1/users/{a.id}/presence")
    assert r.status == 200 and r.json["status"] == "idle"
    for ws in (d1, d2, w):
        ws.close()


def test_redis_restart_resubscribes(start_server, redis_ctl):
    n1, n2 = two_nodes(start_server)
    a, b = n1.client().register(), n1.client().register()
    d2 = connect(port_of(n2), token=a.access_token)
    d2.hello()
    redis_ctl.stop()
    redis_ctl.start()
    # Once the node subscribed again, the device is told that events may have been lost
    # (resync), and events flow again.
    d2.recv_op("resync", timeout=30)
    social.follow(b, a)
    assert d2.recv_op("notification.new", timeout=20)["d"]["actor_id"] == b.id
    d2.close()


def test_killed_node_takes_presence_within_30s(start_server):
    n1, n2 = two_nodes(start_server)
    a, b = n1.client().register(), n1.client().register()
    social.follow(a, b)
    social.follow(b, a)
    d = connect(port_of(n2), token=a.access_token)
    d.hello()
    deadline = time.monotonic() + 30
    while b.get(f"/v1/users/{a.id}/presence").json["status"] != "online":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    n2.kill()
    killed_at = time.monotonic()
    while b.get(f"/v1/users/{a.id}/presence").json["status"] != "offline":
        assert time.monotonic() - killed_at < 40, "still online 40 s after its node was killed"
        time.sleep(0.5)
    # within the TTL (30 s) plus the heartbeat's own period
    assert time.monotonic() - killed_at <= 35

"""Presence (brd/chat.md "Typing and presence"): GET /v1/users/{id}/presence and who may
read it (mutual follows; a shared conversation comes with the chat package; never when
hidden or blocked), online / idle / offline with last_seen_at, `presence` events to those
who may see it, PATCH /v1/me/presence."""
import time

import pytest

import social
from client import expect_status
from wsclient import connect, port_of


def presence(viewer, target, status=200):
    r = viewer.get(f"/v1/users/{target.id}/presence")
    assert r.status == status, r.describe()
    return r.json


def wait_status(viewer, target, want, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        p = presence(viewer, target)
        if p["status"] == want or time.monotonic() > deadline:
            return p
        time.sleep(0.05)


def next_status(ws, user, status, timeout=30):
    """Reads presence events until one says user has status (a change may be announced twice
    when two updates cross: repeats are allowed, a wrong final state is not)."""
    deadline = time.monotonic() + timeout
    while True:
        ev = ws.recv_op("presence", timeout=max(0.01, deadline - time.monotonic()))
        if ev["d"]["user_id"] == user.id and ev["d"]["status"] == status:
            return ev


def mutual(a, b):
    social.follow(a, b)
    social.follow(b, a)


def test_visibility_rules(api):
    a, b, c, d = api.register(), api.register(), api.register(), api.register()
    assert presence(a, a)["status"] == "offline"  # one's own: always
    presence(b, a, 404)  # a stranger
    social.follow(b, a)
    presence(b, a, 404)  # one-way follow is not enough
    social.follow(a, b)
    p = presence(b, a)
    assert p["user_id"] == a.id and p["status"] == "offline" and p["last_seen_at"] is None
    # hidden: nobody else sees it, the user still does
    assert expect_status(a.patch("/v1/me/presence", json={"hidden": True}), 200).json == {"hidden": True}
    assert a.get("/v1/me/presence").json == {"hidden": True}
    presence(b, a, 404)
    presence(a, a)
    expect_status(a.patch("/v1/me/presence", json={"hidden": False}), 200)
    presence(b, a)
    expect_status(a.patch("/v1/me/presence", json={"hidden": "yes"}), 422)
    expect_status(a.patch("/v1/me/presence", json={"other": 1}), 422)
    # a block either way hides it
    mutual(c, a)
    presence(c, a)
    expect_status(a.post(f"/v1/users/{c.id}/block"), 204)
    presence(c, a, 404)
    # unknown and malformed ids
    r = d.get("/v1/users/999999999999/presence")
    assert r.status == 404
    assert d.get("/v1/users/abc/presence").status == 404


def test_online_idle_offline_and_events(server, api):
    a, b = api.register(), api.register()
    mutual(a, b)
    p = port_of(server)
    watcher = connect(p, token=b.access_token)
    watcher.hello()
    dev1, dev2 = connect(p, token=a.access_token), connect(p, token=a.access_token)
    dev1.hello(), dev2.hello()
    assert wait_status(b, a, "online")["status"] == "online"
    next_status(watcher, a, "online")
    # idle only when every device says so
    dev1.call("presence.set", {"status": "idle"}, ref="i")
    time.sleep(0.3)
    assert presence(b, a)["status"] == "online"
    dev2.call("presence.set", {"status": "idle"}, ref="i")
    assert wait_status(b, a, "idle")["status"] == "idle"
    next_status(watcher, a, "idle")
    dev2.call("presence.set", {"status": "online"}, ref="o")
    assert wait_status(b, a, "online")["status"] == "online"
    dev1.close(), dev2.close()
    p_off = wait_status(b, a, "offline")
    assert p_off["status"] == "offline" and p_off["last_seen_at"]
    assert next_status(watcher, a, "offline")["d"]["last_seen_at"]
    watcher.close()


def test_stranger_gets_no_presence_events(server, api):
    a, s = api.register(), api.register()
    p = port_of(server)
    ws = connect(p, token=s.access_token)
    ws.hello()
    dev = connect(p, token=a.access_token)
    dev.hello()
    wait_status(a, a, "online")
    dev.close()
    wait_status(a, a, "offline")
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        try:
            m = ws.recv(timeout=0.2, skip=())
        except TimeoutError:
            continue
        assert not (m["op"] == "presence" and m["d"]["user_id"] == a.id), m
    ws.close()


def test_shared_conversation_makes_presence_visible(api):
    """Sharing a conversation (svc/chat/share.h) is enough, without any follow."""
    import chat_helpers
    a, b, c = api.register(), api.register(), api.register()
    presence(b, a, 404)
    chat_helpers.conv(a, b)
    assert presence(b, a)["user_id"] == a.id
    presence(c, a, 404)


def test_conversation_peer_gets_presence_events(server, api):
    import chat_helpers
    a, peer = api.register(), api.register()
    chat_helpers.conv(a, peer)
    p = port_of(server)
    watcher = connect(p, token=peer.access_token)
    watcher.hello()
    dev = connect(p, token=a.access_token)
    dev.hello()
    next_status(watcher, a, "online")
    dev.close()
    next_status(watcher, a, "offline")
    watcher.close()


def test_blocked_conversation_peer_gets_no_presence_events(server, api):
    """A group shares a and b, and a blocks b afterwards: b's devices get no presence event of
    a (either way), while a third member's event still reaches b (and comes after a's would)."""
    import chat_helpers
    a, b, c = api.register(), api.register(), api.register()
    chat_helpers.conv(c, a, b)
    social.block(a, b)
    p = port_of(server)
    watcher = connect(p, token=b.access_token)
    watcher.hello()
    dev = connect(p, token=a.access_token)
    dev.hello()
    next_status(dev, a, "online")  # a's own event: published to everyone it goes to
    other = connect(p, token=c.access_token)
    other.hello()
    while True:
        ev = watcher.recv_op("presence", timeout=30)
        assert ev["d"]["user_id"] != a.id, ev
        if ev["d"]["user_id"] == c.id and ev["d"]["status"] == "online":
            break
    for ws in (watcher, dev, other):
        ws.close()

"""Many connections closing at once (issue 13; docs/design.md "Gateway", Registry): a
connection leaves its loop's list, its user's list and the loop's flush and sleep rounds
through links of its own (O(1), no walk of a list per close). What a user sees must stay
right: the survivors of a mass close, wherever they sat in the lists (first, middle, last
device of their user), still get every event once; users whose devices all went are gone
from the node (their places come back: the per-user and node limits count right); the
gauge chorus_gateway_connections comes back to the survivors."""
import re
import time
import uuid

import pytest

from chat_helpers import conv
from client import expect_status
from wsclient import HandshakeRefused, connect, port_of

USERS = 12
DEVICES = 6  # per user, CHORUS_WS_MAX_PER_USER
GONE = 2  # the last GONE users lose every device


def gauge(srv):
    text = expect_status(srv.client().get("/metrics"), 200).text
    m = re.search(r"^chorus_gateway_connections (\d+)$", text, re.M)
    assert m, "chorus_gateway_connections missing from /metrics"
    return int(m.group(1))


def wait_gauge(srv, want, bound_s=30):
    """The gauge reaches want (the server saw every close); a bound on correctness, not a
    speed check."""
    deadline = time.monotonic() + bound_s
    while (got := gauge(srv)) != want:
        assert time.monotonic() < deadline, f"chorus_gateway_connections stays {got}, not {want}"
        time.sleep(0.1)


def message_ids(ws, want, bound_s=30):
    """The ids of the message.new frames ws gets until it has want of them (or the bound)."""
    got = []
    deadline = time.monotonic() + bound_s
    while len(got) < want and time.monotonic() < deadline:
        try:
            f = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            break
        if f["op"] == "message.new":
            got.append(f["d"]["id"])
    return got


def test_a_mass_close_keeps_the_survivors_and_frees_the_places(start_server):
    srv = start_server(env={"CHORUS_WS_MAX_PER_USER": str(DEVICES)})
    p = port_of(srv)
    api = srv.client()
    users = [api.register() for _ in range(USERS)]
    group = conv(users[0], *users[1:], title="mass close")
    devices = []
    for u in users:
        row = []
        for _ in range(DEVICES):
            ws = connect(p, token=u.access_token)
            ws.hello()
            row.append(ws)
        devices.append(row)
    wait_gauge(srv, USERS * DEVICES)

    # one survivor per user at a position that moves through the user's list (its devices
    # are listed newest first), none for the last GONE users; the rest close at once, half
    # with a close frame, half by dropping the socket
    survivors, closing = [], []
    for i, row in enumerate(devices):
        keep = i % DEVICES if i < USERS - GONE else None
        for k, ws in enumerate(row):
            (survivors if k == keep else closing).append((i, ws))
    for n, (_, ws) in enumerate(closing):
        if n % 2:
            ws.close()
        else:
            ws.sock.close()
    wait_gauge(srv, len(survivors))

    # every survivor gets the next message once, nothing for anyone else
    r = expect_status(users[0].post(f"/v1/conversations/{group['id']}/messages",
                                json={"client_msg_id": str(uuid.uuid4()), "text": "after the mass close"}), 201)
    mid = r.json["id"]
    for i, ws in survivors:
        assert message_ids(ws, 1) == [mid], f"survivor of user {i}"
    # and no second copy behind it
    for i, ws in survivors:
        assert message_ids(ws, 1, bound_s=0.3) == [], f"a second copy reached user {i}"

    # the users whose devices all went have their places back, bounded as before
    for u in users[USERS - GONE:]:
        row = [connect(p, token=u.access_token) for _ in range(DEVICES)]
        for ws in row:
            ws.hello()
        with pytest.raises(HandshakeRefused) as e:
            connect(p, token=u.access_token)
        assert e.value.status == 429
        r = expect_status(users[0].post(f"/v1/conversations/{group['id']}/messages",
                                        json={"client_msg_id": str(uuid.uuid4()), "text": "back"}), 201)
        for ws in row:
            assert message_ids(ws, 1) == [r.json["id"]]
            ws.close()
        for _, ws in survivors:  # drained for the next round's check
            assert message_ids(ws, 1) == [r.json["id"]]
    for _, ws in survivors:
        ws.close()
    wait_gauge(srv, 0)

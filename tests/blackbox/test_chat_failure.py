"""Chat when a backend fails (cluster only): PostgreSQL stopped under concurrent senders
answers 503 fast, every message acknowledged before is kept, retries of the unacknowledged
ones (same client_msg_id) land exactly once, and seqs stay gapless; Redis stopped leaves
sending and history working (events and typing are dropped meanwhile: devices catch up from
history)."""
import threading
import uuid

import pytest

from chat_helpers import conv, history, send
from client import expect_problem, expect_status
from conftest import MODE
from test_backend_failure import timed, wait_ready

pytestmark = pytest.mark.skipif(MODE != "cluster", reason="needs CHORUS_BACKENDS=cluster")

SENDERS = 4


def all_messages(acc, cid):
    out, after = [], 0
    while True:
        page = history(acc, cid, after_seq=after, limit=200)
        out += page["items"]
        if not page["has_more"]:
            return out
        after = page["items"][-1]["seq"]


def test_postgres_down_loses_nothing_acknowledged(start_server, pg_ctl):
    srv = start_server(name="chat-pg-outage")
    c = srv.client()
    accs = [c.register() for _ in range(SENDERS)]
    g = conv(accs[0], *accs[1:])
    cid = g["id"]
    acked = {}           # client_msg_id -> message, answered 2xx
    failed = {}          # thread -> the client_msg_id answered 503, to retry
    lock = threading.Lock()
    half = threading.Barrier(SENDERS + 1)

    def sender(k):
        acc = accs[k]
        for i in range(400):
            if i == 5:
                half.wait()  # each thread has 5 acknowledged before PostgreSQL goes
            key = f"{k}-{i}-{uuid.uuid4()}"
            r = timed(acc.post, f"/v1/conversations/{cid}/messages", json={"client_msg_id": key, "text": key})
            if r.status == 503:
                expect_problem(r, 503, "unavailable")
                failed[k] = key
                return
            assert r.status == 201, r.describe()
            with lock:
                acked[key] = r.json
        raise AssertionError("PostgreSQL stopped, yet 400 messages were acknowledged")

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(SENDERS)]
    for t in threads:
        t.start()
    half.wait()
    pg_ctl.stop()
    try:
        for t in threads:
            t.join()
        expect_problem(timed(accs[1].get, f"/v1/conversations/{cid}/messages"), 503, "unavailable")
        expect_problem(timed(accs[1].post, f"/v1/conversations/{cid}/read", json={"seq": 1}), 503, "unavailable")
    finally:
        pg_ctl.start()
    wait_ready(c)
    assert len(failed) == SENDERS, failed
    # Every retry lands once (201, or 200 when the 503 came after the commit).
    for k, key in failed.items():
        r = accs[k].post(f"/v1/conversations/{cid}/messages", json={"client_msg_id": key, "text": key})
        assert r.status in (200, 201), r.describe()
        acked[key] = r.json
        again = expect_status(accs[k].post(f"/v1/conversations/{cid}/messages",
                                           json={"client_msg_id": key, "text": key}), 200).json
        assert again == r.json
    msgs = all_messages(accs[0], cid)
    assert [m["seq"] for m in msgs] == list(range(1, len(msgs) + 1))
    assert len({m["client_msg_id"] for m in msgs}) == len(msgs)
    by_key = {m["client_msg_id"]: m for m in msgs}
    assert set(by_key) == set(acked)
    for key, m in acked.items():
        assert (by_key[key]["id"], by_key[key]["seq"]) == (m["id"], m["seq"])


def test_redis_down_keeps_chat_working(start_server, redis_ctl):
    srv = start_server(name="chat-redis-outage")
    c = srv.client()
    a, b = c.register(), c.register()
    d = conv(a, b)
    send(a, d["id"], "before")
    redis_ctl.stop()
    try:
        m = timed(a.post, f"/v1/conversations/{d['id']}/messages", json={"client_msg_id": "during", "text": "during"})
        assert m.status == 201, m.describe()
        assert [x["text"] for x in history(b, d["id"])["items"]] == ["before", "during"]
        r = expect_status(timed(b.post, f"/v1/conversations/{d['id']}/read", json={"seq": 2}), 200).json
        assert r["read_seq"] == 2
    finally:
        redis_ctl.start()
    send(b, d["id"], "after")
    assert [x["seq"] for x in history(a, d["id"])["items"]] == [1, 2, 3]


def test_retry_publishes_a_lost_message_new(start_server, redis_ctl):
    """A message committed while Redis was down had its message.new lost: a retry of its
    client_msg_id (200, the original) publishes it again once Redis is back."""
    from wsclient import connect, port_of
    srv = start_server(name="chat-republish")
    c = srv.client()
    a, b = c.register(), c.register()
    d = conv(a, b)
    send(a, d["id"], "before")
    redis_ctl.stop()
    try:
        m = timed(a.post, f"/v1/conversations/{d['id']}/messages", json={"client_msg_id": "lost", "text": "lost"})
        assert m.status == 201, m.describe()
    finally:
        redis_ctl.start()
    wait_ready(c)
    from notify_helpers import wait_until
    from test_kv_degraded import metric
    wait_until(lambda: metric(c, "chorus_kv_up") == 1, "chorus_kv_up 1 after Redis returned")
    ws = connect(port_of(srv), token=b.access_token)
    try:
        ws.hello()
        # The bus works again: a message of another conversation reaches b's device.
        probe = conv(a, c.register(), b)
        send(a, probe["id"], "probe")
        assert ws.recv_op("message.new")["d"]["text"] == "probe"
        again = expect_status(a.post(f"/v1/conversations/{d['id']}/messages",
                                     json={"client_msg_id": "lost", "text": "lost"}), 200).json
        assert again == m.json
        ev = ws.recv_op("message.new")["d"]
        assert (ev["id"], ev["seq"]) == (m.json["id"], 2)
    finally:
        ws.close()

"""Chat group commit on PostgreSQL across two nodes (issue 13, chatpg17): each node's writer
puts many sends in one transaction, and two writers on one conversation must still give
gapless seqs, each once, in commit order on every device; writers of two conversations that
lock them in opposite queue orders must not deadlock; a client_msg_id sent to both nodes at
once stores one message and both answers are that message."""
import threading
import uuid

import pytest

from chat_helpers import conv, history
from conftest import MODE
from wsclient import connect, port_of

pytestmark = pytest.mark.skipif(MODE != "cluster", reason="needs PostgreSQL + Redis shared by two nodes")

# off by default on PostgreSQL (README): these tests turn it on
GROUP_COMMIT = {"CHORUS_CHAT_GROUP_COMMIT": "1"}


def two_nodes(start_server):
    # replicas stamp their CHORUS_NODE_ID into ids: two nodes both 0 make the same message id
    # in the same millisecond, as a misconfigured deployment would
    n1 = start_server(env={**GROUP_COMMIT, "CHORUS_NODE_ID": "1"}, name="chatpg-node1")
    n2 = start_server(env={**GROUP_COMMIT, "CHORUS_NODE_ID": "2"}, storage=n1.storage_env, name="chatpg-node2")
    return n1, n2


def dev(node, acc):
    ws = connect(port_of(node), token=acc.access_token)
    ws.hello()
    return ws


def answers(ws, refs, timeout=60):
    """The ack/error frames of refs, in the order they came."""
    got = []
    while len(got) < len(refs):
        m = ws.recv(timeout=timeout)
        if m["op"] in ("ack", "error") and m.get("ref") in refs:
            got.append(m)
    return got


def new_messages(ws, cid, count, timeout=60):
    """The next count message.new frames of conversation cid on ws (others skipped)."""
    out = []
    while len(out) < count:
        m = ws.recv_op("message.new", timeout=timeout)
        if m["d"]["conversation_id"] == cid:
            out.append(m)
    return out


def all_messages(acc, cid):
    out, after = [], 0
    while True:
        page = history(acc, cid, after_seq=after, limit=200)
        out += page["items"]
        if not page["has_more"]:
            return out
        after = page["items"][-1]["seq"]


def test_two_nodes_sending_to_two_conversations_at_once(start_server):
    n1, n2 = two_nodes(start_server)
    c = n1.client()
    a, b, w = c.register(), c.register(), c.register()
    g1 = conv(a, b, w, title="one")
    g2 = conv(a, b, w, title="two")
    # each node's senders alternate the two conversations in the opposite order, so that two
    # batches want both rows in opposite orders
    senders = [(dev(n1, a), (g1, g2)), (dev(n2, b), (g2, g1)), (dev(n1, b), (g1, g2)), (dev(n2, a), (g2, g1))]
    watchers = [dev(n1, w), dev(n2, w)]
    rounds = 14  # 28 ops in flight per connection, under its bound of 32
    try:
        refs = {}
        for i in range(rounds):  # nobody waits for an ack
            for k, (ws, order) in enumerate(senders):
                for g in order:
                    ref = f"{k}-{i}-{g['id']}"
                    ws.send("message.send", {"conversation_id": g["id"], "client_msg_id": str(uuid.uuid4()),
                                             "text": ref}, ref=ref)
                    refs.setdefault(k, []).append(ref)
        seqs = {g1["id"]: [], g2["id"]: []}
        for k, (ws, _) in enumerate(senders):
            got = answers(ws, set(refs[k]))
            assert all(m["op"] == "ack" for m in got), [m for m in got if m["op"] != "ack"][:1]
            assert [m["ref"] for m in got] == refs[k]  # acks in the order the ops went
            for m in got:
                seqs[m["d"]["conversation_id"]].append(m["d"]["seq"])
        per_conv = rounds * len(senders)
        for cid, got in seqs.items():
            assert sorted(got) == list(range(1, per_conv + 1)), cid  # gapless, each once
            msgs = all_messages(a, cid)
            assert [m["seq"] for m in msgs] == list(range(1, per_conv + 1))
            assert len({m["id"] for m in msgs}) == per_conv
        # every device, on either node, sees each conversation in seq order, without a gap
        for ws in watchers:
            got = {g1["id"]: [], g2["id"]: []}
            while len(got[g1["id"]]) + len(got[g2["id"]]) < 2 * per_conv:
                m = ws.recv_op("message.new", timeout=60)
                assert "gap" not in m["d"], m["d"].get("gap")
                got[m["d"]["conversation_id"]].append(m["d"]["seq"])
            for cid, s in got.items():
                assert s == list(range(1, per_conv + 1)), cid
    finally:
        for ws, _ in senders:
            ws.close()
        for ws in watchers:
            ws.close()


def test_same_client_msg_id_on_both_nodes_at_once(start_server):
    """Both nodes' writers take the same keys in their batches at the same moment: one of
    them stores each message, the other's send waits on the unique index and answers with the
    message that won (not a 409); nothing is stored twice."""
    n1, n2 = two_nodes(start_server)
    c = n1.client()
    a, b = c.register(), c.register()
    g = conv(a, b, title="twice")
    d1, d2 = dev(n1, a), dev(n2, a)
    keys = [f"k{i}-{uuid.uuid4()}" for i in range(30)]  # under a connection's 32 ops in flight
    try:
        go = threading.Barrier(2)

        def blast(ws, tag):
            go.wait()
            for key in keys:
                ws.send("message.send", {"conversation_id": g["id"], "client_msg_id": key, "text": key},
                        ref=f"{tag}-{key}")

        threads = [threading.Thread(target=blast, args=(ws, tag)) for ws, tag in ((d1, "n1"), (d2, "n2"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got1 = answers(d1, {f"n1-{k}" for k in keys})
        got2 = answers(d2, {f"n2-{k}" for k in keys})
        for got in (got1, got2):
            assert all(m["op"] == "ack" for m in got), [m for m in got if m["op"] != "ack"][:1]
        one = {m["d"]["client_msg_id"]: (m["d"]["id"], m["d"]["seq"]) for m in got1}
        two = {m["d"]["client_msg_id"]: (m["d"]["id"], m["d"]["seq"]) for m in got2}
        assert one == two  # both nodes answered each key with the same message
        msgs = all_messages(b, g["id"])
        assert [m["seq"] for m in msgs] == list(range(1, len(keys) + 1))
        assert sorted(m["client_msg_id"] for m in msgs) == sorted(keys)
        # and a later retry on the other node is answered with the original (REST: 200)
        r = n2.client().post(f"/v1/conversations/{g['id']}/messages", token=a.access_token,
                             json={"client_msg_id": keys[0], "text": keys[0]})
        assert r.status == 200 and (r.json["id"], r.json["seq"]) == one[keys[0]], r.describe()
    finally:
        d1.close()
        d2.close()

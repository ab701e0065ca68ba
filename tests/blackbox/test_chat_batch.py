"""Chat sends at speed (issue 13): with the SQLite backends many sends share one transaction
(group commit, svc/chat/send_writer.c) and a connection's consecutive message.send ops are
handed over without waiting for the previous ack. What a user sees must not change: sends
from several connections without waiting for acks get gapless seqs, every device sees
message.new in seq order, each connection's acks come in the order its ops went (a receipt op
in between included), and a send that is refused (not a member, a client_msg_id of another
conversation) fails alone. On PostgreSQL the same holds with a transaction per send."""
import uuid

from chat_helpers import conv, history
from wsclient import connect, port_of


def dev(server, acc):
    ws = connect(port_of(server), token=acc.access_token)
    ws.hello()
    return ws


def answers(ws, refs, timeout=30):
    """The ack/error frames of refs (in the order they came) and the message.new seqs seen."""
    got, seqs = [], []
    while len(got) < len(refs):
        m = ws.recv(timeout=timeout)
        if m["op"] in ("ack", "error") and m.get("ref") in refs:
            got.append(m)
        elif m["op"] == "message.new":
            seqs.append(m["d"]["seq"])
    return got, seqs


def test_pipelined_senders_gapless_in_order(server, api, user, other):
    third = api.register()
    g = conv(user, other, third, title="busy")
    senders = [dev(server, acc) for acc in (user, other, third, other)]
    watcher = dev(server, user)
    n = 25
    try:
        sent = {}
        for i in range(n):  # interleaved, nobody waits for an ack
            for k, ws in enumerate(senders):
                ref = f"s{k}-{i}"
                ws.send("message.send", {"conversation_id": g["id"], "client_msg_id": str(uuid.uuid4()),
                                         "text": ref}, ref=ref)
                sent.setdefault(k, []).append(ref)
        total = n * len(senders)
        all_seqs = []
        for k, ws in enumerate(senders):
            got, _ = answers(ws, set(sent[k]))
            assert [m["ref"] for m in got] == sent[k]  # acks in the order the ops went
            assert all(m["op"] == "ack" for m in got), [m for m in got if m["op"] != "ack"][:1]
            seqs = [m["d"]["seq"] for m in got]
            assert seqs == sorted(seqs)  # one connection's messages stored in its order
            assert [m["d"]["text"] for m in got] == sent[k]
            all_seqs += seqs
        assert sorted(all_seqs) == list(range(1, total + 1))  # gapless, each once
        seen = [watcher.recv_op("message.new", timeout=30)["d"]["seq"] for _ in range(total)]
        assert seen == list(range(1, total + 1))
        assert history(user, g["id"])["last_seq"] == total
    finally:
        for ws in senders + [watcher]:
            ws.close()


def test_refused_sends_fail_alone(server, api, user, other):
    outsider = api.register()
    g = conv(user, other, title="mixed")
    elsewhere = conv(user, outsider)
    a, b, x = dev(server, user), dev(server, other), dev(server, outsider)
    try:
        used = str(uuid.uuid4())
        ack = a.call("message.send", {"conversation_id": elsewhere["id"], "client_msg_id": used, "text": "x"},
                     ref="pre")
        assert ack["op"] == "ack"
        # all at once: the refused ones land among the good ones
        x.send("message.send", {"conversation_id": g["id"], "client_msg_id": "no", "text": "x"}, ref="x1")
        for i in range(6):
            a.send("message.send", {"conversation_id": g["id"], "client_msg_id": str(uuid.uuid4()), "text": f"a{i}"},
                   ref=f"a{i}")
            b.send("message.send", {"conversation_id": g["id"], "client_msg_id": str(uuid.uuid4()), "text": f"b{i}"},
                   ref=f"b{i}")
            if i == 2:
                a.send("message.send", {"conversation_id": g["id"], "client_msg_id": used, "text": "reuse"},
                       ref="reuse")
                a.send("receipt.read", {"conversation_id": g["id"], "seq": 1}, ref="read")
        got_a, _ = answers(a, {f"a{i}" for i in range(6)} | {"reuse", "read"})
        assert [m["ref"] for m in got_a] == ["a0", "a1", "a2", "reuse", "read", "a3", "a4", "a5"]
        by_ref = {m["ref"]: m for m in got_a}
        assert by_ref["reuse"]["op"] == "error" and by_ref["reuse"]["d"]["code"] == "conflict"
        assert by_ref["read"]["op"] == "ack"
        got_b, _ = answers(b, {f"b{i}" for i in range(6)})
        got_x, _ = answers(x, {"x1"})
        assert got_x[0]["op"] == "error" and got_x[0]["d"]["code"] == "not_found"
        ok = [m for m in got_a + got_b if m["op"] == "ack" and m["ref"] not in ("read",)]
        assert len(ok) == 12
        assert sorted(m["d"]["seq"] for m in ok) == list(range(1, 13))
        items = history(user, g["id"], limit=100)["items"]
        assert [m["seq"] for m in items] == list(range(1, 13))
        assert sorted(m["text"] for m in items) == sorted([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(6)])
        assert history(outsider, elsewhere["id"])["last_seq"] == 1
    finally:
        for ws in (a, b, x):
            ws.close()


def test_refusal_on_the_loop_acked_in_order(server, user, other):
    """A message.send refused before it reaches the writer (a bad payload) behind pipelined
    sends is answered after their acks, not at once."""
    g = conv(user, other, title="order")
    a = dev(server, user)
    try:
        refs = []
        for i in range(20):
            a.send("message.send", {"conversation_id": g["id"], "client_msg_id": str(uuid.uuid4()), "text": f"p{i}"},
                   ref=f"p{i}")
            refs.append(f"p{i}")
        a.send("message.send", {"conversation_id": g["id"], "client_msg_id": str(uuid.uuid4())}, ref="bad")
        refs.append("bad")
        for i in range(20, 23):
            a.send("message.send", {"conversation_id": g["id"], "client_msg_id": str(uuid.uuid4()), "text": f"p{i}"},
                   ref=f"p{i}")
            refs.append(f"p{i}")
        got, _ = answers(a, set(refs))
        assert [m["ref"] for m in got] == refs
        by_ref = {m["ref"]: m for m in got}
        assert by_ref["bad"]["op"] == "error", by_ref["bad"]
        assert all(by_ref[r]["op"] == "ack" for r in refs if r != "bad")
    finally:
        a.close()


def test_retries_in_and_across_batches(server, api, user, other):
    """A client_msg_id sent again (right behind the first, in the same batch or the next, or
    after all were stored, more than one lookup statement's worth at once) is answered with
    the original message and stores nothing."""
    g = conv(user, other, title="retries")
    devs = [dev(server, acc) for acc in (user, other, user, other)]
    try:
        plan = {}  # device -> [(ref, cmid)]
        for i in range(24):
            for k, ws in enumerate(devs):
                cmid = f"d{k}-{i}"
                for rep in ((0, 1) if i % 4 == 0 else (0,)):
                    ref = f"{cmid}-{rep}"
                    ws.send("message.send", {"conversation_id": g["id"], "client_msg_id": cmid, "text": cmid},
                            ref=ref)
                    plan.setdefault(k, []).append((ref, cmid))
        first = {}
        for k, ws in enumerate(devs):
            got, _ = answers(ws, {ref for ref, _ in plan[k]})
            assert all(m["op"] == "ack" for m in got), [m for m in got if m["op"] != "ack"][:1]
            for m, (ref, cmid) in zip(got, plan[k]):
                assert m["ref"] == ref and m["d"]["client_msg_id"] == cmid
                if cmid in first:  # the retry: the original
                    assert (m["d"]["id"], m["d"]["seq"]) == first[cmid]
                first.setdefault(cmid, (m["d"]["id"], m["d"]["seq"]))
        total = 24 * len(devs)
        assert sorted(s for _, s in first.values()) == list(range(1, total + 1))
        for k, ws in enumerate(devs):  # every one of them again, all at once
            for ref, cmid in plan[k]:
                ws.send("message.send", {"conversation_id": g["id"], "client_msg_id": cmid, "text": cmid},
                        ref="again-" + ref)
        for k, ws in enumerate(devs):
            got, _ = answers(ws, {"again-" + ref for ref, _ in plan[k]})
            assert [(m["op"], m["d"]["id"], m["d"]["seq"]) for m in got] == \
                [("ack",) + first[cmid] for _, cmid in plan[k]]
        assert history(user, g["id"])["last_seq"] == total
    finally:
        for ws in devs:
            ws.close()

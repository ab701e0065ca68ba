"""api/asyncapi.yaml against the gateway's op table: every client op in
src/gateway/ws_ops_*.def is documented, and nothing documented is missing from the table.
(Every frame the gateway tests receive is checked against the document by wsclient.py.)"""
import re
from pathlib import Path

import asyncapi_check

ROOT = Path(__file__).resolve().parents[2]


def test_every_op_of_the_table_is_documented():
    table = set()
    for f in sorted((ROOT / "src" / "gateway").glob("ws_ops_*.def")):
        table |= set(re.findall(r'^\s*\{\s*"([^"]+)"\s*,', f.read_text(), re.M))
    assert table, "no op rows found"
    documented = asyncapi_check.client_ops()
    assert table == documented, f"in the table only: {sorted(table - documented)}; " \
                                f"documented only: {sorted(documented - table)}"


def test_server_frames_are_documented():
    assert {"hello", "ack", "error", "presence", "notification.new", "message.new"} <= asyncapi_check.server_ops()


def test_chat_frames_match_the_document(server, api):
    """message.send over the gateway: the ack, message.new on the recipient's devices and on
    the sender's other device, typing and receipt events — each frame checked by wsclient."""
    import uuid

    import chat_helpers
    from wsclient import connect, port_of
    a, b = api.register(), api.register()
    cid = chat_helpers.conv(a, b)["id"]
    p = port_of(server)
    a1, a2, b1 = (connect(p, token=t) for t in (a.access_token, a.access_token, b.access_token))
    for w in (a1, a2, b1):
        w.hello()
    ack = a1.call("message.send", {"conversation_id": cid, "client_msg_id": str(uuid.uuid4()), "text": "hello"},
                  ref="m1")
    assert ack["op"] == "ack" and ack["d"]["seq"] == 1, ack
    for w in (a2, b1):
        m = w.recv_op("message.new")
        assert m["d"]["text"] == "hello" and m["d"]["conversation_id"] == cid
    assert a1.call("typing", {"conversation_id": cid}, ref="t")["op"] == "ack"
    assert b1.recv_op("typing")["d"]["user_id"] == a.id
    assert b1.call("receipt.read", {"conversation_id": cid, "seq": 1}, ref="r")["op"] == "ack"
    assert a2.recv_op("receipt")["d"]["read_seq"] == 1
    for w in (a1, a2, b1):
        w.close()

"""A gateway connection's outgoing frames are gathered and written together (issue 13,
throughput; docs/design.md "Gateway"): answers to many requests that arrive in one read go
out in far fewer socket writes than frames (h2o's own send path wrote every frame's header
and payload apart, one loop round each). Seen through chorus_gateway_ws_frames_sent_total
and chorus_gateway_ws_writes_total; every answer still arrives, in order."""
import json
import re

from client import expect_status
from wsclient import OP_TEXT, _mask, connect, port_of

BURST = 40


def counters(srv):
    text = expect_status(srv.client().get("/metrics"), 200).text
    got = {}
    for name in ("chorus_gateway_ws_frames_sent_total", "chorus_gateway_ws_writes_total"):
        m = re.search(rf"^{name} (\d+)$", text, re.M)
        assert m, f"{name} missing from /metrics"
        got[name] = int(m.group(1))
    return got["chorus_gateway_ws_frames_sent_total"], got["chorus_gateway_ws_writes_total"]


def test_a_burst_of_answers_goes_out_in_few_writes(start_server):
    srv = start_server()
    acc = srv.client().register()
    ws = connect(port_of(srv), token=acc.access_token)
    try:
        ws.hello()
        frames0, writes0 = counters(srv)
        raw = b""
        for i in range(BURST):  # one sendall: the server reads them in one go
            payload = json.dumps({"op": "ping", "ref": f"p{i}", "d": {"echo": str(i)}}).encode()
            mask = bytes([1, 2, 3, 4])
            raw += bytes([0x80 | OP_TEXT, 0x80 | len(payload)]) + mask + _mask(payload, mask)
        ws.sock.sendall(raw)
        refs = []
        while len(refs) < BURST:
            f = ws.recv()
            if f.get("ref", "").startswith("p"):
                refs.append(f["ref"])
        assert refs == [f"p{i}" for i in range(BURST)]
        frames1, writes1 = counters(srv)
        frames, writes = frames1 - frames0, writes1 - writes0
        assert frames >= BURST
        # gathered: a write carries many frames (a bound far from both ends: a loaded machine
        # may split the burst across a few reads, never into a write per frame)
        assert writes * 4 <= frames, (frames, writes)
    finally:
        ws.close()

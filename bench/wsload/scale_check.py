"""The cross-process check of bench/wsload/scale.sh: while the idle connections are held, a
user's devices on different chorusd gateway processes all get a message sent to the user.

The recipient is the second member of the first conversation of DIRECT (setup.py's
direct.txt); one device of it connects to each gateway port given, then the first member sends
a message over REST (POST /v1/conversations/{id}/messages on the API process). Every device
must get its message.new within TIMEOUT seconds. Prints one JSON line; exits 1 when a device
missed it. python3-websockets (Debian) answers the gateway's pings.

Usage: scale_check.py API_PORT GATEWAY_PORT,GATEWAY_PORT[,...] USERS DIRECT [TIMEOUT]"""
import asyncio
import http.client
import json
import sys
import time
import uuid

import websockets


def tokens(path):
    out = {}
    with open(path) as f:
        for line in f:
            uid, tok = line.split()
            out.setdefault(uid, tok)
    return out


async def device(port, token):
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/v1/ws", extra_headers={"Authorization": f"Bearer {token}"},
                                  ping_interval=None, open_timeout=30)
    hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
    if hello.get("op") != "hello":
        raise SystemExit(f"scale_check: the first frame on port {port} is not hello: {hello}")
    return ws


async def wait_for(ws, text, deadline):
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            m = json.loads(await asyncio.wait_for(ws.recv(), left))
        except asyncio.TimeoutError:
            return None
        if m.get("op") == "message.new" and m.get("d", {}).get("text") == text:
            return time.monotonic()


def send(api_port, conv_id, token, text):
    conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=30)
    conn.request("POST", f"/v1/conversations/{conv_id}/messages",
                 body=json.dumps({"client_msg_id": str(uuid.uuid4()), "text": text}),
                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if resp.status not in (200, 201):
        raise SystemExit(f"scale_check: the send answered {resp.status}: {body[:300]!r}")


async def main():
    api_port, ports, users_path, direct_path = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3], sys.argv[4]
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 10.0
    with open(direct_path) as f:
        conv_id, sender, recipient = f.readline().split()
    tok = tokens(users_path)
    devices = [await device(int(p), tok[recipient]) for p in ports]
    text = f"scale check {uuid.uuid4()}"
    t0 = time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, send, api_port, conv_id, tok[sender], text)
    deadline = t0 + timeout
    got = await asyncio.gather(*(wait_for(ws, text, deadline) for ws in devices))
    for ws in devices:
        await ws.close()
    reached = [g for g in got if g is not None]
    print(json.dumps({"devices": len(devices), "gateway_ports": ports, "reached": len(reached),
                      "slowest_ms": round((max(reached) - t0) * 1000, 1) if reached else None}))
    return 0 if len(reached) == len(devices) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

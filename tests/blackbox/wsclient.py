"""A small synchronous WebSocket client for the gateway tests (RFC 6455 over a plain socket):
full control over what is sent, read, answered (pings) or not, which the slow-consumer,
heartbeat and bad-frame tests need. Every text frame received is checked against
api/asyncapi.yaml (asyncapi_check.py). The interoperability test uses python3-websockets."""
import base64
import json
import os
import socket
import struct
import time

import asyncapi_check

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 1, 2, 8, 9, 10

# How long a read waits for a frame unless told otherwise: frames the server owes (acks,
# events, a close) can take seconds from an ASan server on a loaded CI machine (load 20).
# A test that expects no frame passes its own short timeout.
WAIT_S = 30


class Closed(Exception):
    def __init__(self, code, reason):
        super().__init__(f"closed {code} {reason!r}")
        self.code = code
        self.reason = reason


class HandshakeRefused(Exception):
    def __init__(self, status, headers, body):
        super().__init__(f"handshake refused: {status} {body[:200]!r}")
        self.status = status
        self.headers = headers
        self.body = body


def connect(port, token=None, query_token=None, host="127.0.0.1", rcvbuf=None, timeout=10, check=True):
    """Opens /v1/ws; raises HandshakeRefused with the HTTP answer when there is no upgrade."""
    return WS(port, token, query_token, host, rcvbuf, timeout, check)


class WS:
    def __init__(self, port, token, query_token, host, rcvbuf, timeout, check):
        self.check = check
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        path = "/v1/ws" + (f"?access_token={query_token}" if query_token else "")
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if token:
            lines.append(f"Authorization: Bearer {token}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise HandshakeRefused(0, {}, b"")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *hdrs = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {h.split(":", 1)[0].strip().lower(): h.split(":", 1)[1].strip() for h in hdrs}
        if self.status != 101:
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
            self.sock.close()
            raise HandshakeRefused(self.status, self.headers, self.buf[:n])
        self.close_code = None
        self.skip = {"presence"}  # events recv() passes over unless asked (recv_op)

    # ---- sending ----
    def send_frame(self, opcode, payload, fin=True):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = _mask(payload, mask)
        self.sock.sendall(head + mask + masked)

    def send_text(self, text):
        self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text)

    def send(self, op, d=None, ref=None):
        msg = {"op": op}
        if ref is not None:
            msg["ref"] = ref
        if d is not None:
            msg["d"] = d
        self.send_text(json.dumps(msg))

    def close(self, code=1000):
        try:
            self.send_frame(OP_CLOSE, struct.pack(">H", code))
        except OSError:
            pass
        self.sock.close()

    # ---- receiving ----
    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise Closed(1006, "connection lost")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self, timeout=WAIT_S):
        """(opcode, payload) of the next frame; server frames are never masked."""
        self.sock.settimeout(timeout)
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._read(8))[0]
        assert not (b1 & 0x80), "server frames must not be masked"
        return b0 & 0x0F, self._read(n)

    def recv(self, timeout=WAIT_S, answer_pings=True, skip=None):
        """The next JSON frame (dict) whose op is not in skip (default self.skip: presence
        events, which arrive whenever a user's status changes); answers pings; raises Closed
        at a close frame."""
        skip = self.skip if skip is None else skip
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.01, deadline - time.monotonic())
            op, payload = self.recv_frame(left)
            if op == OP_PING:
                if answer_pings:
                    self.send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.close_code = code
                raise Closed(code, payload[2:].decode(errors="replace"))
            assert op == OP_TEXT, f"unexpected opcode {op}"
            msg = json.loads(payload)
            if self.check:
                asyncapi_check.check_server_frame(msg)
            if msg.get("op") in skip:
                continue
            return msg

    def answer_pings(self, n, timeout=60):
        """Reads frames until n of the server's pings were answered (other frames are dropped;
        a close raises Closed); fails after timeout s. Heartbeat tests count heartbeats this
        way rather than watch a fixed window, which a loaded machine fills with fewer."""
        answered = 0
        deadline = time.monotonic() + timeout
        while answered < n:
            left = deadline - time.monotonic()
            assert left > 0, f"only {answered} of {n} pings came within {timeout}s"
            try:
                op, payload = self.recv_frame(min(left, 1.0))
            except TimeoutError:
                continue
            if op == OP_PING:
                self.send_frame(OP_PONG, payload)
                answered += 1
            elif op == OP_CLOSE:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.close_code = code
                raise Closed(code, payload[2:].decode(errors="replace"))
        return answered

    def recv_op(self, op, timeout=WAIT_S):
        """Skips frames until one with this op; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(max(0.01, deadline - time.monotonic()), skip=())
            if m["op"] == op:
                return m

    def hello(self):
        m = self.recv()
        assert m["op"] == "hello", m
        return m

    def call(self, op, d=None, ref="r1", timeout=WAIT_S):
        """Sends op with ref and returns its ack or error (other frames are skipped)."""
        self.send(op, d, ref)
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(max(0.01, deadline - time.monotonic()))
            if m["op"] in ("ack", "error") and m.get("ref") == ref:
                return m

    def expect_close(self, timeout=WAIT_S):
        """Reads until the close frame; returns its code (1006 when the socket just ended)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.recv(max(0.01, deadline - time.monotonic()))
        except Closed as c:
            return c.code
        except (ConnectionResetError, BrokenPipeError):
            return 1006
        raise AssertionError("no close frame")


def _mask(payload, mask):
    n = len(payload)
    if n == 0:
        return b""
    m = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")


def port_of(srv):
    return int(srv.base_url.rsplit(":", 1)[1])

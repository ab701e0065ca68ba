"""Raw-socket helpers of the HTTP edge tests (test_edge*.py): what http.client cannot
send (conflicting framing headers, an HTTP/2 preface) and what it hides (whether the
server closed the connection)."""
import json
import re
import socket
import time

from client import PASSWORD


def connect(port, source=None, timeout=5.0):
    """A TCP connection to chorusd on loopback, optionally from source address `source`."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_until_close(s, timeout=4.0):
    """Reads until the peer closes or `timeout` passes without it. Returns (data, closed)."""
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except socket.timeout:
        return data, False
    except ConnectionResetError:
        return data, True


def exchange(port, raw, timeout=4.0, source=None):
    """Sends raw bytes on a new connection; returns (everything answered, closed by server)."""
    with connect(port, source=source) as s:
        s.sendall(raw)
        return read_until_close(s, timeout)


def statuses(data):
    """The status codes of every HTTP/1 response in a byte stream, in order."""
    return [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3}) ", data)]


def read_response(s):
    """Reads one HTTP/1.1 response with a Content-Length body from a keep-alive connection.
    Returns (status, headers dict lower-case, body); raises ConnectionError on EOF."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a body")
        rest += chunk
    return status, headers, rest[:n]


def get_request(path, host="127.0.0.1", extra=""):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


def register_request(handle, extra_headers=""):
    """A complete POST /v1/auth/register request (Content-Length framed)."""
    body = json.dumps({"handle": handle, "password": PASSWORD}).encode()
    return (f"POST /v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"{extra_headers}Content-Length: {len(body)}\r\n\r\n").encode() + body


def wait_for(pred, timeout=30.0, interval=0.05):
    """Polls pred() until it is true (returns True) or timeout passes (returns False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return False

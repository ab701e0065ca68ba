"""The HTTP edge, connection level: cleartext HTTP/2 off by default, connection caps per
client address and in all, the client address behind trusted proxies, event-loop lag."""
import re

from client import unique_handle
from edge_helpers import (connect, exchange, get_request, read_response, read_until_close,
                          register_request, statuses, wait_for)

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_SETTINGS_EMPTY = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
H2C_UPGRADE = (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
               b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n")


def is_h2_settings(data):
    """Whether data starts with an HTTP/2 SETTINGS frame (what a server sends first)."""
    return len(data) >= 9 and data[3] == 0x04 and not data.startswith(b"HTTP/")


# ---- 2. cleartext HTTP/2 -----------------------------------------------------------------

def test_h2_prior_knowledge_is_refused_by_default(server):
    data, closed = exchange(server.port, H2_PREFACE + H2_SETTINGS_EMPTY)
    assert not is_h2_settings(data), data[:64]
    assert statuses(data) == [400], data[:200]
    assert closed


def test_h2c_upgrade_is_answered_as_http1_by_default(server):
    data, _ = exchange(server.port, H2C_UPGRADE)
    assert statuses(data) == [200], data[:400]
    assert data.endswith(b'{"status":"ok"}'), data[-100:]
    assert b"upgrade: h2c" not in data.lower()
    # and plain HTTP/1.1 keeps working on the same server
    data, _ = exchange(server.port, get_request("/healthz") + get_request("/healthz", extra="Connection: close\r\n"))
    assert statuses(data) == [200, 200]


def test_http2_on_serves_h2(start_server):
    """CHORUS_HTTP2=on is the escape hatch (with a warning in the log)."""
    srv = start_server(env={"CHORUS_HTTP2": "on", "CHORUS_LOG_LEVEL": "warn"})
    data, _ = exchange(srv.port, H2_PREFACE + H2_SETTINGS_EMPTY, timeout=2)
    assert is_h2_settings(data), data[:64]
    data, _ = exchange(srv.port, H2C_UPGRADE, timeout=2)
    assert statuses(data)[:1] == [101], data[:200]
    assert wait_for(lambda: "CVE-2023-44487" in srv.stderr_path.read_text())  # the log writer is a thread


# ---- 3. connection caps --------------------------------------------------------------------

def served(s):
    """Sends a keep-alive GET /healthz on s; True if it was answered 200."""
    try:
        s.sendall(get_request("/healthz"))
        return read_response(s)[0] == 200
    except OSError:
        return False


def refused(port, source=None):
    """A new connection that the server closes without serving."""
    try:
        with connect(port, source=source) as s:
            s.sendall(get_request("/healthz"))
            data, closed = read_until_close(s, timeout=4)
            return closed and not data
    except OSError:
        return True


def metric(srv, name):
    """A sample of /metrics, or None (also when this connection itself is refused)."""
    try:
        r = srv.client().get("/metrics", check=False)
    except OSError:
        return None
    m = re.search(rb"^" + re.escape(name.encode()) + rb" (\S+)$", r.body, re.M)
    return float(m.group(1)) if m else None


def fill(port, held, n, source=lambda i: None):
    """Opens served keep-alive connections until `held` has n. Closed connections (the
    harness's readiness probe, a test's own) are counted until the server has seen them
    close, so this retries for a while rather than failing at once."""
    def more():
        while len(held) < n:
            c = connect(port, source=source(len(held)))
            if not served(c):
                c.close()
                return False
            held.append(c)
        return True
    return wait_for(more, timeout=30)


def test_connection_cap_per_address(start_server):
    cap = 4
    srv = start_server(env={"CHORUS_MAX_CONN_PER_IP": str(cap)})
    held = []
    try:
        assert fill(srv.port, held, cap)
        assert refused(srv.port), "connection number cap+1 from 127.0.0.1 was served"
        # another address is not held to 127.0.0.1's count
        other = connect(srv.port, source="127.0.0.2")
        assert served(other)
        other.close()
        # closing one frees its slot (the server sees the close asynchronously)
        held.pop().close()
        assert fill(srv.port, held, cap), "a slot was not freed by closing a connection"
        assert refused(srv.port)
    finally:
        for s in held:
            s.close()
    assert wait_for(lambda: (metric(srv, 'chorus_connections_refused_total{cap="per_address"}') or 0) >= 2)
    assert wait_for(lambda: "CHORUS_MAX_CONN_PER_IP" in srv.stderr_path.read_text())  # the log writer is a thread


def test_total_connection_cap(start_server):
    srv = start_server(env={"CHORUS_MAX_CONNECTIONS": "3", "CHORUS_MAX_CONN_PER_IP": "0"})
    held = []
    try:
        assert fill(srv.port, held, 3, source=lambda i: f"127.0.0.{i + 2}")
        assert refused(srv.port, source="127.0.0.9")
    finally:
        for s in held:
            s.close()
    assert wait_for(lambda: (metric(srv, 'chorus_connections_refused_total{cap="total"}') or 0) >= 1)
    assert wait_for(lambda: "connections open, the cap" in srv.stderr_path.read_text())  # the log writer is a thread


def test_bad_connection_settings_stop_the_start(chorusd_env):
    from conftest import run_chorusd
    for var, value in [("CHORUS_MAX_CONN_PER_IP", "-1"), ("CHORUS_MAX_CONNECTIONS", "0"),
                       ("CHORUS_HTTP2", "yes"), ("CHORUS_TRUSTED_PROXIES", "10.0.0.0/33"),
                       ("CHORUS_TRUSTED_PROXIES", "10.0.0.1,"), ("CHORUS_TRUSTED_PROXIES", "example.com")]:
        p = run_chorusd(["migrate"], chorusd_env({var: value}))
        assert p.returncode == 2, (var, value, p.stderr)
        assert var in p.stderr


# ---- 7. client address behind trusted proxies -----------------------------------------------

def register_from(srv, handle, xff, source=None):
    raw = register_request(handle, extra_headers=f"X-Forwarded-For: {xff}\r\nConnection: close\r\n")
    data, _ = exchange(srv.port, raw, source=source)
    st = statuses(data)
    assert len(st) == 1, data[:300]
    return st[0]


def test_forged_forwarded_for_does_not_escape_the_address_limit(start_server):
    srv = start_server(env={"CHORUS_RATE_LIMIT_IP": "3", "CHORUS_RATE_LIMIT_USER": "10000"})
    got = [register_from(srv, unique_handle(), f"198.51.100.{i}") for i in range(5)]
    assert got == [201, 201, 201, 429, 429], got


def test_forwarded_for_from_a_trusted_proxy_names_the_client(start_server):
    srv = start_server(env={"CHORUS_RATE_LIMIT_IP": "3", "CHORUS_RATE_LIMIT_USER": "10000",
                            "CHORUS_TRUSTED_PROXIES": "10.9.0.0/16, 127.0.0.1/32"})
    # each client address has its own budget
    got = [register_from(srv, unique_handle(), f"198.51.100.{i}") for i in range(5)]
    assert got == [201] * 5, got
    # the rightmost untrusted hop counts: what a client put in front of its own address
    # (the left part) does not help it
    got = [register_from(srv, unique_handle(), f"203.0.113.{i}, 192.0.2.7, 10.9.1.1") for i in range(5)]
    assert got == [201, 201, 201, 429, 429], got
    # a peer outside the list is not believed (127.0.0.2 is not trusted)
    got = [register_from(srv, unique_handle(), f"198.51.100.{200 + i}", source="127.0.0.2") for i in range(4)]
    assert got == [201, 201, 201, 429], got


# ---- 8. event-loop lag -----------------------------------------------------------------------

def test_event_loop_lag_is_exported_and_moves(api):
    def counts():
        body = api.get("/metrics").body.decode()
        assert "# TYPE chorus_event_loop_lag_seconds histogram" in body
        assert "# TYPE chorus_event_loop_lag_max_seconds gauge" in body
        got = {m.group(1): float(m.group(2)) for m in
               re.finditer(r'^chorus_event_loop_lag_seconds_count\{loop="(\d+)"\} (\S+)$', body, re.M)}
        assert re.search(r'^chorus_event_loop_lag_max_seconds\{loop="0"\} \S+$', body, re.M)
        return got
    first = counts()
    assert set(first) == {"0", "1"}, first  # CHORUS_THREADS=2 in the suite
    assert wait_for(lambda: all(v > first[k] for k, v in counts().items()), timeout=30)

"""Health, readiness, metrics, request ids, graceful shutdown, CLI and configuration."""
import http.client
import json
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import CHORUS_BIN, MODE, base_env, run_chorusd, sanitizer_reports
from client import PASSWORD, REQUEST_ID_RE, expect_problem, expect_status, unique_handle
from notify_helpers import wait_until

EXPECTED_ROUTES = {
    ("POST", "/v1/auth/register"), ("POST", "/v1/auth/login"), ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/logout"), ("GET", "/v1/me/sessions"), ("DELETE", "/v1/me/sessions/{id}"),
    ("GET", "/v1/me"), ("PATCH", "/v1/me"), ("GET", "/v1/users/{id}"),
    ("GET", "/v1/users/by-handle/{handle}"), ("GET", "/healthz"), ("GET", "/readyz"),
    ("GET", "/metrics"),
}
CONFIG_VARS = ["CHORUS_LISTEN", "CHORUS_THREADS", "CHORUS_DB", "CHORUS_REDIS", "CHORUS_DATA_DIR",
               "CHORUS_CLICKHOUSE", "CHORUS_LOG_LEVEL", "CHORUS_ACCESS_TTL", "CHORUS_PWHASH_MEMLIMIT",
               "CHORUS_PWHASH_OPSLIMIT", "CHORUS_LOGIN_MAX_FAILURES", "CHORUS_LOGIN_WINDOW",
               "CHORUS_RATE_LIMIT_USER", "CHORUS_RATE_LIMIT_IP", "CHORUS_RATE_LIMIT_WINDOW",
               "CHORUS_PORT_FILE"]


# ---- health / readiness ------------------------------------------------------------------

def test_healthz(api):
    r = expect_status(api.get("/healthz"), 200)
    assert r.media_type == "application/json"
    assert r.json == {"status": "ok"}


def test_readyz(api, server):
    r = expect_status(api.get("/readyz"), 200)
    assert r.media_type == "application/json"
    checks = {"db": "ok", "kv": "ok"}
    if "CHORUS_CLICKHOUSE" in server.storage_env:  # cluster mode: reported when configured
        checks["clickhouse"] = "ok"
    assert r.json == {"status": "ready", "checks": checks}


def test_health_endpoints_need_no_auth_and_ignore_bad_tokens(api):
    expect_status(api.get("/healthz", token="garbage"), 200)
    expect_status(api.get("/readyz", token="garbage"), 200)
    expect_status(api.get("/metrics", token="garbage"), 200)


# ---- metrics -----------------------------------------------------------------------------

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$')
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_metrics(text):
    """Prometheus text format 0.0.4 -> (types {name: type}, samples [(name, labels, value)]).
    Raises AssertionError on a line that is not valid exposition format."""
    types, samples = {}, []
    for ln in text.splitlines():
        if not ln.strip():
            continue
        if ln.startswith("#"):
            parts = ln.split(None, 3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                assert parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), ln
                types[parts[2]] = parts[3]
            continue
        m = SAMPLE_RE.match(ln)
        assert m, f"not a valid sample line: {ln!r}"
        name, _, lbl, value = m.group(1), m.group(2), m.group(3), m.group(4)
        labels = {}
        if lbl:
            pos = 0
            while pos < len(lbl):
                lm = LABEL_RE.match(lbl, pos)
                assert lm, f"bad labels in {ln!r}"
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        v = float(value.replace("+Inf", "inf").replace("-Inf", "-inf"))
        samples.append((name, labels, v))
    return types, samples


def get_metrics(api):
    r = expect_status(api.get("/metrics"), 200)
    ctype = (r.header("Content-Type") or "").replace(" ", "").lower()
    assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, r.describe()
    return parse_metrics(r.text)


def find(samples, name, **labels):
    return [(lb, v) for n, lb, v in samples if n == name and all(lb.get(k) == val for k, val in labels.items())]


def test_metrics_request_histogram(api, user, other):
    for _ in range(3):
        expect_status(user.get(f"/v1/users/{other.id}"), 200)
    expect_problem(user.get("/v1/users/12345"), 404, "not_found")
    types, samples = get_metrics(api)
    name = "http_server_request_duration_seconds"
    assert types.get(name) == "histogram"
    lab = {"method": "GET", "route": "/v1/users/{id}", "status": "200"}
    count = find(samples, name + "_count", **lab)
    assert count and count[0][1] >= 3, "no _count series for GET /v1/users/{id} 200"
    total = find(samples, name + "_sum", **lab)
    assert total and total[0][1] > 0
    buckets = sorted(((float(lb["le"].replace("+Inf", "inf")), v)
                      for lb, v in find(samples, name + "_bucket", **lab)))
    assert buckets and buckets[-1][0] == float("inf"), "no le=\"+Inf\" bucket"
    assert buckets[-1][1] == count[0][1], "+Inf bucket != _count"
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "bucket counts must be cumulative"
    assert len(buckets) >= 5
    assert find(samples, name + "_count", method="GET", route="/v1/users/{id}", status="404")


def test_metrics_route_label_is_the_template(api, user):
    marker = f"zz{unique_handle()}"
    expect_problem(user.get(f"/v1/users/by-handle/{marker}"), 404, "not_found")
    expect_problem(api.get(f"/no/such/{marker}"), 404, "not_found")
    text = expect_status(api.get("/metrics"), 200).text
    assert marker not in text, "raw paths must not become label values"
    _, samples = get_metrics(api)
    routes = {lb.get("route") for n, lb, _ in samples if n.startswith("http_server_request_duration_seconds")}
    assert "/v1/users/by-handle/{handle}" in routes
    assert None not in routes


def test_metrics_group_commits_and_consumer_lag(api, user, other):
    """Reaction writes are counted in group commits; the worker's durable consumers report
    how far behind they are (0 once caught up)."""
    _, before = get_metrics(api)
    commits0 = find(before, "chorus_group_commits_total")[0][1]
    writes0 = find(before, "chorus_group_commit_writes_total")[0][1]
    p = expect_status(user.post("/v1/posts", json={"text": "metrics"}), 201).json
    for kind in ("like", "love"):
        expect_status(other.client.request("PUT", f"/v1/posts/{p['id']}/reaction", json={"kind": kind},
                                           token=other.access_token), 200)
    types, after = get_metrics(api)
    assert types.get("chorus_group_commits_total") == "counter"
    commits = find(after, "chorus_group_commits_total")[0][1] - commits0
    writes = find(after, "chorus_group_commit_writes_total")[0][1] - writes0
    assert writes >= 2 and 1 <= commits <= writes  # other tests may write at the same time
    assert types.get("chorus_consumer_lag_seconds") == "gauge"
    deadline = time.time() + 30
    while True:
        _, samples = get_metrics(api)
        lags = {lb["consumer"]: v for lb, v in find(samples, "chorus_consumer_lag_seconds")}
        if {"notify.outbox", "notify.events"} <= lags.keys() and lags["notify.events"] == 0:
            break
        assert time.time() < deadline, f"consumer lags: {lags}"
        time.sleep(0.2)
    assert all(v >= 0 for v in lags.values())


def test_metrics_gauges_and_build_info(api):
    types, samples = get_metrics(api)
    for g in ("http_server_requests_in_flight", "http_server_open_connections"):
        vals = find(samples, g)
        assert vals, f"{g} missing"
        assert types.get(g) == "gauge"
        assert vals[0][1] >= 0
    assert find(samples, "http_server_open_connections")[0][1] >= 1, \
        "the connection serving /metrics is open"
    errors = find(samples, "chorus_backend_errors_total")
    assert errors and all("backend" in lb for lb, _ in errors)
    assert types.get("chorus_backend_errors_total") == "counter"
    info = find(samples, "chorus_build_info")
    assert len(info) == 1 and info[0][1] == 1
    assert info[0][0].get("version") == "0.1.0"
    assert info[0][0].get("revision")


def test_metrics_count_increases(api, user):
    lab = {"method": "GET", "route": "/v1/me", "status": "200"}
    _, s1 = get_metrics(api)
    before = sum(v for _, v in find(s1, "http_server_request_duration_seconds_count", **lab))
    for _ in range(4):
        user.me()

    def counted():
        _, s2 = get_metrics(api)
        return sum(v for _, v in find(s2, "http_server_request_duration_seconds_count", **lab)) - before

    # A request is counted as it ends, after its answer is written: the last one may be
    # counted just after the client has read it (3 of 4 seen once). Polled.
    wait_until(lambda: counted() >= 4, lambda: f"4 requests counted, {counted()} so far", 10)


# ---- request ids -------------------------------------------------------------------------

@pytest.mark.parametrize("rid", ["abc", "A-b_c.d:e", "x" * 128, "7", "req:2024-01-01T00:00:00.1"])
def test_valid_request_id_is_echoed(api, rid):
    r = api.get("/healthz", headers={"X-Request-Id": rid})
    assert r.header("X-Request-Id") == rid


@pytest.mark.parametrize("rid", ["x" * 129, "has space", "slash/", "quote\"", "é", "semi;colon", ""])
def test_invalid_request_id_is_replaced(api, rid):
    r = api.get("/healthz", headers={"X-Request-Id": rid})
    got = r.header("X-Request-Id")
    assert got and got != rid and REQUEST_ID_RE.match(got)


def test_request_id_on_errors_and_in_problem_body(api, user):
    rid = "trace-123.abc:XYZ"
    for r in (api.get("/nope", headers={"X-Request-Id": rid}),
              api.get("/v1/me", headers={"X-Request-Id": rid}),
              user.client.request("DELETE", "/v1/me", token=user.access_token, headers={"X-Request-Id": rid}),
              api.post("/v1/auth/register", body=b"{", headers={"X-Request-Id": rid}),
              api.post("/v1/auth/register", body=b"x" * (1024 * 1024 + 10), headers={"X-Request-Id": rid})):
        assert r.status >= 400
        assert r.header("X-Request-Id") == rid, r.describe()
        assert r.json["request_id"] == rid, r.describe()


def test_generated_request_ids_are_unique(api):
    ids = {api.get("/healthz").header("X-Request-Id") for _ in range(50)}
    assert len(ids) == 50


# ---- graceful shutdown -------------------------------------------------------------------

def _raw_register(port, handle, results, idx):
    body = json.dumps({"handle": handle, "password": PASSWORD}).encode()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", "/v1/auth/register", body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()  # raises IncompleteRead on a truncated body
        declared = r.getheader("Content-Length")
        c.close()
        if declared is not None:
            assert int(declared) == len(data)
        results[idx] = ("response", r.status, json.loads(data), time.monotonic())
    except (ConnectionRefusedError,) as e:
        results[idx] = ("refused", repr(e))
    except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError) as e:
        results[idx] = ("dropped", repr(e))
    except Exception as e:  # IncompleteRead, bad JSON, length mismatch: truncated
        results[idx] = ("broken", repr(e))


def _at_the_hasher(api):
    """Registrations the server holds at its password hasher (queued or hashing)."""
    _, samples = get_metrics(api)
    return sum(v for name in ("chorus_pwhash_queued", "chorus_pwhash_running") for _, v in find(samples, name))


def test_sigterm_finishes_in_flight_requests(start_server):
    # Slower password hashing than the rest of the suite so requests are in flight for a while.
    # The request deadline (CHORUS_REQUEST_TIMEOUT, 5 s; test_deadlines.py) is out of this
    # test's way: on a loaded machine the last of the queued hashes (one hashing thread on two
    # cores, at niceness 10) ended past 5 s and that registration was answered 503 by its own
    # deadline, drain or not. The stop stays bounded by the grace, 60 s here (the drain ends
    # at 4/5 of it): the stop after four of these hashes took 15.9 s at load 20 (two busy
    # loops beside the suite), and every registration must still end with its 201.
    slow_hashes = {"CHORUS_PWHASH_MEMLIMIT": str(32 * 1024 * 1024), "CHORUS_PWHASH_OPSLIMIT": "2",
                   "CHORUS_REQUEST_TIMEOUT": "60000", "CHORUS_SHUTDOWN_GRACE": "60000"}
    srv = start_server(env=slow_hashes)
    n = 4
    handles = [unique_handle("g") for _ in range(n)]
    results = [None] * n
    threads = [threading.Thread(target=_raw_register, args=(srv.port, handles[i], results, i))
               for i in range(n)]
    for t in threads:
        t.start()
    # SIGTERM once the server holds every registration at its hasher (not after a fixed
    # sleep): each was accepted before the signal, so each must be finished with a 201.
    api = srv.client()

    def accepted():
        return _at_the_hasher(api) + sum(1 for r in results if r is not None)

    deadline = time.monotonic() + 30
    while accepted() < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert accepted() >= n, f"the registrations did not all reach the server: {results}"
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    for t in threads:
        t.join(90)
    rc = srv.proc.wait(30)
    took = time.monotonic() - t0
    assert took < 60, f"shutdown took {took:.1f}s, past the grace"
    storage = srv.storage_env
    srv.stop()  # checks exit 0 and sanitizer output
    assert rc == 0
    broken = [r for r in results if r[0] == "broken"]
    assert not broken, f"truncated responses during shutdown: {broken}"
    answered = [(h, r) for h, r in zip(handles, results) if r[0] == "response"]
    assert len(answered) == n, f"a request accepted before SIGTERM got no answer: {results}"
    for h, r in answered:
        assert r[1] == 201, f"a request received before SIGTERM was not completed: {r}"
    late = [r for _, r in answered if r[3] > t0]
    assert late, ("inconclusive: every request finished before SIGTERM was sent, so none was "
                  "in flight (make password hashing slower for this test)")
    # Nothing acknowledged is lost: every 201 user exists after a restart on the same data.
    # The same settings: verifying those hashes costs what making them did (the cost is in
    # the hash), and a login past the default 5 s deadline was answered 503 at load 20.
    srv2 = start_server(storage=storage, name="after-sigterm", env=slow_hashes)
    api = srv2.client()
    for h, r in answered:
        if r[1] == 201:
            expect_status(api.post("/v1/auth/login", json={"handle": h, "password": PASSWORD}), 200)


def test_sigterm_idle_server_exits_0_quickly(start_server):
    srv = start_server()
    srv.client().register()
    # An idle keep-alive connection (a load balancer's pool, the Stripe double's webhook
    # sender) is nothing left to do: the drain closes it at once instead of waiting for its
    # idle timeout (5 s from its last answer), which the bound below would not allow. The
    # bound runs from before the request, so a server that waits the timeout out always
    # fails it, and ends at the close, not at the exit: an ASan process's exit (its leak
    # scan) may take seconds on a loaded machine and is bound by the wait alone.
    idle = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=15)
    t_request = time.monotonic()
    idle.request("GET", "/healthz")
    r = idle.getresponse()
    r.read()
    assert r.status == 200 and (r.getheader("Connection") or "").lower() != "close"
    srv.signal(signal.SIGTERM)
    assert idle.sock.recv(1) == b"", "the idle connection was not closed by the server"
    closed_after = time.monotonic() - t_request
    assert closed_after < 5, f"the idle connection was closed {closed_after:.1f}s after its request"
    rc = srv.proc.wait(30)
    assert rc == 0
    idle.close()
    srv.stop()


def test_sigterm_stops_accepting(start_server):
    srv = start_server()
    port = srv.port
    srv.signal(signal.SIGTERM)
    srv.proc.wait(15)
    srv.stop()
    with pytest.raises(OSError):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/healthz")
        c.getresponse()


def test_data_survives_restart(start_server):
    srv = start_server()
    api = srv.client()
    acct = api.register(display_name="Persistent")
    expect_status(acct.patch("/v1/me", json={"bio": "still here", "region": "it"}), 200)
    storage = srv.storage_env
    srv.stop()
    srv2 = start_server(storage=storage, name="restarted")
    api2 = srv2.client()
    again = api2.login(acct.handle)
    me = again.me()
    assert (me["display_name"], me["bio"], me["region"], me["id"]) == ("Persistent", "still here", "IT", acct.id)
    # Tokens issued before the restart still work (signing key persisted).
    expect_status(api2.get("/v1/me", token=acct.access_token), 200)


# ---- CLI ---------------------------------------------------------------------------------

def test_routes_command(chorusd_env):
    p = run_chorusd(["routes"], chorusd_env())
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    routes = set()
    for ln in lines:
        m = re.fullmatch(r"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (/\S*)", ln.strip())
        assert m, f"not 'METHOD PATH': {ln!r}"
        routes.add((m.group(1), m.group(2)))
    missing = EXPECTED_ROUTES - routes
    assert not missing, f"routes missing from `chorusd routes`: {sorted(missing)}"
    assert len(lines) == len(routes), "duplicate lines"


def test_help_lists_every_variable(chorusd_env):
    p = run_chorusd(["--help"], chorusd_env())
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    missing = [v for v in CONFIG_VARS if v not in out]
    assert not missing, f"--help does not mention {missing}:\n{out}"


def test_migrate_command_is_idempotent(chorusd_env, start_server):
    env = chorusd_env()
    p = run_chorusd(["migrate"], env, timeout=60)
    assert p.returncode == 0, p.stderr
    p = run_chorusd(["migrate"], env, timeout=60)
    assert p.returncode == 0, p.stderr
    storage = {k: v for k, v in env.items() if k in ("CHORUS_DB", "CHORUS_REDIS", "CHORUS_DATA_DIR")}
    srv = start_server(storage=storage, name="migrated")
    srv.client().register()


def test_port_zero_is_reported_in_the_port_file(start_server):
    """CHORUS_LISTEN=host:0 (every harness server): the kernel picks the port, every loop
    thread listens on that one, and CHORUS_PORT_FILE names it as the log line does."""
    srv = start_server(env={"CHORUS_THREADS": "4", "CHORUS_LOG_LEVEL": "info"})
    assert srv.env()["CHORUS_LISTEN"] == "127.0.0.1:0"
    assert srv.port_path.read_text() == f"{srv.port}\n"
    assert srv.port != 0
    conns = [http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5) for _ in range(32)]
    try:
        for c in conns:
            c.request("GET", "/healthz")
        assert [c.getresponse().status for c in conns] == [200] * 32
    finally:
        for c in conns:
            c.close()
    # the log line is written by the log thread (core/logq): it may follow the port file
    line = f"listening on 127.0.0.1:{srv.port} "
    deadline = time.monotonic() + 30
    while line not in srv.stderr_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert line in srv.stderr_path.read_text()


BAD_CONFIG = [
    ("CHORUS_LISTEN", "nonsense"),
    ("CHORUS_LISTEN", "127.0.0.1:99999"),
    ("CHORUS_THREADS", "0"),
    ("CHORUS_THREADS", "abc"),
    ("CHORUS_THREADS", "-2"),
    ("CHORUS_DB", "mysql://x"),
    ("CHORUS_REDIS", "http://127.0.0.1:6379"),
    ("CHORUS_LOG_LEVEL", "loud"),
    ("CHORUS_ACCESS_TTL", "-1"),
    ("CHORUS_ACCESS_TTL", "abc"),
    ("CHORUS_PWHASH_MEMLIMIT", "abc"),
    ("CHORUS_RATE_LIMIT_USER", "-5"),
    ("CHORUS_LOGIN_MAX_FAILURES", "x"),
    ("CHORUS_RATE_LIMIT_WINDOW", "999"),
    ("CHORUS_RATE_LIMIT_WINDOW", "abc"),
    ("CHORUS_PORT_FILE", "/nonexistent-dir/chorusd.port"),  # found out once listening
]


@pytest.mark.parametrize("var,value", BAD_CONFIG, ids=[f"{v}={x}" for v, x in BAD_CONFIG])
def test_bad_configuration_exits_nonzero(chorusd_env, workdir, var, value):
    env = chorusd_env({"CHORUS_LISTEN": "127.0.0.1:0"})
    env[var] = value
    p = subprocess.Popen([str(CHORUS_BIN)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        out, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        pytest.fail(f"chorusd with {var}={value!r} still running after 10 s; stderr:\n{err[-2000:]}")
    assert p.returncode != 0, f"{var}={value!r} accepted (exit 0)"
    assert var in err, f"stderr does not name {var}:\n{err[-2000:]}"
    assert not [ln for ln in err.splitlines() if "Sanitizer" in ln or "runtime error:" in ln], err


@pytest.mark.skipif(MODE != "embedded", reason="the database's disk is chorusd's own in embedded mode")
def test_readyz_turns_503_when_the_disk_is_full(start_server, workdir):
    """The database still answers reads on a full disk; /readyz must say it cannot write.
    The data dir is a small tmpfs (root only; skipped otherwise), filled up and emptied."""
    import errno
    import os
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = workdir / f"tiny-fs-{time.monotonic_ns()}"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    srv = None
    try:
        srv = start_server(storage={"CHORUS_DATA_DIR": str(mnt)}, name="disk-full")
        c = srv.client()
        expect_status(c.get("/readyz"), 200)
        filler = mnt / "filler"
        with open(filler, "wb", buffering=0) as f:  # unbuffered: nothing left to fail at close
            try:
                while True:
                    f.write(b"\0" * 65536)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
        deadline = time.monotonic() + 30
        while (r := c.get("/readyz")).status != 503 and time.monotonic() < deadline:
            time.sleep(0.2)
        body = expect_problem(r, 503, "unavailable")
        assert body["checks"] == {"db": "unwritable", "kv": "ok"}, r.describe()
        assert "sqlite" in body["detail"] and "write" in body["detail"], r.describe()
        expect_status(c.get("/healthz"), 200)
        filler.unlink()
        deadline = time.monotonic() + 30
        while (r := c.get("/readyz")).status != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        expect_status(r, 200)
    finally:
        if srv is not None:
            srv.stop()
        subprocess.run(["umount", str(mnt)], check=True)

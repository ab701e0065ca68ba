"""The access log (docs/design.md, "Metrics and logs"): one JSON line per request, written by
a writer thread off the event loops. Every request logs exactly one whole line, soon and at
SIGTERM; a stderr nobody reads costs dropped (counted, then reported) lines, never answers."""
import fcntl
import http.client
import json
import os
import signal
import subprocess
import threading
import time
import uuid

from conftest import CHORUS_BIN, Server, sanitizer_reports

THREADS = 4
PER_THREAD = 150
REQUEST_TIMEOUT = 10  # seconds: an answer later than this is a stalled loop


def _hammer(port, prefix, n_threads, per_thread, statuses, errors):
    """n_threads keep-alive connections, per_thread GET /healthz each, X-Request-Id
    prefix-T-I; statuses collects every status, errors every exception."""
    def run(t):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
            for i in range(per_thread):
                c.request("GET", "/healthz", headers={"X-Request-Id": f"{prefix}-{t}-{i}"})
                r = c.getresponse()
                r.read()
                statuses.append(r.status)
            c.close()
        except Exception as e:  # noqa: BLE001 - reported by the caller
            errors.append(repr(e))
    threads = [threading.Thread(target=run, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)


def _access_lines(text, prefix):
    """The parsed access-log lines whose request id starts with prefix; asserts every line
    of text is one whole JSON object."""
    out = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue  # a sanitizer or libc line, not ours
        obj = json.loads(line)  # a torn or interleaved line fails here
        if obj.get("msg") == "request" and str(obj.get("request_id", "")).startswith(prefix):
            out.append(obj)
    return out


def test_every_request_logs_exactly_one_line(start_server):
    s = start_server(env={"CHORUS_LOG_LEVEL": "info"})
    prefix = f"alog{uuid.uuid4().hex[:10]}"
    statuses, errors = [], []
    _hammer(s.port, prefix, THREADS, PER_THREAD, statuses, errors)
    assert not errors
    assert statuses == [200] * (THREADS * PER_THREAD)
    # While it runs: the lines reach stderr soon (the writer's timer), without a stop.
    deadline = time.monotonic() + 30
    lines = []
    while time.monotonic() < deadline:
        lines = _access_lines(s.stderr_path.read_text(errors="replace"), prefix)
        if len(lines) >= THREADS * PER_THREAD:
            break
        time.sleep(0.1)
    assert len(lines) == THREADS * PER_THREAD
    # More requests, then SIGTERM straight away: the stop writes what is buffered.
    prefix2 = prefix + "z"
    _hammer(s.port, prefix2, THREADS, PER_THREAD, statuses, errors)
    assert not errors
    s.stop()
    text = s.stderr_path.read_text(errors="replace")
    for p in (prefix, prefix2):
        got = _access_lines(text, p + "-")
        ids = [o["request_id"] for o in got]
        expected = {f"{p}-{t}-{i}" for t in range(THREADS) for i in range(PER_THREAD)}
        assert sorted(ids) == sorted(expected)  # each exactly once
        assert all(o["status"] == 200 and o["route"] == "/healthz" for o in got)
    # In order per connection (one loop thread serves a connection).
    for t in range(THREADS):
        seq = [int(o["request_id"].rsplit("-", 1)[1]) for o in _access_lines(text, f"{prefix2}-{t}-")]
        assert seq == sorted(seq)


def _start_piped(workdir, backends, env):
    """A chorusd whose stderr is a small pipe that the caller reads (or not)."""
    s = Server(workdir, backends.storage_env(True, workdir / f"data-piped-{time.monotonic_ns()}"), env,
               name="piped")
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    s.port = None  # wait_ready reads the port file
    s._out = open(s.stdout_path, "ab")
    s.proc = subprocess.Popen([str(CHORUS_BIN)], env=s.env(), cwd=s.dir, stdout=s._out, stderr=w)
    os.close(w)
    return s, r


def test_blocked_stderr_does_not_stall_requests(workdir, backends):
    s, r = _start_piped(workdir, backends, {"CHORUS_LOG_LEVEL": "info", "CHORUS_LOG_BUFFER": "16384"})
    read_out = bytearray()
    reader = None

    def drain():
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                return
            read_out.extend(chunk)
    try:
        s.wait_ready()
        # Nobody reads stderr: its 4 KiB pipe is full after a few lines.
        prefix = f"blk{uuid.uuid4().hex[:10]}"
        statuses, errors = [], []
        _hammer(s.port, prefix, THREADS, 500, statuses, errors)
        assert not errors, errors[:3]  # a blocked loop would time these out
        assert statuses == [200] * (THREADS * 500)
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=REQUEST_TIMEOUT)
        c.request("GET", "/metrics")
        metrics = c.getresponse().read().decode()
        c.close()
        dropped = [float(line.split()[1]) for line in metrics.splitlines()
                   if line.startswith("chorus_log_dropped_total ")]
        assert dropped and dropped[0] > 0

        # Now read it: writing resumes, and the drop is reported once it does.
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and b"line(s) dropped" not in read_out:
            time.sleep(0.1)
        assert b"line(s) dropped" in read_out
        # Logging works again: new requests' lines arrive.
        prefix2 = prefix + "after"
        _hammer(s.port, prefix2, 1, 20, statuses, errors)
        assert not errors
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_access_lines(read_out.decode(errors="replace"), prefix2)) < 20:
            time.sleep(0.1)
        assert len(_access_lines(read_out.decode(errors="replace"), prefix2)) == 20
    finally:
        if s.proc is not None and s.proc.poll() is None:
            s.proc.send_signal(signal.SIGTERM)
            if reader is None:  # let the stop write what it holds
                reader = threading.Thread(target=drain, daemon=True)
                reader.start()
            try:
                s.proc.wait(20)
            except subprocess.TimeoutExpired:
                s.proc.kill()
                s.proc.wait()
        rc = s.proc.returncode
        if reader is not None:
            reader.join(10)
        os.close(r)
        s._out.close()
    s.stderr_path.write_bytes(bytes(read_out))  # for the session's sanitizer check
    text = read_out.decode(errors="replace")
    assert not sanitizer_reports(s.stderr_path), text[-5000:]
    assert rc == 0, text[-3000:]
    _access_lines(text, "")  # every line whole

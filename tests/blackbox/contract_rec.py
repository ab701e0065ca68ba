"""Records the suite's real HTTP exchanges for the contract check (contract_plugin.py).

client.Client.request calls `record(resp)` for every response it checks. Nothing is recorded
unless the plugin set CHORUS_CONTRACT_RECORD to a directory; each process appends JSON lines
to its own file there, so threads and pytest-xdist workers never share a file handle.
"""
import base64
import json
import os
import threading

ENV = "CHORUS_CONTRACT_RECORD"
MAX_REQUEST_BODY = 256 * 1024  # larger request bodies (413 tests) are recorded as truncated

_lock = threading.Lock()
_file = None
_file_pid = None


def _out():
    global _file, _file_pid
    directory = os.environ.get(ENV)
    if not directory:
        return None
    if _file is None or _file_pid != os.getpid():
        _file = open(os.path.join(directory, f"rec-{os.getpid()}.jsonl"), "a", encoding="utf-8")
        _file_pid = os.getpid()
    return _file


def _b64(data):
    return base64.b64encode(bytes(data)).decode("ascii")


def entry(resp):
    """The recorded form of one exchange (a client.Response): a JSON-ready dict with the
    bodies in base64. The request body is kept only when it is bytes of at most
    MAX_REQUEST_BODY (a streamed or larger body is marked truncated)."""
    rb = resp.req_body
    out = {
        "test": os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0],
        "method": resp.method,
        "path": resp.path,
        "req_headers": dict(resp.req_headers or {}),
        "req_body": None,
        "req_truncated": False,
        "status": resp.status,
        "resp_headers": [[k, v] for k, v in resp.headers.items()],
        "resp_body": _b64(resp.body or b""),
    }
    if isinstance(rb, (bytes, bytearray)) and len(rb) <= MAX_REQUEST_BODY:
        out["req_body"] = _b64(rb)
    elif rb is not None:
        out["req_truncated"] = True
    return out


def record(resp):
    """Appends one exchange (a client.Response) to this process's recording; a no-op when
    no recording is active."""
    if not os.environ.get(ENV):
        return
    line = json.dumps(entry(resp), separators=(",", ":")) + "\n"
    with _lock:
        f = _out()
        if f is not None:
            f.write(line)
            f.flush()

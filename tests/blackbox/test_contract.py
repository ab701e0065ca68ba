"""The API contract tools (issue 14): the contract check of recorded traffic
(tools/api/contract-check.js, run over the whole session by contract_plugin.py) catches a
response that breaks the spec; Prism routes the ambiguous by-handle paths as the server does;
`make mock` (Prism) answers every operation with data valid against the spec, in static and
in dynamic mode.

Needs node and tools/api/node_modules (scripts/deps.sh api): skipped without them unless
CHORUS_CONTRACT=require (what `make test` sets), which makes their absence a failure."""
import copy
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml

import contract_rec
from apispec import SPEC
from client import Client, check_response

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools" / "api"
NODE = (str(TOOLS / "node_modules" / ".bin" / "node") if (TOOLS / "node_modules" / ".bin" / "node").exists()
        else shutil.which("node"))  # the tools' own Node.js (tools/api/package.json)
MOCK_START_TIMEOUT = 60.0
DYNAMIC_SEED = "chorus"  # the same generated data every run: a failure is reproducible
CHECK_TIMEOUT = 120

if NODE is None or not (TOOLS / "node_modules" / "@stoplight" / "prism-http").is_dir():
    if os.environ.get("CHORUS_CONTRACT") == "require":
        pytest.fail("node or tools/api/node_modules missing (scripts/deps.sh api)", pytrace=False)
    pytest.skip("node or tools/api/node_modules missing (scripts/deps.sh api)", allow_module_level=True)


def run_node(*args, timeout=CHECK_TIMEOUT):
    return subprocess.run([NODE, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          cwd=TOOLS)


# ---- the contract check of recorded traffic ----------------------------------------------

@pytest.fixture
def recording(api, user, tmp_path):
    """A recording of real exchanges with the shared server: a registration, the caller's
    account, a profile by handle, a post, a 404 and a 422."""
    rec = tmp_path / "rec-test.jsonl"
    responses = [
        api.post("/v1/auth/register", json={"handle": f"ct_{os.getpid()}_{time.monotonic_ns() % 10**9}",
                                            "password": "correct horse battery staple"}),
        user.get("/v1/me"),
        user.get(f"/v1/users/by-handle/{user.handle}"),
        user.post("/v1/posts", json={"text": "contract #check"}),
        user.get("/v1/users/999999999999/followers"),
        user.patch("/v1/me", json={"region": "nowhere"}),
    ]
    with open(rec, "w", encoding="utf-8") as f:
        for r in responses:
            f.write(json.dumps(contract_rec.entry(r)) + "\n")
    return rec


def write_spec(doc, directory):
    path = Path(directory) / "openapi.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def test_check_passes_real_traffic(recording):
    p = run_node(TOOLS / "contract-check.js", REPO / "api" / "openapi.yaml", recording)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "6 recorded exchanges, 6 validated by Prism" in p.stdout, p.stdout


def test_check_fails_on_a_wrong_field_type(recording, tmp_path):
    """The spec broken on purpose (is_private documented as a string): the check fails and
    names the operation, the status, the field and the test."""
    doc = copy.deepcopy(SPEC.doc)
    doc["components"]["schemas"]["User"]["properties"]["is_private"] = {"type": "string"}
    p = run_node(TOOLS / "contract-check.js", write_spec(doc, tmp_path), recording)
    assert p.returncode == 1, p.stdout + p.stderr
    out = p.stdout
    assert "RESPONSE VIOLATIONS" in out, out
    assert re.search(r"GET /v1/me \(getMe\) 200: response body\.is_private: .*string", out), out
    assert "POST /v1/auth/register (register) 201: response body.user.is_private" in out, out
    assert "test_contract.py::test_check_fails_on_a_wrong_field_type" in out, out


def test_check_fails_on_an_undocumented_status(recording, tmp_path):
    doc = copy.deepcopy(SPEC.doc)
    del doc["paths"]["/v1/users/{id}/followers"]["get"]["responses"]["404"]
    p = run_node(TOOLS / "contract-check.js", write_spec(doc, tmp_path), recording)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "GET /v1/users/{id}/followers (listFollowers) 404" in p.stdout, p.stdout


# ---- routing of the ambiguous paths ------------------------------------------------------

ROUTE_PROBE = r"""
const { getHttpOperationsFromSpec } = require('@stoplight/prism-http');
const route = require('@stoplight/prism-http/dist/router').default;
(async () => {
  const ops = await getHttpOperationsFromSpec(process.argv[2]);
  const out = {};
  for (const p of process.argv.slice(3)) {
    const r = route({ resources: ops, input: { method: 'get', url: { path: p } } });
    out[p] = r._tag === 'Right' ? r.right.path : null;
  }
  console.log(JSON.stringify(out));
})();
"""


def test_prism_routes_by_handle_like_the_server(user):
    """A handle that is also a sub-resource name is the by-handle operation for Prism too."""
    paths = [f"/v1/users/by-handle/{w}" for w in ("followers", "following", "posts", "reels", "stories",
                                                  "follow", "block", "mute", "alice")]
    probe = TOOLS / f".route-probe-{os.getpid()}.js"  # beside node_modules: require() finds them
    probe.write_text(ROUTE_PROBE)
    try:
        p = run_node(probe, REPO / "api" / "openapi.yaml", *paths)
    finally:
        probe.unlink()
    assert p.returncode == 0, p.stderr
    routed = json.loads(p.stdout)
    assert routed == {path: "/v1/users/by-handle/{handle}" for path in paths}
    # And the server agrees: by-handle of an unknown handle named like a sub-resource is a 404
    # of the profile lookup, not a list.
    r = user.get("/v1/users/by-handle/followers")
    assert r.status == 404, r.describe()


# ---- the mock service --------------------------------------------------------------------

class Mock:
    def __init__(self, dynamic):
        args = [NODE, str(TOOLS / "node_modules" / "@stoplight" / "prism-cli" / "dist" / "index.js"),
                "mock", "--host", "127.0.0.1", "--port", "0", str(REPO / "api" / "openapi.yaml")]
        if dynamic:
            args += ["--dynamic", "--seed", DYNAMIC_SEED]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True, cwd=TOOLS)
        deadline = time.monotonic() + MOCK_START_TIMEOUT
        self.port = None
        lines = []
        while time.monotonic() < deadline and self.port is None:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"Prism is listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
        if self.port is None:
            self.stop()
            raise AssertionError("prism mock did not start:\n" + "".join(lines[-20:]))
        # Keep draining its log so that it never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _example(obj):
    """The example of a parameter or media type (or the first of a schema's examples)."""
    if "example" in obj:
        return obj["example"]
    examples = obj.get("examples") or {}
    if isinstance(examples, list):
        return examples[0] if examples else None
    for ex in examples.values():
        return SPEC.resolve(ex)["value"]
    return None


def mock_requests():
    """(method, path with query, headers, body) built from each operation's own examples."""
    for template, item in SPEC.doc["paths"].items():
        for method in ("get", "put", "post", "patch", "delete"):
            op = item.get(method)
            if op is None:
                continue
            path, query = template, {}
            for prm in op.get("parameters", []):
                prm = SPEC.resolve(prm)
                value = _example(prm)
                if value is None:
                    value = _example(SPEC.resolve(prm.get("schema", {})))
                if prm["in"] == "path":
                    path = path.replace("{" + prm["name"] + "}", urllib.parse.quote(str(value), safe=""))
                elif prm["in"] == "query" and prm.get("required"):
                    query[prm["name"]] = value
            if query:
                path += "?" + urllib.parse.urlencode(query)
            body = None
            rb = op.get("requestBody")
            if rb:
                body = _example(rb["content"]["application/json"])
            public = op.get("security", SPEC.doc.get("security")) == []
            yield method.upper(), template, path, (None if public else "mock-token"), body


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
def test_mock_serves_every_operation_with_valid_data(dynamic):
    mock = Mock(dynamic)
    try:
        client = Client(f"http://127.0.0.1:{mock.port}")
        failures, n = [], 0
        for method, template, path, token, body in mock_requests():
            n += 1
            kw = {"token": token, "check": False}
            if body is not None:
                kw["json"] = body
            r = client.request(method, path, **kw)
            if not 200 <= r.status < 300:
                failures.append(f"{method} {template}: {r.status} {r.text[:300]}")
                continue
            try:
                check_response(r)
            except AssertionError as e:
                failures.append(f"{method} {template}: {str(e)[:800]}")
        assert n == len(SPEC.operations())
        assert not failures, f"{len(failures)} of {n} operations:\n" + "\n".join(failures)
    finally:
        mock.stop()

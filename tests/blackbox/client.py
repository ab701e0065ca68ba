"""A small HTTP client for chorusd (http.client only) that checks every response.

Every response goes through two checks before a test sees it:
  * the API-wide rules: X-Request-Id on every response; every 4xx/5xx is
    application/problem+json with {type,title,status,code,detail,request_id}, status equal
    to the HTTP status and request_id equal to X-Request-Id; 401 carries
    WWW-Authenticate: Bearer; 429 carries Retry-After; 405 carries Allow; no 500 ever;
  * conformance to api/openapi.yaml for the route/method/status (apispec.SPEC).
A failed check raises AssertionError naming the request and the response.
"""
import http.client
import itertools
import json as jsonlib
import os
import re
import secrets
import urllib.parse

import contract_rec
from apispec import SPEC, ConformanceError

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
PASSWORD = "correct horse battery staple"
_UNSET = object()
# Their 401s are about credentials in the body, not the Authorization header.
PUBLIC_AUTH_PATHS = {"/v1/auth/register", "/v1/auth/login", "/v1/auth/refresh"}
_counter = itertools.count(1)


def unique_handle(prefix="u"):
    """A fresh valid handle (lower-case, <= 30 chars)."""
    return f"{prefix}{os.getpid() % 1000}_{next(_counter)}_{secrets.token_hex(4)}"[:30]


class Response:
    def __init__(self, method, path, req_headers, req_body, status, reason, headers, body):
        self.method = method
        self.path = path
        self.req_headers = req_headers
        self.req_body = req_body
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage: case-insensitive .get()
        self.body = body
        self._json = _UNSET

    @property
    def json(self):
        if self._json is _UNSET:
            self._json = jsonlib.loads(self.body.decode("utf-8"))
        return self._json

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def header(self, name):
        return self.headers.get(name)

    def header_all(self, name):
        return self.headers.get_all(name) or []

    @property
    def media_type(self):
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def describe(self):
        rb = self.req_body
        if isinstance(rb, (bytes, bytearray)):
            rb = bytes(rb[:300]) + (b"..." if len(rb) > 300 else b"")
        elif rb is not None and not isinstance(rb, bytes):
            rb = "<streamed body>"
        hdrs = {k: (v[:60] + "..." if isinstance(v, str) and len(v) > 60 else v)
                for k, v in (self.req_headers or {}).items()}
        return (f"request: {self.method} {self.path[:300]} headers={hdrs} body={rb!r}\n"
                f"response: {self.status} {self.reason} headers={dict(self.headers.items())} "
                f"body={self.body[:600]!r}")

    def __repr__(self):
        return f"<Response {self.method} {self.path[:80]} -> {self.status}>\n{self.describe()}"


class Client:
    """One chorusd base URL. Each request uses its own connection, made from
    source_address (host, port) when given: e.g. ("127.0.0.2", 0) to be another client
    address on loopback."""

    def __init__(self, base_url, spec=SPEC, source_address=None):
        self.source_address = source_address
        u = urllib.parse.urlsplit(base_url)
        self.host = u.hostname
        self.port = u.port
        self.base_url = base_url
        self.spec = spec

    def request(self, method, path, *, json=_UNSET, body=None, headers=None, token=None,
                content_type=_UNSET, chunked=False, timeout=30, check=True):
        """Sends one request. json= encodes a body; body= sends raw bytes (or an iterable
        of bytes with chunked=True). content_type defaults to application/json when there
        is a body; pass None to send none. token= adds Authorization: Bearer."""
        hdrs = {}
        if json is not _UNSET:
            body = jsonlib.dumps(json).encode("utf-8")
        if body is not None:
            if content_type is _UNSET:
                content_type = "application/json"
        if content_type not in (_UNSET, None):
            hdrs["Content-Type"] = content_type
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        if headers:
            hdrs.update(headers)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout,
                                          source_address=self.source_address)
        try:
            if chunked:
                conn.request(method, path, body=body, headers=hdrs, encode_chunked=True)
            elif body is not None and len(body) > 64 * 1024:
                # Like curl: if the server answers (413) and closes while the body is still
                # being sent, stop sending and read the answer it gave.
                conn.putrequest(method, path, skip_accept_encoding=True)
                hdrs.setdefault("Content-Length", str(len(body)))
                for k, v in hdrs.items():
                    conn.putheader(k, v)
                conn.endheaders()
                try:
                    for i in range(0, len(body), 64 * 1024):
                        conn.sock.sendall(body[i:i + 64 * 1024])
                except (BrokenPipeError, ConnectionResetError):
                    pass
            else:
                conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            resp = Response(method, path, hdrs, body, r.status, r.reason, r.headers, data)
        finally:
            conn.close()
        if check:
            contract_rec.record(resp)
            check_response(resp, self.spec)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # ---- account helpers -------------------------------------------------------------
    def register(self, handle=None, password=PASSWORD, **fields):
        """Registers a new account (201 expected) and returns an Account."""
        handle = handle or unique_handle()
        body = {"handle": handle, "password": password, **fields}
        r = self.post("/v1/auth/register", json=body)
        assert r.status == 201, r.describe()
        return Account(self, handle.lower(), password, r.json)

    def login(self, handle, password=PASSWORD, **fields):
        """Logs in (200 expected) and returns an Account for the new session."""
        r = self.post("/v1/auth/login", json={"handle": handle, "password": password, **fields})
        assert r.status == 200, r.describe()
        return Account(self, handle.lower(), password, r.json)


class Account:
    """A signed-in session of one user."""

    def __init__(self, client, handle, password, auth_result):
        self.client = client
        self.handle = handle
        self.password = password
        self.update(auth_result)

    def update(self, auth_result):
        self.user = auth_result["user"]
        self.id = self.user["id"]
        self.access_token = auth_result["access_token"]
        self.refresh_token = auth_result["refresh_token"]

    def get(self, path, **kw):
        return self.client.request("GET", path, token=self.access_token, **kw)

    def post(self, path, **kw):
        return self.client.request("POST", path, token=self.access_token, **kw)

    def patch(self, path, **kw):
        return self.client.request("PATCH", path, token=self.access_token, **kw)

    def delete(self, path, **kw):
        return self.client.request("DELETE", path, token=self.access_token, **kw)

    def me(self):
        r = self.get("/v1/me")
        assert r.status == 200, r.describe()
        return r.json

    def sessions(self, **query):
        q = ("?" + urllib.parse.urlencode(query)) if query else ""
        r = self.get("/v1/me/sessions" + q)
        assert r.status == 200, r.describe()
        return r.json

    def all_sessions(self, limit=100):
        items, cursor = [], None
        while True:
            q = {"limit": limit}
            if cursor:
                q["cursor"] = cursor
            page = self.sessions(**q)
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return items
            assert len(items) < 10000, "cursor never ends"

    def current_session_id(self):
        cur = [s for s in self.all_sessions() if s["current"]]
        assert len(cur) == 1, cur
        return cur[0]["id"]


# ---- checks ----------------------------------------------------------------------------

def check_response(resp, spec=SPEC):
    """API-wide rules plus conformance to the spec; raises AssertionError."""
    rid = resp.header("X-Request-Id")
    problems = []
    if rid is None:
        problems.append("no X-Request-Id header")
    elif not REQUEST_ID_RE.match(rid):
        problems.append(f"X-Request-Id {rid!r} is not 1-128 chars of [A-Za-z0-9._:-]")
    if resp.status == 500:
        problems.append("500 Internal Server Error (always a server bug)")
    if resp.status >= 400:
        if resp.media_type != "application/problem+json":
            problems.append(f"error response with Content-Type {resp.header('Content-Type')!r}, "
                            "expected application/problem+json")
        else:
            try:
                body = resp.json
                spec.validate(body, spec.schema("ProblemFields"), "problem body")
                if body.get("status") != resp.status:
                    problems.append(f"problem status {body.get('status')} != HTTP {resp.status}")
                if rid is not None and body.get("request_id") != rid:
                    problems.append(f"problem request_id {body.get('request_id')!r} != "
                                    f"X-Request-Id {rid!r}")
            except ConformanceError as e:
                problems.append(str(e))
            except ValueError as e:
                problems.append(f"problem body is not JSON: {e}")
    if resp.status == 401 and resp.path.split("?")[0] not in PUBLIC_AUTH_PATHS:
        www = resp.header("WWW-Authenticate") or ""
        if not www.startswith("Bearer"):
            problems.append(f"401 without WWW-Authenticate: Bearer (got {www!r})")
    if resp.status == 429:
        ra = resp.header("Retry-After") or ""
        if not re.fullmatch(r"[0-9]+", ra) or int(ra) <= 0:
            problems.append(f"429 with Retry-After {ra!r}, expected an integer > 0")
    if resp.status == 405 and not resp.header("Allow"):
        problems.append("405 without Allow header")
    if resp.status == 204 and resp.body:
        problems.append(f"204 with a body of {len(resp.body)} bytes")
    if not problems:
        try:
            spec.check_response(resp.method, resp.path, resp.status, resp.headers, resp.body)
        except ConformanceError as e:
            problems.append(str(e))
    if problems:
        raise AssertionError("response breaks the API contract:\n  - " + "\n  - ".join(problems)
                             + "\n" + resp.describe())


def expect_problem(resp, status, code, field=_UNSET):
    """Asserts a problem+json answer with this status and code (and field when given)."""
    assert resp.status == status, f"expected {status} {code}, got:\n{resp.describe()}"
    assert resp.media_type == "application/problem+json", resp.describe()
    body = resp.json
    assert body.get("code") == code, f"expected code {code!r}:\n{resp.describe()}"
    if field is not _UNSET:
        assert body.get("field") == field, f"expected field {field!r}:\n{resp.describe()}"
    return body


def expect_status(resp, status):
    assert resp.status == status, f"expected {status}, got:\n{resp.describe()}"
    return resp

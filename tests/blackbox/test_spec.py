"""api/openapi.yaml: well-formed, in step with `chorusd routes`, and its checker works.

Conformance of real responses is checked for every request of the whole suite by the client
(client.check_response -> apispec.ApiSpec.check_response); this file checks the spec itself
and that the checker really rejects bad answers."""
import copy
import email.message
import json
import re

import pytest
from jsonschema import Draft202012Validator

from apispec import SPEC, ConformanceError
from client import Response, check_response
from conftest import run_chorusd

REQUIRED_SCHEMAS = ["User", "Profile", "Me", "Relationship", "AuthResult", "Session",
                    "SessionPage", "Problem", "Ready", "Health"]
PUBLIC = {("POST", "/v1/auth/register"), ("POST", "/v1/auth/login"), ("POST", "/v1/auth/refresh"),
          ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
          ("POST", "/v1/webhooks/stripe")}  # signed by Stripe (Stripe-Signature), no token


def walk(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + (i,))


def operations():
    for template, item in SPEC.doc["paths"].items():
        for method in ("get", "put", "post", "delete", "patch"):
            if method in item:
                yield method.upper(), template, item[method]


def test_openapi_version_and_info():
    assert str(SPEC.doc["openapi"]).startswith("3.1.")
    assert SPEC.doc["info"]["title"] and SPEC.doc["info"]["version"]


def test_required_component_schemas_exist():
    missing = [s for s in REQUIRED_SCHEMAS if s not in SPEC.doc["components"]["schemas"]]
    assert not missing


def test_every_schema_is_valid_2020_12():
    for name, schema in SPEC.doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
    for path, node in walk(SPEC.doc["paths"]):
        if path and path[-1] == "schema" and isinstance(node, dict):
            Draft202012Validator.check_schema(node)


def test_every_ref_resolves():
    for path, node in walk(SPEC.doc):
        if isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), f"{path}: non-local ref {ref}"
            target = SPEC.doc
            for part in ref[2:].split("/"):
                assert isinstance(target, dict) and part in target, f"{path}: dangling ref {ref}"
                target = target[part]


def test_operations_are_complete():
    op_ids = set()
    for method, template, op in operations():
        where = f"{method} {template}"
        assert op.get("operationId"), where
        assert op["operationId"] not in op_ids, f"duplicate operationId at {where}"
        op_ids.add(op["operationId"])
        assert op.get("summary"), where
        assert op.get("description"), f"{where}: no description"
        responses = op.get("responses") or {}
        assert any(s.startswith("2") for s in responses), f"{where}: no success response"
        # Path parameters declared for every {name} of the template.
        names = set(re.findall(r"\{([^}]+)\}", template))
        declared = {SPEC.resolve(p)["name"] for p in op.get("parameters", [])
                    if SPEC.resolve(p)["in"] == "path"}
        assert names == declared, f"{where}: path params {names} declared {declared}"
        # Security: public operations say so, every other one needs the bearer token.
        public = op.get("security", SPEC.doc.get("security")) == []
        assert public == ((method, template) in PUBLIC), f"{where}: security is wrong"
        if not public:
            assert "401" in responses, f"{where}: protected but no 401"
        # Request bodies are JSON objects with a schema and an example.
        if method in ("POST", "PATCH", "PUT") and "requestBody" in op:
            content = op["requestBody"]["content"]
            assert list(content) == ["application/json"], where
            assert "schema" in content["application/json"], where
            assert content["application/json"].get("examples") or content["application/json"].get("example"), where
            for code in ("400", "413", "415", "422"):
                assert code in responses, f"{where}: body accepted but no {code}"
        if method in ("POST", "PATCH", "DELETE", "PUT"):
            assert "429" in responses, f"{where}: a write without 429"
        for status, resp in responses.items():
            resp = SPEC.resolve(resp)
            assert resp.get("description"), f"{where} {status}"
            for media, mt in (resp.get("content") or {}).items():
                # The mock (make mock) answers a response's example: every body has one.
                assert mt.get("example") is not None or mt.get("examples"), \
                    f"{where} {status} {media}: no example"
            assert "X-Request-Id" in (resp.get("headers") or {}), f"{where} {status}: no X-Request-Id header"
            if status.startswith(("4", "5")):
                content = resp.get("content") or {}
                assert list(content) == ["application/problem+json"], f"{where} {status}: {list(content)}"
                schema = content["application/problem+json"]["schema"]
                assert schema["$ref"].split("/")[-1] in ("Problem", "InvalidFieldProblem",
                                                         "NotReadyProblem"), f"{where} {status}"
            if status == "429":
                assert "Retry-After" in resp["headers"], where
            if status == "401" and (method, template) not in PUBLIC:
                assert "WWW-Authenticate" in resp["headers"], where


def _examples_with_schema():
    for method, template, op in operations():
        for status, resp in (op.get("responses") or {}).items():
            resp = SPEC.resolve(resp)
            for media, mt in (resp.get("content") or {}).items():
                if "schema" not in mt:
                    continue
                if "example" in mt:
                    yield f"{method} {template} {status} {media}", mt["schema"], mt["example"]
                for name, ex in (mt.get("examples") or {}).items():
                    yield f"{method} {template} {status} {name}", mt["schema"], SPEC.resolve(ex)["value"]
        body = (op.get("requestBody") or {}).get("content", {}).get("application/json")
        if body:
            for name, ex in (body.get("examples") or {}).items():
                yield f"{method} {template} request {name}", body["schema"], SPEC.resolve(ex)["value"]


def test_examples_match_their_schemas():
    n = 0
    for where, schema, value in _examples_with_schema():
        SPEC.validate(value, schema, where)
        n += 1
    assert n >= 20


def test_routes_match_the_spec(chorusd_env):
    p = run_chorusd(["routes"], chorusd_env())
    assert p.returncode == 0, p.stderr
    served = set()
    for ln in p.stdout.splitlines():
        if ln.strip():
            method, path = ln.split()
            served.add((method, path))
    documented = SPEC.operations()
    assert not served - documented, f"served by chorusd but missing from api/openapi.yaml: {sorted(served - documented)}"
    assert not documented - served, f"in api/openapi.yaml but not served by chorusd: {sorted(documented - served)}"


# ---- the checker rejects what it should --------------------------------------------------

def fake(method, path, status, body, ctype="application/json", headers=None):
    h = email.message.Message()
    h["X-Request-Id"] = "test-1"
    if ctype:
        h["Content-Type"] = ctype
    for k, v in (headers or {}).items():
        h[k] = v
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(method, path, {}, None, status, "", h, raw)


GOOD_ME = SPEC.resolve(SPEC.doc["components"]["examples"]["Me"])["value"]


def _problem(status, code, **extra):
    return {"type": "about:blank", "title": "t", "status": status, "code": code, "detail": "d",
            "request_id": "test-1", **extra}


def test_checker_accepts_good_responses():
    check_response(fake("GET", "/v1/me", 200, GOOD_ME))
    check_response(fake("GET", "/v1/users/123", 404, _problem(404, "not_found"), "application/problem+json"))
    check_response(fake("PATCH", "/v1/me", 422, _problem(422, "invalid_field", field="bio"),
                        "application/problem+json"))
    check_response(fake("GET", "/metrics", 200, b"x 1\n", "text/plain; version=0.0.4; charset=utf-8"))
    check_response(fake("POST", "/v1/auth/logout", 204, b"", None))


def _mutate(d, fn):
    d = copy.deepcopy(d)
    fn(d)
    return d


BAD = [
    ("missing field", fake("GET", "/v1/me", 200, _mutate(GOOD_ME, lambda d: d.pop("handle")))),
    ("extra field", fake("GET", "/v1/me", 200, _mutate(GOOD_ME, lambda d: d.update(password_hash="x")))),
    ("numeric id", fake("GET", "/v1/me", 200, _mutate(GOOD_ME, lambda d: d.update(id=123)))),
    ("bad time", fake("GET", "/v1/me", 200, _mutate(GOOD_ME, lambda d: d.update(created_at="yesterday")))),
    ("epoch time", fake("GET", "/v1/me", 200, _mutate(GOOD_ME, lambda d: d.update(created_at=1714291200000)))),
    ("lower region", fake("GET", "/v1/me", 200, _mutate(GOOD_ME, lambda d: d.update(region="gb")))),
    ("http avatar", fake("GET", "/v1/me", 200, _mutate(GOOD_ME, lambda d: d.update(avatar_url="http://x/y")))),
    ("undocumented status", fake("GET", "/v1/me", 418, _problem(418, "teapot"), "application/problem+json")),
    ("wrong content type", fake("GET", "/v1/me", 200, GOOD_ME, "text/html")),
    ("error not problem+json", fake("GET", "/v1/me", 401, _problem(401, "unauthorized"), "application/json",
                                    {"WWW-Authenticate": "Bearer"})),
    ("401 without challenge", fake("GET", "/v1/me", 401, _problem(401, "unauthorized"),
                                   "application/problem+json")),
    ("429 without Retry-After", fake("PATCH", "/v1/me", 429, _problem(429, "rate_limited"),
                                     "application/problem+json")),
    ("problem status mismatch", fake("GET", "/v1/users/1", 404, _problem(400, "not_found"),
                                     "application/problem+json")),
    ("422 without field", fake("PATCH", "/v1/me", 422, _problem(422, "invalid_field"),
                               "application/problem+json")),
    ("500", fake("GET", "/v1/me", 500, _problem(500, "internal"), "application/problem+json")),
    ("204 with body", fake("POST", "/v1/auth/logout", 204, b"{}", "application/json")),
    ("not json", fake("GET", "/healthz", 200, b"ok", "application/json")),
    ("ready wrong", fake("GET", "/readyz", 200, {"status": "ready", "checks": {"db": "ok"}})),
    ("not-ready without checks", fake("GET", "/readyz", 503, _problem(503, "unavailable"),
                                      "application/problem+json")),
]


@pytest.mark.parametrize("name,resp", BAD, ids=[b[0] for b in BAD])
def test_checker_rejects_bad_responses(name, resp):
    with pytest.raises(AssertionError):
        check_response(resp)


def test_checker_rejects_missing_request_id():
    r = fake("GET", "/healthz", 200, {"status": "ok"})
    del r.headers["X-Request-Id"]
    with pytest.raises(AssertionError):
        check_response(r)


def test_conformance_error_is_an_assertion():
    assert issubclass(ConformanceError, AssertionError)

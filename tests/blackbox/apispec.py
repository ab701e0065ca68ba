"""Loads api/openapi.yaml and checks real responses against it.

`SPEC.check_response(...)` is called by the HTTP client (client.py) for every response, so
every test of the suite also checks that the server answers what the spec documents:
a documented status, the documented content type, the documented required headers, and a
body valid against the JSON Schema (Draft 2020-12, refs resolved against the whole spec).
"""
import datetime
import json
import re
from pathlib import Path

import jsonschema
import yaml
from jsonschema import Draft202012Validator, FormatChecker, RefResolver

REPO = Path(__file__).resolve().parents[2]
SPEC_FILE = REPO / "api" / "openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class ConformanceError(AssertionError):
    """The server answered something the spec does not document."""


# ---- formats ---------------------------------------------------------------------------
# Debian's python3-jsonschema only checks "date-time" when rfc3339-validator is installed,
# which it is not: check RFC 3339 ourselves. "uri"/"uri-reference" come from python3-rfc3987.
FORMATS = FormatChecker()
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@FORMATS.checks("date-time", raises=ValueError)
def _check_date_time(value):
    if not isinstance(value, str):
        return True
    m = _RFC3339.match(value)
    if not m:
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    datetime.datetime(y, mo, d, h, mi, min(s, 59))  # raises ValueError on 2024-02-30 etc.
    return True


def parse_time(value):
    """RFC 3339 string -> aware datetime."""
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    # fromisoformat before 3.11 accepts only 3 or 6 fraction digits: normalise to 6.
    m = re.match(r"^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(.*)$", value)
    frac = (m.group(2) or ".0")[1:7].ljust(6, "0")
    return datetime.datetime.fromisoformat(f"{m.group(1)}.{frac}{m.group(3)}")


class ApiSpec:
    def __init__(self, path=SPEC_FILE):
        self.path = Path(path)
        with open(self.path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        self.routes = []  # (template, regex, path item)
        for template, item in (self.doc.get("paths") or {}).items():
            parts = []
            for seg in template.strip("/").split("/"):
                parts.append("[^/]+" if seg.startswith("{") and seg.endswith("}") else re.escape(seg))
            regex = re.compile("^/" + "/".join(parts) + "$") if template != "/" else re.compile("^/$")
            literal = sum(1 for seg in template.split("/") if seg and not seg.startswith("{"))
            self.routes.append((template, regex, item, literal))
        # Most specific (most literal segments) first.
        self.routes.sort(key=lambda r: -r[3])
        self._validators = {}

    # ---- lookups ---------------------------------------------------------------------
    def operations(self):
        """Set of (METHOD, template) documented in the spec."""
        ops = set()
        for template, _, item, _ in self.routes:
            for m in HTTP_METHODS:
                if m in item:
                    ops.add((m.upper(), template))
        return ops

    def match(self, path):
        """Route template and path item for a concrete path (query string ignored)."""
        path = path.split("?", 1)[0]
        for template, regex, item, _ in self.routes:
            if regex.match(path):
                return template, item
        return None, None

    def resolve(self, obj):
        """Follows local $refs ("#/components/...") until a non-ref object."""
        seen = 0
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            if not ref.startswith("#/"):
                raise ConformanceError(f"non-local $ref {ref!r}")
            node = self.doc
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                node = node[part]
            obj = node
            seen += 1
            if seen > 20:
                raise ConformanceError(f"$ref loop at {ref}")
        return obj

    def validator(self, schema):
        key = json.dumps(schema, sort_keys=True)
        v = self._validators.get(key)
        if v is None:
            v = Draft202012Validator(schema, resolver=RefResolver.from_schema(self.doc),
                                     format_checker=FORMATS)
            self._validators[key] = v
        return v

    def validate(self, instance, schema, what="instance"):
        """Raises ConformanceError listing every schema violation."""
        errors = sorted(self.validator(schema).iter_errors(instance), key=lambda e: list(e.path))
        if errors:
            lines = [f"  at /{'/'.join(str(p) for p in e.path)}: {e.message}" for e in errors[:20]]
            raise ConformanceError(f"{what} does not match its schema:\n" + "\n".join(lines))

    def schema(self, name):
        return {"$ref": f"#/components/schemas/{name}"}

    # ---- the check -------------------------------------------------------------------
    def check_response(self, method, path, status, headers, body):
        """Checks one response against the spec. headers: a case-insensitive mapping with
        .get(); body: bytes. Returns the route template, or None when the path is not in
        the spec (nothing to check). Raises ConformanceError."""
        template, item = self.match(path)
        if template is None:
            return None
        op = item.get(method.lower())
        if op is None:
            return None  # 405 for a known path: checked by the client's generic rules
        responses = op.get("responses") or {}
        resp = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
        if resp is None:
            raise ConformanceError(
                f"{method} {template}: status {status} is not documented "
                f"(documented: {', '.join(sorted(responses))})")
        resp = self.resolve(resp)
        where = f"{method} {template} {status}"

        for hname, hdef in (resp.get("headers") or {}).items():
            hdef = self.resolve(hdef)
            value = headers.get(hname)
            if value is None:
                if hdef.get("required"):
                    raise ConformanceError(f"{where}: required header {hname} is missing")
                continue
            hschema = hdef.get("schema") or {}
            inst = value
            if self.resolve(hschema).get("type") == "integer":
                if not re.fullmatch(r"-?[0-9]+", value.strip()):
                    raise ConformanceError(f"{where}: header {hname}: {value!r} is not an integer")
                inst = int(value)
            self.validate(inst, hschema, f"{where} header {hname}")

        content = resp.get("content")
        ctype = headers.get("Content-Type")
        if not content:
            if body:
                raise ConformanceError(f"{where}: documented without a body but got {len(body)} bytes")
            return template
        media = _match_media(ctype, content)
        if media is None:
            raise ConformanceError(
                f"{where}: Content-Type {ctype!r} is not one of {sorted(content)}")
        schema = content[media].get("schema")
        if schema is None:
            return template
        if media.startswith("text/"):
            try:
                inst = body.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ConformanceError(f"{where}: body is not UTF-8: {e}")
        else:
            try:
                inst = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise ConformanceError(f"{where}: body is not JSON: {e}: {body[:200]!r}")
        self.validate(inst, schema, f"{where} body")
        return template


def _norm_media(value):
    parts = [p.strip().lower() for p in value.split(";")]
    return parts[0], sorted(p.replace(" ", "") for p in parts[1:] if p)


def _match_media(ctype, content):
    """The spec's media-type key that the actual Content-Type satisfies, or None. A JSON
    media type may carry parameters (charset); a text/plain key with parameters
    (version=0.0.4) needs them all."""
    if not ctype:
        return None
    base, params = _norm_media(ctype)
    for key in content:
        kbase, kparams = _norm_media(key)
        if kbase != base:
            continue
        if all(p in params for p in kparams):
            return key
    return None


SPEC = ApiSpec()

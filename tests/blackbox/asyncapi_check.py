"""Checks gateway frames against api/asyncapi.yaml: a server frame must be one of the messages
of the document's `send` operations (matched by its payload's `op` const) and valid against
that payload schema (JSON Schema, refs resolved inside the document)."""
from pathlib import Path

import jsonschema
import yaml

DOC_PATH = Path(__file__).resolve().parents[2] / "api" / "asyncapi.yaml"
_cache = {}


def _resolve(doc, ref):
    node = doc
    for part in ref.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _load():
    if "doc" not in _cache:
        doc = yaml.safe_load(DOC_PATH.read_text())
        resolver = jsonschema.RefResolver.from_schema(doc)
        by_action = {"send": {}, "receive": {}}
        for op in doc["operations"].values():
            for mref in op["messages"]:
                msg = _resolve(doc, mref["$ref"])
                if "$ref" in msg:
                    msg = _resolve(doc, msg["$ref"])
                payload = msg["payload"]
                schema = _resolve(doc, payload["$ref"]) if "$ref" in payload else payload
                name = schema["properties"]["op"]["const"]
                by_action[op["action"]][name] = payload
        _cache.update(doc=doc, resolver=resolver, ops=by_action)
    return _cache


def server_ops():
    """The op names of every server frame the document knows."""
    return set(_load()["ops"]["send"])


def client_ops():
    return set(_load()["ops"]["receive"])


def check_server_frame(msg):
    """Raises AssertionError when msg is not a documented server frame."""
    c = _load()
    assert isinstance(msg, dict) and isinstance(msg.get("op"), str), f"not a frame: {msg!r}"
    payload = c["ops"]["send"].get(msg["op"])
    assert payload is not None, f"server frame op {msg['op']!r} is not in api/asyncapi.yaml"
    try:
        jsonschema.Draft7Validator(payload, resolver=c["resolver"],
                                   format_checker=jsonschema.FormatChecker()).validate(msg)
    except jsonschema.ValidationError as e:
        raise AssertionError(f"frame {msg!r} does not match api/asyncapi.yaml: {e.message} at {list(e.path)}")


def check_client_frame(msg):
    c = _load()
    payload = c["ops"]["receive"].get(msg["op"])
    assert payload is not None, f"client op {msg['op']!r} is not in api/asyncapi.yaml"
    jsonschema.Draft7Validator(payload, resolver=c["resolver"]).validate(msg)

"""api/asyncapi.yaml against the gateway's op table: every client op in
src/gateway/ws_ops_*.def is documented, and nothing documented is missing from the table.
(Every frame the gateway tests receive is checked against the document by wsclient.py.)"""
import re
from pathlib import Path

import asyncapi_check

ROOT = Path(__file__).resolve().parents[2]


def test_every_op_of_the_table_is_documented():
    table = set()
    for f in sorted((ROOT / "src" / "gateway").glob("ws_ops_*.def")):
        table |= set(re.findall(r'^\s*\{\s*"([^"]+)"\s*,', f.read_text(), re.M))
    assert table, "no op rows found"
    documented = asyncapi_check.client_ops()
    assert table == documented, f"in the table only: {sorted(table - documented)}; " \
                                f"documented only: {sorted(documented - table)}"


def test_server_frames_are_documented():
    assert {"hello", "ack", "error", "presence", "notification.new", "message.new"} <= asyncapi_check.server_ops()

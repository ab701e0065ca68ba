"""Home-timeline store (store/timeline.h): its metrics and its setting. What the store does is
checked by tests/unit/test_timeline.c (both drivers; against the cluster run's Redis through
test_unit_backends.py) and, through the feed API, by the feed tests."""
import re
import subprocess

import pytest

from client import expect_status
from conftest import CHORUS_BIN, MODE


def metrics(acc):
    return expect_status(acc.get("/metrics"), 200).text


def metric(text, name):
    m = re.search(rf"^{re.escape(name)} (\d+)$", text, re.M)
    assert m, f"{name} not in /metrics"
    return int(m.group(1))


def test_timeline_metrics(api):
    text = metrics(api)
    assert metric(text, "chorus_timeline_pushes_total") >= 0
    if MODE == "cluster":
        assert "chorus_timeline_bytes" not in text  # Redis reports its own (INFO memory)
        assert metric(text, "chorus_timeline_unavailable_total") >= 0
        return
    assert metric(text, "chorus_timeline_max_bytes") == 256 << 20
    assert 0 < metric(text, "chorus_timeline_bytes") <= 256 << 20
    assert metric(text, "chorus_timelines") >= 0
    assert metric(text, "chorus_timeline_entries") >= 0
    assert metric(text, 'chorus_timeline_evictions_total{reason="memory"}') == 0


def test_timeline_max_memory_setting(start_server):
    srv = start_server({"CHORUS_TIMELINE_MAX_MEMORY": str(1 << 20)})
    text = metrics(srv.client())
    if MODE == "cluster":
        return  # the bound is Redis's own (maxmemory)
    assert metric(text, "chorus_timeline_max_bytes") == 1 << 20


@pytest.mark.parametrize("value", ["1000", "abc", "-1"])
def test_bad_timeline_max_memory_exits_nonzero(chorusd_env, value):
    env = chorusd_env({"CHORUS_LISTEN": "127.0.0.1:0", "CHORUS_TIMELINE_MAX_MEMORY": value})
    p = subprocess.run([str(CHORUS_BIN)], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0, f"CHORUS_TIMELINE_MAX_MEMORY={value!r} accepted"
    assert "CHORUS_TIMELINE_MAX_MEMORY" in p.stderr, p.stderr[-2000:]


def test_help_lists_the_setting():
    p = subprocess.run([str(CHORUS_BIN), "--help"], capture_output=True, text=True, timeout=30)
    assert "CHORUS_TIMELINE_MAX_MEMORY" in p.stdout + p.stderr

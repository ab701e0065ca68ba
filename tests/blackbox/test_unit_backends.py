"""The C unit tests of the storage drivers, run once more against the real PostgreSQL and
Redis of the cluster run (ctest runs them against SQLite and the in-process store)."""
import os
import subprocess
from pathlib import Path

import pytest

import conftest

ROOT = Path(__file__).resolve().parents[2]


def _unit_binary(name):
    chorusd = Path(os.environ.get("CHORUS_BIN", ROOT / "build-asan" / "chorusd"))
    path = chorusd.parent / name
    if not path.exists():
        pytest.skip(f"{path} not built")
    return path


@pytest.mark.skipif(conftest.MODE != "cluster", reason="needs the cluster backends")
@pytest.mark.parametrize("name, var", [("test_db", "CHORUS_TEST_PG_URL"), ("test_kv", "CHORUS_TEST_REDIS_URL"),
                                       ("test_timeline", "CHORUS_TEST_REDIS_URL"), ("test_bus", "CHORUS_TEST_REDIS_URL"),
                                       ("test_items_hydrate", "CHORUS_TEST_PG_URL"), ("test_hydrate", "CHORUS_TEST_PG_URL"),
                                       ("test_feed_sources", "CHORUS_TEST_PG_URL")])
def test_driver_unit_tests_against_real_servers(backends, name, var):
    url = backends.pg.url() if var == "CHORUS_TEST_PG_URL" else backends.redis.url(db=63)
    env = dict(os.environ, **{var: url})
    p = subprocess.run([str(_unit_binary(name))], env=env, capture_output=True, text=True, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "[  SKIPPED ]" not in out, f"{name} skipped cases although {var} was set:\n{out}"

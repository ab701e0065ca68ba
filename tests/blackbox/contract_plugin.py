"""pytest plugin: the contract check of the suite's real traffic (issue 14).

While the session runs, client.py records every checked exchange (contract_rec.py). At the
end, tools/api/contract-check.js validates all of them at once with Prism's own router and
validator (@stoplight/prism-http, the code behind `prism proxy`), against api/openapi.yaml
with its $refs intact. Any response violation fails the session and is printed with the
operation, the test that made the request and the violation.

CHORUS_CONTRACT=require (what `make test` sets) fails the session when node or the pinned
tools (tools/api/node_modules, installed by scripts/deps.sh) are missing; otherwise the check
is skipped with a warning. CHORUS_CONTRACT=off skips it.
"""
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import contract_rec

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools" / "api"
CHECKER = TOOLS / "contract-check.js"
SPEC_FILE = REPO / "api" / "openapi.yaml"
CHECK_TIMEOUT = 600  # seconds for the one validation pass at the end


def _is_worker(config):
    return hasattr(config, "workerinput")  # a pytest-xdist worker: the controller checks


def pytest_configure(config):
    config._chorus_contract = None
    if _is_worker(config) or os.environ.get("CHORUS_CONTRACT") == "off":
        return
    directory = tempfile.mkdtemp(prefix="chorus-contract-")
    os.environ[contract_rec.ENV] = directory  # inherited by xdist workers started later
    config._chorus_contract_dir = directory


def _run_check(directory):
    """(failed, lines to print)."""
    files = sorted(Path(directory).glob("rec-*.jsonl"))
    if not any(f.stat().st_size for f in files):
        return False, []
    required = os.environ.get("CHORUS_CONTRACT") == "require"
    bundled = TOOLS / "node_modules" / ".bin" / "node"  # the tools' own Node.js (package.json)
    node = str(bundled) if bundled.exists() else shutil.which("node")
    if node is None or not (TOOLS / "node_modules" / "@stoplight" / "prism-http").is_dir():
        msg = ("contract check not run: node or tools/api/node_modules is missing "
               "(scripts/deps.sh test installs them)")
        return required, [msg]
    try:
        p = subprocess.run([node, str(CHECKER), str(SPEC_FILE), *map(str, files)],
                           capture_output=True, text=True, timeout=CHECK_TIMEOUT)
    except subprocess.TimeoutExpired:
        return True, [f"contract check did not finish within {CHECK_TIMEOUT} s"]
    lines = (p.stdout + p.stderr).rstrip().splitlines()
    return p.returncode != 0, lines


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    directory = getattr(config, "_chorus_contract_dir", None)
    if directory is None:
        return
    failed, lines = _run_check(directory)
    if failed:
        lines.append(f"recorded exchanges kept in {directory}")
    else:
        shutil.rmtree(directory, ignore_errors=True)
    config._chorus_contract = (failed, lines)
    if failed and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    result = getattr(config, "_chorus_contract", None)
    if not result or not result[1]:
        return
    failed, lines = result
    title = "contract check (api/openapi.yaml, Prism)" + (" FAILED" if failed else "")
    terminalreporter.section(title, red=failed, green=not failed)
    for ln in lines:
        terminalreporter.write_line(ln)

"""Point reads run on the event loop (embedded backends) never wait for a database lock: a
call that meets one runs again on a worker thread, which waits, while the loop keeps
answering its other connections (chorus_loop_reads_moved_total counts the moves).

The lock is taken from outside, deterministically: the test makes the database look as if
another process were recovering its WAL (SQLite answers SQLITE_BUSY_RECOVERY to every
reader until the recovery ends). A WAL reader is blocked by little else: a writer's lock
(BEGIN IMMEDIATE/EXCLUSIVE) does not stop it, and an exclusive locking mode cannot be taken
while chorusd keeps its connections open."""
import contextlib
import fcntl
import os
import re
import threading
import time
from pathlib import Path

import pytest

from client import expect_status
from conftest import MODE
from social import post

pytestmark = pytest.mark.skipif(MODE != "embedded",
                                reason="point reads run on the loop only with SQLite + in-process kv")

# The wal-index (chorus.db-shm) of SQLite's unix VFS: two copies of a 48-byte header (iChange
# at offset 8 of each), then one lock byte each from offset 120: 0 write, 1 checkpoint,
# 2 recovery, 3.. readers.
SHM_HDR2_ICHANGE = 48 + 8
SHM_LOCK_WRITE = 120
SHM_LOCK_RECOVER = 122
LOCK_TRIES = 500  # 10 ms apart: a write of chorusd may hold the write lock for a moment


def _lock_byte(fd, offset):
    for _ in range(LOCK_TRIES):
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            return
        except OSError:
            time.sleep(0.01)
    raise AssertionError(f"could not lock byte {offset} of the wal-index")


@contextlib.contextmanager
def wal_recovery_in_progress(server):
    """Holds the write and recovery locks of server's database and makes the two copies of
    the wal-index header differ: every reader of chorusd then needs a recovery that another
    process is running, and gets SQLITE_BUSY_RECOVERY until this block ends. The header is
    restored before the locks go (closing the file drops this process's locks on it: do not
    open the database with the sqlite3 module inside the block)."""
    shm = Path(server.storage_env["CHORUS_DATA_DIR"]) / "chorus.db-shm"
    fd = os.open(shm, os.O_RDWR)
    try:
        _lock_byte(fd, SHM_LOCK_WRITE)
        _lock_byte(fd, SHM_LOCK_RECOVER)
        old = os.pread(fd, 1, SHM_HDR2_ICHANGE)
        os.pwrite(fd, bytes([old[0] ^ 0xFF]), SHM_HDR2_ICHANGE)
        try:
            yield
        finally:
            os.pwrite(fd, old, SHM_HDR2_ICHANGE)
    finally:
        os.close(fd)


def metric(client, series):
    text = expect_status(client.get("/metrics", timeout=10), 200).text
    m = re.search(r"^" + re.escape(series) + r" (\d+)$", text, re.M)
    assert m, f"{series} is missing from /metrics"
    return int(m.group(1))


def moved(client):
    return metric(client, "chorus_loop_reads_moved_total")


DB_ERRORS = 'chorus_backend_errors_total{backend="db"}'


def wait_moved(client, above, tries=300):
    """Polls /metrics (answered on the loop) until the counter passes `above`."""
    for _ in range(tries):
        if moved(client) > above:
            return
        time.sleep(0.01)
    raise AssertionError("the call was not moved off the loop")


def in_background(fn):
    out = {}

    def run():
        try:
            out["r"] = fn()
        except BaseException as e:  # reported by the test thread
            out["e"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def finished(t, out):
    t.join(30)
    assert not t.is_alive(), "the request never finished"
    if "e" in out:
        raise out["e"]
    return out["r"]


def check_moved_while_loop_answers(server, request):
    """Runs request in the background while the database is locked; asserts that it was
    moved off the loop and is still waiting while the same loop answers /healthz and
    /metrics; returns its response once the lock is gone."""
    c = server.client()
    before, errors = moved(c), metric(c, DB_ERRORS)
    with wal_recovery_in_progress(server):
        t, out = in_background(request)
        wait_moved(c, before)
        for _ in range(5):
            expect_status(c.get("/healthz", timeout=10), 200)
        assert t.is_alive(), f"answered while the database was locked: {out}"
    r = finished(t, out)
    assert moved(c) == before + 1
    assert metric(c, DB_ERRORS) == errors  # the lock met on the loop is not a failure
    assert metric(c, "chorus_worker_queue_depth") == 0
    return r


@pytest.fixture
def one_loop(start_server):
    """A chorusd with one event loop: every connection shares the loop under test."""
    return start_server(env={"CHORUS_THREADS": "1"}, name="loopread")


def test_profile_read_meeting_a_lock_moves_to_a_worker(one_loop):
    c = one_loop.client()
    viewer, target = c.register(), c.register()
    # the viewer's own profile warms the session; the target's stays cold: a warm profile is
    # all cached facts (svc/users/profile_fact.h) and would never meet the lock
    expect_status(viewer.get(f"/v1/users/{viewer.id}"), 200)
    r = check_moved_while_loop_answers(one_loop, lambda: viewer.get(f"/v1/users/{target.id}", timeout=30))
    expect_status(r, 200)
    assert r.json["id"] == target.id
    assert r.json["handle"] == target.handle


def test_reaction_meeting_a_lock_moves_before_it_defers(one_loop):
    """A reaction write reads its target on the loop, then hands the write to the
    group-commit writer: the move happens before that, and the write is done once."""
    c = one_loop.client()
    author, fan = c.register(), c.register()
    p = post(author)
    path = f"/v1/posts/{p['id']}/reaction"
    r = check_moved_while_loop_answers(
        one_loop, lambda: c.request("PUT", path, json={"kind": "love"}, token=fan.access_token, timeout=30))
    expect_status(r, 200)
    assert r.json["kind"] == "love"
    got = expect_status(fan.get(f"/v1/posts/{p['id']}"), 200).json
    assert got["my_reaction"] == "love"
    assert r.json["counts"]["reactions"] == {"love": 1}


def test_counter_is_exposed(one_loop):
    assert moved(one_loop.client()) == 0

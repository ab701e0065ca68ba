"""Idempotency-Key: the record commits in the same transaction as the request's effect.

Replays answer the first response exactly; another request under the same key is 422;
concurrent requests with one key make one effect and all get its answer; nothing stored
lets a database dump test a password or yields a token; a crash between the effect and its
record leaves nothing behind (the retry runs once, no 409); expired records are swept."""
import hashlib
import json
import threading
import time

import pytest

from client import PASSWORD, expect_problem, expect_status, unique_handle
from conftest import MODE
from pg_proxy import PgProxy
from social import db_rows

REGISTER = "/v1/auth/register"


def _key(prefix):
    return {"Idempotency-Key": f"{prefix}-{unique_handle()}"}


def _items_of(server, backends, author_id):
    return db_rows(server, backends, f"SELECT id FROM items WHERE author_id = {int(author_id)}")


def _record(server, backends, user_id, key):
    k = key["Idempotency-Key"].replace("'", "''")
    return db_rows(server, backends,
                   "SELECT user_id, idem_key, route, fingerprint, status, response, created_at "
                   f"FROM idempotency_keys WHERE user_id = {int(user_id)} AND idem_key = '{k}'")


# ---- replay and mismatch ------------------------------------------------------------------

def test_replay_answers_the_first_response_exactly(api, user, server, backends):
    key = _key("post")
    first = expect_status(user.post("/v1/posts", json={"text": "exactly once"}, headers=key), 201)
    again = expect_status(user.post("/v1/posts", json={"text": "exactly once"}, headers=key), 201)
    assert again.header("Idempotent-Replayed") == "true"
    assert first.header("Idempotent-Replayed") in (None, "false")
    assert again.body == first.body
    assert again.header("Content-Type") == first.header("Content-Type")
    assert len(_items_of(server, backends, user.id)) == 1


def test_same_key_other_body_or_resource_is_422(api, user, other, server, backends):
    key = _key("post")
    expect_status(user.post("/v1/posts", json={"text": "one"}, headers=key), 201)
    expect_problem(user.post("/v1/posts", json={"text": "two"}, headers=key), 422, "idempotency_mismatch")
    expect_problem(user.post(f"/v1/users/{other.id}/follow", headers=key), 422, "idempotency_mismatch")
    assert len(_items_of(server, backends, user.id)) == 1


def test_an_error_answer_is_replayed_too(api, user):
    """A 4xx answer is an answer: the same request gets it again, and nothing ran."""
    key = _key("follow-self")
    first = user.post(f"/v1/users/{user.id}/follow", headers=key, check=False)
    assert 400 <= first.status < 500, first.describe()
    again = user.post(f"/v1/users/{user.id}/follow", headers=key, check=False)
    assert again.status == first.status
    assert again.header("Idempotent-Replayed") == "true"
    assert json.loads(again.body)["code"] == json.loads(first.body)["code"]


def test_keys_are_per_user(api, user, other, server, backends):
    key = _key("shared")
    a = expect_status(user.post("/v1/posts", json={"text": "same"}, headers=key), 201)
    b = expect_status(other.post("/v1/posts", json={"text": "same"}, headers=key), 201)
    assert a.json["id"] != b.json["id"]
    assert b.header("Idempotent-Replayed") in (None, "false")


# ---- concurrency ----------------------------------------------------------------------------

def _race(n, fn):
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        results[i] = fn()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_requests_with_one_key_make_one_effect(api, user, server, backends):
    key = _key("race")
    results = _race(6, lambda: user.post("/v1/posts", json={"text": "raced"}, headers=key, check=False))
    assert all(r.status == 201 for r in results), [r.describe() for r in results if r.status != 201]
    assert len({r.json["id"] for r in results}) == 1
    assert len(_items_of(server, backends, user.id)) == 1
    assert len({r.body for r in results}) == 1, "every request gets the one answer"
    assert sum(r.header("Idempotent-Replayed") == "true" for r in results) == 5


def test_concurrent_registrations_with_one_key_make_one_account(api, server, backends):
    key = _key("race-reg")
    body = {"handle": unique_handle(), "password": PASSWORD}
    results = _race(4, lambda: api.post(REGISTER, json=body, headers=key, check=False))
    assert all(r.status == 201 for r in results), [r.describe() for r in results if r.status != 201]
    assert len({r.json["user"]["id"] for r in results}) == 1
    assert len({r.json["refresh_token"] for r in results}) == 4  # each answer has its own session
    assert db_rows(server, backends, f"SELECT count(*) FROM users WHERE handle = '{body['handle']}'") == [("1",)]


# ---- no secrets at rest ---------------------------------------------------------------------

def test_registration_record_holds_no_secret(api, server, backends):
    key = _key("reg")
    password = "dump-" + unique_handle() + "-pw"
    body = {"handle": unique_handle(), "password": password, "display_name": "Dump"}
    first = expect_status(api.post(REGISTER, json=body, headers=key), 201)
    rows = _record(server, backends, 0, key)
    assert len(rows) == 1, rows
    stored = "|".join(rows[0])
    access, refresh = first.json["access_token"], first.json["refresh_token"]
    for secret in (access, refresh, *access.split("."), password):
        assert secret not in stored, f"{secret!r} is stored in idempotency_keys"
    for h in (hashlib.sha256, hashlib.blake2b, hashlib.blake2s, hashlib.md5, hashlib.sha1):
        for data in (password, json.dumps(body), json.dumps(body, separators=(",", ":"))):
            assert h(data.encode()).hexdigest() not in stored
    # The fingerprint is a plain hash of the route and the body WITHOUT the password: it
    # does not depend on the password at all, so a dump cannot test guesses against it.
    without = json.dumps({k: v for k, v in body.items() if k != "password"}, sort_keys=True,
                         separators=(",", ":"), ensure_ascii=False)
    want = hashlib.blake2b(REGISTER.encode() + b"\0" + without.encode(), digest_size=32).hexdigest()
    assert rows[0][3] == want
    assert "access_token" not in json.loads(rows[0][5]) and "refresh_token" not in json.loads(rows[0][5])
    assert db_rows(server, backends, "SELECT count(*) FROM server_keys WHERE name = 'response_sealing'") == [("0",)]

    # A replay must know the password: the wrong one is another request, and opens nothing.
    wrong = dict(body, password="wrong-" + password)
    expect_problem(api.post(REGISTER, json=wrong, headers=key), 422, "idempotency_mismatch")
    sessions = api.get("/v1/me/sessions", token=access).json["items"]
    assert len(sessions) == 1, sessions
    # The right one gets the first answer's user and a new session of its own.
    again = expect_status(api.post(REGISTER, json=body, headers=key), 201)
    assert again.header("Idempotent-Replayed") == "true"
    assert again.json["user"] == first.json["user"]
    assert again.json["refresh_token"] not in (refresh,)
    assert len(api.get("/v1/me/sessions", token=access).json["items"]) == 2


# ---- crash safety and retention -------------------------------------------------------------

def _wait_for_log(path, text, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged within {timeout}s")


def test_crash_before_commit_leaves_no_stuck_key(start_server, fresh_storage, backends):
    """kill -9 while an idempotent request has done its work but not committed: after a
    restart, the retry runs once (no 409 idempotency_in_progress for 24 h)."""
    storage = fresh_storage()
    s = start_server(env={"CHORUS_TEST_IDEM_PAUSE_MS": "60000"}, storage=storage, name="idem-crash")
    acc = s.client().register()
    key = _key("crash")
    outcome = []

    def doomed():
        try:
            outcome.append(acc.post("/v1/posts", json={"text": "survives a crash"}, headers=key, check=False))
        except OSError as e:
            outcome.append(e)

    t = threading.Thread(target=doomed)
    t.start()
    _wait_for_log(s.stderr_path, "pauses 60000 ms before recording its Idempotency-Key")
    s.kill()
    t.join(30)
    assert outcome and isinstance(outcome[0], OSError), outcome

    s2 = start_server(storage=storage, name="idem-crash-restart")
    acc2 = s2.client().login(acc.handle)
    first = expect_status(acc2.post("/v1/posts", json={"text": "survives a crash"}, headers=key), 201)
    assert first.header("Idempotent-Replayed") in (None, "false")
    again = expect_status(acc2.post("/v1/posts", json={"text": "survives a crash"}, headers=key), 201)
    assert again.header("Idempotent-Replayed") == "true" and again.json["id"] == first.json["id"]
    assert len(_items_of(s2, backends, acc.id)) == 1


def test_expired_records_are_forgotten_and_swept(start_server, fresh_storage, backends):
    storage = fresh_storage()
    s = start_server(storage=storage, name="idem-sweep")
    acc = s.client().register()
    key = _key("old")
    expect_status(acc.post("/v1/posts", json={"text": "yesterday"}, headers=key), 201)
    day_ago = int(time.time() * 1000) - 24 * 3600 * 1000 - 60_000
    db_rows(s, backends, f"UPDATE idempotency_keys SET created_at = {day_ago} WHERE user_id = {int(acc.id)}")
    # Past the replay window the key is free again: another body is a new request.
    fresh = expect_status(acc.post("/v1/posts", json={"text": "today"}, headers=key), 201)
    assert fresh.header("Idempotent-Replayed") in (None, "false")
    rows = _record(s, backends, acc.id, key)
    assert len(rows) == 1 and int(rows[0][6]) > day_ago

    # A row nobody reused is swept by the worker role (its first round runs at start-up).
    key2 = _key("swept")
    expect_status(acc.post("/v1/posts", json={"text": "to sweep"}, headers=key2), 201)
    db_rows(s, backends, f"UPDATE idempotency_keys SET created_at = {day_ago} WHERE user_id = {int(acc.id)} "
                         f"AND idem_key = '{key2['Idempotency-Key']}'")
    s.stop()
    s2 = start_server(storage=storage, name="idem-sweep-restart")
    deadline = time.monotonic() + 30
    while _record(s2, backends, acc.id, key2) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _record(s2, backends, acc.id, key2) == []
    assert len(_record(s2, backends, acc.id, key)) == 1  # a live record stays


# ---- lost COMMIT acknowledgement (issue 10) -------------------------------------------------

def test_lost_commit_ack_is_found_by_the_retry(start_server, fresh_storage, backends):
    """PostgreSQL commits, but the answer to that COMMIT never reaches chorusd (a proxy drops
    it and the connection). chorusd cannot know whether it committed and answers 503; the
    client's retry with the same key finds the record that committed with the post and
    replays it: the post exists exactly once."""
    if MODE != "cluster":
        pytest.skip("needs CHORUS_BACKENDS=cluster")
    storage = fresh_storage()
    dbname = storage["CHORUS_DB"].rsplit("/", 1)[1]
    proxy = PgProxy(backends.pg.port)
    try:
        proxied = dict(storage, CHORUS_DB=f"postgres://chorus@127.0.0.1:{proxy.port}/{dbname}"
                                           "?sslmode=disable&gssencmode=disable")
        # api only: the worker role's consumers commit on their own and would take the shot.
        s = start_server(env={"CHORUS_ROLES": "api"}, storage=proxied, name="idem-lost-ack")
        acc = s.client().register()
        key = _key("lost-ack")
        proxy.arm()
        first = acc.post("/v1/posts", json={"text": "committed, ack lost"}, headers=key, check=False)
        assert proxy.swallowed == 1
        assert first.status == 503, first.describe()
        retry = expect_status(acc.post("/v1/posts", json={"text": "committed, ack lost"}, headers=key), 201)
        assert retry.header("Idempotent-Replayed") == "true"
        rows = backends.pg.psql(f"SELECT id FROM items WHERE author_id = {int(acc.id)}", dbname).split()
        assert rows == [retry.json["id"]]
    finally:
        proxy.close()

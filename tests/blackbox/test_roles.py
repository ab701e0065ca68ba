"""Roles (CHORUS_ROLES): a process without the `api` role serves only /healthz, /readyz and
/metrics (every /v1 path: 503 `role_not_served`, nothing done) and starts no reaction writer;
a process without `worker` runs no consumer. An api-only and a worker-only chorusd on the same
database (cluster: the same PostgreSQL and Redis; embedded: the same SQLite file) together
do the work of one: writes through the first are folded into notifications by the second."""
import time
from pathlib import Path

from client import Client, expect_status
from notify_helpers import follow, react, sql, wait_group, wait_until
from social import post


def raw(srv, method, path, **kw):
    """A request without the spec check (the spec describes the api role's answers)."""
    return Client(srv.base_url).request(method, path, check=False, **kw)


def threads(srv):
    """Names of the threads of srv's process."""
    return sorted(p.read_text().strip() for p in Path(f"/proc/{srv.proc.pid}/task").glob("*/comm"))


def expect_not_served(resp):
    assert resp.status == 503, resp.describe()
    assert resp.media_type == "application/problem+json", resp.describe()
    body = resp.json
    assert body["code"] == "role_not_served" and body["status"] == 503, body
    assert body["request_id"] == resp.header("X-Request-Id")
    assert "api" in body["detail"]


def test_worker_only_serves_service_endpoints_and_refuses_the_api(start_server, backends):
    srv = start_server(env={"CHORUS_ROLES": "worker"}, name="worker-only")
    assert raw(srv, "GET", "/healthz").status == 200
    assert raw(srv, "GET", "/readyz").status == 200
    m = raw(srv, "GET", "/metrics")
    assert m.status == 200 and "http_server_requests_in_flight" in m.text
    for method, path, body in (("GET", "/v1/me", None), ("GET", "/v1", None),
                               ("POST", "/v1/auth/register", {"handle": "nobody_here", "password": "correct horse"}),
                               ("PUT", "/v1/posts/1/reaction", {"kind": "like"}), ("GET", "/v1/no/such/route", None)):
        expect_not_served(raw(srv, method, path, **({"json": body} if body else {})))
    # Refused before anything ran: no account was made.
    assert sql(srv, backends, "SELECT COUNT(*) FROM users WHERE handle = 'nobody_here'") == "0"
    # Other unknown paths stay 404.
    assert raw(srv, "GET", "/v1x").status == 404
    # The reaction writer belongs to the api role.
    assert "ch-reactions" not in threads(srv)


def test_api_only_writes_and_worker_only_folds_notifications(start_server, backends):
    api_srv = start_server(env={"CHORUS_ROLES": "api"}, name="api-only")
    # The thread names itself once it runs: under load that can be after /readyz answers.
    wait_until(lambda: "ch-reactions" in threads(api_srv), "the api role's reactions writer thread", 30)
    c = Client(api_srv.base_url)
    author, fan = c.register(), c.register()
    p = post(author)
    react(fan, p["id"], "love")
    # No worker anywhere yet: nothing consumes the log. (Bounded look: several of the
    # worker's 200 ms polls would have run.)
    time.sleep(1.0)
    assert sql(api_srv, backends, "SELECT COUNT(*) FROM consumer_offsets") == "0"
    assert expect_status(author.get("/v1/notifications/unread_count"), 200).json["count"] == 0
    assert expect_status(author.get("/v1/notifications?limit=20"), 200).json["items"] == []

    worker = start_server(env={"CHORUS_ROLES": "worker"}, storage=api_srv.storage_env, name="worker-only")
    g = wait_group(author, "reaction", {"type": "post", "id": str(p["id"])}, count=1)
    assert g["actors_count"] == 1
    # The api process read (and may have cached) the empty count and first page before the
    # worker wrote: it must not keep serving them (it never hears the worker's forgets).
    wait_until(lambda: author.get("/v1/notifications/unread_count").json["count"] == 1,
               "the api process's unread count after the worker's fold", 30)  # cache lifetime: 10 min
    first = expect_status(author.get("/v1/notifications?limit=20"), 200).json["items"]
    assert [x["id"] for x in first] == [g["id"]]
    # A follow made through the api process is folded too (the outbox consumer).
    assert follow(fan, author) == "following"
    wait_group(author, "follow", None, count=1)
    # The worker process itself still refuses the API.
    expect_not_served(raw(worker, "GET", "/v1/notifications", token=author.access_token))
    lag = [ln for ln in raw(worker, "GET", "/metrics").text.splitlines()
           if ln.startswith("chorus_consumer_lag_seconds")]
    assert lag, "the worker exports its consumers' lag"
    wait_until(lambda: sql(api_srv, backends, "SELECT COUNT(*) FROM consumer_offsets") != "0",
               "consumer cursors written by the worker process")

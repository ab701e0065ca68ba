"""Cluster mode: the reaction group-commit writer keeps its PostgreSQL connection between
batches. After a PostgreSQL restart that connection is dead; the next batch must still be
one group commit (on a fresh connection), not fall back to a transaction per write."""
import pytest

from conftest import MODE
from client import expect_status
from notify_helpers import wait_until
from test_service import find, get_metrics

pytestmark = pytest.mark.skipif(MODE != "cluster", reason="needs CHORUS_BACKENDS=cluster")


def group_commit_counts(api):
    _, samples = get_metrics(api)
    return (find(samples, "chorus_group_commits_total")[0][1],
            find(samples, "chorus_group_commit_writes_total")[0][1])


def test_a_batch_after_a_postgres_restart_is_still_one_group_commit(start_server, pg_ctl):
    srv = start_server(name="writer-reconnect")
    c = srv.client()
    author, fan = c.register(), c.register()
    p = expect_status(author.post("/v1/posts", json={"text": "restart"}), 201).json
    path = f"/v1/posts/{p['id']}/reaction"
    expect_status(fan.client.request("PUT", path, json={"kind": "like"}, token=fan.access_token), 200)
    pg_ctl.stop()
    pg_ctl.start()
    wait_until(lambda: c.get("/readyz").status == 200, "/readyz 200 after the restart", 20)
    commits0, writes0 = group_commit_counts(c)
    expect_status(fan.client.request("PUT", path, json={"kind": "love"}, token=fan.access_token), 200)
    commits, writes = group_commit_counts(c)
    assert (commits - commits0, writes - writes0) == (1, 1), "the write did not go through group commit"
    assert fan.get(f"/v1/posts/{p['id']}").json["my_reaction"] == "love"

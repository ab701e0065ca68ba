"""`chorusd seed`: a deterministic demo community that the API then serves."""
import sqlite3
from pathlib import Path

import pytest

import conftest


def _seed(chorusd_env, env, *args):
    return conftest.run_chorusd(["seed", *args], env, timeout=300)


@pytest.fixture
def seeded(chorusd_env, start_server):
    env = chorusd_env()
    p = _seed(chorusd_env, env, "--users", "60", "--seed", "5")
    assert p.returncode == 0, p.stderr
    assert "seeded 60 users" in p.stdout, p.stdout
    return env, p


def test_seed_creates_a_community_the_api_serves(seeded, start_server):
    env, _ = seeded
    server = start_server(storage={k: v for k, v in env.items() if k.startswith("CHORUS_D") or k == "CHORUS_REDIS"})
    account = server.client().login("maya_1", password="chorus-demo")
    me = account.user
    assert me["handle"] == "maya_1"
    # follower counts are exact: they equal the length of the followers list
    followers = []
    cursor = None
    while True:
        path = f"/v1/users/{me['id']}/followers?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = account.get(path)
        assert page.status == 200, page.describe()
        followers += page.json["items"]
        cursor = page.json["next_cursor"]
        if not cursor:
            break
    profile = account.get(f"/v1/users/{me['id']}").json
    assert profile["followers_count"] == len(followers) > 0
    assert profile["posts_count"] > 0
    timeline = account.get(f"/v1/users/{me['id']}/posts?limit=100")
    assert timeline.status == 200, timeline.describe()
    assert len(timeline.json["items"]) == min(profile["posts_count"], 100)


def test_seed_refuses_to_run_twice_and_changes_nothing(seeded, chorusd_env):
    env, _ = seeded
    again = _seed(chorusd_env, env, "--users", "60", "--seed", "5")
    assert again.returncode != 0
    assert "already" in again.stderr


@pytest.mark.skipif(conftest.MODE != "embedded", reason="reads the SQLite file directly")
def test_seed_is_deterministic(chorusd_env):
    def community(seed):
        env = chorusd_env()
        assert _seed(chorusd_env, env, "--users", "40", "--seed", seed).returncode == 0
        db = sqlite3.connect(Path(env["CHORUS_DATA_DIR"]) / "chorus.db")
        users = db.execute("SELECT handle, display_name, bio, is_private FROM users ORDER BY handle").fetchall()
        edges = db.execute("SELECT a.handle, b.handle FROM follows f JOIN users a ON a.id = f.follower_id "
                           "JOIN users b ON b.id = f.followee_id ORDER BY 1, 2").fetchall()
        texts = db.execute("SELECT type, text FROM items ORDER BY id").fetchall()
        return users, edges, texts
    a, b, c = community("9"), community("9"), community("10")
    assert a == b
    assert a[1] != c[1]


@pytest.mark.parametrize("args", [["--users", "1"], ["--users", "x"], ["--seed", "-3"], ["--nope"]])
def test_seed_bad_arguments(chorusd_env, args):
    p = _seed(chorusd_env, chorusd_env(), *args)
    assert p.returncode == 2, p.stderr

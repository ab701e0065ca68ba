"""`chorusd seed --profile feedlab`: the feed lab's community (bench/feedlab). Celebrities
with exactly the asked number of followers, a power-law graph, users whose interests are
their topic vector, items tagged from their authors' interests at their posting rates,
feed_authors holding those rates, and the per-user CSV the lab driver reads. Deterministic
by seed."""
import csv
import json
import re
import types

import pytest

import conftest
from social import db_rows

USERS, CELEBS, CELEB_FOLLOWERS, FOLLOWS = 400, 2, 300, 8
HISTORY_HOURS = 24  # CH_SEED_LAB_HISTORY_HOURS


def _storage(env):
    return {k: v for k, v in env.items() if k.startswith("CHORUS_D") or k == "CHORUS_REDIS"}


def _sql(backends, env, query):
    return db_rows(types.SimpleNamespace(storage_env=env), backends, query)


def _lab(chorusd_env, tmp_path, name, seed=7, *extra):
    env = chorusd_env()
    rates = tmp_path / f"{name}.csv"
    p = conftest.run_chorusd(["seed", "--profile", "feedlab", "--users", str(USERS), "--celebrities", str(CELEBS),
                              "--celebrity-followers", str(CELEB_FOLLOWERS), "--follows", str(FOLLOWS),
                              "--seed", str(seed), "--rates", str(rates), *extra], env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert f"seeded {USERS} users" in p.stdout, p.stdout
    with open(rates) as f:
        rows = list(csv.DictReader(f))
    return env, rows, rates.read_text()


@pytest.fixture
def lab(chorusd_env, tmp_path):
    return _lab(chorusd_env, tmp_path, "a")


def test_lab_graph_has_celebrities_and_a_power_law(lab, backends):
    env, rows, _ = lab
    assert len(rows) == USERS
    assert [r["handle"] for r in rows[:2]] == ["maya_1", "liam_2"]
    followers = {int(r["index"]): int(r["followers"]) for r in rows}
    # each celebrity exactly as many followers as asked, and the stored counters agree
    assert [followers[c] for c in range(CELEBS)] == [CELEB_FOLLOWERS] * CELEBS
    counts = {int(i): int(n) for i, n in _sql(backends, env, "SELECT id, followers_count FROM users")}
    assert {int(r["id"]): int(r["followers"]) for r in rows} == counts
    edges = int(_sql(backends, env, "SELECT COUNT(*) FROM follows")[0][0])
    assert edges == sum(followers.values())
    ordinary = sorted((followers[u] for u in range(CELEBS, USERS)), reverse=True)
    # power law: the top 5 % of ordinary accounts hold far more than 5 % of their followers
    top = sum(ordinary[:len(ordinary) // 20])
    assert top > 0.25 * sum(ordinary), ordinary[:20]
    # the sampled followers really follow
    follows = {(int(a), int(b)) for a, b in _sql(backends, env, "SELECT follower_id, followee_id FROM follows")}
    ids = [int(r["id"]) for r in rows]
    for r in rows[:50]:
        for f in r["sample_followers"].split():
            assert (ids[int(f)], int(r["id"])) in follows


def test_lab_interests_rates_and_items(lab, backends):
    env, rows, _ = lab
    interests = {int(i): json.loads(t) for i, t in _sql(backends, env, "SELECT id, interests FROM users")}
    post_rate = {}
    for r in rows:
        topics = [t.split(":") for t in r["topics"].split()]
        tags, weights = [t for t, _ in topics], [float(w) for _, w in topics]
        assert interests[int(r["id"])] == tags
        assert len(set(tags)) == 3 and weights == sorted(weights, reverse=True)
        assert abs(sum(weights) - 1) < 0.01
        assert float(r["read_rate"]) > 0
        post_rate[int(r["id"])] = float(r["post_rate"])
    # celebrities post hourly; everyone's rate is in feed_authors, the fan-out policy's table
    assert [post_rate[int(r["id"])] for r in rows[:CELEBS]] == [1.0] * CELEBS
    stored = {int(a): float(p) for a, p in _sql(backends, env, "SELECT author_id, post_rate FROM feed_authors")}
    assert stored.keys() == post_rate.keys()
    assert all(abs(stored[a] - post_rate[a]) < 1e-5 for a in stored)
    # items: public posts and reels at the authors' rates, tagged from their interests
    items = _sql(backends, env, "SELECT author_id, type, text, hashtags FROM items")
    assert {t for _, t, _, _ in items} == {"post", "reel"}
    expected = sum(post_rate.values()) * HISTORY_HOURS
    assert 0.7 * expected < len(items) < 1.3 * expected
    by_author = {}
    in_interest = 0
    for author, _, text, hashtags in items:
        tags = json.loads(hashtags)
        assert tags == list(dict.fromkeys(re.findall(r"#(\w+)", text)))
        in_interest += all(t in interests[int(author)] for t in tags)
        by_author[int(author)] = by_author.get(int(author), 0) + 1
    assert in_interest > 0.7 * len(items)
    for c in rows[:CELEBS]:
        assert HISTORY_HOURS // 2 < by_author.get(int(c["id"]), 0) <= HISTORY_HOURS * 2


def test_lab_is_deterministic_and_the_api_serves_it(lab, chorusd_env, tmp_path, start_server):
    env, rows, text = lab
    _, _, again = _lab(chorusd_env, tmp_path, "b")
    strip = lambda t: [line.split(",", 2)[2] for line in t.splitlines()]  # ids are made at seeding time
    assert strip(again) == strip(text)
    _, _, other = _lab(chorusd_env, tmp_path, "c", 8)
    assert strip(other) != strip(text)
    server = start_server(storage=_storage(env))
    account = server.client().login(rows[0]["handle"], password="chorus-demo")
    profile = account.get(f"/v1/users/{rows[0]['id']}").json
    assert profile["followers_count"] == CELEB_FOLLOWERS
    posts = account.get(f"/v1/users/{rows[0]['id']}/posts?limit=100")
    assert posts.status == 200 and len(posts.json["items"]) > 0


def test_lab_options_out_of_range_are_refused(chorusd_env):
    env = chorusd_env()
    for args in (["--celebrity-followers", str(USERS)], ["--celebrities", str(USERS)],
                 ["--users", "1500000"], ["--follows", "abc"]):
        prof = [] if args[0] == "--users" else ["--profile", "feedlab", "--users", str(USERS)]
        p = conftest.run_chorusd(["seed", *prof, *args], env)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
    p = conftest.run_chorusd(["seed", "--profile", "nope"], env)
    assert p.returncode == 2

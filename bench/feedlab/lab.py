"""The feed lab's driver (bench/feedlab/run.sh runs it; Debian's python3, stdlib only).
Drives a running chorusd seeded with `chorusd seed --profile feedlab --rates RATES`:

  lab.py login    BASE RATES STATE             log in the lab's active users -> STATE (json)
  lab.py load     BASE RATES STATE OUT         authors post and readers read at their rates
                                               (time compressed), delivery probes; -> OUT
  lab.py celebrity BASE RATES STATE OUT        one celebrity post: fan-out writes it cost,
                                               and whether followers see it at their next read
  lab.py engage   BASE RATES STATE OUT         simulated users read ranked home vs
                                               chronological following feeds and react by
                                               interest match; engagement rates -> OUT
  lab.py homebody BASE STATE OUT               a warm 20-item home feed body (for nginx) and
                                               the token and path wrk uses -> OUT.json + OUT
Every request loop is bounded in count and time and targets BASE (loopback) only."""
import csv
import http.client
import json
import os
import random
import re
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

PASSWORD = "chorus-demo"  # CH_SEED_PASSWORD
SEGMENT = {"post": "posts", "reel": "reels"}
ENV = os.environ.get


def env_num(name, default):
    return type(default)(ENV(name, default))


# ---- HTTP --------------------------------------------------------------------------------

class Http:
    """One keep-alive connection per thread to BASE."""

    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.local = threading.local()

    def call(self, method, path, body=None, token=None, timeout=30):
        h = {}
        if body is not None:
            h["Content-Type"] = "application/json"
        if token:
            h["Authorization"] = "Bearer " + token
        data = json.dumps(body) if body is not None else None
        for attempt in range(3):
            c = getattr(self.local, "c", None)
            if c is None:
                c = self.local.c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            try:
                c.request(method, path, body=data, headers=h)
                r = c.getresponse()
                raw = r.read()
            except (http.client.HTTPException, OSError):
                c.close()
                self.local.c = None
                if attempt == 2:
                    raise
                continue
            if r.status == 503 and r.getheader("Retry-After") and attempt < 2:
                time.sleep(min(float(r.getheader("Retry-After")), 1.0))
                continue
            try:
                j = json.loads(raw) if raw else None
            except ValueError:
                j = None
            return r.status, j, raw
        raise RuntimeError("unreachable")


def metrics(http):
    """/metrics as {name{labels}: value}."""
    st, _, raw = http.call("GET", "/metrics")
    if st != 200:
        sys.exit(f"lab: /metrics answered {st}")
    out = {}
    for line in raw.decode().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def metric_sum(m, name):
    """Sum of every series of a counter (any labels)."""
    return sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))


def hist_quantiles(m0, m1, name, qs=(0.5, 0.99)):
    """Quantiles (bucket upper bounds) of histogram `name` between two scrapes, all label
    sets together; None when it had no samples or does not exist."""
    b = {}
    for m, sign in ((m1, 1), (m0, -1)):
        for k, v in m.items():
            if k.startswith(name + "_bucket{"):
                le = re.search(r'le="([^"]+)"', k).group(1)
                le = float("inf") if le == "+Inf" else float(le)
                b[le] = b.get(le, 0) + sign * v
    if not b:
        return None
    les = sorted(b)
    total = b[les[-1]]
    if total <= 0:
        return None
    res = []
    for q in qs:
        res.append(next((le for le in les if b[le] >= q * total), les[-1]))
    return res, int(total)


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


# ---- the community -----------------------------------------------------------------------

def load_rates(path):
    users = []
    with open(path) as f:
        for r in csv.DictReader(f):
            users.append({
                "i": int(r["index"]), "id": r["id"], "handle": r["handle"],
                "post": float(r["post_rate"]), "read": float(r["read_rate"]),
                "followers": int(r["followers"]),
                "topics": {t: float(w) for t, w in (x.split(":") for x in r["topics"].split())},
                "fans": [int(x) for x in r["sample_followers"].split()],
            })
    return users


def cmd_login(base, rates, state_path):
    """The active population: the celebrities, LAB_AUTHORS other authors (drawn by posting
    rate) and the sampled followers of all of them; each logged in once."""
    users = load_rates(rates)
    rng = random.Random(env_num("LAB_SEED", 42))
    celebs = [u for u in users if u["post"] >= 1.0 and u["followers"] >= 1000][:env_num("LAB_CELEBRITIES", 3)]
    rest = [u for u in users if u not in celebs and u["fans"]]
    n_auth = min(env_num("LAB_AUTHORS", 300), len(rest))
    authors = rng.choices(rest, weights=[u["post"] for u in rest], k=n_auth * 2)
    authors = list({u["i"]: u for u in authors}.values())[:n_auth]
    active = {u["i"] for u in celebs + authors}
    for u in celebs + authors:
        active.update(u["fans"])
    http = Http(base)

    def login(i):
        st, j, raw = http.call("POST", "/v1/auth/login", {"handle": users[i]["handle"], "password": PASSWORD})
        if st != 200:
            raise SystemExit(f"lab: login of {users[i]['handle']} answered {st}: {raw[:200]!r}")
        return i, j["access_token"]

    t = time.monotonic()
    with ThreadPoolExecutor(16) as ex:
        tokens = dict(ex.map(login, sorted(active)))
    print(f"lab: logged in {len(tokens)} active users in {time.monotonic() - t:.1f} s", file=sys.stderr)
    json.dump({"celebrities": [u["i"] for u in celebs], "authors": [u["i"] for u in authors],
               "tokens": {str(k): v for k, v in tokens.items()}}, open(state_path, "w"))


def read_state(rates, state_path):
    users = load_rates(rates)
    s = json.load(open(state_path))
    s["tokens"] = {int(k): v for k, v in s["tokens"].items()}
    return users, s


def caption(rng, u):
    tags = list(u["topics"])
    t = rng.choices(tags, weights=[u["topics"][x] for x in tags], k=2)
    return f"lab post {rng.randrange(10**9)} #{t[0]} #{t[1]}"


def feed_ids(j):
    """Item ids of a feed page: entries are {item, reason} (or bare items)."""
    return [e.get("item", e).get("id") for e in (j or {}).get("items", []) if isinstance(e, dict)]


# ---- load: posting, reading, delivery ----------------------------------------------------

def cmd_load(base, rates, state_path, out_path):
    users, s = read_state(rates, state_path)
    tokens = s["tokens"]
    http = Http(base)
    duration = env_num("LAB_DURATION", 30.0)
    speedup = env_num("LAB_SPEEDUP", 240.0)  # lab hours pass this many times faster
    probes_max = env_num("LAB_PROBES", 200)
    probe_timeout = env_num("LAB_PROBE_TIMEOUT", 5.0)
    rng = random.Random(env_num("LAB_SEED", 42) + 1)
    readers = sorted(tokens)
    authors = [i for i in s["authors"] if i in tokens]  # the celebrities post in `celebrity` only
    # Warm-up: every active user reads once (their timeline is built), unmeasured.
    with ThreadPoolExecutor(16) as ex:
        warm = list(ex.map(lambda i: http.call("GET", "/v1/feed/following?limit=20", token=tokens[i])[0], readers))
    if not any(st == 200 for st in warm):
        sys.exit(f"lab: GET /v1/feed/following answered {sorted(set(warm))} (feed endpoints missing?)")
        list(ex.map(lambda i: http.call("GET", "/v1/feed/home?limit=20", token=tokens[i]), readers))
    # Events: a Poisson process per user at rate * speedup / 3600 per second.
    events = []
    for i in readers:
        for kind, rate in (("read", users[i]["read"]), ("post", users[i]["post"] if i in authors else 0)):
            lam = rate * speedup / 3600.0
            t = rng.expovariate(lam) if lam > 0 else duration
            while t < duration:
                events.append((t, kind, i))
                t += rng.expovariate(lam)
    events.sort()
    m0 = metrics(http)
    lat = {"read_home": [], "read_following": [], "post": []}
    status = {}
    delivery = []
    probes = [0]
    lock = threading.Lock()

    def probe(item_id, t_ack, fans):
        """Polls the followers' following feeds until the item shows in each."""
        pending = set(fans)
        while pending and time.monotonic() - t_ack < probe_timeout:
            for f in list(pending):
                st, j, _ = http.call("GET", "/v1/feed/following?limit=20", token=tokens[f])
                if st == 200 and item_id in feed_ids(j):
                    with lock:
                        delivery.append(time.monotonic() - t_ack)
                    pending.discard(f)
            time.sleep(0.01)
        with lock:
            delivery.extend([float("inf")] * len(pending))

    def run(ev):
        _, kind, i = ev
        t0 = time.monotonic()
        if kind == "read":
            path = "/v1/feed/home?limit=20" if rng.random() < 0.7 else "/v1/feed/following?limit=20"
            st, _, _ = http.call("GET", path, token=tokens[i])
            key = "read_home" if "home" in path else "read_following"
        else:
            u = users[i]
            st, j, _ = http.call("POST", "/v1/posts", {"text": caption(random.Random(t0), u)}, token=tokens[i])
            key = "post"
            fans = [f for f in u["fans"] if f in tokens][:3]
            with lock:
                take = st == 201 and fans and probes[0] < probes_max
                probes[0] += bool(take)
            if take:
                probe_pool.submit(probe, j["id"], time.monotonic(), fans)
        with lock:
            lat[key].append(time.monotonic() - t0)
            status[f"{key} {st}"] = status.get(f"{key} {st}", 0) + 1

    start = time.monotonic()
    with ThreadPoolExecutor(8) as probe_pool, ThreadPoolExecutor(24) as pool:
        for ev in events:
            delay = start + ev[0] - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(run, ev)
    elapsed = time.monotonic() - start
    # Quiesce: the fan-out worker drains what is queued before the counters are read.
    time.sleep(env_num("LAB_DRAIN", 2.0))
    m1 = metrics(http)
    posts = status.get("post 201", 0)
    writes = metric_sum(m1, "chorus_feed_fanout_writes_total") - metric_sum(m0, "chorus_feed_fanout_writes_total")
    server = hist_quantiles(m0, m1, "chorus_feed_delivery_seconds")
    fin = [d for d in delivery if d != float("inf")]
    res = {
        "seconds": elapsed, "speedup": speedup, "active_users": len(readers), "authors": len(authors),
        "status": status, "posts": posts,
        "reads": status.get("read_home 200", 0) + status.get("read_following 200", 0),
        "fanout_writes": writes, "fanout_writes_per_s": writes / elapsed if elapsed else 0,
        "writes_per_post": writes / posts if posts else None,
        "fanout_metric_present": any(k.startswith("chorus_feed_fanout_writes_total") for k in m1),
        "delivery_probes": len(delivery), "delivery_missed": len(delivery) - len(fin),
        "delivery_p50_s": pct(fin, 0.5), "delivery_p99_s": pct(delivery, 0.99) if delivery else None,
        "delivery_server": {"p50_s": server[0][0], "p99_s": server[0][1], "samples": server[1]} if server else None,
        "client_latency_ms": {k: {"p50": 1e3 * pct(v, 0.5), "p99": 1e3 * pct(v, 0.99), "n": len(v)}
                              for k, v in lat.items() if v},
    }
    json.dump(res, open(out_path, "w"), indent=1)


# ---- a celebrity's post --------------------------------------------------------------------

def cmd_celebrity(base, rates, state_path, out_path):
    users, s = read_state(rates, state_path)
    tokens = s["tokens"]
    http = Http(base)
    if not s["celebrities"]:
        sys.exit("lab: no celebrity in the lab (seed --celebrities)")
    c = users[s["celebrities"][0]]
    fans = [f for f in c["fans"] if f in tokens]
    for f in fans:  # their timelines exist (a read), as for any active follower
        http.call("GET", "/v1/feed/following?limit=20", token=tokens[f])
    m0 = metrics(http)
    t0 = time.monotonic()
    st, j, raw = http.call("POST", "/v1/posts", {"text": caption(random.Random(7), c)}, token=tokens[c["i"]])
    ack = time.monotonic() - t0
    if st != 201:
        sys.exit(f"lab: celebrity post answered {st}: {raw[:200]!r}")
    time.sleep(env_num("LAB_DRAIN", 2.0))
    m1 = metrics(http)
    seen = {}
    for f in fans:
        _, fj, _ = http.call("GET", "/v1/feed/following?limit=20", token=tokens[f])
        _, hj, _ = http.call("GET", "/v1/feed/home?limit=50", token=tokens[f])
        seen[f] = {"following": j["id"] in feed_ids(fj), "home": j["id"] in feed_ids(hj)}
    res = {"celebrity": c["handle"], "followers": c["followers"], "ack_ms": ack * 1e3,
           "fanout_writes": metric_sum(m1, "chorus_feed_fanout_writes_total")
           - metric_sum(m0, "chorus_feed_fanout_writes_total"),
           "fanout_metric_present": any(k.startswith("chorus_feed_fanout_writes_total") for k in m1),
           "followers_checked": len(fans),
           "seen_in_following": sum(v["following"] for v in seen.values()),
           "seen_in_home": sum(v["home"] for v in seen.values())}
    json.dump(res, open(out_path, "w"), indent=1)


# ---- engagement: ranked vs chronological ------------------------------------------------------

def engage_prob(u, item):
    """Probability that user u engages with item: a small base plus their interest weight
    in the item's hashtags (capped)."""
    tags = set(item.get("hashtags") or [])
    match = sum(w for t, w in u["topics"].items() if t in tags)
    return min(0.9, env_num("LAB_ENGAGE_BASE", 0.02) + env_num("LAB_ENGAGE_GAIN", 0.6) * match)


def cmd_engage(base, rates, state_path, out_path):
    users, s = read_state(rates, state_path)
    tokens = s["tokens"]
    http = Http(base)
    rng = random.Random(env_num("LAB_SEED", 42) + 2)
    sims = rng.sample(sorted(tokens), min(env_num("LAB_SIM_USERS", 200), len(tokens)))
    rounds = env_num("LAB_ROUNDS", 3)
    stats = {f: {"shown": 0, "engaged": 0, "expected": 0.0} for f in ("home", "following")}
    shown = {(f, i): set() for f in stats for i in sims}
    reacted = set()
    lock = threading.Lock()
    bad = []
    hidden = {}  # sim user -> the author they blocked or muted
    leaks = []

    def hide(i):
        """Blocks (even users) or mutes (odd) the author of the newest item of the user's
        following feed: none of that author's items may show in either feed afterwards."""
        st, j, _ = http.call("GET", "/v1/feed/following?limit=20", token=tokens[i])
        ids = [e.get("item", e).get("author", {}).get("id") for e in (j or {}).get("items", [])]
        if st != 200 or not ids or not ids[0]:
            return
        how = "block" if i % 2 == 0 else "mute"
        st, _, raw = http.call("POST", f"/v1/users/{ids[0]}/{how}", token=tokens[i])
        if st in (200, 201, 204):
            with lock:
                hidden[i] = (ids[0], how)
        else:
            with lock:
                bad.append(f"{how} {st}")

    def one(i):
        u = users[i]
        r = random.Random(rng.random())
        for feed in ("home", "following"):
            st, j, _ = http.call("GET", f"/v1/feed/{feed}?limit=20", token=tokens[i])
            if st != 200:
                with lock:
                    bad.append(f"{feed} {st}")
                continue
            for entry in j.get("items", []):
                item = entry.get("item", entry)
                if i in hidden and item.get("author", {}).get("id") == hidden[i][0]:
                    with lock:
                        leaks.append(f"{feed}: {hidden[i][1]}ed author {hidden[i][0]} in user {i}'s feed")
                if item.get("id") in shown[(feed, i)] or item.get("type") not in SEGMENT:
                    continue
                shown[(feed, i)].add(item["id"])
                p = engage_prob(u, item)
                hit = r.random() < p
                with lock:
                    stats[feed]["shown"] += 1
                    stats[feed]["expected"] += p
                    stats[feed]["engaged"] += hit
                    first = hit and (i, item["id"]) not in reacted
                    if first:
                        reacted.add((i, item["id"]))
                if first:
                    http.call("PUT", f"/v1/{SEGMENT[item['type']]}/{item['id']}/reaction", {"kind": "like"},
                              token=tokens[i])

    with ThreadPoolExecutor(16) as ex:
        list(ex.map(hide, sims[:len(sims) // 5]))  # a fifth of the users hide someone
    for _ in range(rounds):
        with ThreadPoolExecutor(16) as ex:
            list(ex.map(one, sims))
    rate = {f: (v["engaged"] / v["shown"] if v["shown"] else None) for f, v in stats.items()}
    exp = {f: (v["expected"] / v["shown"] if v["shown"] else None) for f, v in stats.items()}
    res = {"users": len(sims), "rounds": rounds, "feeds": stats, "rate": rate, "expected_rate": exp,
           "ratio": rate["home"] / rate["following"] if rate["home"] and rate["following"] else None,
           "expected_ratio": exp["home"] / exp["following"] if exp["home"] and exp["following"] else None,
           "errors": sorted(set(bad))[:10], "reactions": len(reacted),
           "hidden": len(hidden), "leaks": len(leaks), "leak_examples": leaks[:5]}
    json.dump(res, open(out_path, "w"), indent=1)


# ---- wrk's target ------------------------------------------------------------------------

def cmd_homebody(base, state_path, out):
    s = json.load(open(state_path))
    i, token = next(iter(s["tokens"].items()))
    http = Http(base)
    for _ in range(3):  # warm: timeline built, items hydrated and cached
        st, _, raw = http.call("GET", "/v1/feed/home?limit=20", token=token)
    if st != 200:
        sys.exit(f"lab: GET /v1/feed/home answered {st}: {raw[:200]!r}")
    open(out, "wb").write(raw)
    json.dump({"token": token, "path": "/v1/feed/home?limit=20", "bytes": len(raw)}, open(out + ".json", "w"))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"login": cmd_login, "load": cmd_load, "celebrity": cmd_celebrity, "engage": cmd_engage,
     "homebody": cmd_homebody}[cmd](*args)

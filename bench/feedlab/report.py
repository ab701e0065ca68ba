"""Prints the feed lab's report (markdown) from the files run.sh left in its directory:
  report.py DIR SEED_SECONDS USERS CELEBS CELEB_FOLLOWERS FOLLOWS REV MODES SEED_LINE"""
import json
import os
import platform
import sys

d, seed_s, users, celebs, cfol, follows, rev, modes, seed_line = sys.argv[1:10]
modes = modes.split()


def load(name):
    try:
        return json.load(open(os.path.join(d, name)))
    except (OSError, ValueError):
        return None


def wrk(name):
    try:
        rps, p50, p99, non2xx, errs = open(os.path.join(d, f"wrk-{name}.res")).read().split()
        return {"rps": float(rps), "p50": float(p50), "p99": float(p99), "bad": int(non2xx), "err": int(errs)}
    except (OSError, ValueError):
        return None


def f(v, fmt="%.1f", none="n/a"):
    return none if v is None else fmt % v


def ms(v):
    return "n/a" if v is None else ("inf" if v == float("inf") else "%.0f ms" % (v * 1e3) if v >= 0.01 else
                                    "%.1f ms" % (v * 1e3))


goals = []
print(f"\nchorus feed lab | rev {rev} | {os.cpu_count()} cpus | {platform.platform()}")
print(f"community: {users} users, {celebs} celebrities x {cfol} followers, ~{follows} follows each; "
      f"seeded in {seed_s} s")
print(f"  ({seed_line.strip()})\n")

print("| mode | posts | fan-out writes/s | writes/post | delivery p50 | delivery p99 | server p50 / p99 (n) | "
      "celebrity post: writes | seen at next read (following / home) |")
print("|---|---:|---:|---:|---:|---:|---|---:|---|")
for m in modes:
    L, C = load(f"load-{m}.json") or {}, load(f"celeb-{m}.json") or {}
    cel_ok = C and not C.get("failed")
    cel_w = (f(C.get("fanout_writes"), "%.0f") if C.get("fanout_metric_present") else "no metric") if cel_ok \
        else "failed"
    seen = f"{C['seen_in_following']} / {C['seen_in_home']} of {C['followers_checked']}" if cel_ok else "failed"
    if m == "hybrid" and cel_ok:
        goals.append(("celebrity post: 0 fan-out writes (hybrid)",
                      C["fanout_writes"] == 0 and C.get("fanout_metric_present"), cel_w))
        goals.append(("celebrity post seen at next read", C["seen_in_following"] == C["followers_checked"] > 0,
                      f"{C['seen_in_following']} of {C['followers_checked']}"))
    if L.get("failed") or not L:
        print(f"| {m} | load failed (see stderr) | | | | | | {cel_w} | {seen} |")
    else:
        srv = L.get("delivery_server")
        srv_t = f"{ms(srv['p50_s'])} / {ms(srv['p99_s'])} ({srv['samples']})" if srv else "no metric"
        miss = f", {L['delivery_missed']} of {L['delivery_probes']} not seen in time" if L.get("delivery_missed") \
            else ""
        wps = f(L.get("fanout_writes_per_s"), "%.0f") if L.get("fanout_metric_present") else "no metric"
        print(f"| {m} | {L['posts']} | {wps} | {f(L.get('writes_per_post'))} | {ms(L.get('delivery_p50_s'))} | "
              f"{ms(L.get('delivery_p99_s'))}{miss} | {srv_t} | {cel_w} | {seen} |")
        if m == "hybrid":
            p99 = L.get("delivery_p99_s")
            goals.append(("delivery p99 <= 1 s (hybrid)", p99 is not None and p99 <= 1.0, ms(p99)))

n = wrk("nginx")
print("\nhome feed read (GET /v1/feed/home?limit=20, authenticated, warm), wrk, nginx serving the same bytes:\n")
print("| server | req/s | p50 | p99 | ratio req/s | ratio p99 |")
print("|---|---:|---:|---:|---:|---:|")
if n:
    print(f"| nginx | {n['rps']:.0f} | {n['p50'] / 1e3:.2f} ms | {n['p99'] / 1e3:.2f} ms | 1 | 1 |")
for m in modes:
    c = wrk(f"chorusd-{m}")
    if not c:
        print(f"| chorusd ({m}) | not measured | | | | |")
        continue
    r = f"{c['rps'] / n['rps']:.2f}x" if n else "n/a"
    p = f"{c['p99'] / n['p99']:.2f}x" if n else "n/a"
    bad = f" ({c['bad']} non-2xx!)" if c["bad"] else ""
    print(f"| chorusd ({m}) | {c['rps']:.0f}{bad} | {c['p50'] / 1e3:.2f} ms | {c['p99'] / 1e3:.2f} ms | {r} | {p} |")
    if n and m == "hybrid":
        goals.append(("home read req/s >= 0.5x nginx", c["rps"] / n["rps"] >= 0.5 and not c["bad"],
                      f"{c['rps'] / n['rps']:.2f}x"))
        goals.append(("home read p99 <= 3x nginx", c["p99"] / n["p99"] <= 3, f"{c['p99'] / n['p99']:.2f}x"))

E = load("engage.json")
print("\nsimulated engagement (ranked home vs chronological following):\n")
if not E or E.get("failed"):
    print("not measured (see stderr)")
else:
    print("| feed | shown | engaged | rate | expected rate |")
    print("|---|---:|---:|---:|---:|")
    for feed in ("home", "following"):
        v = E["feeds"][feed]
        print(f"| {feed} | {v['shown']} | {v['engaged']} | {f(E['rate'][feed], '%.3f')} | "
              f"{f(E['expected_rate'][feed], '%.3f')} |")
    print(f"\nratio ranked / chronological: {f(E['ratio'], '%.2fx')} (expected from the probabilities: "
          f"{f(E['expected_ratio'], '%.2fx')}); {E['users']} users, {E['rounds']} rounds, {E['reactions']} reactions"
          + (f"; errors: {E['errors']}" if E.get("errors") else ""))
    goals.append(("engagement ranked / chronological >= 1.3x", (E["ratio"] or 0) >= 1.3, f(E["ratio"], "%.2fx")))
    if "hidden" in E:
        print(f"visibility: {E['hidden']} users blocked or muted an author they follow; items of those authors "
              f"shown to them afterwards: {E['leaks']}" + (f" ({E['leak_examples']})" if E["leaks"] else ""))
        goals.append(("no visibility leak (blocked/muted authors)", E["hidden"] > 0 and E["leaks"] == 0,
                      f"{E['leaks']} leaks, {E['hidden']} users"))

print()
for name, ok, val in goals:
    print(f"goal {name}: {'met' if ok else 'MISSED'} ({val})")

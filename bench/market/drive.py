"""The marketplace benchmark's driver (bench/market/run.sh):
  drive.py orders BASE_URL DOUBLE_URL OUT_DIR ORDERS CONCURRENCY
    a seller enabled by the Stripe double, ORDERS listings, one buyer per worker thread;
    each order through create → paid (the double succeeds the PaymentIntent, the webhook
    lands) → shipped → confirmed → completed (the worker's transfer job); prints JSON
    {orders, seconds, orders_per_s, steps: {step: {p50_ms, p99_ms}}}.
  drive.py hooks BASE_URL WEBHOOK_SECRET OUT_FILE N
    writes N signed webhook deliveries (one line each: "<Stripe-Signature>\t<body>") of
    distinct events of a type no handler takes (verified, stored once, answered) for wrk."""
import concurrent.futures
import hashlib
import hmac
import http.client
import json
import sys
import time
import urllib.parse
import uuid


def call(base, method, path, body=None, token=None, headers=None, form=False):
    u = urllib.parse.urlsplit(base)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    for _ in range(600):
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        c.close()
        if r.status != 503:
            break
        time.sleep(0.05)
    if r.status >= 300:
        sys.exit(f"drive: {method} {path} answered {r.status}: {raw[:300]!r}")
    return json.loads(raw) if raw else None


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else 0.0


def wait(fn, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.005)
    sys.exit("drive: timed out waiting")


def orders(base, double, out, n, conc):
    reg = lambda h: call(base, "POST", "/v1/auth/register", {"handle": h, "password": "bench-password-1"})
    seller = reg("mseller")
    st = seller["access_token"]
    acct = call(base, "POST", "/v1/me/seller", {}, st)["account_id"]
    call(double, "POST", "/_double/webhooks", {"url": base + "/v1/webhooks/stripe"})
    call(double, "POST", f"/_double/accounts/{acct}/enable")
    wait(lambda: call(base, "GET", "/v1/me/seller", token=st)["charges_enabled"])
    listing = {"title": "Bench lamp", "description": "Works.", "price": {"amount": 2500, "currency": "usd"},
               "category": "home", "condition": "used", "photos": ["https://cdn.example.com/p/1.jpg"],
               "location": {"lat": 52.52, "lon": 13.405}}
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        listings = list(ex.map(lambda i: call(base, "POST", "/v1/listings", listing, st)["id"], range(n)))
        buyers = list(ex.map(lambda i: reg(f"mbuyer_{i}")["access_token"], range(conc)))
    steps = {"create": [], "paid": [], "ship": [], "completed": []}

    def one(i):
        bt = buyers[i % conc]
        t0 = time.monotonic()
        o = call(base, "POST", "/v1/orders", {"listing_id": listings[i]}, bt, {"Idempotency-Key": str(uuid.uuid4())})
        t1 = time.monotonic()
        call(double, "POST", f"/_double/payment_intents/{o['payment_intent_id']}/succeed")
        wait(lambda: call(base, "GET", f"/v1/orders/{o['id']}", token=bt)["state"] == "paid")
        t2 = time.monotonic()
        call(base, "POST", f"/v1/orders/{o['id']}/ship", token=st)
        t3 = time.monotonic()
        call(base, "POST", f"/v1/orders/{o['id']}/confirm", token=bt)
        wait(lambda: call(base, "GET", f"/v1/orders/{o['id']}", token=bt)["state"] == "completed")
        t4 = time.monotonic()
        return t1 - t0, t2 - t1, t3 - t2, t4 - t3

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(conc) as ex:
        for c, p, s, d in ex.map(one, range(n)):
            steps["create"].append(c)
            steps["paid"].append(p)
            steps["ship"].append(s)
            steps["completed"].append(d)
    secs = time.monotonic() - start
    res = {"orders": n, "seconds": round(secs, 2), "orders_per_s": round(n / secs, 2),
           "steps": {k: {"p50_ms": round(pct(v, 50) * 1e3, 1), "p99_ms": round(pct(v, 99) * 1e3, 1)}
                     for k, v in steps.items()}}
    json.dump(res, open(out + "/orders.json", "w"))
    print(json.dumps(res))


def hooks(base, secret, out, n):
    t = int(time.time())
    with open(out, "w") as f:
        for i in range(n):
            body = json.dumps({"id": f"evt_bench_{uuid.uuid4().hex}", "object": "event", "type": "bench.noop",
                               "api_version": "2023-08-16", "created": t, "livemode": False,
                               "data": {"object": {"id": f"obj_{i}", "object": "bench"}}},
                              separators=(",", ":"))
            sig = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
            f.write(f"t={t},v1={sig}\t{body}\n")


if __name__ == "__main__":
    if sys.argv[1] == "orders":
        orders(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    else:
        hooks(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))

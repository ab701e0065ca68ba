"""The Stripe test double (tests/stripe_double/server.js) from the tests' side: starting and
stopping it (conftest.py does, once per session), its control endpoints (/_double/*), and a
small Stripe API caller for tests of the double itself.

Every chorusd the harness starts gets CHORUS_STRIPE_API, CHORUS_STRIPE_SECRET_KEY and
CHORUS_STRIPE_WEBHOOK_SECRET pointing at the session's double (conftest.base_env()).
Tests take the `stripe_double` fixture and call e.g.
    stripe_double.webhooks(server.base_url + "/v1/webhooks/stripe", duplicate=True)
    stripe_double.succeed(pi_id); stripe_double.wait_idle()
    assert len(stripe_double.summary(order_id)["charges"]) == 1
"""
import hashlib
import hmac
import http.client
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVER_JS = REPO / "tests" / "stripe_double" / "server.js"
EXTRACT_JS = REPO / "tests" / "stripe_double" / "extract_spec.js"
SPEC = REPO / "tests" / "stripe_double" / "spec3.extract.json.gz"          # shipped, made by EXTRACT_JS
FIXTURES = REPO / "tests" / "stripe_double" / "fixtures3.extract.json.gz"
API_VERSION = "2023-08-16"
START_TIMEOUT = 60.0  # reading the shipped extract takes milliseconds; this is room for a loaded machine
STOP_TIMEOUT = 10.0


def node_binary():
    """The tools' pinned Node.js (tools/api/node_modules/.bin/node), else the PATH's; None."""
    bundled = REPO / "tools" / "api" / "node_modules" / ".bin" / "node"
    return str(bundled) if bundled.exists() else shutil.which("node")


def spec_dir():
    """../shared/specs/stripe next to the project root (looked for upwards: a worktree sits
    deeper); None when absent. Only the check that the shipped extract is current needs it."""
    for d in [REPO, *REPO.parents]:
        cand = d.parent / "shared" / "specs" / "stripe"
        if (cand / "spec3.yaml").is_file():
            return cand
    return None


def missing_requirements():
    """Why the double cannot run here, or None."""
    if node_binary() is None:
        return "node is missing (scripts/deps.sh test installs tools/api/node_modules)"
    return None


def form_encode(params, prefix=""):
    """Stripe's form encoding (as src/store/stripe_form.c): nested keys bracketed, arrays
    indexed, booleans true/false."""
    pairs = []

    def enc(key, v):
        if isinstance(v, dict):
            for k, x in v.items():
                enc(f"{key}[{k}]", x)
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                enc(f"{key}[{i}]", x)
        elif isinstance(v, bool):
            pairs.append((key, "true" if v else "false"))
        elif v is None:
            pairs.append((key, ""))
        else:
            pairs.append((key, str(v)))

    for k, v in (params or {}).items():
        enc(k, v)
    return urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)


def sign(secret, t, payload):
    """Stripe's v1 signature: hex HMAC-SHA256 of "<t>.<payload>" keyed with the secret."""
    if isinstance(payload, str):
        payload = payload.encode()
    return hmac.new(secret.encode(), str(t).encode() + b"." + payload, hashlib.sha256).hexdigest()


def verify(header, payload, secret, tolerance=300, now=None):
    """The documented check of a Stripe-Signature header (what chorusd does): True when a v1
    matches and t is within tolerance."""
    items = [p.split("=", 1) for p in header.split(",")]
    t = int(next(v for k, v in items if k == "t"))
    now = int(time.time()) if now is None else now
    if abs(now - t) > tolerance:
        return False
    want = sign(secret, t, payload)
    return any(k == "v1" and hmac.compare_digest(v, want) for k, v in items)


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)


class StripeDouble:
    """One double process. .url, .secret_key, .webhook_secret; control calls raise
    AssertionError on a non-2xx answer."""

    def __init__(self, root):
        self.dir = Path(root) / "stripe-double"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.secret_key = "sk_test_chorus_" + secrets.token_hex(12)
        self.webhook_secret = "whsec_chorus_" + secrets.token_hex(16)
        self.port = None
        self.proc = None
        self.log_path = self.dir / "stdout.log"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def chorus_env(self):
        """The settings of a chorusd that uses this double."""
        return {"CHORUS_STRIPE_API": self.url, "CHORUS_STRIPE_SECRET_KEY": self.secret_key,
                "CHORUS_STRIPE_WEBHOOK_SECRET": self.webhook_secret}

    def start(self):
        port_file = self.dir / "port"
        port_file.unlink(missing_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [node_binary(), str(SERVER_JS), "--port-file", str(port_file), "--secret-key", self.secret_key,
             "--webhook-secret", self.webhook_secret, "--spec", str(SPEC),
             "--fixtures", str(FIXTURES), "--cache-dir", tempfile.gettempdir()],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the Stripe double exited ({self.proc.returncode}):\n{self.log()[-4000:]}")
            try:
                self.port = int(port_file.read_text())
                break
            except (FileNotFoundError, ValueError):
                time.sleep(0.05)
        else:
            self.stop()
            raise AssertionError(f"the Stripe double did not start within {START_TIMEOUT} s:\n{self.log()[-4000:]}")
        return self

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self._log.close()

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # ---- HTTP ---------------------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, timeout=30):
        """One raw request: Answer."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return Answer(r.status, r.headers, r.read())
        finally:
            c.close()

    def control(self, method, path, body=None, query=None):
        if query:
            path += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        a = self.request(method, path, data, {"Content-Type": "application/json"} if data else {})
        assert 200 <= a.status < 300, f"{method} {path}: {a.status} {a.body[:500]!r}"
        return a.json

    def api(self, method, path, params=None, idempotency_key=None, headers=None, version=API_VERSION, key=None):
        """A Stripe API call as chorusd makes it (form-encoded, Bearer key, Stripe-Version)."""
        h = {"Authorization": f"Bearer {key or self.secret_key}"}
        if version:
            h["Stripe-Version"] = version
        if idempotency_key:
            h["Idempotency-Key"] = idempotency_key
        h.update(headers or {})
        body = None
        form = form_encode(params) if params else ""
        if method == "POST":
            body = form.encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        elif form:
            path += "?" + form
        return self.request(method, path, body, h)

    # ---- control endpoints ------------------------------------------------------------------

    def reset(self):
        """Forgets all objects, faults, webhook settings and the request log (violations stay:
        the session's check at the end reads them)."""
        return self.control("POST", "/_double/reset")

    def webhooks(self, url, secret=None, duplicate=False, reverse=False, hold=False, timestamp_offset_s=0,
                 retries=3, concurrent=False):
        """Where events go from now on; secret (a string or a list: one v1 per secret)
        defaults to .webhook_secret; a non-2xx answer or an error is retried `retries`
        times (100 ms, doubling). concurrent: deliveries do not wait for each other (both
        copies of a duplicate at once, up to 8 events together), as Stripe delivers."""
        body = {"url": url, "duplicate": duplicate, "reverse": reverse, "hold": hold,
                "timestamp_offset_s": timestamp_offset_s, "retries": retries, "concurrent": concurrent}
        if secret is not None:
            body["secret"] = secret
        return self.control("POST", "/_double/webhooks", body)

    def flush(self):
        """Delivers the held events (newest first with reverse=True); their number."""
        return self.control("POST", "/_double/webhooks/flush")["flushed"]

    def redeliver(self, all=False):
        """Queues again every event never answered 2xx (all=True: every event), oldest first,
        as Stripe's later retries would (e.g. after chorusd was down); their number."""
        return self.control("POST", "/_double/webhooks/redeliver", {"all": all})["queued"]

    def webhook_status(self):
        return self.control("GET", "/_double/webhooks")

    def wait_idle(self, timeout=30):
        """Until no event waits for delivery (held ones excepted)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.webhook_status()
            if not st["queued"] and not st["delivering"]:
                return st
            time.sleep(0.05)
        raise AssertionError(f"webhook deliveries still pending after {timeout} s: {st}")

    def events(self, type=None):
        """Every event made (oldest first), each with its deliveries [{attempt, status, error}]."""
        return self.control("GET", "/_double/events", query={"type": type})["data"]

    def succeed(self, payment_intent):
        return self.control("POST", f"/_double/payment_intents/{payment_intent}/succeed")

    def process(self, payment_intent):
        """The buyer confirmed with an asynchronous method: the PaymentIntent is `processing`."""
        return self.control("POST", f"/_double/payment_intents/{payment_intent}/process")

    def fail(self, payment_intent):
        return self.control("POST", f"/_double/payment_intents/{payment_intent}/fail")

    def enable(self, account):
        return self.control("POST", f"/_double/accounts/{account}/enable")

    def require(self, account, currently_due=("individual.verification.document",), disabled_reason="requirements.past_due"):
        return self.control("POST", f"/_double/accounts/{account}/require",
                            {"currently_due": list(currently_due), "disabled_reason": disabled_reason})

    def dispute(self, charge, amount=None, reason=None):
        body = {k: v for k, v in {"amount": amount, "reason": reason}.items() if v is not None}
        return self.control("POST", f"/_double/charges/{charge}/dispute", body)

    def close_dispute(self, dispute, status):
        return self.control("POST", f"/_double/disputes/{dispute}/close", {"status": status})

    def unowned(self, type, amount, currency="usd"):
        """A balance transaction no order made: type payout (amount < 0, source po_...) or
        stripe_fee (no source). The balance transaction."""
        return self.control("POST", "/_double/balance_transactions", {"type": type, "amount": amount, "currency": currency})

    def fault(self, path_prefix, method=None, status=None, timeout_ms=None, count=1, after_effect=False, crash=False):
        """The next `count` /v1 requests under path_prefix (and method) fail: status 429/500/
        502/503 answered at once (after_effect: the request takes effect first, as a crash
        on Stripe's answer path; that 500 is then the key's saved answer, replayed with
        Stripe-Should-Retry: false), or timeout_ms: the answer is held that long
        (after_effect: the effect happens first; else the request is in flight meanwhile: a
        retry with the same key gets 409). crash: the double itself throws (a double_bug
        violation; for the harness's own test)."""
        body = {"path_prefix": path_prefix, "count": count, "after_effect": after_effect}
        if crash:
            body["crash"] = True
        for k, v in (("method", method), ("status", status), ("timeout_ms", timeout_ms)):
            if v is not None:
                body[k] = v
        return self.control("POST", "/_double/faults", body)

    def clear_faults(self):
        return self.control("DELETE", "/_double/faults")

    def requests(self, path_prefix="/v1", method=None):
        """Every /v1 request seen: method, path, idempotency_key, params (decoded), status,
        replayed, fault."""
        return self.control("GET", "/_double/requests", query={"path_prefix": path_prefix, "method": method})["data"]

    def violations(self, after=0):
        """The violations recorded (those with seq > after), oldest first."""
        return self.control("GET", "/_double/violations", query={"after": after})["data"]

    def last_violation_seq(self):
        """The seq of the latest violation recorded (0 before any)."""
        return self.control("GET", "/_double/violations", query={"after": 1 << 53})["last_seq"]

    def take_violations(self, request_ids):
        """Returns and forgets the violations of the given requests (their Request-Id
        answer headers) only: for tests that break the spec on purpose; any other
        violation still fails the test that caused it and the session."""
        return self.control("POST", "/_double/violations/take", {"request_ids": list(request_ids)})["data"]

    def expire_idempotency_keys(self, keys=None):
        """Forgets the idempotency keys (all, or those listed) as Stripe does after 24 h;
        returns how many were forgotten."""
        return self.control("POST", "/_double/idempotency/expire", {} if keys is None else {"keys": list(keys)})["expired"]

    def summary(self, transfer_group=None):
        """Per transfer group (an order id): payment_intents, charges, successful_payments,
        transfers, reversals, refunds, disputes."""
        return self.control("GET", "/_double/summary", query={"transfer_group": transfer_group})

    def object(self, obj_id):
        """Any object the double holds, by id (its current state)."""
        return self.control("GET", f"/_double/objects/{obj_id}")

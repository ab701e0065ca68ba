"""Webhook events are group-committed (svc/market/webhook.h, svc/common/batch_writer.h):
concurrent deliveries share one write transaction, each event stored and applied under its
own savepoint. An event whose apply fails rolls back alone (answered 500 as before, not
stored, Stripe sends it again) while the good events of its batch are stored, applied and
answered 200; a duplicate in the same batch is answered 200 without a second apply; with
PostgreSQL down deliveries are answered 503 and nothing of them is stored."""
import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from client import expect_problem, expect_status
from sellers_helpers import WEBHOOK, account_object, deliver, event, onboard, seller_state
import social
import stripe_double as sd


def stored(server, backends, event_id):
    return social.db_rows(server, backends, f"SELECT type FROM stripe_events WHERE id = '{event_id}'")


def metric(client, name):
    text = expect_status(client.get("/metrics"), 200).text
    m = re.search(rf"^{name} (\d+)$", text, re.M)
    return int(m.group(1)) if m else 0


def install_failing_trigger(server, backends, event_id):
    """Makes the sellers UPDATE of account.updated event_id fail (a refused statement inside
    the event's apply, after its stripe_events row was inserted)."""
    if social.MODE == "cluster":
        social.db_rows(server, backends,
                       "CREATE OR REPLACE FUNCTION hp_fail() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN "
                       f"IF NEW.event_id = '{event_id}' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
                       "RETURN NEW; END $f$")
        social.db_rows(server, backends,
                       "CREATE TRIGGER hp_fail BEFORE UPDATE ON sellers FOR EACH ROW EXECUTE FUNCTION hp_fail()")
    else:
        social.db_rows(server, backends,
                       f"CREATE TRIGGER hp_fail BEFORE UPDATE ON sellers WHEN NEW.event_id = '{event_id}' "
                       "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")


def drop_failing_trigger(server, backends):
    social.db_rows(server, backends, "DROP TRIGGER hp_fail ON sellers" if social.MODE == "cluster"
                   else "DROP TRIGGER hp_fail")


class WriteLock:
    """Holds the database's write lock on stripe_events from outside, so that deliveries
    queue up in the webhook writer and go into one batch once it is released."""

    def __init__(self, server, backends):
        self.server, self.backends = server, backends
        self.locked, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold)

    def _hold(self):
        if social.MODE == "cluster":
            import psycopg2
            dbname = self.server.storage_env["CHORUS_DB"].rsplit("/", 1)[1]
            con = psycopg2.connect(self.backends.pg.url(dbname))
            try:
                con.cursor().execute("LOCK TABLE stripe_events IN EXCLUSIVE MODE")
                self.locked.set()
                self.release.wait(20)
                con.rollback()
            finally:
                con.close()
        else:
            db = Path(self.server.storage_env["CHORUS_DATA_DIR"]) / "chorus.db"
            con = sqlite3.connect(str(db), timeout=30, isolation_level=None)
            try:
                con.execute("BEGIN IMMEDIATE")
                self.locked.set()
                self.release.wait(20)
                con.execute("ROLLBACK")
            finally:
                con.close()

    def __enter__(self):
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join()


def deliver_unchecked(client, ev, secret):
    """deliver() without the contract check: an event whose apply fails is answered 500
    (as it was before group commit: Stripe sends it again), which the check refuses."""
    import json
    body = json.dumps(ev).encode()
    t = int(time.time())
    return client.post(WEBHOOK, body=body, headers={"Stripe-Signature": f"t={t},v1={sd.sign(secret, t, body)}"},
                       content_type="application/json; charset=utf-8", check=False)


def deliver_all(client, secret, events):
    """Delivers events concurrently (one thread each); their responses, in order."""
    out = [None] * len(events)

    def one(i):
        out[i] = deliver_unchecked(client, events[i], secret)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(events))]
    for t in threads:
        t.start()
    return threads, out


def test_a_failing_event_rolls_back_alone_in_its_batch(start_server, backends, stripe_double):
    s = start_server(env={"CHORUS_REQUEST_TIMEOUT": "15000"}, name="webhook-batch")
    c = s.client()
    secret = stripe_double.webhook_secret
    bad_acc, good_acc = c.register(), c.register()
    bad_account = onboard(bad_acc)["account_id"]
    good_account = onboard(good_acc)["account_id"]
    # Each account.updated also makes the seller's refresh GET the account from Stripe: the
    # double's truth must be what the good event says, or the refresh puts it back.
    stripe_double.enable(good_account)
    stripe_double.wait_idle()
    bad = event("account.updated", account_object(bad_account, charges=True))
    good = event("account.updated", account_object(good_account, charges=True))
    plain = [event("customer.created", {"id": f"cus_b{i}", "object": "customer"}) for i in range(8)]
    install_failing_trigger(s, backends, bad["id"])
    batches0 = metric(c, "chorus_webhook_batches_total")
    events0 = metric(c, "chorus_webhook_batch_events_total")
    try:
        with WriteLock(s, backends):
            # the first delivery takes the writer (it waits for the lock); the others queue
            first_threads, first = deliver_all(c, secret, [plain[0]])
            time.sleep(0.5)
            batch = plain[1:4] + [bad, good, plain[1]] + plain[4:]
            threads, answers = deliver_all(c, secret, batch)
            time.sleep(1.0)
        for t in first_threads + threads:
            t.join(30)
    finally:
        drop_failing_trigger(s, backends)
    assert expect_status(first[0], 200).json == {"received": True, "duplicate": False}
    for ev, r in zip(batch, answers):
        if ev is bad:
            assert r.status == 500 and r.json["code"] == "internal", r.describe()
        else:
            expect_status(r, 200)
    # plain[1] twice: stored once, one of its two answers says duplicate
    dup = [r.json["duplicate"] for ev, r in zip(batch, answers) if ev is plain[1]]
    assert sorted(dup) == [False, True]
    # the failing event: nothing of it kept (neither its row nor its apply)
    assert stored(s, backends, bad["id"]) == []
    assert seller_state(bad_acc)["charges_enabled"] is False
    # its batch-mates: stored and applied
    for ev in plain:
        assert stored(s, backends, ev["id"]) == [("customer.created",)]
    assert stored(s, backends, good["id"]) == [("account.updated",)]
    assert seller_state(good_acc)["charges_enabled"] is True
    # they did share transactions (every delivery, the refused one too, went through a
    # committed batch: the refused one rolled back to its savepoint inside it)
    batches = metric(c, "chorus_webhook_batches_total") - batches0
    events = metric(c, "chorus_webhook_batch_events_total") - events0
    assert events == 1 + len(batch) and batches < events, (batches, events)
    # Stripe sends the failed one again: now it applies. The double's truth becomes what the
    # event says first: the refresh that the event enqueues GETs the account and, with the
    # double still saying disabled, could put charges_enabled back before it is read here.
    stripe_double.enable(bad_account)
    stripe_double.wait_idle()
    assert expect_status(deliver(c, bad, [secret]), 200).json["duplicate"] is False
    assert stored(s, backends, bad["id"]) == [("account.updated",)]
    assert seller_state(bad_acc)["charges_enabled"] is True


@pytest.mark.skipif(social.MODE != "cluster", reason="needs CHORUS_BACKENDS=cluster (PostgreSQL stopped)")
def test_postgres_down_answers_503_and_stores_nothing(start_server, backends, pg_ctl, stripe_double):
    s = start_server(env={"CHORUS_REQUEST_TIMEOUT": "3000"}, name="webhook-pgdown")
    c = s.client()
    secret = stripe_double.webhook_secret
    acc = c.register()
    account = onboard(acc)["account_id"]
    events = [event("account.updated", account_object(account, charges=True))] + \
        [event("customer.created", {"id": f"cus_d{i}", "object": "customer"}) for i in range(4)]
    pg_ctl.stop()
    try:
        threads, answers = deliver_all(c, secret, events)
        for t in threads:
            t.join(30)
    finally:
        pg_ctl.start()
    for r in answers:
        assert r.status == 503, r.describe()
        assert r.json["code"] in ("unavailable", "overloaded"), r.describe()
    deadline = time.monotonic() + 30
    while True:  # the server's connections come back
        r = deliver(c, events[1], [secret])
        if r.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert r.status == 200, r.describe()
    assert r.json["duplicate"] is False  # not stored half while PostgreSQL was down
    assert stored(s, backends, events[0]["id"]) == []
    assert seller_state(acc)["charges_enabled"] is False
    # Stripe's truth becomes what the account.updated says before it is delivered: the
    # refresh it enqueues GETs the account and, with the double still saying disabled, could
    # put charges_enabled back before the read below (a loaded machine's order of the two).
    stripe_double.enable(account)
    for ev in events:
        expect_status(deliver(c, ev, [secret]), 200)
    assert seller_state(acc)["charges_enabled"] is True
    assert all(stored(s, backends, ev["id"]) for ev in events)


def test_a_payment_webhook_during_a_database_outage_answers_503_then_pays_once(start_server, backends,
                                                                                  stripe_double, request):
    """payment_intent.succeeded while the database cannot take it (PostgreSQL stopped; with
    SQLite, its write lock held past the request deadline): 503 with Retry-After (never a
    500), nothing stored; Stripe's next delivery pays the order once, and the ledger
    balances."""
    from market_helpers import assert_balanced, create_order, hooks, make_admin, make_listing, make_seller, \
        order_of, wait_state
    double = stripe_double
    s = start_server(env={"CHORUS_REQUEST_TIMEOUT": "3000"}, name="webhook-outage")
    double.reset()
    hooks(double, s)
    c = s.client()
    seller = make_seller(double, c)
    buyer, admin = c.register(), make_admin(s, backends, c)
    o = create_order(buyer, make_listing(seller)["id"]).json
    hooks(double, s, hold=True)
    double.succeed(o["payment_intent_id"])
    paid = [e for e in double.events("payment_intent.succeeded") if e["data"]["object"]["id"] == o["payment_intent_id"]]
    assert len(paid) == 1

    def during_outage():
        return deliver_unchecked(c, paid[0], double.webhook_secret)

    if social.MODE == "cluster":
        pg_ctl = request.getfixturevalue("pg_ctl")
        pg_ctl.stop()
        try:
            r = during_outage()
        finally:
            pg_ctl.start()
    else:
        with WriteLock(s, backends):
            r = during_outage()
    assert r.status == 503 and r.json["code"] in ("unavailable", "overloaded"), r.describe()
    assert int(r.headers.get("retry-after", "0")) >= 1, r.describe()
    deadline = time.monotonic() + 30
    while stored_or_none(s, backends, paid[0]["id"]) is None and time.monotonic() < deadline:
        time.sleep(0.3)  # the server's connections come back
    assert stored(s, backends, paid[0]["id"]) == []
    assert order_of(buyer, o["id"])["state"] == "pending_payment"
    # Stripe's retry (twice, as it may): applied once
    for _ in range(2):
        wait_until_ok = time.monotonic() + 30
        while (r := deliver_unchecked(c, paid[0], double.webhook_secret)).status != 200 and \
                time.monotonic() < wait_until_ok:
            time.sleep(0.3)
        assert r.status == 200, r.describe()
    wait_state(buyer, o["id"], "paid")
    assert stored(s, backends, paid[0]["id"]) == [("payment_intent.succeeded",)]
    assert_balanced(admin)


def stored_or_none(server, backends, event_id):
    """stored(), or None while the database does not answer yet."""
    try:
        return stored(server, backends, event_id)
    except Exception:
        return None

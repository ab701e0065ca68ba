"""Sessions' last-seen time is written at most once a minute per session, not on every
authenticated request."""
from test_service import find, get_metrics

WRITES = "chorus_session_last_seen_writes_total"


def writes(api):
    _, samples = get_metrics(api)
    found = find(samples, WRITES)
    assert len(found) == 1, f"{WRITES} missing from /metrics"
    return found[0][1]


def test_two_requests_within_a_minute_write_last_seen_once(start_server):
    srv = start_server()
    api = srv.client()
    acct = api.register()
    before = writes(api)
    acct.me()
    acct.me()
    acct.me()
    assert writes(api) - before == 1
    # Each session has its own minute.
    second = api.login(acct.handle)
    second.me()
    second.me()
    assert writes(api) - before == 2
    # The sessions list still shows when each session was last seen.
    items = second.sessions()["items"]
    assert len(items) == 2 and all(s["last_seen_at"] for s in items)

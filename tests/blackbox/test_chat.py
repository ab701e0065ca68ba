"""Conversations and messages through REST (brd/chat.md "Conversations and messages"):
direct dedupe, groups and their limits, admin rights, leave, idempotent sends, gapless seq
under concurrent senders, history paging, edit/delete by the author only, receipts
(monotonic, read implies delivered), unread counts, the listing, blocks, bad input.

Every response is checked against api/openapi.yaml."""
import threading
import uuid

import pytest

from chat_helpers import all_conversations, conv, get_conv, history, listing, member_ids, send
from client import expect_problem, expect_status
from social import block, db_rows

UNKNOWN = "7262919837180000001"


@pytest.fixture
def third(api):
    return api.register()


# ---- conversations -----------------------------------------------------------------------

def test_direct_is_made_once(user, other):
    c = conv(user, other, status=201)
    assert c["kind"] == "direct" and c["members_count"] == 2 and c["last_seq"] == 0
    assert member_ids(c) == sorted([user.id, other.id])
    assert c["unread_count"] == 0 and c["last_message"] is None
    again = conv(user, other, status=200)
    assert again["id"] == c["id"]
    # From the other side, and with the caller repeated in member_ids: the same one.
    assert conv(other, user, status=200)["id"] == c["id"]
    assert conv(other, user, other.id, status=200)["id"] == c["id"]
    assert get_conv(other, c["id"])["id"] == c["id"]


def test_group_creator_is_admin(api, user, other, third):
    g = conv(user, other, third, title="Climbing", status=201)
    assert g["kind"] == "group" and g["title"] == "Climbing" and g["members_count"] == 3
    roles = {m["user_id"]: m["role"] for m in g["members"]}
    assert roles == {user.id: "admin", other.id: "member", third.id: "member"}
    # Two groups of the same people are two conversations.
    assert conv(user, other, third, status=201)["id"] != g["id"]


def test_non_member_gets_404(api, user, other, third):
    c = conv(user, other)
    send(user, c["id"])
    for r in (third.get(f"/v1/conversations/{c['id']}"),
              third.get(f"/v1/conversations/{c['id']}/messages"),
              third.post(f"/v1/conversations/{c['id']}/messages", json={"client_msg_id": "x", "text": "hi"}),
              third.post(f"/v1/conversations/{c['id']}/read", json={"seq": 1}),
              third.post(f"/v1/conversations/{c['id']}/leave"),
              user.get(f"/v1/conversations/{UNKNOWN}"),
              user.get("/v1/conversations/abc")):
        expect_problem(r, 404, "not_found")
    assert history(user, c["id"])["last_seq"] == 1


def test_group_member_limit(api, user, other):
    too_many = [str(7262919837180000000 + i) for i in range(1, 1025)]  # + the creator = 1,025
    expect_problem(user.post("/v1/conversations", json={"member_ids": too_many}), 422, "invalid_field", "member_ids")
    # Unknown users: 404 naming member_ids, and no conversation is left behind.
    before = len(all_conversations(user))
    expect_problem(user.post("/v1/conversations", json={"member_ids": [other.id, UNKNOWN]}), 404, "not_found",
                   "member_ids")
    assert len(all_conversations(user)) == before


def test_group_of_1024_is_full(api, server, backends, user):
    # 1,023 others + the creator: the most there may be. Users are made in SQL (1,023
    # registrations would take minutes); they only need to exist.
    base = 7262919837000000000 + (int(user.id) % 1000000) * 2000
    values = ",".join(f"({base + i}, 'chatfill{base + i}', 'x', 'F', 0, 0)" for i in range(1023))
    db_rows(server, backends, "INSERT INTO users(id, handle, password_hash, display_name, created_at, updated_at)"
                              f" VALUES {values}")
    g = conv(user, *[str(base + i) for i in range(1023)], status=201)
    assert g["members_count"] == 1024 and len(g["members"]) == 1024
    newcomer = api.register()
    expect_problem(user.post(f"/v1/conversations/{g['id']}/members/{newcomer.id}"), 409, "conflict")
    assert get_conv(user, g["id"])["members_count"] == 1024
    # The listing renders the first 32 members of it, with the count.
    item = [c for c in listing(user)["items"] if c["id"] == g["id"]][0]
    assert item["members_count"] == 1024 and len(item["members"]) == 32


def test_admin_rights(api, user, other, third):
    g = conv(user, other)
    g = conv(user, other, third)
    fourth = api.register()
    # A member who is not an admin may not add or remove others.
    expect_problem(other.post(f"/v1/conversations/{g['id']}/members/{fourth.id}"), 403, "forbidden")
    expect_problem(other.delete(f"/v1/conversations/{g['id']}/members/{third.id}"), 403, "forbidden")
    assert get_conv(user, g["id"])["members_count"] == 3
    # The admin may.
    c = expect_status(user.post(f"/v1/conversations/{g['id']}/members/{fourth.id}"), 200).json
    assert fourth.id in member_ids(c) and c["members_count"] == 4
    # Again: nothing changes.
    assert expect_status(user.post(f"/v1/conversations/{g['id']}/members/{fourth.id}"), 200).json["members_count"] == 4
    expect_problem(user.post(f"/v1/conversations/{g['id']}/members/{UNKNOWN}"), 404, "not_found")
    expect_status(user.delete(f"/v1/conversations/{g['id']}/members/{third.id}"), 204)
    expect_problem(third.get(f"/v1/conversations/{g['id']}"), 404, "not_found")
    expect_problem(user.delete(f"/v1/conversations/{g['id']}/members/{third.id}"), 404, "not_found")
    assert get_conv(user, g["id"])["members_count"] == 3


def test_new_member_starts_read_at_the_present(api, user, other, third):
    g = conv(user, other)
    g = conv(user, other, third)
    send(user, g["id"], "one")
    send(user, g["id"], "two")
    fourth = api.register()
    expect_status(user.post(f"/v1/conversations/{g['id']}/members/{fourth.id}"), 200)
    c = get_conv(fourth, g["id"])
    assert c["unread_count"] == 0 and c["read_seq"] == 2
    send(other, g["id"], "three")
    assert get_conv(fourth, g["id"])["unread_count"] == 1


def test_leave(api, user, other, third):
    g = conv(user, other, third)
    d = conv(user, other)
    # A direct conversation cannot be left nor its members changed.
    expect_problem(user.post(f"/v1/conversations/{d['id']}/leave"), 409, "conflict")
    expect_problem(user.post(f"/v1/conversations/{d['id']}/members/{third.id}"), 409, "conflict")
    expect_status(other.post(f"/v1/conversations/{g['id']}/leave"), 204)
    expect_problem(other.get(f"/v1/conversations/{g['id']}"), 404, "not_found")
    expect_problem(other.post(f"/v1/conversations/{g['id']}/messages", json={"client_msg_id": "a", "text": "x"}),
                   404, "not_found")
    assert g["id"] not in [c["id"] for c in all_conversations(other)]
    # The last admin leaves: the longest-standing member becomes admin.
    expect_status(user.post(f"/v1/conversations/{g['id']}/leave"), 204)
    c = get_conv(third, g["id"])
    assert [(m["user_id"], m["role"]) for m in c["members"]] == [(third.id, "admin")]
    expect_status(third.post(f"/v1/conversations/{g['id']}/members/{other.id}"), 200)


def test_blocked_users_cannot_open_or_message(api, user, other, third):
    d = conv(user, other)
    send(user, d["id"], "before")
    block(other, user)
    expect_problem(user.post("/v1/conversations", json={"member_ids": [other.id]}), 404, "not_found")
    expect_problem(other.post("/v1/conversations", json={"member_ids": [user.id]}), 404, "not_found")
    for a in (user, other):
        expect_problem(a.post(f"/v1/conversations/{d['id']}/messages", json={"client_msg_id": str(uuid.uuid4()),
                                                                             "text": "x"}), 404, "not_found")
    assert history(user, d["id"])["last_seq"] == 1
    # Nor edit what they said before (a delete stays one's own business).
    before = history(user, d["id"])["items"][0]
    expect_problem(user.patch(f"/v1/conversations/{d['id']}/messages/{before['id']}", json={"text": "y"}), 404,
                   "not_found")
    assert history(user, d["id"])["items"][0]["text"] == "before"
    # Nor put each other in a group.
    expect_problem(user.post("/v1/conversations", json={"member_ids": [other.id, third.id]}), 404, "not_found",
                   "member_ids")
    g = conv(third, user)
    g = conv(third, user, api.register())
    expect_status(third.post(f"/v1/conversations/{g['id']}/members/{other.id}"), 200)  # third blocks nobody


# ---- messages ----------------------------------------------------------------------------

def test_message_shape_and_idempotent_retry(user, other):
    c = conv(user, other)
    key = str(uuid.uuid4())
    m = send(user, c["id"], "See you at 7?", client_msg_id=key)
    assert set(m) == {"id", "conversation_id", "seq", "sender_id", "client_msg_id", "text", "reply_to",
                      "created_at", "edited_at", "deleted", "deleted_at"}
    assert (m["seq"], m["sender_id"], m["text"], m["conversation_id"]) == (1, user.id, "See you at 7?", c["id"])
    # A retry returns the original (200), even with another text; nothing is added.
    assert send(user, c["id"], "See you at 7?", client_msg_id=key, status=200) == m
    assert send(user, c["id"], "changed my mind", client_msg_id=key, status=200) == m
    assert history(user, c["id"])["last_seq"] == 1
    # The same client_msg_id is the other sender's own.
    assert send(other, c["id"], "yes", client_msg_id=key)["seq"] == 2


def test_client_msg_id_of_another_conversation_is_409(api, user, other, third):
    a = conv(user, other)
    b = conv(user, third)
    key = str(uuid.uuid4())
    send(user, a["id"], "x", client_msg_id=key)
    expect_problem(user.post(f"/v1/conversations/{b['id']}/messages", json={"client_msg_id": key, "text": "y"}),
                   409, "conflict")
    assert history(user, b["id"])["items"] == []


def test_concurrent_retries_make_one_message(user, other):
    c = conv(user, other)
    key = str(uuid.uuid4())
    out, errors = [], []

    def go():
        try:
            r = user.post(f"/v1/conversations/{c['id']}/messages", json={"client_msg_id": key, "text": "once"})
            out.append((r.status, r.json["id"], r.json["seq"]))
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(s for s, _, _ in out).count(201) == 1, out
    assert len({(i, q) for _, i, q in out}) == 1, out
    assert history(user, c["id"])["last_seq"] == 1


def test_gapless_seq_under_concurrent_senders(api, user, other, third):
    g = conv(user, other, third)
    senders = [user, other, third]
    errors, sent = [], []
    lock = threading.Lock()

    def go(k):
        acc = senders[k % 3]
        try:
            for i in range(25):
                m = send(acc, g["id"], f"t{k} m{i}")
                with lock:
                    sent.append((m["seq"], m["id"], k, i))
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=go, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert sorted(s for s, _, _, _ in sent) == list(range(1, 201))
    # History holds exactly those, in seq order, and each thread's messages in its order.
    seen, after = [], 0
    while True:
        page = history(user, g["id"], after_seq=after, limit=200)
        seen += page["items"]
        if not page["has_more"]:
            break
        after = page["items"][-1]["seq"]
    assert [m["seq"] for m in seen] == list(range(1, 201))
    by_id = {i: (k, n) for _, i, k, n in sent}
    for k in range(8):
        mine = [by_id[m["id"]][1] for m in seen if by_id[m["id"]][0] == k]
        assert mine == list(range(25))
    assert get_conv(user, g["id"])["last_seq"] == 200


def test_history_paging(user, other):
    c = conv(user, other)
    for i in range(1, 13):
        send(user if i % 2 else other, c["id"], f"m{i}")
    # Newest first page, rendered ascending.
    p = history(user, c["id"], limit=5)
    assert [m["seq"] for m in p["items"]] == [8, 9, 10, 11, 12] and p["has_more"] and p["last_seq"] == 12
    p = history(user, c["id"], before_seq=8, limit=5)
    assert [m["seq"] for m in p["items"]] == [3, 4, 5, 6, 7] and p["has_more"]
    p = history(user, c["id"], before_seq=3, limit=5)
    assert [m["seq"] for m in p["items"]] == [1, 2] and not p["has_more"]
    # Catching up from a seq.
    p = history(user, c["id"], after_seq=0, limit=4)
    assert [m["seq"] for m in p["items"]] == [1, 2, 3, 4] and p["has_more"]
    p = history(user, c["id"], after_seq=10, limit=4)
    assert [m["seq"] for m in p["items"]] == [11, 12] and not p["has_more"]
    p = history(user, c["id"], after_seq=3, before_seq=7)
    assert [m["seq"] for m in p["items"]] == [4, 5, 6] and not p["has_more"]
    assert history(user, c["id"], after_seq=12)["items"] == []
    assert [m["text"] for m in history(other, c["id"], after_seq=0, limit=3)["items"]] == ["m1", "m2", "m3"]
    for q in ("limit=0", "limit=201", "after_seq=-1", "before_seq=x", "after_seq=99999999999999999999"):
        expect_problem(user.get(f"/v1/conversations/{c['id']}/messages?{q}"), 422, "invalid_field")


def test_history_across_time_buckets(server, backends, user, other):
    """Messages of older 10-day buckets (back-dated rows) page as one sequence."""
    c = conv(user, other)
    for i in range(6):
        send(user, c["id"], f"m{i + 1}")
    # Move seqs 1-3 into a bucket 30 days back and 4-6 into 20 days back, as if sent then.
    day = 86400000
    cid = int(c["id"])
    db_rows(server, backends, f"UPDATE messages SET bucket = bucket - 3 WHERE conversation_id = {cid} AND seq <= 3")
    db_rows(server, backends, f"UPDATE messages SET bucket = bucket - 2 WHERE conversation_id = {cid} AND seq > 3")
    db_rows(server, backends, f"DELETE FROM message_buckets WHERE conversation_id = {cid}")
    rows = db_rows(server, backends, f"SELECT bucket, seq FROM messages WHERE conversation_id = {cid} ORDER BY seq")
    b1, b2 = int(rows[0][0]), int(rows[3][0])
    db_rows(server, backends, "INSERT INTO message_buckets(conversation_id, bucket, first_seq) VALUES"
                              f" ({cid}, {b1}, 1), ({cid}, {b2}, 4)")
    db_rows(server, backends, f"UPDATE conversations SET last_bucket = {b2} WHERE id = {cid}")
    assert day  # the bucket width is 10 days (CH_CHAT_BUCKET_MS)
    send(user, c["id"], "m7")  # a new bucket: today's
    assert [m["seq"] for m in history(user, c["id"], after_seq=2, limit=3)["items"]] == [3, 4, 5]
    assert [m["seq"] for m in history(user, c["id"], after_seq=0, limit=200)["items"]] == list(range(1, 8))
    assert [m["seq"] for m in history(user, c["id"], before_seq=6, limit=3)["items"]] == [3, 4, 5]
    assert [m["seq"] for m in history(user, c["id"], limit=200)["items"]] == list(range(1, 8))
    assert get_conv(user, c["id"])["last_message"]["text"] == "m7"


def test_reply_to(api, user, other, third):
    c = conv(user, other)
    m = send(user, c["id"], "question")
    r = send(other, c["id"], "answer", reply_to=m["id"])
    assert r["reply_to"] == m["id"]
    elsewhere = conv(user, third)
    x = send(user, elsewhere["id"], "x")
    expect_problem(user.post(f"/v1/conversations/{c['id']}/messages",
                             json={"client_msg_id": "r1", "text": "y", "reply_to": x["id"]}),
                   422, "invalid_field", "reply_to")
    assert history(user, c["id"])["last_seq"] == 2


def test_bad_input_changes_nothing(user, other):
    c = conv(user, other)
    path = f"/v1/conversations/{c['id']}/messages"
    cases = [
        ({"text": "no id"}, "client_msg_id"),
        ({"client_msg_id": "a"}, "text"),
        ({"client_msg_id": "a", "text": ""}, "text"),
        ({"client_msg_id": "a", "text": "x" * 4001}, "text"),
        ({"client_msg_id": "", "text": "x"}, "client_msg_id"),
        ({"client_msg_id": "a" * 65, "text": "x"}, "client_msg_id"),
        ({"client_msg_id": "a", "text": 5}, "text"),
        ({"client_msg_id": "a", "text": "x", "reply_to": 5}, "reply_to"),
        ({"client_msg_id": "a", "text": "x", "color": "red"}, "color"),
    ]
    for body, field in cases:
        expect_problem(user.post(path, json=body), 422, "invalid_field", field)
    assert send(user, c["id"], "x" * 4000)["seq"] == 1  # 4,000 characters is fine
    assert send(user, c["id"], "é" * 4000)["seq"] == 2  # characters, not bytes
    for body, field in [({}, "member_ids"), ({"member_ids": []}, "member_ids"), ({"member_ids": "x"}, "member_ids"),
                        ({"member_ids": [5]}, "member_ids"), ({"member_ids": [user.id]}, "member_ids"),
                        ({"member_ids": [other.id], "title": "t" * 101}, "title"),
                        ({"member_ids": [other.id], "x": 1}, "x")]:
        expect_problem(user.post("/v1/conversations", json=body), 422, "invalid_field", field)
    for body, field in [({}, "seq"), ({"seq": -1}, "seq"), ({"seq": "1"}, "seq"), ({"seq": 3}, "seq")]:
        expect_problem(user.post(f"/v1/conversations/{c['id']}/read", json=body), 422, "invalid_field", field)
    expect_problem(user.post(path, body=b"{", headers={"Content-Type": "application/json"}), 400, "malformed_json")
    assert history(user, c["id"])["last_seq"] == 2
    assert get_conv(other, c["id"])["read_seq"] == 0


def test_edit_and_delete_by_the_author_only(user, other):
    c = conv(user, other)
    m = send(user, c["id"], "orginal")
    path = f"/v1/conversations/{c['id']}/messages/{m['id']}"
    expect_problem(other.patch(path, json={"text": "hijack"}), 403, "forbidden")
    expect_problem(other.delete(path), 403, "forbidden")
    expect_problem(user.patch(path, json={"text": ""}), 422, "invalid_field", "text")
    e = expect_status(user.patch(path, json={"text": "original"}), 200).json
    assert e["text"] == "original" and e["edited_at"] is not None and e["seq"] == 1
    assert history(other, c["id"])["items"][0]["text"] == "original"
    expect_status(user.delete(path), 204)
    t = history(other, c["id"])["items"][0]
    assert (t["deleted"], t["text"], t["seq"], t["id"]) == (True, None, 1, m["id"]) and t["deleted_at"]
    expect_status(user.delete(path), 204)  # again: harmless
    expect_problem(user.patch(path, json={"text": "back"}), 404, "not_found")
    expect_problem(user.patch(f"/v1/conversations/{c['id']}/messages/{UNKNOWN}", json={"text": "x"}), 404,
                   "not_found")
    # The tombstone keeps its place: the next message is seq 2.
    assert send(other, c["id"], "next")["seq"] == 2
    assert get_conv(user, c["id"])["last_message"]["seq"] == 2


# ---- receipts, unread counts, the listing ---------------------------------------------------

def test_receipts_are_monotonic(user, other):
    c = conv(user, other)
    for i in range(5):
        send(user, c["id"], f"m{i}")
    me = get_conv(other, c["id"])
    assert (me["unread_count"], me["read_seq"], me["delivered_seq"]) == (5, 0, 0)
    # The sender's own messages are read.
    assert get_conv(user, c["id"])["unread_count"] == 0
    r = expect_status(other.post(f"/v1/conversations/{c['id']}/read", json={"seq": 3}), 200).json
    assert r == {"conversation_id": c["id"], "user_id": other.id, "delivered_seq": 3, "read_seq": 3}
    # Lower is ignored.
    r = expect_status(other.post(f"/v1/conversations/{c['id']}/read", json={"seq": 1}), 200).json
    assert (r["delivered_seq"], r["read_seq"]) == (3, 3)
    assert get_conv(other, c["id"])["unread_count"] == 2
    members = {m["user_id"]: m for m in get_conv(user, c["id"])["members"]}
    assert (members[other.id]["read_seq"], members[user.id]["read_seq"]) == (3, 5)
    expect_status(other.post(f"/v1/conversations/{c['id']}/read", json={"seq": 5}), 200)
    assert get_conv(other, c["id"])["unread_count"] == 0


def test_listing_latest_activity_first_with_paging(api, user):
    peers = [api.register() for _ in range(5)]
    convs = [conv(user, p) for p in peers]
    # Activity: a message in the third, then the first.
    send(peers[2], convs[2]["id"], "hello")
    send(peers[0], convs[0]["id"], "hey")
    send(peers[0], convs[0]["id"], "there")
    order = [c["id"] for c in all_conversations(user)]
    assert order[:2] == [convs[0]["id"], convs[2]["id"]]
    assert sorted(order) == sorted(c["id"] for c in convs)
    first = listing(user, limit=2)
    assert [c["id"] for c in first["items"]] == order[:2] and first["next_cursor"]
    walked, cursor = [], None
    while True:
        page = listing(user, limit=2, **({"cursor": cursor} if cursor else {}))
        walked += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert walked == order
    top = first["items"][0]
    assert top["unread_count"] == 2 and top["last_message"]["text"] == "there"
    assert member_ids(top) == sorted([user.id, peers[0].id])
    expect_problem(user.get("/v1/conversations?cursor=nope"), 422, "invalid_field", "cursor")
    expect_problem(user.get("/v1/conversations?limit=101"), 422, "invalid_field", "limit")


def test_push_jobs_for_offline_members(server, backends, api, user, other, third):
    """No member has a live connection here: each message records one coalesced push job
    per offline member (not the sender)."""
    g = conv(user, other, third)
    for i in range(3):
        send(user, g["id"], f"m{i}")
    last = send(user, g["id"], "last")
    rows = db_rows(server, backends, "SELECT user_id, message_id, seq, pending FROM chat_push_jobs"
                                     f" WHERE conversation_id = {int(g['id'])} ORDER BY user_id")
    assert sorted(rows) == sorted([(other.id, last["id"], "4", "4"), (third.id, last["id"], "4", "4")])


def test_push_jobs_go_with_membership(server, backends, api, user, other, third):
    """A member removed (or leaving) takes their push jobs of the conversation with them."""
    g = conv(user, other, third)
    send(user, g["id"], "before")
    expect_status(user.delete(f"/v1/conversations/{g['id']}/members/{third.id}"), 204)
    expect_status(other.post(f"/v1/conversations/{g['id']}/leave"), 204)
    rows = db_rows(server, backends, "SELECT user_id FROM chat_push_jobs"
                                     f" WHERE conversation_id = {int(g['id'])}")
    assert rows == []


def test_message_rate_limit(start_server):
    srv = start_server(env={"CHORUS_RATE_LIMIT_MESSAGES": "3"}, name="chat-ratelimit")
    c = srv.client()
    a, b = c.register(), c.register()
    d = conv(a, b)
    keys = [str(uuid.uuid4()) for _ in range(4)]
    first = [send(a, d["id"], f"m{i}", client_msg_id=keys[i]) for i in range(3)]
    r = a.post(f"/v1/conversations/{d['id']}/messages", json={"client_msg_id": keys[3], "text": "one too many"})
    expect_problem(r, 429, "rate_limited")
    # A retry of a sent message is not counted: it still returns the original.
    assert send(a, d["id"], "m0", client_msg_id=keys[0], status=200) == first[0]
    assert history(a, d["id"])["last_seq"] == 3
    send(b, d["id"], "the other sender has a budget of its own")


def test_conversation_cap_and_group_rate(start_server):
    """CHORUS_CHAT_MAX_CONVERSATIONS: a create or add that would put a user past it is 409
    naming that user; group creations and member adds count against the chat rate."""
    srv = start_server(env={"CHORUS_CHAT_MAX_CONVERSATIONS": "2", "CHORUS_RATE_LIMIT_MESSAGES": "4"},
                       name="chat-caps")
    c = srv.client()
    a, b, x, y = c.register(), c.register(), c.register(), c.register()
    conv(a, b)  # a: 1, b: 1 (direct: no rate)
    g = conv(a, b, x)  # a: 2, b: 2, x: 1 (rate 1)
    r = a.post("/v1/conversations", json={"member_ids": [x.id]})
    p = expect_problem(r, 409, "conflict")
    assert a.id in p["detail"]
    r = x.post("/v1/conversations", json={"member_ids": [y.id, b.id]})  # rate 1 of x
    p = expect_problem(r, 409, "conflict")
    assert b.id in p["detail"]
    conv(x, y)  # x: 2, y: 1
    r = a.post(f"/v1/conversations/{g['id']}/members/{y.id}")  # rate 2 of a; y: 2 after
    expect_status(r, 200)
    z = c.register()
    # y is now in 2: adding y elsewhere is refused, naming y.
    h = conv(z, c.register(), c.register())  # z: 1
    p = expect_problem(z.post(f"/v1/conversations/{h['id']}/members/{y.id}"), 409, "conflict")
    assert y.id in p["detail"]
    # The rate: a has made 1 group and 1 add; 2 more adds pass the 4th hit, then 429.
    w1, w2, w3 = c.register(), c.register(), c.register()
    expect_status(a.post(f"/v1/conversations/{g['id']}/members/{w1.id}"), 200)
    expect_status(a.post(f"/v1/conversations/{g['id']}/members/{w2.id}"), 200)
    expect_problem(a.post(f"/v1/conversations/{g['id']}/members/{w3.id}"), 429, "rate_limited")

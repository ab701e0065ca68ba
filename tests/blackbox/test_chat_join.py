"""A member added to a group later reads its history from their join on (issue 13: as most
large apps with groups do; docs/design.md "Chat"): history, the listing's last message and
unread count start at the join; what is sent afterwards is theirs as for everyone. Members
from the start see everything."""
from chat_helpers import conv, get_conv, history, send


def test_new_member_sees_history_from_the_join(api, user, other):
    newcomer, third = api.register(), api.register()
    g = conv(user, other, third, title="before and after")
    for i in range(3):
        send(user, g["id"], f"before {i}")
    r = user.post(f"/v1/conversations/{g['id']}/members/{newcomer.id}")
    assert r.status in (200, 201), r.describe()
    h = history(newcomer, g["id"])
    assert h["items"] == [] and not h["has_more"], h
    assert history(newcomer, g["id"], after_seq=0)["items"] == []
    assert history(newcomer, g["id"], before_seq=3)["items"] == []
    c = get_conv(newcomer, g["id"])
    assert c["last_message"] is None and c["unread_count"] == 0, c
    send(other, g["id"], "after")
    h = history(newcomer, g["id"])
    assert [m["text"] for m in h["items"]] == ["after"]
    assert [m["seq"] for m in history(newcomer, g["id"], after_seq=0)["items"]] == [4]
    assert get_conv(newcomer, g["id"])["last_message"]["text"] == "after"
    # the members from the start still see everything
    assert [m["seq"] for m in history(other, g["id"])["items"]] == [1, 2, 3, 4]


def test_conversation_cap_holds_under_concurrent_joins(start_server):
    """CHORUS_CHAT_MAX_CONVERSATIONS holds when many conversations take one user in at once
    (PostgreSQL: the joins of one user count one after the other)."""
    import threading

    srv = start_server(env={"CHORUS_CHAT_MAX_CONVERSATIONS": "3"})
    api = srv.client()
    target = api.register()
    others = [api.register() for _ in range(10)]
    statuses = []
    go = threading.Barrier(len(others))

    def open_with(acc):
        go.wait()
        statuses.append(acc.post("/v1/conversations", json={"member_ids": [target.id]}).status)
    threads = [threading.Thread(target=open_with, args=(acc,)) for acc in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(statuses)) <= [201, 409], statuses
    assert statuses.count(201) == 3, statuses
    r = target.get("/v1/conversations?limit=100")
    assert r.status == 200 and len(r.json["items"]) == 3, r.describe()

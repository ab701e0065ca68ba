"""User roles (svc/auth/roles.h): CHORUS_ADMIN_USERS hold admin; an admin grants and revokes
roles through /v1/admin/users/{id}/roles; everyone else gets 403; a granted admin may ask the
feed's explain=1 (which now reads the role)."""
from client import expect_problem, expect_status


def admin_server(start_server):
    s1 = start_server()
    c1 = s1.client()
    boot, alice, bob = c1.register(), c1.register(), c1.register()
    s1.stop()
    s = start_server(env={"CHORUS_ADMIN_USERS": boot.id}, storage=s1.storage_env)
    c = s.client()
    return s, (c.login(boot.handle), c.login(alice.handle), c.login(bob.handle))


def grant(actor, user_id, role="admin"):
    return actor.post(f"/v1/admin/users/{user_id}/roles", json={"role": role})


def revoke(actor, user_id, role="admin"):
    return actor.delete(f"/v1/admin/users/{user_id}/roles/{role}")


def test_grant_revoke_and_explain(start_server):
    s, (boot, alice, bob) = admin_server(start_server)
    expect_problem(alice.get("/v1/feed/home?explain=1"), 403, "forbidden", "explain")
    expect_problem(grant(alice, bob.id), 403, "forbidden")
    expect_problem(grant(alice, alice.id), 403, "forbidden")
    assert expect_status(grant(boot, alice.id), 200).json == {"user_id": alice.id, "roles": ["admin"]}
    assert expect_status(grant(boot, alice.id), 200).json["roles"] == ["admin"]  # again: no change
    expect_status(alice.get("/v1/feed/home?explain=1"), 200)
    # the new admin may grant in turn; bob gets it, then loses it
    expect_status(grant(alice, bob.id), 200)
    expect_status(bob.get("/v1/feed/reels?explain=1"), 200)
    assert expect_status(revoke(alice, bob.id), 200).json == {"user_id": bob.id, "roles": []}
    expect_problem(bob.get("/v1/feed/reels?explain=1"), 403, "forbidden", "explain")
    expect_problem(grant(bob, bob.id), 403, "forbidden")
    # the configured admin stays admin whatever the table says
    assert expect_status(revoke(alice, boot.id), 200).json["roles"] == ["admin"]
    expect_status(boot.get("/v1/feed/home?explain=1"), 200)


def test_bad_input(start_server):
    s, (boot, alice, bob) = admin_server(start_server)
    expect_problem(grant(boot, alice.id, role="superuser"), 422, "invalid_field", "role")
    expect_problem(boot.post(f"/v1/admin/users/{alice.id}/roles", json={}), 422, "invalid_field", "role")
    expect_problem(boot.post(f"/v1/admin/users/{alice.id}/roles", json={"role": "admin", "until": 1}), 422,
                   "invalid_field", "until")
    expect_problem(grant(boot, "999999999999"), 404, "not_found")
    expect_problem(grant(boot, "abc"), 404, "not_found")
    expect_problem(revoke(boot, alice.id, role="superuser"), 404, "not_found")
    expect_problem(revoke(boot, "999999999999"), 404, "not_found")
    expect_problem(alice.get("/v1/feed/home?explain=1"), 403, "forbidden", "explain")
    expect_problem(alice.client.post(f"/v1/admin/users/{alice.id}/roles", json={"role": "admin"}), 401,
                   "unauthorized")


def test_last_admin_stays_without_configured_admins(start_server):
    s, (boot, alice, bob) = admin_server(start_server)
    expect_status(grant(boot, alice.id), 200)
    expect_status(grant(boot, bob.id), 200)
    s.stop()
    s2 = start_server(env={"CHORUS_ADMIN_USERS": ""}, storage=s.storage_env)
    c = s2.client()
    alice, bob = c.login(alice.handle), c.login(bob.handle)
    assert expect_status(revoke(alice, bob.id), 200).json["roles"] == []
    # alice is the last admin and nobody is configured: revoking her would lock everyone out
    expect_problem(revoke(alice, alice.id), 409, "conflict", "role")
    expect_status(alice.get("/v1/feed/home?explain=1"), 200)
    expect_status(grant(alice, bob.id), 200)
    assert expect_status(revoke(bob, alice.id), 200).json["roles"] == []

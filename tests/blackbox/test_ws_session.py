"""The gateway and the session's life (api/asyncapi.yaml close codes 4001, 4003): a revoked
session cannot upgrade and its open connections are closed; a connection is closed once the
access token it was opened with expires."""
import json

import pytest

from wsclient import HandshakeRefused, connect, port_of


def test_revoked_session_cannot_upgrade_and_its_socket_is_closed(server, api, user):
    p = port_of(server)
    other_device = api.login(user.handle)
    ws_other = connect(p, token=other_device.access_token)
    ws_other.hello()
    mine = api.login(user.handle)
    ws = connect(p, token=mine.access_token)
    ws.hello()
    token = mine.access_token
    assert mine.post("/v1/auth/logout").status == 204
    assert ws.expect_close(timeout=15) == 4003
    # the access token is still within its lifetime, but its session is gone
    with pytest.raises(HandshakeRefused) as e:
        connect(p, token=token)
    assert e.value.status == 401 and json.loads(e.value.body)["code"] == "invalid_token"
    # the user's other session keeps its connection
    assert ws_other.call("ping", {}, ref="still")["op"] == "ack"
    ws_other.close()


def test_connection_closes_when_its_token_expires(start_server):
    srv = start_server(env={"CHORUS_ACCESS_TTL": "2", "CHORUS_WS_HEARTBEAT_MS": "400"})
    acc = srv.client().register()
    ws = connect(port_of(srv), token=acc.access_token)
    ws.hello()
    assert ws.expect_close(timeout=15) == 4001

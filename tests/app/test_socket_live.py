"""Socket auth against a real gunicorn + eventlet server with the python-socketio client."""

from __future__ import annotations

import time

import pytest
import requests


def test_connect_session_whoami(live_server, clients):
    u = live_server.register()
    c = clients()
    assert c.connect(u["access"])
    session = c.events["session"][0]
    assert session["user"] == {"id": u["id"], "username": u["username"]}
    assert session["sid"] == c.client.get_sid()
    assert c.call("whoami")["user"]["username"] == u["username"]


def test_bearer_header_on_handshake(live_server, clients):
    u = live_server.register()
    c = clients()
    assert c.connect(auth=None, headers={"Authorization": "Bearer " + u["access"]})


@pytest.mark.parametrize(("case", "code"), [
    ("none", "auth_required"), ("string", "auth_required"), ("number_token", "auth_required"),
    ("garbage", "token_invalid"), ("bad_signature", "token_invalid"), ("alg_none", "token_invalid"),
    ("missing_claims", "token_invalid"), ("expired", "token_expired"), ("refresh", "wrong_token_type"),
    ("revoked", "token_revoked"), ("unknown_user", "user_unknown"),
])
def test_refusal_codes_reach_the_client(live_server, clients, case, code):
    u = live_server.register()
    auth = {
        "none": None, "string": "abc", "number_token": {"token": 5},
        "garbage": {"token": "garbage"},
        "bad_signature": {"token": live_server.mint(u["id"], key="k" * 64)},
        "alg_none": {"token": live_server.mint(u["id"], key=None, alg="none")},
        "missing_claims": {"token": live_server.mint(u["id"], drop=("jti",))},
        "expired": {"token": live_server.mint(u["id"], exp=int(time.time()) - 2)},
        "refresh": {"token": u["refresh"]},
        "revoked": {"token": u["access"]},
        "unknown_user": {"token": live_server.mint("987654")},
    }[case]
    if case == "revoked":
        requests.post(live_server.url + "/api/auth/logout", headers={"Authorization": "Bearer " + u["access"]})
    c = clients()
    assert not c.connect(auth=auth)
    # The wire form: connect_error's `message` is the code, its `data` is {"code", "message"}.
    assert c.connect_error["message"] == code
    data = c.connect_error["data"]
    assert set(data) == {"code", "message"} and data["code"] == code
    assert data["message"] and "Traceback" not in data["message"]


def test_query_string_token_is_refused(live_server, clients):
    u = live_server.register()
    c = clients()
    assert not c.connect(auth=None, url=f"{live_server.url}?token={u['access']}")
    assert c.connect_error["message"] == "auth_required"


def test_expiry_then_reconnect_with_a_fresh_token(live_server, clients):
    u = live_server.register()  # 3-second access tokens on this server
    c = clients()
    assert c.connect(u["access"])
    exp = c.events["session"][0]["expires_at"]
    assert c.wait("auth_expired", timeout=6) == [{"code": "token_expired"}]
    assert c.disconnected.wait(2)
    assert time.time() >= exp
    fresh = requests.post(live_server.url + "/api/auth/refresh",
                          headers={"Authorization": "Bearer " + u["refresh"]}).json()["access_token"]
    again = clients()
    assert again.connect(fresh)
    assert again.call("whoami")["ok"]


def test_refresh_keeps_the_same_sid_alive(live_server, clients):
    u = live_server.register()
    c = clients()
    assert c.connect(u["access"])
    sid, first_exp = c.client.get_sid(), c.events["session"][0]["expires_at"]
    deadline = first_exp + 2
    while time.time() < deadline:  # refresh every second through two token lifetimes
        fresh = requests.post(live_server.url + "/api/auth/refresh",
                              headers={"Authorization": "Bearer " + u["refresh"]}).json()["access_token"]
        ack = c.call("refresh", {"token": fresh})
        assert ack["ok"] is True
        assert not c.disconnected.wait(1.0)
    assert c.client.connected and c.client.get_sid() == sid
    assert c.call("whoami")["expires_at"] > first_exp
    assert c.events["auth_expired"] == []


def test_logout_kicks_within_a_second_and_spares_others(live_server, clients):
    u, other = live_server.register(), live_server.register()
    mine, theirs = clients(), clients()
    assert mine.connect(u["access"]) and theirs.connect(other["access"])
    t0 = time.time()
    r = requests.post(live_server.url + "/api/auth/logout", headers={"Authorization": "Bearer " + u["access"]})
    assert r.status_code == 200
    assert mine.wait("auth_revoked", timeout=1) == [{"code": "token_revoked"}]
    assert mine.disconnected.wait(1) and time.time() - t0 < 1.5
    assert theirs.client.connected and theirs.call("whoami")["ok"]
    late = clients()
    assert not late.connect(u["access"]) and late.connect_error["message"] == "token_revoked"


def test_websocket_compression_is_not_negotiated(live_server):
    """Each deflate context costs ~100 KiB per socket; SOCKETIO_JWT_WEBSOCKET_COMPRESSION is off by default."""
    import base64
    import os
    import socket

    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{live_server.port}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=5) as conn:
        conn.sendall(request.encode())
        head = conn.recv(4096).decode(errors="replace").split("\r\n\r\n")[0]
    assert head.startswith("HTTP/1.1 101")
    assert "sec-websocket-extensions" not in head.lower()

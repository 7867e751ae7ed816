"""The socket-auth basics through nginx (deploy/nginx.conf.template) in front of two processes."""

from __future__ import annotations

import pytest
import requests

from tests.app.cluster.conftest import name
from tests.app.cluster.peers import register


@pytest.mark.parametrize("transports", [("websocket",), ("polling",), ("polling", "websocket")])
def test_valid_token_gets_session_and_whoami(nginx, peers, transports) -> None:
    user = register(nginx.url, name())
    peer = peers(nginx.url, user["access"], transports=transports).connect()
    assert peer.session["user"] == {"id": user["id"], "username": user["username"]}
    assert peer.session["sid"] and peer.session["expires_at"] > 0
    ack = peer.call("whoami")
    assert ack["ok"] and ack["user"]["username"] == user["username"]
    assert ack["expires_at"] == peer.session["expires_at"]


@pytest.mark.parametrize("token, code", [("not.a.jwt", "token_invalid"), (None, "auth_required"),
                                         ("", "auth_required")])
def test_bad_tokens_are_refused_with_their_code(nginx, peers, token, code) -> None:
    assert peers(nginx.url, token).refused() == code


def test_refresh_token_and_revoked_token_refused(nginx, peers) -> None:
    user = register(nginx.url, name())
    assert peers(nginx.url, user["refresh"]).refused() == "wrong_token_type"
    r = requests.post(nginx.url + "/api/auth/logout", headers={"Authorization": "Bearer " + user["access"]},
                      json={}, timeout=5)
    assert r.status_code == 200
    assert peers(nginx.url, user["access"]).refused() == "token_revoked"


def test_bearer_header_through_the_proxy(nginx, peers) -> None:
    user = register(nginx.url, name())
    peer = peers(nginx.url, None, headers={"Authorization": "Bearer " + user["access"]}).connect()
    assert peer.call("whoami")["user"]["id"] == user["id"]


def test_health_through_the_proxy(nginx) -> None:
    body = requests.get(nginx.url + "/healthz", timeout=5).json()
    assert body["status"] == "ok" and body["database"] == "ok"

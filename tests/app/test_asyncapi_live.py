"""Every event and ack a real server sends, checked against /api/asyncapi.json.

Against a live gunicorn + eventlet server (6-second access tokens): connect refusals,
`session`, each client event's success and failure acks, `message` and `presence` broadcasts,
`auth_expired` and `auth_revoked`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.app import contract_check as check
from tests.app.conftest import LiveServer
from tests.support.live import live_fixture
from tests.support.sio import Recorder

TOKEN_SECONDS = 6


@live_fixture(scope="module")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """A real server whose tokens outlive the steps below on a busy machine, and still expire soon."""
    server = LiveServer(tmp_path_factory.mktemp("asyncapi"), {"FLASK_JWT_ACCESS_TOKEN_EXPIRES": str(TOKEN_SECONDS),
                                                              "FLASK_SOCKETIO_JWT_AUTH_FAILURE_LIMIT": "[1000, 60]"})
    server.migrate()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clients(live_server) -> Iterator:
    made: list[Recorder] = []

    def make() -> Recorder:
        made.append(Recorder(live_server.url))
        return made[-1]

    yield make
    for rec in made:
        rec.close()


def test_acks_and_broadcasts_match_the_document(live_server, clients) -> None:
    alice, bob = live_server.register(), live_server.register()
    a, b = clients(), clients()
    assert a.connect(alice["access"]) and b.connect(bob["access"])
    check.event("session", a.events["session"][0])
    room = "doc-" + uuid.uuid4().hex[:6]
    check.ack("whoami", a.call("whoami"))
    check.ack("join", a.call("join", check.request("join", {"room": room})))
    joined = check.ack("join", b.call("join", {"room": room, "since_id": 0}))
    assert joined["ok"] and sorted(joined["members"]) == sorted([alice["username"], bob["username"]])
    presence = check.event("presence", a.wait("presence", count=2)[-1])
    assert presence["room"] == room
    sent = check.ack("message", a.call("message", check.request("message", {"room": room, "text": "hi"})))
    assert check.event("message", b.wait("message")[0])["id"] == sent["id"]
    check.ack("presence", a.call("presence", check.request("presence", {"room": room})))
    fresh = requests.post(live_server.url + "/api/auth/refresh",
                          headers={"Authorization": "Bearer " + alice["refresh"]}, timeout=5).json()["access_token"]
    check.ack("refresh", a.call("refresh", check.request("refresh", {"token": fresh})))
    check.ack("leave", b.call("leave", check.request("leave", {"room": room})))
    # Failures: each event's ack is documented as success or failure.
    failures = {"join": {"room": "no spaces"}, "leave": {"room": room}, "message": {"room": "elsewhere", "text": "x"},
                "presence": {}, "refresh": {"token": "nope"}}
    for event, payload in failures.items():
        reply = check.ack(event, b.call(event, payload))
        assert reply["ok"] is False
    # The end of a connection: a revocation, then expiry (3 s tokens).
    r = requests.post(live_server.url + "/api/auth/logout", headers={"Authorization": "Bearer " + fresh}, json={},
                      timeout=5)
    assert r.status_code == 200, r.text
    assert check.event("auth_revoked", a.wait("auth_revoked")[0]) == {"code": "token_revoked"}
    expired = b.wait("auth_expired", timeout=TOKEN_SECONDS + 4)[0]
    assert check.event("auth_expired", expired) == {"code": "token_expired"}


def test_connect_refusals_match_the_document(live_server, clients) -> None:
    user = live_server.register()
    cases = [({"token": "not-a-token"}, "token_invalid"), ({}, "auth_required"),
             ({"token": user["refresh"]}, "wrong_token_type")]
    for auth, code in cases:
        rec = clients()
        assert not rec.connect(auth=auth)
        assert check.event("connect_error", rec.connect_error)["message"] == code

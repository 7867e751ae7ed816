"""Ways a revoked, expired or foreign client could still read or act, tried against a real server."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.app.cluster.peers import Peer, register
from tests.app.conftest import LiveServer, wait_for
from tests.app.hostile_support import fresh_addr
from tests.app.rawsock import RawSocket
from tests.support.live import live_fixture

ENV = {
    "FLASK_SOCKETIO_JWT_RATE_LIMIT": "[5, 10]",
    "FLASK_SOCKETIO_JWT_CONNECT_RATE_LIMIT": "[1, 5]",
    "FLASK_SOCKETIO_JWT_MAX_CONNECTIONS_PER_USER": "3",
    "FLASK_SOCKETIO_JWT_AUTH_FAILURE_LIMIT": "[3, 60]",
    "FLASK_TRUSTED_PROXIES": "1",
    "FLASK_SOCKETIO_JWT_AUDIT_FLUSH_INTERVAL": "0.05",
}


@live_fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    """One live server with small limits for the module."""
    s = LiveServer(tmp_path_factory.mktemp("security"), ENV)
    s.migrate()
    s.start()
    yield s
    s.stop()


@pytest.fixture
def peers() -> Iterator:
    made: list[Peer] = []

    def make(url: str, token: str, **kw) -> Peer:
        kw.setdefault("headers", {"X-Forwarded-For": fresh_addr()})
        p = Peer(url, token, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def name(prefix: str = "s") -> str:
    return prefix + uuid.uuid4().hex[:8]


def audit(server: LiveServer, kind: str) -> list[tuple]:
    """(sid, user_id, detail) of the audit rows of one kind."""
    with sqlite3.connect(server.db_uri.removeprefix("sqlite:///")) as con:
        rows = con.execute("SELECT sid, user_id, detail FROM audit_events WHERE kind = ?", (kind,)).fetchall()
    return [(sid, uid, json.loads(d or "{}")) for sid, uid, d in rows]


def logout(server: LiveServer, token: str, everywhere: bool = False) -> requests.Response:
    r = requests.post(server.url + "/api/auth/logout", headers={"Authorization": "Bearer " + token},
                      json={"everywhere": everywhere}, timeout=5)
    assert r.status_code == 200, r.text
    return r


@pytest.fixture
def raw(server) -> Iterator:
    """Factory for raw WebSockets from fresh addresses; all closed at teardown."""
    made: list[RawSocket] = []
    url = server.url

    def make() -> RawSocket:
        sock = RawSocket(url, headers=[f"X-Forwarded-For: {fresh_addr()}"])
        made.append(sock)
        return sock

    yield make
    for sock in made:
        sock.close()


# -- a client event named like Socket.IO's own lifecycle -------------------------------------

@pytest.mark.parametrize("frame", ['421["disconnect"]', '421["disconnect","kicked: token_revoked"]',
                                   '421["connect"]', '421["connect_error",{"message":"x"}]'])
def test_reserved_event_names_from_a_client_are_refused_and_change_nothing(server, peers, raw, frame):
    user, watcher = register(server.url, name()), register(server.url, name())
    room = name("r")
    sock = raw()
    status, data = sock.connect({"token": user["access"]})
    assert status == "ok"
    sid = data["sid"]
    assert sock.call("join", {"room": room})["ok"]
    sock.send_raw(frame)
    ack = sock.wait_ack(1)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid_payload"
    # Still registered: presence shows it, and revocation still reaches it.
    w = peers(server.url, watcher["access"]).connect()
    assert w.call("join", {"room": room})["members"] == sorted([user["username"], watcher["username"]])
    logout(server, user["access"], everywhere=True)
    assert sock.wait_closed(timeout=5)
    # One kick row, and one disconnect row: the server's own, with its own reason.
    assert wait_for(lambda: [r[2]["reason"] for r in audit(server, "disconnect") if r[0] == sid]
                    == ["server disconnect"])
    assert [r[2] for r in audit(server, "kick") if r[0] == sid] == [{"code": "token_revoked"}]


def test_a_forged_connect_event_does_not_readmit_or_refill(server, raw):
    user = register(server.url, name())
    other = register(server.url, name())
    sock = raw()
    status, data = sock.connect({"token": user["access"]})
    assert status == "ok"
    assert wait_for(lambda: len([r for r in audit(server, "connect") if r[1] == int(user["id"])]) == 1)
    # Another user's token in a forged connect: no identity swap, no second admission.
    sock.send_raw('427' + json.dumps(["connect", None, {"token": other["access"]}]))
    assert sock.wait_ack(7)["error"]["code"] == "invalid_payload"
    assert sock.call("whoami", ack_id=8)["user"]["username"] == user["username"]
    # Audit rows are written in order: once this later join is in, a forged connect row would be too.
    room = name("r")
    assert sock.call("join", {"room": room}, ack_id=9)["ok"]
    assert wait_for(lambda: [r for r in audit(server, "join") if r[0] == data["sid"]])
    assert len([r for r in audit(server, "connect") if r[1] == int(user["id"])]) == 1
    assert not [r for r in audit(server, "connect") if r[1] == int(other["id"])]


def test_forged_disconnects_write_no_audit_rows_and_keep_the_cap(server, raw):
    user = register(server.url, name())
    socks = []
    for _ in range(3):
        s = raw()
        status, data = s.connect({"token": user["access"]})
        assert status == "ok"
        s.sio_sid = data["sid"]
        s.send_raw('421["disconnect","' + "x" * 5000 + '"]')
        assert s.wait_ack(1)["error"]["code"] == "invalid_payload"
        socks.append(s)
    # The cap (3) still counts all three: a fourth is refused.
    fourth = raw()
    status, data = fourth.connect({"token": user["access"]})
    assert status == "error" and data["data"]["code"] == "too_many_connections"
    assert wait_for(lambda: [r for r in audit(server, "connect_refused") if r[0] is None or r[1] == int(user["id"])])
    assert not [r for r in audit(server, "disconnect") if r[0] in {s.sio_sid for s in socks}]


# -- dm rooms with dotted usernames ----------------------------------------------------------

def test_a_pair_registered_in_advance_cannot_read_another_pairs_dm(server, peers):
    p = uuid.uuid4().hex[:5]
    # dm.m<p>.n.o<p> reads as (m<p>, n.o<p>) and as (m<p>.n, o<p>).
    attacker_a, attacker_b = register(server.url, f"m{p}.n"), register(server.url, f"o{p}")
    room = f"dm.m{p}.n.o{p}"
    spy = peers(server.url, attacker_a["access"]).connect()
    assert spy.call("join", {"room": room})["ok"]  # theirs, while no other pair shares the name
    victim_a, victim_b = register(server.url, f"m{p}"), register(server.url, f"n.o{p}")
    va = peers(server.url, victim_a["access"]).connect()
    for who in (victim_a, victim_b, attacker_a, attacker_b):
        ack = peers(server.url, who["access"]).connect().call("join", {"room": room})
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", who["username"]
    assert va.call("presence", {"room": room})["error"]["code"] == "forbidden"
    # A dm with a user who does not exist is refused too.
    assert va.call("join", {"room": f"dm.m{p}.zz{p}"})["error"]["code"] == "forbidden"


def test_dotted_names_dm_works_for_its_pair_only(server, peers):
    p = uuid.uuid4().hex[:5]
    a, b, c = register(server.url, f"a.{p}"), register(server.url, f"b.{p}.x"), register(server.url, f"a{p}")
    room = f"dm.a.{p}.b.{p}.x"
    pa, pb, pc = (peers(server.url, u["access"]).connect() for u in (a, b, c))
    assert pa.call("join", {"room": room})["ok"] and pb.call("join", {"room": room})["ok"]
    assert pc.call("join", {"room": room})["error"]["code"] == "forbidden"
    sent = pa.call("message", {"room": room, "text": "hi"})
    pb.wait("message", lambda m: m["id"] == sent["id"])


# -- the event budget survives reconnects; connects have a budget of their own ----------------

def test_reconnecting_does_not_refill_the_event_budget(server, peers):
    user = register(server.url, name())
    accepted = 0
    for _ in range(4):
        p = peers(server.url, user["access"]).connect()
        for _ in range(12):
            ack = p.call("whoami")
            if not ack["ok"]:
                assert ack["error"]["code"] == "rate_limited" and ack["error"]["retry_after"] > 0
                break
            accepted += 1
        p.close()
        assert p.disconnected.wait(5)
    # Burst 10, refill 5/s: four reconnects in well under a second or two cannot reach 40.
    assert accepted < 25


def test_connect_loops_are_rate_limited(server, peers):
    user = register(server.url, name())
    codes = []
    for _ in range(12):
        p = peers(server.url, user["access"])
        try:
            p.connect()
            p.close()
            assert p.disconnected.wait(5)
            codes.append("ok")
        except AssertionError:
            codes.append(p.error["data"]["code"] if isinstance(p.error, dict) else p.error)
    assert codes[:5] == ["ok"] * 5 and "rate_limited" in codes


# -- a refused in-place refresh is audited and counted ----------------------------------------

def test_refused_refresh_is_audited_and_counts_toward_the_failure_limit(server, peers):
    user, other = register(server.url, name()), register(server.url, name())
    addr = fresh_addr()
    p = peers(server.url, user["access"], headers={"X-Forwarded-For": addr}).connect()
    for token in (user["refresh"], other["access"], "garbage"):
        ack = p.call("refresh", {"token": token})
        assert ack["ok"] is False
    assert wait_for(lambda: len([r for r in audit(server, "refresh_refused") if r[0] == p.session["sid"]]) == 3)
    codes = sorted(r[2]["code"] for r in audit(server, "refresh_refused") if r[0] == p.session["sid"])
    assert codes == ["identity_mismatch", "token_invalid", "wrong_token_type"]
    # Three refusals from that address reach SOCKETIO_JWT_AUTH_FAILURE_LIMIT (3): its next connect is refused.
    again = peers(server.url, user["access"], headers={"X-Forwarded-For": addr})
    assert again.refused() == "rate_limited"


def test_refresh_with_a_revoked_token_is_refused(server, peers):
    user = register(server.url, name())
    p = peers(server.url, user["access"]).connect()
    second = requests.post(server.url + "/api/auth/login", timeout=5,
                           json={"username": user["username"], "password": "correct horse battery"}).json()
    logout(server, second["access_token"])
    ack = p.call("refresh", {"token": second["access_token"]})
    assert ack["ok"] is False and ack["error"]["code"] == "token_revoked"


# -- sessions: "everywhere" to the instant, a plain logout ends its refresh token too -----------

def test_logout_everywhere_right_after_a_login_revokes_that_login(server, peers):
    for _ in range(5):
        user = register(server.url, name())
        login = requests.post(server.url + "/api/auth/login", timeout=5,
                              json={"username": user["username"], "password": "correct horse battery"}).json()
        logout(server, user["access"], everywhere=True)  # the same second as the login, most likely
        r = requests.post(server.url + "/api/auth/refresh", timeout=5,
                          headers={"Authorization": "Bearer " + login["refresh_token"]})
        assert r.status_code == 401 and r.json()["error"]["code"] == "token_revoked"
        assert peers(server.url, login["access_token"]).refused() == "token_revoked"
        fresh = requests.post(server.url + "/api/auth/login", timeout=5,
                              json={"username": user["username"], "password": "correct horse battery"}).json()
        peers(server.url, fresh["access_token"]).connect()


def test_plain_logout_ends_the_refresh_token_of_that_login(server, peers):
    user = register(server.url, name())
    refreshed = requests.post(server.url + "/api/auth/refresh", timeout=5,
                              headers={"Authorization": "Bearer " + user["refresh"]}).json()["access_token"]
    on_refreshed = peers(server.url, refreshed).connect()
    logout(server, user["access"])
    on_refreshed.wait("auth_revoked")
    r = requests.post(server.url + "/api/auth/refresh", timeout=5,
                      headers={"Authorization": "Bearer " + user["refresh"]})
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_revoked"

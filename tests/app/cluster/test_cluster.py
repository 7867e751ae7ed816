"""Two gunicorn processes on one Redis and one PostgreSQL behave as one server."""

from __future__ import annotations

import json
import threading

import psycopg
import requests

from tests.app.cluster.conftest import name
from tests.app.cluster.peers import local_sockets, register


def bearer(token: str) -> dict:
    return {"Authorization": "Bearer " + token}


def test_room_message_crosses_processes(cluster, peers) -> None:
    a, b = cluster.servers
    alice, bob = register(a.url, name()), register(b.url, name())
    pa, pb = peers(a.url, alice["access"]).connect(), peers(b.url, bob["access"]).connect()
    assert pa.call("join", {"room": "cross"})["ok"] and pb.call("join", {"room": "cross"})["ok"]
    ack = pa.call("message", {"room": "cross", "text": "hello from A"})
    assert ack["ok"]
    got = pb.wait("message", lambda m: m["id"] == ack["id"])
    assert got["text"] == "hello from A" and got["user"] == alice["username"]
    pa.wait("message", lambda m: m["id"] == ack["id"])  # the sender too
    back = pb.call("message", {"room": "cross", "text": "hi from B"})
    assert pa.wait("message", lambda m: m["id"] == back["id"])["user"] == bob["username"]


def test_presence_is_global_and_counts_a_user_once(cluster, peers) -> None:
    a, b = cluster.servers
    room = "pres-" + name("")
    user, watcher = register(a.url, name()), register(b.url, name())
    pw = peers(b.url, watcher["access"]).connect()
    assert pw.call("join", {"room": room})["members"] == [watcher["username"]]
    on_a, on_b = peers(a.url, user["access"]).connect(), peers(b.url, user["access"]).connect()
    both = sorted([user["username"], watcher["username"]])
    assert on_a.call("join", {"room": room})["members"] == both
    pw.wait("presence", lambda p: p["members"] == both)
    assert on_b.call("join", {"room": room})["members"] == both
    assert pw.call("presence", {"room": room})["members"] == both
    # One of the user's two sockets goes: still present, once.
    before = local_sockets(a.url)
    on_a.close()
    assert _until(lambda: local_sockets(a.url) == before - 1)
    assert pw.call("presence", {"room": room})["members"] == both
    seen = _presence(pw, room)
    assert [p for p in seen[seen.index({"room": room, "members": both}):] if p["members"] != both] == []
    # The last one goes: everybody in the room hears it, across processes.
    on_b.close()
    pw.wait("presence", lambda p: p["room"] == room and p["members"] == [watcher["username"]])


def test_logout_on_a_kicks_the_socket_on_b_within_a_second(cluster, peers) -> None:
    a, b = cluster.servers
    user = register(a.url, name())
    sock = peers(b.url, user["access"]).connect()
    r = requests.post(a.url + "/api/auth/logout", headers=bearer(user["access"]), json={}, timeout=5)
    assert r.status_code == 200
    assert sock.wait("auth_revoked", timeout=1.0) == {"code": "token_revoked"}
    assert sock.disconnected.wait(1.0)
    assert peers(b.url, user["access"]).refused() == "token_revoked"


def test_logout_everywhere_kicks_every_process(cluster, peers) -> None:
    a, b = cluster.servers
    uname = name()
    first, second = register(a.url, uname), register(b.url, uname)
    s1, s2 = peers(a.url, first["access"]).connect(), peers(b.url, second["access"]).connect()
    r = requests.post(a.url + "/api/auth/logout", headers=bearer(first["access"]), json={"everywhere": True},
                      timeout=5)
    assert second["access"] != first["access"]
    assert set(r.json()["revoked"]) >= {_jti(first), _jti(second)}
    for sock in (s1, s2):
        sock.wait("auth_revoked", timeout=1.0)
        assert sock.disconnected.wait(1.0)


def test_connection_cap_counts_across_processes(cluster, peers) -> None:
    a, b = cluster.servers  # the cluster allows 3 sockets per user
    user = register(a.url, name())
    held = [peers(a.url, user["access"]).connect(), peers(b.url, user["access"]).connect(),
            peers(a.url, user["access"]).connect()]
    assert peers(b.url, user["access"]).refused() == "too_many_connections"
    assert peers(a.url, user["access"]).refused() == "too_many_connections"
    before = local_sockets(a.url)
    held[0].close()
    assert _until(lambda: local_sockets(a.url) == before - 1)
    peers(b.url, user["access"]).connect()
    assert peers(b.url, user["access"]).refused() == "too_many_connections"


def test_auth_failures_count_across_processes(cluster, peers) -> None:
    a, b = cluster.servers  # SOCKETIO_JWT_AUTH_FAILURE_LIMIT is [5, 60]
    user = register(a.url, name())
    addr = {"X-Forwarded-For": "10.7.0.1"}
    for i in range(5):
        server = a if i % 2 else b
        assert peers(server.url, "not-a-token", headers=addr).refused() == "token_invalid"
    # The address is now blocked on both processes, even with a valid token or password.
    assert peers(a.url, user["access"], headers=addr).refused() == "rate_limited"
    assert peers(b.url, user["access"], headers=addr).refused() == "rate_limited"
    r = requests.post(b.url + "/api/auth/login", json={"username": user["username"], "password": "x" * 12},
                      headers=addr, timeout=5)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    peers(a.url, user["access"], headers={"X-Forwarded-For": "10.7.0.2"}).connect()


def test_login_failures_per_username_and_address_count_across_processes(cluster) -> None:
    a, b = cluster.servers  # LOGIN_FAILURE_LIMIT_PER_USER is [3, 300]
    user = register(a.url, name())
    for server in (a, b, a):
        r = requests.post(server.url + "/api/auth/login", json={"username": user["username"], "password": "w" * 12},
                          headers={"X-Forwarded-For": "10.8.0.1"}, timeout=5)
        assert r.status_code == 401
    r = requests.post(b.url + "/api/auth/login",
                      json={"username": user["username"], "password": "correct horse battery"},
                      headers={"X-Forwarded-For": "10.8.0.1"}, timeout=5)
    assert r.status_code == 429
    # The guesser's failures do not lock the owner out from another address.
    r = requests.post(b.url + "/api/auth/login",
                      json={"username": user["username"], "password": "correct horse battery"},
                      headers={"X-Forwarded-For": "10.8.0.9"}, timeout=5)
    assert r.status_code == 200


def test_queue_messages_are_json(cluster, redis_server, peers) -> None:
    # The room's own channel (sharded pub/sub: SSUBSCRIBE) and the revocation bus (classic).
    a, b = cluster.servers
    room_channel = "flask-socketio#r#/#room:json"
    sub = redis_server.client().pubsub(ignore_subscribe_messages=True)
    sub.subscribe("flask-socketio-revoke")
    sub.ssubscribe(room_channel)
    try:
        user = register(a.url, name())
        pa = peers(a.url, user["access"]).connect()
        pa.call("join", {"room": "json"})
        pa.call("message", {"room": "json", "text": "is this json?"})
        requests.post(b.url + "/api/auth/logout", headers=bearer(user["access"]), json={}, timeout=5)
        seen: dict[str, list] = {room_channel: [], "flask-socketio-revoke": []}
        deadline = 50
        while deadline and not all(seen.values()):
            msg = sub.get_message(timeout=0.2)
            deadline -= 1
            if msg:
                seen[msg["channel"]].append(json.loads(msg["data"]))  # raises unless JSON
        assert any(m.get("event") == "message" for m in seen[room_channel])
        assert seen["flask-socketio-revoke"][0]["op"] == "revoke"
    finally:
        sub.close()


def test_audit_rows_from_both_processes_land_in_postgres(cluster, postgres, peers) -> None:
    a, b = cluster.servers
    user = register(a.url, name())
    socks = [peers(s.url, user["access"]).connect() for s in (a, b)]
    ids: list[int] = []
    lock = threading.Lock()

    def chat(sock, n: int) -> None:
        sock.call("join", {"room": "audit"})
        for i in range(n):
            ack = sock.call("message", {"room": "audit", "text": f"m{i}"})
            with lock:
                ids.append(ack["id"])

    workers = [threading.Thread(target=chat, args=(s, 40)) for s in socks]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert len(ids) == 80
    sids = [s.session["sid"] for s in socks]

    def rows() -> list[tuple]:
        with psycopg.connect(postgres.dsn("cluster")) as conn:
            return conn.execute("SELECT kind, sid, detail FROM audit_events WHERE sid = ANY(%s)", (sids,)).fetchall()

    assert _until(lambda: len([r for r in rows() if r[0] == "message"]) == 80, timeout=10)
    got = rows()
    assert sorted(r[2]["message_id"] for r in got if r[0] == "message") == sorted(ids)
    assert {r[1] for r in got if r[0] == "connect"} == set(sids)
    assert {r[1] for r in got if r[0] == "join"} == set(sids)


# -- helpers ---------------------------------------------------------------------------------

def _until(pred, timeout: float = 5.0) -> bool:
    from tests.app.conftest import wait_for

    return wait_for(pred, timeout)


def _presence(peer, room: str) -> list[dict]:
    return [d for e, d in peer.events if e == "presence" and d["room"] == room]


def _jti(user: dict) -> str:
    import jwt

    return jwt.decode(user["access"], options={"verify_signature": False})["jti"]


def test_cli_disable_kicks_the_users_sockets_on_every_process_with_user_unknown(cluster, peers) -> None:
    import subprocess

    from tests.app.conftest import ROOT

    a, b = cluster.servers
    user = register(a.url, name())
    on_a, on_b = peers(a.url, user["access"]).connect(), peers(b.url, user["access"]).connect()

    def cli(*args: str) -> str:
        out = subprocess.run([str(a.bin / "flask"), "--app", "app", "user", *args], cwd=ROOT, env=a.env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    assert "disabled user" in cli("disable", user["username"])  # its own process: through Redis
    for sock in (on_a, on_b):
        assert sock.wait("auth_revoked", timeout=5) == {"code": "user_unknown"}
        assert sock.disconnected.wait(3)
    assert peers(b.url, user["access"]).refused() == "user_unknown"
    me = requests.get(a.url + "/api/auth/me", headers=bearer(user["access"]), timeout=5)
    assert me.status_code == 401 and me.json()["error"]["code"] == "user_unknown"
    assert "enabled user" in cli("enable", user["username"])
    assert requests.get(a.url + "/api/auth/me", headers=bearer(user["access"]), timeout=5).status_code == 200
    with psycopg.connect(a.env["FLASK_SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg", "postgresql")) as conn:
        kinds = [r[0] for r in conn.execute("SELECT kind FROM audit_events WHERE user_id = %s AND kind LIKE 'user_%%'"
                                            " ORDER BY id", (int(user["id"]),))]
    assert kinds == ["user_disabled", "user_enabled"]

"""The server API across two processes on Redis: a call on A acts on sockets held by B."""

from __future__ import annotations

import requests

from tests.app import contract_check as check
from tests.app.cluster.conftest import SERVER_API_KEY, name
from tests.app.cluster.peers import register

KEY = {"Authorization": "Bearer " + SERVER_API_KEY}


def api(base: str, method: str, path: str, body: dict | None = None, status: int = 200) -> dict:
    r = requests.request(method, base + "/api/server" + path, headers=KEY, json=body, timeout=10)
    assert r.status_code == status, r.text
    return r.json()


def test_publish_on_a_reaches_a_socket_on_b_and_the_shared_history(cluster, peers) -> None:
    a, b = cluster.servers
    user, room = register(b.url, name()), "srv-" + name("")
    sock = peers(b.url, user["access"]).connect()
    check.ack("join", sock.call("join", {"room": room}))
    msg = api(a.url, "post", f"/rooms/{room}/messages", {"text": "from a backend"}, status=201)
    got = check.event("message", sock.wait("message", lambda m: m["id"] == msg["id"]))
    assert got["user"] == "@server"
    # Either process reads the same history and the same presence.
    assert api(b.url, "get", f"/rooms/{room}/messages")["messages"] == [msg]
    assert api(a.url, "get", f"/rooms/{room}/presence")["members"] == [user["username"]]


def test_event_for_a_user_reaches_their_sockets_on_both_processes(cluster, peers) -> None:
    a, b = cluster.servers
    uname = name()
    first, second = register(a.url, uname), register(b.url, uname)
    on_a, on_b = peers(a.url, first["access"]).connect(), peers(b.url, second["access"]).connect()
    res = api(a.url, "post", f"/users/{first['id']}/events", {"event": "job.done", "data": {"job": 42}})
    assert res["sockets"] == 2
    for sock in (on_a, on_b):
        got = check.event("server_event", sock.wait("server_event"))
        assert got["event"] == "job.done" and got["data"] == {"job": 42}
    # Each socket got it once: the process holding it delivers, the other does nothing.
    check.ack("whoami", on_b.call("whoami"))
    assert [e for e, _ in on_b.events].count("server_event") == 1
    online = api(b.url, "get", "/users/online")["users"]
    assert {"id": first["id"], "username": uname, "sockets": 2} in online


def test_disconnect_on_a_kicks_the_socket_on_b(cluster, peers) -> None:
    a, b = cluster.servers
    user = register(a.url, name())
    sock = peers(b.url, user["access"]).connect()
    res = api(a.url, "post", f"/users/{user['id']}/disconnect")
    assert res["revoked"] is True and len(res["jtis"]) == 1
    assert check.event("auth_revoked", sock.wait("auth_revoked", timeout=2.0)) == {"code": "token_revoked"}
    assert sock.disconnected.wait(2.0)
    assert peers(b.url, user["access"]).refused() == "token_revoked"


def test_refusals_on_each_process(cluster) -> None:
    user = register(cluster.servers[0].url, name())
    for i, server in enumerate(cluster.servers):
        for headers, status in (({}, 401), ({"Authorization": "Bearer " + "w" * 48}, 401),
                                ({"Authorization": "Bearer " + user["access"]}, 403)):
            addr = {"X-Forwarded-For": f"10.9.{i}.1"}  # the cluster allows 5 refusals per address
            r = requests.get(server.url + "/api/server/users/online", headers={**headers, **addr}, timeout=10)
            assert r.status_code == status and set(r.json()) == {"error"}


def test_refusals_are_limited_per_address_across_processes(cluster) -> None:
    a, b = cluster.servers  # SOCKETIO_JWT_AUTH_FAILURE_LIMIT is [5, 60]
    addr = {"X-Forwarded-For": "10.9.9.9"}
    for i in range(5):
        r = requests.get((a if i % 2 else b).url + "/api/server/users/online",
                         headers={"Authorization": "Bearer " + "g" * 48, **addr}, timeout=10)
        assert r.status_code == 401
    for server in (a, b):  # even the right key, from that address, waits now
        r = requests.get(server.url + "/api/server/users/online", headers={**KEY, **addr}, timeout=10)
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert api(a.url, "get", "/users/online")  # others are not affected

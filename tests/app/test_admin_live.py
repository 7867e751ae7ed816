"""The Socket.IO Admin UI's namespace against a real server: admins only, read-only, redacted, and
the server's own engine.io hooks (the connect timeout) still in force."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import socketio

from tests.app.conftest import PASSWORD, LiveServer, wait_for
from tests.support.live import live_fixture
from tests.support.sio import Recorder

TOKEN_SECONDS = 4


@live_fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    """A real server with the admin view on, a short connect timeout and short tokens."""
    srv = LiveServer(tmp_path_factory.mktemp("admin"), {
        "FLASK_ADMIN_UI_ENABLED": "true", "FLASK_SOCKETIO_JWT_CONNECT_TIMEOUT": "1.5",
        "FLASK_JWT_ACCESS_TOKEN_EXPIRES": str(TOKEN_SECONDS), "FLASK_SOCKETIO_JWT_AUTH_FAILURE_LIMIT": "[1000, 60]",
        "FLASK_SOCKETIO_JWT_REVALIDATE_INTERVAL": "1"})
    srv.migrate()
    srv.create_admin("root")
    srv.start()
    yield srv
    srv.stop()


def login(server: LiveServer, username: str = "root") -> dict:
    r = requests.post(server.url + "/api/auth/login", json={"username": username, "password": PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


class Admin:
    """A python-socketio client of the `/admin` namespace, as the Admin UI connects."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = socketio.Client(reconnection=False)
        self.events: list[tuple[str, tuple]] = []
        self.error: Any = None
        self.gone = threading.Event()
        self._cond = threading.Condition()
        self.sio.on("*", self._any, namespace="/admin")
        self.sio.on("connect_error", self._error, namespace="/admin")
        self.sio.on("disconnect", lambda *a: self.gone.set(), namespace="/admin")

    def _any(self, event: str, *args: Any) -> None:
        with self._cond:
            self.events.append((event, args))
            self._cond.notify_all()

    def _error(self, data: Any = None) -> None:
        self.error = data

    def connect(self, auth: Any) -> bool:
        try:
            self.sio.connect(self.url, namespaces=["/admin"], auth=auth, transports=["websocket"], wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            return False
        return True

    def wait(self, event: str, pred=lambda args: True, timeout: float = 6.0) -> tuple:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for name, args in self.events:
                    if name == event and pred(args):
                        return args
                left = deadline - time.monotonic()
                assert left > 0, f"no {event!r}; got {[n for n, _ in self.events]}"
                self._cond.wait(left)

    def close(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()


@pytest.fixture
def admins(server) -> Iterator:
    made: list[Admin] = []

    def make() -> Admin:
        a = Admin(server.url)
        made.append(a)
        return a

    yield make
    for a in made:
        a.close()


@pytest.fixture
def users(server) -> Iterator:
    made: list[Recorder] = []

    def make(token: str, headers: dict | None = None) -> Recorder:
        rec = Recorder(server.url)
        made.append(rec)
        if headers:
            assert rec.connect(auth=None, headers=headers), rec.connect_error
        else:
            assert rec.connect(token), rec.connect_error
        return rec

    yield make
    for rec in made:
        rec.close()


def test_admin_sees_live_sockets_and_rooms_redacted(server, admins, users) -> None:
    early = server.register()
    # Handshake header auth: the header must never reach the admin view.
    first = users("", headers={"Authorization": "Bearer " + early["access"]})
    room = "ops-" + uuid.uuid4().hex[:6]
    admin = admins()
    assert admin.connect({"username": "root", "password": login(server)["access_token"]}), admin.error
    config = admin.wait("config")[0]
    assert config == {"supportedFeatures": []}  # read-only: no EMIT, JOIN, LEAVE, DISCONNECT
    listed = admin.wait("all_sockets")[0]
    mine = [s for s in listed if s["id"] == first.events["session"][0]["sid"]]
    assert mine and mine[0]["data"]["username"] == early["username"] and mine[0]["handshake"]["headers"] == {}
    # Live changes: a new socket, a room joined and left, a disconnect.
    late = server.register()
    second = users(late["access"])
    sid = second.events["session"][0]["sid"]
    connected = admin.wait("socket_connected", lambda a: a[0]["id"] == sid)[0]
    assert connected["data"]["username"] == late["username"] and connected["nsp"] == "/"
    assert second.call("join", {"room": room})["ok"]
    assert admin.wait("room_joined", lambda a: a[1] == room)[2] == sid
    secret = "secret text " + uuid.uuid4().hex
    assert second.call("message", {"room": room, "text": secret})["ok"]
    assert second.call("leave", {"room": room})["ok"]
    admin.wait("room_left", lambda a: a[1] == room)
    second.close()
    admin.wait("socket_disconnected", lambda a: a[1] == sid)
    stats = admin.wait("server_stats")[0]
    assert stats["clientsCount"] >= 2 and {"name": "/admin", "socketsCount": 1} in stats["namespaces"]
    seen = json.dumps([args for _, args in admin.events])
    assert early["access"] not in seen and secret not in seen and "authorization" not in seen.lower()
    assert ("event_received" not in {n for n, _ in admin.events}) and ("event_sent" not in {n for n, _ in admin.events})


def test_only_an_admins_access_token_opens_the_view(server, admins) -> None:
    user = server.register()
    cases = [(None, "auth_required"), ({"username": "root", "password": "not-a-token"}, "token_invalid"),
             ({"username": user["username"], "password": user["access"]}, "forbidden"),
             ({"password": login(server)["refresh_token"]}, "wrong_token_type"),
             ({"username": "root", "password": PASSWORD}, "token_invalid")]  # a password is not a token
    for auth, code in cases:
        admin = admins()
        assert not admin.connect(auth)
        assert admin.error == {"message": code, "data": admin.error["data"]} and admin.error["data"]["code"] == code


def test_admin_socket_is_kicked_at_expiry_and_on_logout(server, admins) -> None:
    tokens = login(server)
    expiring = admins()
    assert expiring.connect({"password": tokens["access_token"]})
    revoked = admins()
    second = login(server)
    assert revoked.connect({"password": second["access_token"]})
    r = requests.post(server.url + "/api/auth/logout", headers={"Authorization": "Bearer " + second["access_token"]},
                      timeout=5)
    assert r.status_code == 200
    assert revoked.wait("auth_revoked", timeout=3)[0] == {"code": "token_revoked"}
    assert revoked.gone.wait(3)
    # A token refreshed from a login dies with that login's session.
    third = login(server)
    refreshed = requests.post(server.url + "/api/auth/refresh", timeout=5,
                              headers={"Authorization": "Bearer " + third["refresh_token"]}).json()["access_token"]
    session = admins()
    assert session.connect({"password": refreshed})
    requests.post(server.url + "/api/auth/logout", headers={"Authorization": "Bearer " + third["access_token"]},
                  timeout=5)
    assert session.wait("auth_revoked", timeout=3)[0] == {"code": "token_revoked"}
    assert expiring.wait("auth_expired", timeout=TOKEN_SECONDS + 3)[0] == {"code": "token_expired"}
    assert expiring.gone.wait(3)


def db_write(server: LiveServer, sql: str, *args: Any) -> None:
    """Change the live server's database behind its back: no revocation message is sent."""
    import sqlite3

    with sqlite3.connect(server.db_uri.removeprefix("sqlite:///"), timeout=10) as conn:
        conn.execute(sql, args)


@pytest.mark.parametrize(("change", "code"), [
    ("UPDATE users SET is_admin = 0 WHERE username = ?", "forbidden"),
    ("UPDATE users SET is_active = 0 WHERE username = ?", "user_unknown"),
    ("blocklist", "token_revoked"),
    ("UPDATE users SET tokens_valid_after = 9999999999999 WHERE username = ?", "token_revoked"),
], ids=["lost-admin-role", "disabled", "blocklisted-message-lost", "logged-out-everywhere"])
def test_admin_sockets_pass_the_revalidation_sweep(server, admins, change, code) -> None:
    name = "adm" + uuid.uuid4().hex[:8]
    server.create_admin(name)
    token = login(server, name)["access_token"]
    admin = admins()
    assert admin.connect({"password": token})
    if change == "blocklist":
        import jwt as pyjwt

        jti = pyjwt.decode(token, options={"verify_signature": False})["jti"]
        db_write(server, "INSERT INTO revoked_tokens (jti, revoked_at, expires_at) "
                         "VALUES (?, '2026-01-01 00:00:00', '2999-01-01 00:00:00')", jti)
    else:
        db_write(server, change, name)
    assert admin.wait("auth_revoked", timeout=6)[0] == {"code": code}
    assert admin.gone.wait(3)


def test_connect_timeout_still_closes_half_open_sessions(server) -> None:
    url = server.url + "/socket.io/?EIO=4&transport=polling"
    opened = requests.get(url, timeout=5)
    sid = opened.text.split('"sid":"')[1].split('"')[0]
    # Closed by the connect timeout (1.5 s) that instrument() would otherwise have unhooked.
    assert wait_for(lambda: requests.get(url + "&sid=" + sid, timeout=5).status_code == 400, timeout=6)
    token = login(server)["access_token"]

    def audited() -> bool:
        rows = requests.get(server.url + "/api/audit", params={"kind": "connect_timeout"},
                            headers={"Authorization": "Bearer " + token}, timeout=5).json()["events"]
        return any(r["sid"] == sid for r in rows)

    assert wait_for(audited)  # the writer batches rows


def test_admin_connects_are_audited(server, admins) -> None:
    user = server.register()
    assert not admins().connect({"password": user["access"]})
    admin = admins()
    assert admin.connect({"password": login(server)["access_token"]})
    token = login(server)["access_token"]

    def rows(kind: str) -> list:
        return requests.get(server.url + "/api/audit", params={"kind": kind},
                            headers={"Authorization": "Bearer " + token}, timeout=5).json()["events"]

    assert wait_for(lambda: any(r["sid"] == admin.sio.get_sid("/admin") for r in rows("admin_ui_connect")))
    assert wait_for(lambda: any(r["user_id"] is None and r["detail"] == {"code": "forbidden"}
                                for r in rows("admin_ui_refused")))


def test_the_ui_is_served_with_local_assets_only(server) -> None:
    r = requests.get(server.url + "/admin/socketio", timeout=5)
    assert r.status_code == 200 and "Socket.IO Admin UI" in r.text
    assert "https://" not in r.text and "http://" not in r.text
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    for asset in ("fonts/roboto.css", "mdi/css/materialdesignicons.min.css",
                  "fonts/files/roboto-latin-400-normal.woff2", "mdi/fonts/materialdesignicons-webfont.woff2"):
        assert requests.get(server.url + "/admin/socketio/" + asset, timeout=5).status_code == 200, asset
    assert requests.get(server.url + "/admin/socketio/../../app.py", timeout=5).status_code == 404

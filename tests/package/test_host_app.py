"""The built wheel in a fresh venv, mounted by examples/host_app (the README's reuse section) under gunicorn.

The host is written as Flask-SocketIO's docs teach (decorator handlers on /chat, its own connect
handler and error handler, one class-based namespace beside them) and runs on the runtime of
this test pass (`WORKER`: gunicorn's eventlet or gevent worker), with no async mode of its own.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator

import jwt as pyjwt
import pytest
import requests

from tests.package.wheelhost import HOST, SECRET, Host
from tests.support.common import ROOT
from tests.support.live import live_fixture
from tests.support.sio import Recorder


@live_fixture(scope="module")
def host(tmp_path_factory) -> Iterator[Host]:
    h = Host(tmp_path_factory.mktemp("host"))
    h.prepare(tmp_path_factory)
    h.start()
    yield h
    h.stop()


@pytest.fixture
def chat(host) -> Iterator:
    made: list[Recorder] = []

    def make(namespace: str = "/chat") -> Recorder:
        r = Recorder(host.url, namespace=namespace)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def refusal(chat, token=None, namespace="/chat", **kw) -> str:
    c = chat(namespace)
    assert not c.connect(token, **kw)
    data = c.connect_error
    # python-socketio's client hands a non-default namespace the whole packet: {"message", "data"}.
    if isinstance(data, dict) and "data" in data:
        assert data["message"] == data["data"]["code"]
        data = data["data"]
    assert isinstance(data, dict) and set(data) == {"code", "message"}, data
    return data["code"]


def test_wheel_holds_one_top_level_package_and_the_venv_sees_no_repo(host):
    names = zipfile.ZipFile(host.wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"flask_socketio_jwt", host.wheel.name.split("-")[0] + "-"
                                                + host.wheel.name.split("-")[1] + ".dist-info"}
    assert "flask_socketio_jwt/py.typed" in names
    out = subprocess.run([str(host.venv / "bin/python"), "-c",
                          "import sys, flask_socketio_jwt as p; print(p.__file__); print(sys.path)"],
                         capture_output=True, text=True, check=True, cwd=host.work).stdout
    assert str(host.venv) in out.splitlines()[0] and str(ROOT) not in out
    top = subprocess.run([str(host.venv / "bin/python"), "-c", "import importlib.metadata as m; "
                          "print(m.distribution('flask-socketio-jwt').read_text('top_level.txt') or '')"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert top == ["flask_socketio_jwt"]
    versions = subprocess.run([str(host.venv / "bin/python"), "-c", "import importlib.metadata as m, "
                               "flask_socketio_jwt as p; print(m.version('flask-socketio-jwt'), p.__version__)"],
                              capture_output=True, text=True, check=True).stdout.split()
    assert versions[0] == versions[1] and host.wheel.name.startswith(f"flask_socketio_jwt-{versions[1]}-")


def test_connect_session_and_accessors_in_handlers(host, chat):
    a = host.account()
    c = chat()
    assert c.connect(a["access_token"])
    session = c.events["session"][0]
    assert session["user"] == {"id": str(a["id"]), "name": a["name"]}
    jti = pyjwt.decode(a["access_token"], options={"verify_signature": False})["jti"]
    assert session["expires_at"] > time.time() + 600
    assert c.call("whoami") == {"ok": True, "identity": str(a["id"]), "jti": jti, "alg": "HS256", "name": a["name"]}
    assert c.call("join", {}) == {"ok": False, "error": {"code": "bad_request", "message": "KeyError"}}  # on_error
    notices = chat("/notices")
    assert notices.connect(a["access_token"])
    assert notices.call("unread") == {"ok": True, "identity": str(a["id"]), "count": 0}
    assert notices.call("nope")["error"]["code"] == "invalid_payload"


@pytest.mark.parametrize("namespace", ["/chat", "/notices", "/"])
def test_every_namespace_refuses_anonymous_sockets(host, chat, namespace):
    assert refusal(chat, namespace=namespace, auth=None) == "auth_required"
    assert refusal(chat, "garbage", namespace=namespace) == "token_invalid"


def test_rooms_with_flask_socketios_join_room_and_emit_to(host, chat):
    a, b = host.account(), host.account()
    first, second, outsider = chat(), chat(), chat()
    for c, acct in ((first, a), (second, b), (outsider, b)):
        assert c.connect(acct["access_token"])
    room = "r" + uuid.uuid4().hex[:6]
    assert first.call("join", {"room": room}) == {"ok": True}
    assert second.call("join", {"room": room}) == {"ok": True}
    assert first.wait("joined", 2)[-1] == {"room": room, "name": b["name"]}
    assert outsider.call("whoami")["ok"] and "joined" not in outsider.events


def test_connect_disconnect_cycles_leave_nothing_behind(host, chat):
    a = host.account()
    for _ in range(12):  # over the per-user cap of 10: a leak would refuse too_many_connections
        c = chat()
        assert c.connect(a["access_token"]), c.connect_error
        c.close()
        assert c.disconnected.wait(5)
    assert chat().connect(a["access_token"])


def test_refusal_codes_use_the_hosts_checks(host, chat):
    a, b = host.account(), host.account()
    now = int(time.time())
    claims = {"user": str(a["id"]), "iat": now, "nbf": now, "exp": now + 60, "jti": uuid.uuid4().hex, "type": "access"}
    assert refusal(chat, auth=None) == "auth_required"
    assert refusal(chat, "not-a-token") == "token_invalid"
    assert refusal(chat, pyjwt.encode(claims, "another-key-" + "k" * 40, algorithm="HS256")) == "token_invalid"
    no_identity = {k: v for k, v in claims.items() if k != "user"}
    assert refusal(chat, pyjwt.encode(no_identity, SECRET, algorithm="HS256")) == "token_invalid"
    assert refusal(chat, pyjwt.encode({**claims, "exp": now - 5}, SECRET, algorithm="HS256")) == "token_expired"
    assert refusal(chat, a["refresh_token"]) == "wrong_token_type"
    assert refusal(chat, pyjwt.encode({**claims, "user": "999999"}, SECRET, algorithm="HS256")) == "user_unknown"
    assert host.post("/api/logout", b["access_token"]).status_code == 200  # the host's own blocklist
    assert refusal(chat, b["access_token"]) == "token_revoked"
    c = chat()
    assert c.connect(pyjwt.encode(claims, SECRET, algorithm="HS256"))  # a token the host would accept


def test_expiry_kicks_with_auth_expired(host, chat):
    a = host.account()
    now = int(time.time())
    short = pyjwt.encode({"user": str(a["id"]), "iat": now, "nbf": now, "exp": now + 2, "jti": uuid.uuid4().hex,
                          "type": "access"}, SECRET, algorithm="HS256")
    c = chat()
    assert c.connect(short)
    assert c.wait("auth_expired", timeout=6) == [{"code": "token_expired"}]
    assert c.disconnected.wait(5)


def test_refresh_in_place_and_identity_mismatch(host, chat):
    a, b = host.account(), host.account()
    c = chat()
    assert c.connect(a["access_token"])
    sid = c.events["session"][0]["sid"]
    fresh = requests.post(host.url + "/api/refresh", headers={"Authorization": "Bearer " + a["refresh_token"]}).json()
    ack = c.call("refresh", {"token": fresh["access_token"]})
    assert ack["ok"] is True and ack["expires_at"] > time.time()
    new_jti = pyjwt.decode(fresh["access_token"], options={"verify_signature": False})["jti"]
    assert c.call("whoami")["jti"] == new_jti and c.client.get_sid("/chat") == sid
    assert c.call("refresh", {"token": b["access_token"]})["error"]["code"] == "identity_mismatch"
    assert c.call("refresh", {"token": a["refresh_token"]})["error"]["code"] == "wrong_token_type"
    assert c.call("whoami")["jti"] == new_jti


def test_host_logout_kicks_through_revoke_jti(host, chat):
    a = host.account()
    on_token, other = chat(), chat()
    assert on_token.connect(a["access_token"])
    second = requests.post(host.url + "/api/login", json={"name": a["name"], "password": "pw-" + a["name"]}).json()
    assert other.connect(second["access_token"])
    assert host.post("/api/logout", a["access_token"]).status_code == 200
    assert on_token.wait("auth_revoked") == [{"code": "token_revoked"}]
    assert on_token.disconnected.wait(5)
    assert other.call("whoami")["ok"] is True  # another login of the same account stays
    assert refusal(chat, a["access_token"]) == "token_revoked"


def test_ban_kicks_every_socket_through_revoke_user_id(host, chat):
    admin, target = host.account(admin=True), host.account()
    first, second = chat(), chat()
    assert first.connect(target["access_token"]) and second.connect(target["access_token"])
    r = host.post(f"/api/accounts/{target['id']}/ban", admin["access_token"])
    assert r.status_code == 200, r.text
    for c in (first, second):
        assert c.wait("auth_revoked") == [{"code": "token_revoked"}]
        assert c.disconnected.wait(5)
    assert refusal(chat, target["access_token"]) == "user_unknown"


def test_readme_reuse_section_is_the_example_app():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Reusing the layer in your Flask app", 1)[1].split("\n## ", 1)[0]
    blocks = dict(re.findall(r"```python\n# examples/host_app/(\S+)\n(.*?)```", section, re.S))
    assert set(blocks) >= {"app.py", "models.py", "extensions.py"}
    for name, code in blocks.items():
        assert code == (HOST / name).read_text(), name

"""Strict inputs: ids, event names and bodies are refused before they reach anything, and the
Python validation agrees with the published (ECMA-262) schemas; static files are never framed."""

from __future__ import annotations

import json
import subprocess

import jwt as pyjwt
import pytest

from realtime.contract import EVENT_NAME_PATTERN, ROOM_PATTERN, USER_ID_PATTERN, USERNAME_PATTERN, ecma_regex
from tests.app.conftest import ROOT, built_app, socket_clients  # noqa: F401 - fixtures

KEY = "strict-key-" + "s" * 40


@pytest.fixture
def app(tmp_path):
    with built_app(tmp_path, SERVER_API_KEYS={"strict": KEY}, SERVER_API_RATE_LIMIT=[10**6, 10**6]) as application:
        yield application


H = {"Authorization": "Bearer " + KEY}


@pytest.mark.parametrize("raw_id", ["01", "%D9%A1", "%C2%B2", "0", "1" * 19, "1.0", "+1", "%201"],
                         ids=["leading-zero", "arabic-indic-one", "superscript-two", "zero", "too-long", "decimal",
                              "plus", "space"])
def test_user_ids_are_ascii_digits_with_one_spelling(app, tokens, raw_id) -> None:
    tokens.user()  # user 1 exists: `01` or `١` must not reach it
    client = app.test_client()
    for path, body in ((f"/api/server/users/{raw_id}/events", {"event": "x"}),
                       (f"/api/server/users/{raw_id}/disconnect", {"revoke": False})):
        r = client.post(path, json=body, headers=H)
        assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found", (path, r.get_json())


def test_disconnect_by_jti_only_for_the_user_in_the_path(app, tokens, socket_client) -> None:
    alice, bob = tokens.user(), tokens.user()
    sock = socket_client(alice["access"])
    assert sock.is_connected()
    jti = pyjwt.decode(alice["access"], options={"verify_signature": False})["jti"]
    client = app.test_client()
    r = client.post(f"/api/server/users/{bob['id']}/disconnect", json={"jti": jti}, headers=H)
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    assert sock.is_connected()  # alice's socket was not kicked under bob's name
    from extensions import db
    from models import RevokedToken

    with app.app_context():
        assert db.session.get(RevokedToken, jti) is None  # nothing reached the blocklist
    r = client.post(f"/api/server/users/{alice['id']}/disconnect", json={"jti": jti}, headers=H)
    assert r.status_code == 200 and not sock.is_connected()


@pytest.mark.parametrize("event", ["invoice.paid\n", "invoice.paid\r", "\ninvoice", "a" * 65, ""])
def test_event_names_match_the_whole_published_pattern(app, tokens, event) -> None:
    uid = tokens.user()["id"]
    r = app.test_client().post(f"/api/server/users/{uid}/events", json={"event": event}, headers=H)
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_payload"


SAMPLES = ["invoice.paid", "invoice.paid\n", "a\nb", "a", "", "x" * 64, "x" * 65, "01", "1", "١", "²", "a b",
           "bob_1", "bo", "lobby-2.x", "42\n", "room:1"]


def test_python_validation_agrees_with_ecma_262() -> None:
    patterns = [EVENT_NAME_PATTERN, ROOM_PATTERN, USER_ID_PATTERN, USERNAME_PATTERN]
    script = ("const [patterns, samples] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "console.log(JSON.stringify(patterns.map(p => samples.map(s => new RegExp(p, 'u').test(s)))));")
    out = subprocess.run(["node", "-e", script], input=json.dumps([patterns, SAMPLES]), capture_output=True,
                         text=True, check=True, cwd=ROOT)
    ecma = json.loads(out.stdout)
    python = [[bool(ecma_regex(p).search(s)) for s in SAMPLES] for p in patterns]
    assert python == ecma


@pytest.mark.parametrize(("path", "schema"), [("/api/auth/login", None), ("/api/auth/register", None),
                                              ("/api/server/users/1/events", "server")])
@pytest.mark.parametrize("depth", [33, 50_000])
def test_deep_json_is_a_400_never_a_500(app, tokens, caplog, path, schema, depth) -> None:
    tokens.user()
    body = "[" * depth + "]" * depth if depth > 1000 else '{"event": "x", "data": ' + "[" * depth + "]" * depth + "}"
    r = app.test_client().post(path, data=body, content_type="application/json", headers=H if schema else {})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_payload", r.get_json()
    assert not [rec for rec in caplog.records if rec.levelname == "ERROR"]


def test_static_files_are_never_framed_or_sniffed(app) -> None:
    client = app.test_client()
    with client.get("/static/vendor/admin-ui/index.html") as r:
        assert r.status_code == 200
        csp = r.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    with client.get("/static/vendor/socket.io.esm.min.js") as r:
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]

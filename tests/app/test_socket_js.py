"""Socket auth with the official JS client (socket.io-client in Node) against the real server."""

from __future__ import annotations

import json
import os
import subprocess
import time

import requests

from tests.app.conftest import ROOT


def test_js_client_socket_auth(live_server):
    u, other, k = live_server.register(), live_server.register(), live_server.register()
    # Revoked by a logout, but far from expiry, so it is refused as revoked however slow the run.
    revoked = live_server.mint(other["id"], exp=int(time.time()) + 120)
    requests.post(live_server.url + "/api/auth/logout", headers={"Authorization": "Bearer " + revoked})
    # A fresh server-issued (3-second) token, and short tokens that start counting only now:
    # registering three users (scrypt) can take seconds on a busy machine.
    fresh = live_server.register(u["username"])
    now = int(time.time())
    cases = {
        "url": live_server.url,
        "valid": fresh["access"],
        "short": live_server.mint(u["id"], exp=now + 3),
        "short2": live_server.mint(u["id"], exp=now + 3),
        "fresh": live_server.mint(u["id"], exp=now + 120),
        "long": live_server.mint(u["id"], exp=now + 120),
        "kick_token": live_server.mint(k["id"], exp=now + 120),
        "refusals": {
            "no_auth": None,
            "not_object": "token",
            "token_number": {"token": 1},
            "garbage": {"token": "garbage"},
            "bad_signature": {"token": live_server.mint(u["id"], key="q" * 64)},
            "alg_none": {"token": live_server.mint(u["id"], key=None, alg="none")},
            "missing_claims": {"token": live_server.mint(u["id"], drop=("exp",))},
            "expired": {"token": live_server.mint(u["id"], exp=now - 2)},
            "refresh_token": {"token": u["refresh"]},
            "revoked": {"token": revoked},
            "deleted_user": {"token": live_server.mint("424242")},
        },
    }
    proc = subprocess.run(["node", str(ROOT / "tests/app/js/socket_auth.mjs")], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "CASES_JSON": json.dumps(cases)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    failed = {k: v for k, v in out.items() if isinstance(v, dict) and "error" in v}
    failed.update({k: v for k, v in out["refusals"].items() if "error" in v})
    assert not failed, failed

    assert out["valid"]["session"]["user"] == {"id": u["id"], "username": u["username"]}
    assert out["valid"]["who"]["ok"] is True
    assert out["header"]["session"]["user"]["id"] == u["id"]
    expected = {"no_auth": "auth_required", "not_object": "auth_required", "token_number": "auth_required",
                "garbage": "token_invalid", "bad_signature": "token_invalid", "alg_none": "token_invalid",
                "missing_claims": "token_invalid", "expired": "token_expired", "refresh_token": "wrong_token_type",
                "revoked": "token_revoked", "deleted_user": "user_unknown"}
    for name, code in expected.items():
        got = out["refusals"][name]
        assert got["message"] == code, (name, got)
        assert got["data"]["code"] == code and got["data"]["message"], (name, got)

    assert out["expiry"]["expired"] == {"code": "token_expired"}
    assert out["expiry"]["reason"] == "io server disconnect"
    assert out["expiry"]["who"]["ok"] is True

    assert out["refresh"]["ack"]["ok"] is True
    assert out["refresh"]["kicked"] is False and out["refresh"]["same"] is True
    assert out["refresh"]["who"]["expires_at"] > out["refresh"]["first_exp"]

    assert out["kick"]["status"] == 200 and out["kick"]["payload"] == {"code": "token_revoked"}
    assert out["kick"]["reason"] == "io server disconnect" and out["kick"]["elapsed"] < 1000
    assert out["kick"]["other_ok"] is True

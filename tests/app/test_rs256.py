"""RS256 tokens end to end, and the RFC 8725 attacks on them: alg confusion, none, foreign keys."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from extensions import db
from flask_socketio_jwt import get_state
from tests.app.conftest import built_app, socket_clients


def _pem_pair() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict:
    """Two RSA key pairs on disk: the server's and a stranger's."""
    folder = tmp_path_factory.mktemp("keys")
    out = {}
    for name in ("server", "stranger"):
        private, public = _pem_pair()
        (folder / f"{name}.pem").write_bytes(private)
        (folder / f"{name}.pub").write_bytes(public)
        out[name] = {"private": private, "public": public, "private_file": str(folder / f"{name}.pem"),
                     "public_file": str(folder / f"{name}.pub")}
    return out


@pytest.fixture
def rs_app(tmp_path: Path, keys: dict):
    """An app signing with RS256."""
    with built_app(tmp_path, JWT_ALGORITHM="RS256", JWT_PRIVATE_KEY_FILE=keys["server"]["private_file"],
                   JWT_PUBLIC_KEY_FILE=keys["server"]["public_file"]) as application:
        yield application


def _user(client) -> dict:
    name = "rs" + uuid.uuid4().hex[:8]
    assert client.post("/api/auth/register", json={"username": name, "password": "password123"}).status_code == 201
    body = client.post("/api/auth/login", json={"username": name, "password": "password123"}).get_json()
    me = client.get("/api/auth/me", headers={"Authorization": "Bearer " + body["access_token"]}).get_json()
    return {"id": me["id"], "access": body["access_token"]}


def _claims(sub: str) -> dict:
    now = int(time.time())
    return {"sub": sub, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex, "type": "access"}


def _me(client, token: str):
    return client.get("/api/auth/me", headers={"Authorization": "Bearer " + token})


def test_rs256_tokens_are_issued_and_accepted(rs_app, socket_client_rs) -> None:
    client = rs_app.test_client()
    u = _user(client)
    assert pyjwt.get_unverified_header(u["access"])["alg"] == "RS256"
    assert _me(client, u["access"]).status_code == 200
    sock = socket_client_rs(u["access"])
    assert sock.is_connected()
    assert sock.emit("whoami", callback=True)["ok"] is True


@pytest.mark.parametrize("attack", ["hs256_with_public_pem", "none", "stranger_key", "hs256_with_empty_key",
                                    "rs512_header"])
def test_rs256_attacks_are_refused(rs_app, keys, socket_client_rs, attack: str) -> None:
    client = rs_app.test_client()
    u = _user(client)
    claims = _claims(u["id"])
    public_pem = keys["server"]["public"].decode()
    if attack == "hs256_with_public_pem":
        # The classic HS/RS confusion: HMAC "signed" with the server's public key as the secret.
        import hashlib
        import hmac

        header = pyjwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}')
        body = pyjwt.utils.base64url_encode(pyjwt.api_jws.json.dumps(claims).encode())
        signing_input = header + b"." + body
        sig = pyjwt.utils.base64url_encode(hmac.new(public_pem.encode(), signing_input, hashlib.sha256).digest())
        token = (signing_input + b"." + sig).decode()
    elif attack == "none":
        token = pyjwt.encode(claims, None, algorithm="none")
    elif attack == "stranger_key":
        token = pyjwt.encode(claims, keys["stranger"]["private"], algorithm="RS256")
    elif attack == "hs256_with_empty_key":
        token = pyjwt.encode(claims, "k" * 32, algorithm="HS256")
    else:
        token = pyjwt.encode(claims, keys["server"]["private"], algorithm="RS512")
    r = _me(client, token)
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "token_invalid"
    sock = socket_client_rs(token)
    assert not sock.is_connected()
    state = get_state(rs_app)
    state.audit.flush()
    from models import AuditEvent

    with rs_app.app_context():
        rows = db.session.scalars(db.select(AuditEvent).where(AuditEvent.kind == "connect_refused")).all()
        assert rows and rows[-1].detail["code"] == "token_invalid"


@pytest.fixture
def socket_client_rs(rs_app):
    """Test clients of the RS256 app."""
    with socket_clients(rs_app) as make:
        yield make

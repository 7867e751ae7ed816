"""Secure by default in a host written the way Flask-SocketIO's docs teach (Flask-SocketIO test client).

Each host here is a stranger's app: default flask-jwt-extended settings, its own `SocketIO(...)`
options, decorator handlers, its own connect/disconnect/error handlers, nothing of this project's
app. Every namespace must need a verified access token whatever serves it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from flask_jwt_extended import JWTManager, current_user, get_jwt, get_jwt_identity
from flask_socketio import ConnectionRefusedError, Namespace, SocketIO

from flask_socketio_jwt import AuthNamespace, SocketJWT, SocketTestClient, access_token, get_state, socket_client

ROOT = Path(__file__).resolve().parents[2]
SECRET = "stranger-secret-" + "k" * 40
USERS = {"7": "ann", "8": "bob"}


class Host:
    """A stranger's app: its Flask app, SocketIO, SocketJWT and what its handlers saw."""

    def __init__(self, app: Flask, socketio: SocketIO, ext: SocketJWT) -> None:
        self.app, self.socketio, self.ext = app, socketio, ext
        self.seen: list[Any] = []

    def client(self, token: str | None = None, namespace: str = "/", **kw: Any) -> SocketTestClient:
        """A test client of this host (token in the auth payload unless auth= or headers= say otherwise)."""
        if token is None and "auth" not in kw:
            kw["auth"] = None
        return socket_client(self.app, token, namespace=namespace, socketio=self.socketio, **kw)

    def token(self, identity: str = "7", **kw: Any) -> str:
        return access_token(self.app, identity, **kw)

    def live(self) -> int:
        return len(get_state(self.app).registry.local)


@pytest.fixture
def make_host(tmp_path) -> Iterator[Callable[..., Host]]:
    """Build a host: `config` for app.config, `sio` for SocketIO(...), `bind_first` to bind SocketIO itself."""
    made: list[Host] = []

    def make(setup: Callable[[Host], None] | None = None, *, config: dict | None = None, sio: dict | None = None,
             bind_first: bool = False, **options: Any) -> Host:
        app = Flask("stranger", instance_path=str(tmp_path / f"i{len(made)}"))
        app.config.update(JWT_SECRET_KEY=SECRET, SOCKETIO_JWT_GC_FREEZE_INTERVAL=0, **(config or {}))
        jwt = JWTManager(app)
        jwt.user_lookup_loader(lambda _h, claims: USERS.get(claims["sub"]))
        kwargs = {"async_mode": "threading", **(sio or {})}
        socketio = SocketIO(app, **kwargs) if bind_first else SocketIO(**kwargs)
        ext = SocketJWT()
        host = Host(app, socketio, ext)
        if setup is not None and not options.pop("setup_after", False):
            setup(host)
            ext.init_app(app, socketio, **options)
        else:
            ext.init_app(app, socketio, **options)
            if setup is not None:
                setup(host)
        made.append(host)
        return host

    yield make
    for host in made:
        get_state(host.app).hub.close()
        get_state(host.app).audit.close()


# -- every namespace is protected, whatever serves it --------------------------------------------

def decorator_connect(h: Host) -> None:
    @h.socketio.on("connect", namespace="/chat")
    def on_connect(auth=None):
        h.seen.append(("connect", get_jwt_identity(), str(current_user)))

    @h.socketio.on("echo", namespace="/chat")
    def echo(data):
        return {"sub": get_jwt()["sub"], "data": data}


def decorators_on_root(h: Host) -> None:
    @h.socketio.on("echo")
    def echo(data):
        return {"sub": get_jwt()["sub"], "data": data}


def event_decorator(h: Host) -> None:
    @h.socketio.event
    def echo(data):
        return {"sub": get_jwt()["sub"], "data": data}


def on_event(h: Host) -> None:
    h.socketio.on_event("echo", lambda data: {"sub": get_jwt()["sub"], "data": data}, namespace="/chat")


def catch_all(h: Host) -> None:
    @h.socketio.on("*", namespace="/chat")
    def anything(event, data):
        return {"sub": get_jwt()["sub"], "data": data, "event": event}


def plain_namespace(h: Host) -> None:
    class Chat(Namespace):
        def on_echo(self, data):
            return {"sub": get_jwt()["sub"], "data": data}

    h.socketio.on_namespace(Chat("/chat"))


def function_beside_auth_namespace(h: Host) -> None:
    class Chat(AuthNamespace):
        def on_other(self, payload):
            return {"ok": True}

    h.socketio.on_namespace(Chat("/chat"))

    @h.socketio.on("echo", namespace="/chat")
    def echo(data):
        return {"sub": get_jwt()["sub"], "data": data}


def no_handlers(h: Host) -> None:
    """A namespace nobody registered a handler for (the server accepts every namespace)."""


KINDS = {
    "connect decorator": (decorator_connect, "/chat"),
    "decorators on /": (decorators_on_root, "/"),
    "@socketio.event": (event_decorator, "/"),
    "on_event": (on_event, "/chat"),
    "catch-all": (catch_all, "/chat"),
    "plain Namespace": (plain_namespace, "/chat"),
    "function beside AuthNamespace": (function_beside_auth_namespace, "/chat"),
}


@pytest.mark.parametrize("after", [False, True], ids=["before init_app", "after init_app"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_handler_kind_needs_a_verified_token(make_host, kind, after):
    setup, ns = KINDS[kind]
    h = make_host(setup, setup_after=after)
    for bad in (None, "garbage", h.token(expires_delta=timedelta(seconds=-5))):
        c = h.client(bad, namespace=ns)
        assert not c.is_connected(ns) and c.refusal_code in ("auth_required", "token_invalid", "token_expired")
    assert not [s for s in h.seen if s[0] == "connect"]  # no host connect handler ran for them
    good = h.client(h.token(), namespace=ns)
    assert good.is_connected(ns)
    ack = good.emit("echo", {"n": 1}, callback=True, namespace=ns)
    assert ack["sub"] == "7" and ack["data"] == {"n": 1}


def test_a_namespace_with_no_handler_is_protected_too(make_host):
    h = make_host(no_handlers, sio={"namespaces": "*"})
    assert h.client(None, namespace="/nothing").refusal_code == "auth_required"
    assert h.client(h.token(), namespace="/nothing").is_connected("/nothing")


def test_anonymous_sockets_never_get_broadcasts(make_host):
    h = make_host(decorator_connect)
    anon = h.client("garbage", namespace="/chat")
    member = h.client(h.token(), namespace="/chat")
    member.get_received("/chat")
    h.socketio.emit("news", {"x": 1}, namespace="/chat")
    assert [p["name"] for p in member.get_received("/chat")] == ["news"]
    assert not anon.is_connected("/chat") and anon.get_received("/chat") == []


def test_public_namespaces_are_the_only_exception(make_host):
    def setup(h: Host) -> None:
        @h.socketio.on("ping", namespace="/status")
        def ping(data):
            return "pong"

    h = make_host(setup, public_namespaces=["/status"])
    anon = h.client(None, namespace="/status")
    assert anon.is_connected("/status") and anon.emit("ping", {}, callback=True, namespace="/status") == "pong"
    assert h.client(None, namespace="/").refusal_code == "auth_required"
    with pytest.raises(TypeError, match="public_namespaces"):
        SocketJWT().init_app(Flask("x"), SocketIO(), public_namespaces="/status")


def test_guard_runs_before_function_handlers(make_host):
    h = make_host(decorator_connect, config={"SOCKETIO_JWT_RATE_LIMIT": [0.001, 2]})
    c = h.client(h.token(), namespace="/chat")
    assert c.emit("echo", 1, callback=True, namespace="/chat")["sub"] == "7"
    assert c.emit("echo", 2, callback=True, namespace="/chat")["sub"] == "7"
    assert c.emit("echo", 3, callback=True, namespace="/chat")["error"]["code"] == "rate_limited"


def test_an_expired_token_never_reaches_a_function_handler(make_host):
    h = make_host(decorator_connect)
    c = h.client(h.token(), namespace="/chat")
    info = get_state(h.app).registry.get(next(iter(get_state(h.app).registry.local)))
    info.exp = 1  # long past
    assert c.emit("echo", 1, callback=True, namespace="/chat")["error"]["code"] == "token_expired"


def test_client_events_named_connect_never_rerun_the_connect_handler(make_host):
    h = make_host(decorator_connect)
    c = h.client(h.token(), namespace="/chat")
    h.seen.clear()
    assert c.emit("connect", {}, callback=True, namespace="/chat")["error"]["code"] == "invalid_payload"
    assert c.emit("disconnect", callback=True, namespace="/chat")["error"]["code"] == "invalid_payload"
    assert h.seen == [] and c.is_connected("/chat")


# -- the host's connect and disconnect handlers run beside the extension -------------------------

def test_host_connect_handler_runs_after_the_checks_with_the_accessors(make_host):
    h = make_host(decorator_connect)
    h.client(h.token("8"), namespace="/chat")
    assert h.seen == [("connect", "8", "bob")]


@pytest.mark.parametrize("refuse", ["false", "raise"])
def test_host_connect_handler_can_refuse_and_nothing_stays(make_host, refuse):
    def setup(h: Host) -> None:
        @h.socketio.on("connect", namespace="/chat")
        def on_connect(auth):
            h.seen.append(auth)
            if refuse == "false":
                return False
            raise ConnectionRefusedError("closed", {"code": "closed", "message": "Come back later."})

    h = make_host(setup)
    c = h.client(None, namespace="/chat", auth={"token": h.token(), "room": "a"})
    assert not c.is_connected("/chat") and h.live() == 0
    assert [a["room"] for a in h.seen] == ["a"]  # the handler got Flask-SocketIO's auth argument
    if refuse == "raise":
        assert c.refusal_code == "closed"


def test_auth_namespace_on_connect_and_on_disconnect_run(make_host):
    def setup(h: Host) -> None:
        class Chat(AuthNamespace):
            def on_connect(self, auth=None):
                h.seen.append(("connect", get_jwt_identity()))
                return get_jwt_identity() != "8"

            def on_disconnect(self, reason=None):
                h.seen.append(("disconnect", get_jwt_identity()))

        h.socketio.on_namespace(Chat("/chat"))

    h = make_host(setup)
    ann = h.client(h.token("7"), namespace="/chat")
    bob = h.client(h.token("8"), namespace="/chat")
    assert ann.is_connected("/chat") and not bob.is_connected("/chat")
    ann.disconnect("/chat")
    assert h.seen == [("connect", "7"), ("connect", "8"), ("disconnect", "7")]
    assert h.live() == 0


@pytest.mark.parametrize("raises", [False, True])
def test_host_disconnect_handler_never_leaks_sockets(make_host, raises):
    def setup(h: Host) -> None:
        @h.socketio.on("disconnect", namespace="/chat")
        def on_disconnect(reason=None):
            h.seen.append(get_jwt_identity())
            if raises:
                raise RuntimeError("the host's own bug")

    h = make_host(setup, config={"SOCKETIO_JWT_MAX_CONNECTIONS_PER_USER": 3})
    token = h.token()
    for _ in range(10):
        c = h.client(token, namespace="/chat")
        assert c.is_connected("/chat"), c.refusal
        c.disconnect("/chat")
    assert h.seen == ["7"] * 10 and h.live() == 0
    kept = [h.client(token, namespace="/chat") for _ in range(3)]
    assert all(c.is_connected("/chat") for c in kept)
    assert h.client(token, namespace="/chat").refusal_code == "too_many_connections"


# -- errors go where Flask-SocketIO sends them -------------------------------------------------------

def boom_handlers(h: Host) -> None:
    @h.socketio.on("boom", namespace="/chat")
    def boom(data):
        raise ValueError("bad")

    class Other(AuthNamespace):
        def on_boom(self, payload):
            raise KeyError("bad")

    h.socketio.on_namespace(Other("/other"))


def test_errors_reach_the_hosts_error_handlers(make_host):
    def setup(h: Host) -> None:
        boom_handlers(h)

        @h.socketio.on_error("/chat")
        def chat_error(e):
            return {"handled": type(e).__name__, "sub": get_jwt_identity()}

        @h.socketio.on_error_default
        def default_error(e):
            return {"default": type(e).__name__}

    h = make_host(setup)
    chat, other = h.client(h.token(), namespace="/chat"), h.client(h.token(), namespace="/other")
    assert chat.emit("boom", 1, callback=True, namespace="/chat") == {"handled": "ValueError", "sub": "7"}
    assert other.emit("boom", 1, callback=True, namespace="/other") == {"default": "KeyError"}
    assert chat.is_connected("/chat") and other.is_connected("/other")


def test_without_error_handlers_the_ack_is_internal_error(make_host):
    h = make_host(boom_handlers)
    for ns in ("/chat", "/other"):
        c = h.client(h.token(), namespace=ns)
        assert c.emit("boom", 1, callback=True, namespace=ns)["error"]["code"] == "internal_error"
        assert c.is_connected(ns)


# -- the token is found where the host's REST API finds it -------------------------------------------

def echo_root(h: Host) -> None:
    @h.socketio.on("echo")
    def echo(data):
        return {"sub": get_jwt_identity(), "sid": request.sid}


@pytest.mark.parametrize(("config", "headers", "ok"), [
    ({}, {"Authorization": "Bearer {t}"}, True),
    ({}, {"Authorization": "bearer {t}"}, False),  # flask-jwt-extended compares the type exactly
    ({"JWT_HEADER_NAME": "X-Access-Token", "JWT_HEADER_TYPE": ""}, {"X-Access-Token": "{t}"}, True),
    ({"JWT_HEADER_NAME": "X-Access-Token", "JWT_HEADER_TYPE": ""}, {"Authorization": "Bearer {t}"}, False),
    ({"JWT_HEADER_TYPE": "JWT"}, {"Authorization": "JWT {t}"}, True),
    ({"JWT_HEADER_TYPE": "JWT"}, {"Authorization": "Bearer {t}"}, False),
    ({"JWT_TOKEN_LOCATION": ["cookies"]}, {"Authorization": "Bearer {t}"}, False),
    ({"JWT_TOKEN_LOCATION": ["query_string"]}, {}, False),
], ids=["bearer", "bearer-lowercase", "custom-header", "custom-header-not-authorization", "jwt-type",
        "jwt-type-not-bearer", "cookies-only-ignores-headers", "query-string-never"])
def test_header_token_as_the_host_configures_it(make_host, config, headers, ok):
    h = make_host(echo_root, config=config)
    t = h.token()
    c = SocketTestClient(h.app, h.socketio, headers={k: v.format(t=t) for k, v in headers.items()},
                         query_string=f"jwt={t}&token={t}")
    assert c.is_connected() is ok
    if not ok:
        assert c.refusal_code == "auth_required"


@pytest.mark.parametrize(("origin", "code"), [
    ("http://localhost", None),  # the app's own origin
    ("https://app.example", None),  # an allowed one
    (None, "origin_forbidden"),
    ("https://evil.example", "origin_forbidden"),
])
def test_cookie_token_only_from_the_apps_own_or_an_allowed_origin(make_host, origin, code):
    h = make_host(echo_root, config={"JWT_TOKEN_LOCATION": ["cookies", "headers"]},
                  sio={"cors_allowed_origins": ["https://app.example"]})
    headers = {"Cookie": f"access_token_cookie={h.token()}"}
    if origin:
        headers["Origin"] = origin
    c = SocketTestClient(h.app, h.socketio, headers=headers)
    assert c.is_connected() is (code is None)
    assert c.refusal_code == code
    if code is None:
        assert c.emit("echo", {}, callback=True)["sub"] == "7"


def test_the_auth_payload_wins_over_header_and_cookie(make_host):
    h = make_host(echo_root, config={"JWT_TOKEN_LOCATION": ["cookies", "headers"]})
    c = SocketTestClient(h.app, h.socketio, auth={"token": h.token("8")},
                         headers={"Authorization": f"Bearer {h.token('7')}", "Cookie": "access_token_cookie=x"})
    assert c.emit("echo", {}, callback=True)["sub"] == "8"


# -- the host's SocketIO options stay the host's -----------------------------------------------------

@pytest.mark.parametrize("bind_first", [False, True], ids=["SocketIO()", "SocketIO(app)"])
def test_host_socketio_options_are_kept(make_host, bind_first):
    opts = {"async_mode": "threading", "cors_allowed_origins": ["https://app.example"], "ping_interval": 7,
            "max_http_buffer_size": 1234}
    h = make_host(decorators_on_root, sio=opts, bind_first=bind_first)
    eio = h.socketio.server.eio
    assert (h.socketio.async_mode, eio.cors_allowed_origins, eio.ping_interval, eio.max_http_buffer_size) == (
        "threading", ["https://app.example"], 7, 1234)
    assert h.client(h.token()).emit("echo", 1, callback=True)["sub"] == "7"


def test_a_prebound_server_is_kept_not_replaced(make_host):
    h = make_host(decorators_on_root, bind_first=True)
    assert h.app.extensions["socketio"] is h.socketio
    assert h.client(None).refusal_code == "auth_required"


def test_cookie_tokens_with_every_origin_allowed_stop_init_app(make_host):
    with pytest.raises(RuntimeError, match=r"cookies.*SocketIO's cors_allowed_origins is '\*'"):
        make_host(config={"JWT_TOKEN_LOCATION": ["headers", "cookies"]}, sio={"cors_allowed_origins": "*"})


def test_without_an_async_mode_flask_socketio_chooses(tmp_path):
    app = Flask("auto", instance_path=str(tmp_path))
    app.config.update(JWT_SECRET_KEY=SECRET, SOCKETIO_JWT_GC_FREEZE_INTERVAL=0)
    JWTManager(app)
    socketio = SocketIO()
    SocketJWT().init_app(app, socketio)
    assert socketio.async_mode == SocketIO(Flask("bare")).async_mode
    get_state(app).hub.close()
    get_state(app).audit.close()


STRANGER = """
import warnings, sys
warnings.simplefilter("error")
{prelude}
from flask import Flask
from flask_jwt_extended import JWTManager, create_access_token, get_jwt_identity
from flask_socketio import SocketIO
from flask_socketio_jwt import SocketJWT, socket_client
app = Flask("stranger")
app.config.update(JWT_SECRET_KEY="s" * 40)
JWTManager(app)
socketio = SocketIO(app, async_mode={mode!r})
@socketio.on("who")
def who(data):
    return get_jwt_identity()
SocketJWT(app, socketio)
with app.app_context():
    token = create_access_token("7")
client = socket_client(app, token, socketio=socketio)
assert client.emit("who", {{}}, callback=True) == "7", "no ack"
print("ok", socketio.async_mode, "eventlet" in sys.modules)
"""


def run_stranger(python: Path, mode: str, prelude: str = "") -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([str(python), "-W", "error", "-c", STRANGER.format(prelude=prelude, mode=mode)],
                          capture_output=True, text=True, env=env, cwd="/", timeout=120)


def test_threading_host_under_warnings_as_errors_never_imports_eventlet():
    out = run_stranger(Path(sys.executable), "threading")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["ok", "threading", "False"]


@pytest.mark.parametrize(("runtime", "python"), [("eventlet", ROOT / ".venv/bin/python"),
                                                 ("gevent", ROOT / ".venv-gevent/bin/python")])
def test_a_green_worker_with_another_async_mode_stops_at_start(runtime, python):
    prelude = ("import eventlet; eventlet.monkey_patch()" if runtime == "eventlet"
               else "from gevent import monkey; monkey.patch_all()")
    prelude = "warnings.simplefilter('ignore')\n" + prelude + "\nwarnings.simplefilter('error')"
    out = run_stranger(python, "threading", prelude)
    assert out.returncode != 0
    assert f"runs {runtime}" in out.stderr and f"async_mode={runtime!r}" in out.stderr, out.stderr[-2000:]
    same = run_stranger(python, runtime, prelude)
    assert same.returncode == 0, same.stderr[-3000:]


# -- the test helper fits the common patterns ---------------------------------------------------------

def test_access_token_takes_a_user_object_through_the_hosts_identity_loader(make_host):
    class Account:
        def __init__(self, ident: str) -> None:
            self.ident = ident

    h = make_host(echo_root)
    h.app.extensions["flask-jwt-extended"].user_identity_loader(lambda account: account.ident)
    c = h.client(access_token(h.app, Account("8"), role="x"))
    assert c.emit("echo", {}, callback=True)["sub"] == "8"


def test_the_test_client_records_a_kick(make_host):
    h = make_host(echo_root)
    token = h.token()
    c = h.client(token)
    c.get_received()
    with h.app.app_context():
        h.ext.revoke(jti=get_state(h.app).registry.get(next(iter(get_state(h.app).registry.local))).jti)
    assert not c.is_connected()
    assert c.kick() == {"event": "auth_revoked", "code": "token_revoked"}
    assert [p["name"] for p in c.get_received()] == ["auth_revoked"]  # readable after the disconnect
    assert c.kick() == {"event": "auth_revoked", "code": "token_revoked"}


def test_a_socketio_bound_again_for_another_app_takes_that_apps_settings(tmp_path):
    """What init_app filled in for one app is not taken for the host's own option by the next one."""
    socketio, ext = SocketIO(async_mode="threading"), SocketJWT()
    caps = []
    for i, cap in enumerate((1000, 2000, 1000)):
        app = Flask(f"app{i}", instance_path=str(tmp_path / str(i)))
        app.config.update(JWT_SECRET_KEY=SECRET, SOCKETIO_JWT_MAX_MESSAGE_BYTES=cap)
        JWTManager(app)
        ext.init_app(app, socketio)
        caps.append(socketio.server.eio.max_http_buffer_size)
        get_state(app).hub.close()
        get_state(app).audit.close()
    assert caps == [1000, 2000, 1000]

"""SocketJWT: the extension object a flask-jwt-extended app binds with `init_app`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from flask_socketio import SocketIO

from flask_socketio_jwt import hardening, settings
from flask_socketio_jwt.core import state as core_state
from flask_socketio_jwt.core import tokens
from flask_socketio_jwt.core.limits import FailureCounter
from flask_socketio_jwt.core.registry import SocketInfo
from flask_socketio_jwt.gate import Gate
from flask_socketio_jwt.patches import manager
from flask_socketio_jwt.runtime import checks as runtime
from flask_socketio_jwt.transport import SocketTransport, adopt_server, bind_options, host_origins

EXTENSION_KEY = "flask-socketio-jwt"
FILLED_ATTR = "_socketio_jwt_filled"  # on a SocketIO: the options init_app filled in, not the host's
OPTIONS = frozenset({"audit_table", "engine", "session_user", "socketio_options", "revalidate",
                     "public_namespaces"})
Revalidate = Callable[[list[SocketInfo]], Iterable["str | tuple[str, str]"]]


class SocketJWT:
    """Authenticated Socket.IO on a flask-jwt-extended app; unbound until `init_app`, like `JWTManager()`.

    Options (to the constructor or `init_app`): `audit_table` (a table with the columns of
    `flask_socketio_jwt.audit_table`; none: no audit rows), `engine` (where that table lives:
    the host's Flask-SQLAlchemy `db`, a SQLAlchemy Engine, or a callable returning one),
    `session_user` (the host's user object -> extra fields of the `session` event's `user`),
    `socketio_options` (more keyword arguments for `SocketIO.init_app`), `revalidate` (given a
    batch of live sockets' records, the sids to kick, alone or as `(sid, code)`; runs in
    an app context every `SOCKETIO_JWT_REVALIDATE_INTERVAL` seconds; default: the host's blocklist,
    token verification and user loaders, one socket at a time).
    """

    def __init__(self, app: Flask | None = None, socketio: SocketIO | None = None, **options: Any) -> None:
        _check_options(options)
        self.options = options
        if app is not None:
            if socketio is None:
                raise TypeError("SocketJWT(app) needs the app's SocketIO object too: SocketJWT(app, socketio)")
            self.init_app(app, socketio)

    def init_app(self, app: Flask, socketio: SocketIO, **options: Any) -> None:
        """Bind to app (whose JWTManager is initialised) and its SocketIO; fills config defaults.

        A `SocketIO` the host already bound to app keeps its server and every option the host
        gave; an unbound one is bound here with the host's options (from `SocketIO(...)` and
        `socketio_options`), the extension filling only what the host left unset. Every
        namespace of that server is then behind the token check, except `public_namespaces`.
        """
        _check_options(options)
        if "flask-jwt-extended" not in app.extensions:
            raise RuntimeError("SocketJWT.init_app needs the app's JWTManager: call jwt.init_app(app) first")
        opts = {**self.options, **options}
        settings.apply_defaults(app)
        settings.validate(app.config)
        on = hardening.patches_enabled(app)
        from flask_socketio_jwt import patches

        # The host's own options: what it gave SocketIO, not what an earlier init_app of this
        # extension filled in for another app bound to the same SocketIO object.
        filled: frozenset[str] = getattr(socketio, FILLED_ATTR, frozenset())
        host_options = opts.get("socketio_options", {})
        given = {**{k: v for k, v in socketio.server_options.items() if k not in filled}, **host_options}
        bound = app.extensions.get("socketio") is socketio and getattr(socketio, "server", None) is not None
        if not bound:
            indexed = on and patches.usable(manager)
            client_manager = manager.client_manager(app.config.get("SOCKETIO_JWT_MESSAGE_QUEUE") or None,
                                                    app.config["SOCKETIO_JWT_CHANNEL"], indexed_rooms=indexed,
                                                    kind=app.config["SOCKETIO_JWT_CLIENT_MANAGER"],
                                                    sharded=app.config["SOCKETIO_JWT_REDIS_SHARDED"])
            fill = bind_options(app, given, client_manager)
            socketio.init_app(app, **{**fill, **host_options})
            setattr(socketio, FILLED_ATTR, frozenset(fill))
        else:
            adopt_server(app, socketio, given)
        origins = host_origins(app, given)
        runtime.check_async_mode(socketio.server.eio.async_mode)
        with app.app_context():
            leeway = tokens.leeway()
            engine = _engine(opts.get("engine"))
        state = core_state.init_app(app, engine=engine, audit_table=opts.get("audit_table"), leeway=leeway,
                                    sleep=socketio.sleep, spawn=socketio.start_background_task)
        state.allowed_origins = origins
        state.session_user = opts.get("session_user")
        state.hub.sweeper.check = _revalidator(app, opts.get("revalidate") or _host_loaders)
        state.hub.transport = SocketTransport(socketio)
        gate = Gate(socketio, public=_public(opts.get("public_namespaces", ()))).install()
        hardening.install(app, socketio, state)
        gate.rebase()  # a patch may have replaced the handler runner: the gate stays in front of it
        app.extensions[EXTENSION_KEY] = self

    def revoke(self, *, jti: str | None = None, user_id: Any = None, jtis: Iterable[str] = (),
               issued_before_ms: int | None = None, code: str = "token_revoked") -> None:
        """Kick every live socket on this token, or of this user, on every process (needs an app context).

        `jti` (or several, `jtis`) also names a login session: sockets whose token carries it as
        its `ses` claim go too. With `user_id`, `issued_before_ms` spares the user's tokens issued
        after that instant (their `iat_ms` claim, else the start of their `iat` second).
        `code` is what `auth_revoked` tells the client: `token_revoked`, or `user_unknown` for a
        user you disabled or deleted.
        """
        if code not in ("token_revoked", "user_unknown"):
            raise ValueError("revoke(code=) is token_revoked or user_unknown")
        names = [*([jti] if jti is not None else []), *jtis]
        if not names and user_id is None:
            raise TypeError("revoke() needs jti=, jtis= or user_id=")
        state = core_state.get_state(current_app)
        state.hub.revoke(jtis=names, user_id=None if user_id is None else str(user_id),
                         before_ms=issued_before_ms if user_id is not None else None, code=code)

    def failure_counter(self, name: str, limit: int, window: float, app: Flask | None = None) -> FailureCounter:
        """A counter of failures per key (an address, a username) that blocks a key after `limit` in `window` s.

        It lives where the extension's own limits live: in memory, or in Redis when
        `SOCKETIO_JWT_MESSAGE_QUEUE` is set, so every process shares it. `name` keeps counters
        apart. `hit(key)` counts a failure, `retry_after(key)` is 0 or the seconds to wait,
        `reset(key)` forgets the key (a success). For the host's own limits (logins, sign-ups).
        """
        if isinstance(limit, bool) or not int(limit) > 0 or not float(window) > 0:
            raise ValueError(f"failure_counter({name!r}): limit and window must be positive")
        counter: FailureCounter = core_state.get_state(app).counters(name, int(limit), float(window))
        return counter


def _host_loaders(records: list[SocketInfo]) -> list[tuple[str, str]]:
    """The default revalidation: each socket's token through the host's own loaders again."""
    return [(info.sid, code) for info in records if (code := tokens.refusal(info.header, info.claims))]


def _revalidator(app: Flask, check: Revalidate) -> Callable[[list[SocketInfo]], list[str | tuple[str, str]]]:
    """The sweep's check, run in an app context of app (the sweep runs in the background)."""
    def run(records: list[SocketInfo]) -> list[str | tuple[str, str]]:
        with app.app_context():
            return list(check(records))
    return run


def _public(paths: Any) -> list[str]:
    """The `public_namespaces` option as a list of namespace paths."""
    if isinstance(paths, str) or not all(isinstance(p, str) and p.startswith("/") for p in paths):
        raise TypeError("public_namespaces must be a list of namespace paths, e.g. [\"/status\"]")
    return list(paths)


def _check_options(options: dict[str, Any]) -> None:
    unknown = set(options) - OPTIONS
    if unknown:
        raise TypeError(f"unknown SocketJWT option(s): {', '.join(sorted(unknown))}")
    _public(options.get("public_namespaces", ()))


def _engine(engine: Any) -> sa.Engine | None:
    """The engine option as an Engine: an Engine, a Flask-SQLAlchemy object, or a callable returning one."""
    if engine is None or isinstance(engine, sa.Engine):
        return engine
    if hasattr(engine, "engine"):  # Flask-SQLAlchemy's SQLAlchemy(): its engine for this app
        bound: sa.Engine = engine.engine
        return bound
    made: sa.Engine = engine()
    return made

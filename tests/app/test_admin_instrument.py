"""instrument() inside one process: the engine.io hooks chain survives it, a second app cannot make
its packet counters call themselves."""

from __future__ import annotations

import functools

import pytest
from engineio.socket import Socket

from sockets.admin import _SOCKET_PATCHES
from tests.app.conftest import built_app


@pytest.fixture
def pristine_socket_class():
    """Put engine.io's Socket class back as it was: instrument() patches it for the whole process."""
    saved = {name: Socket.__dict__.get(name) for name in (*_SOCKET_PATCHES, "_realtime_admin_instrumented")}
    yield
    for name, value in saved.items():
        if value is None:
            if name in Socket.__dict__:
                delattr(Socket, name)
        else:
            setattr(Socket, name, value)


def test_two_instrumented_apps_keep_hooks_and_counters(tmp_path, pristine_socket_class) -> None:
    from extensions import socketio

    original = Socket.__dict__["_websocket_handler"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with built_app(tmp_path / "a", ADMIN_UI_ENABLED=True):
        server = socketio.server
        # The engine.io connect handler instrument() installed ends in the chain we had (the connect
        # timeout's wrapper), not in the server's own method.
        assert server._handle_eio_connect.__qualname__.endswith("install.<locals>.connect")
        assert getattr(server._handle_eio_connect, "__self__", None) is not server
        wrapped = Socket.__dict__["_websocket_handler"]
        assert isinstance(wrapped, functools.partialmethod)
        assert Socket.__dict__["_InstrumentedServer__websocket_handler"] is original
        with built_app(tmp_path / "b", ADMIN_UI_ENABLED=True):
            # The second instrument() left the first set of patches in place.
            assert Socket.__dict__["_websocket_handler"] is wrapped
            assert Socket.__dict__["_InstrumentedServer__websocket_handler"] is original
            assert server._handle_eio_connect.__qualname__.endswith("install.<locals>.connect")

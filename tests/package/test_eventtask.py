"""Socket.IO event handlers on untracked green threads (patches/eventtask.py)."""

from __future__ import annotations

import eventlet
import pytest
import socketio

from flask_socketio_jwt.patches import eventtask
from tests.support.eio_fake import green_wait


def test_only_event_handlers_go_untracked(monkeypatch):
    """`_handle_event` starts through the runtime's bare spawn; other tasks stay joinable."""
    server = socketio.Server(async_mode="eventlet")
    started = []
    monkeypatch.setattr(eventtask, "spawner", lambda mode: lambda fn, *a: started.append((fn, a)))
    assert eventtask.missing(server) == []
    assert eventtask.install(server) is True
    assert server.start_background_task(server._handle_event, "eio", "/", 3, ["whoami"]) is None
    assert started == [(server._handle_event, ("eio", "/", 3, ["whoami"]))]
    task = server.start_background_task(lambda: 42)  # an app's own task: joinable, as stock
    task.join()
    assert len(started) == 1


@pytest.mark.parametrize("mode", ["eventlet", "threading"])
def test_installs_only_on_green_runtimes(mode):
    server = socketio.Server(async_mode=mode)
    assert eventtask.install(server) is (mode == "eventlet")


def test_untracked_handler_runs_concurrently():
    """Each event still gets its own green thread: a waiting handler does not hold up the next."""
    server = socketio.Server(async_mode="eventlet")
    gate, order = eventlet.event.Event(), []

    def handle(eio_sid, namespace, id, data):
        if data == "slow":
            gate.wait()
        order.append(data)

    server._handle_event = handle  # a stand-in for the bound method, before the patch looks it up
    assert eventtask.install(server)
    server.start_background_task(server._handle_event, "e", "/", None, "slow")
    server.start_background_task(server._handle_event, "e", "/", None, "fast")
    assert green_wait(lambda: order == ["fast"])
    gate.send()
    assert green_wait(lambda: order == ["fast", "slow"])

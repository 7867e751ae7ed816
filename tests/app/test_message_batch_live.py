"""Group commit on a real server: a worker killed while a batch is open acks and broadcasts nothing of it."""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Iterator

import psutil
import requests

from tests.app.conftest import LiveServer, wait_for
from tests.support.live import live_fixture
from tests.support.services import Postgres
from tests.support.sio import Recorder


def pending(server: LiveServer) -> float:
    text = requests.get(server.url + "/metrics", timeout=5).text
    m = re.search(r"^realtime_messages_pending (\S+)$", text, re.M)
    assert m, "the metric realtime_messages_pending is missing"
    return float(m.group(1))


def worker_pid(server: LiveServer) -> int:
    kids = psutil.Process(server.proc.pid).children()
    assert len(kids) == 1, kids
    return kids[0].pid


def test_a_worker_killed_with_a_batch_open_loses_only_unacked_messages(live_server_factory):
    # Each batch waits 1.5 s for more messages, so the test can kill the worker while one is open.
    server = live_server_factory({"FLASK_MESSAGE_BATCH_WINDOW_MS": "1500"})
    alice, bob = server.register(), server.register()
    senders, reader = [Recorder(server.url) for _ in range(3)], Recorder(server.url)
    try:
        for r in senders:
            assert r.connect(alice["access"])
            assert r.call("join", {"room": "kb"})["ok"]
        assert reader.connect(bob["access"])
        assert reader.call("join", {"room": "kb"})["ok"]

        first = senders[0].call("message", {"room": "kb", "text": "committed"}, timeout=10)
        assert first["ok"]
        reader.wait("message")
        old_pid = worker_pid(server)

        acks: list = []
        lock = threading.Lock()
        for i, r in enumerate(senders):
            r.client.emit("message", {"room": "kb", "text": f"open-{i}"},
                          callback=lambda *a: (lock.acquire(), acks.append(a), lock.release()))
        assert wait_for(lambda: pending(server) == 3, timeout=5), "the three messages never formed a batch"
        os.kill(old_pid, signal.SIGKILL)
        assert reader.disconnected.wait(10)
        for r in senders:
            assert r.disconnected.wait(10)
        assert acks == []  # nothing of the open batch was acknowledged
        assert [m["text"] for m in reader.events["message"]] == ["committed"]  # nor broadcast

        # gunicorn starts a new worker on the same database: the history holds exactly what was acked
        assert wait_for(lambda: len(psutil.Process(server.proc.pid).children()) == 1
                        and worker_pid(server) != old_pid, timeout=20)
        assert wait_for(lambda: requests.get(server.url + "/healthz", timeout=2).status_code == 200, timeout=20)
        again = Recorder(server.url)
        try:
            assert again.connect(bob["access"])
            joined = again.call("join", {"room": "kb"})
            assert [(m["id"], m["text"]) for m in joined["history"]] == [(first["id"], "committed")]
            assert again.call("join", {"room": "kb", "since_id": first["id"]})["history"] == []
            after = again.call("message", {"room": "kb", "text": "after"}, timeout=10)
            assert after["ok"] and after["id"] > first["id"]
        finally:
            again.close()
    finally:
        for r in (*senders, reader):
            r.close()
        server.stop()


@live_fixture(params=["sqlite", "postgresql"])
def any_db_server(request, tmp_path) -> Iterator[LiveServer]:
    """A live server on SQLite or on a PostgreSQL started for the test."""
    pg = Postgres().start() if request.param == "postgresql" else None
    # A burst of 15 messages per socket is over the default per-socket rate limit.
    env = {"FLASK_SOCKETIO_JWT_RATE_LIMIT": "[1000, 1000]"}
    server = LiveServer(tmp_path, {**env, "FLASK_SQLALCHEMY_DATABASE_URI": pg.create_db("batch")} if pg else env)
    try:
        server.migrate()
        server.start()
        yield server
    finally:
        server.stop()
        if pg:
            pg.stop()


def test_concurrent_messages_are_batched_acked_after_commit_and_broadcast_as_stored(any_db_server):
    server = any_db_server
    users = [server.register() for _ in range(2)]
    senders = [Recorder(server.url) for _ in range(8)]
    readers = {room: Recorder(server.url) for room in ("ra", "rb")}
    try:
        for room, r in readers.items():
            assert r.connect(users[0]["access"]) and r.call("join", {"room": room})["ok"]
        for i, r in enumerate(senders):
            assert r.connect(users[i % 2]["access"])
            assert r.call("join", {"room": "ra" if i % 2 else "rb"})["ok"]
        acks: dict = {}
        lock = threading.Lock()

        def keep(key):
            def cb(ack):
                with lock:
                    acks[key] = ack
            return cb

        for n in range(15):  # fire without waiting: the server sees many messages at once
            for i, r in enumerate(senders):
                r.client.emit("message", {"room": "ra" if i % 2 else "rb", "text": f"s{i}-{n}"},
                              callback=keep((i, n)))
        assert wait_for(lambda: len(acks) == 120, timeout=30), len(acks)
        assert all(a["ok"] for a in acks.values()), [a for a in acks.values() if not a["ok"]][:3]
        for room, r in readers.items():
            got = r.wait("message", 60, timeout=20)
            assert len(got) == 60
            ids = [m["id"] for m in got]
            assert ids == sorted(ids) and len(set(ids)) == 60  # broadcast in commit order
            stored = r.call("join", {"room": room, "since_id": 0})["history"]
            assert stored == got  # the broadcast carries exactly the stored row
        texts = {m["id"]: m["text"] for r in readers.values() for m in r.events["message"]}
        assert {texts[a["id"]] for a in acks.values()} == {f"s{i}-{n}" for i in range(8) for n in range(15)}
        metrics = requests.get(server.url + "/metrics", timeout=5).text
        committed = float(re.search(r"^realtime_messages_committed_total (\S+)$", metrics, re.M).group(1))
        batches = float(re.search(r"^realtime_message_batches_total (\S+)$", metrics, re.M).group(1))
        assert committed == 120 and batches < committed  # messages shared transactions
    finally:
        for r in (*senders, *readers.values()):
            r.close()

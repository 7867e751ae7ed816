"""A separate process that pings a live server with `whoami` every 20 ms and records ack times.

Run as `python -m tests.app.loop_probe URL TOKEN STOP_FILE OUT_FILE`: it creates OUT_FILE.ready once
connected, pings until STOP_FILE exists (at most 120 s), then writes [[sent_at, seconds], ...] to
OUT_FILE as JSON. Being its own process keeps the load generator's GIL out of the measurement.
"""

from __future__ import annotations

import json
import os
import sys
import time

import socketio


def main(url: str, token: str, stop_file: str, out_file: str) -> None:
    """Ping until told to stop; write the ack times."""
    client = socketio.Client(reconnection=False)
    client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=10)
    open(out_file + ".ready", "w").close()
    samples: list[list[float]] = []
    deadline = time.monotonic() + 120
    try:
        while not os.path.exists(stop_file) and time.monotonic() < deadline:
            t0 = time.monotonic()
            ack = client.call("whoami", timeout=5)
            assert ack["ok"], ack
            samples.append([time.time(), time.monotonic() - t0])
            time.sleep(max(0.0, 0.02 - (time.monotonic() - t0)))
    finally:
        client.disconnect()
        with open(out_file + ".tmp", "w") as fh:
            json.dump(samples, fh)
        os.replace(out_file + ".tmp", out_file)


if __name__ == "__main__":
    main(*sys.argv[1:5])

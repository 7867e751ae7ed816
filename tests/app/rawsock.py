"""A raw Engine.IO v4 / Socket.IO v5 client over websocket-client, for hostile-frame tests."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import websocket


class RawSocket:
    """One WebSocket to /socket.io speaking the wire protocol by hand."""

    def __init__(self, base_url: str, *, origin: str | None = None, headers: list[str] | None = None,
                 rcvbuf: int | None = None, timeout: float = 5.0, query: str = "") -> None:
        url = base_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket" + query
        opts: dict[str, Any] = {"timeout": timeout, "header": headers or [], "suppress_origin": origin is None}
        if origin is not None:
            opts["origin"] = origin
        if rcvbuf is not None:
            opts["sockopt"] = [(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)]
        self.ws = websocket.create_connection(url, **opts)
        self.open = self.recv_raw()
        assert self.open.startswith("0{"), self.open
        self.sid = json.loads(self.open[1:])["sid"]

    def send_raw(self, data: str | bytes, opcode: int | None = None) -> None:
        """Send one WebSocket message as is (text for str, binary for bytes unless opcode says)."""
        if opcode is None:
            opcode = websocket.ABNF.OPCODE_TEXT if isinstance(data, str) else websocket.ABNF.OPCODE_BINARY
        self.ws.send(data, opcode)

    def recv_raw(self, timeout: float | None = None) -> str:
        """The next WebSocket message ('' when the server closed)."""
        if timeout is not None:
            self.ws.settimeout(timeout)
        data = self.ws.recv()
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else data

    def recv_packet(self, timeout: float = 5.0) -> str:
        """The next Engine.IO packet that is not a ping (pings are answered)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.recv_raw(max(0.05, deadline - time.monotonic()))
            if msg == "2":
                self.send_raw("3")
                continue
            return msg
        raise TimeoutError("no packet")

    def connect(self, auth: Any = None, timeout: float = 5.0) -> tuple[str, Any]:
        """Send the namespace CONNECT; returns ("ok", data) or ("error", data)."""
        self.send_raw("40" + (json.dumps(auth) if auth is not None else ""))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.recv_packet(max(0.05, deadline - time.monotonic()))
            if msg.startswith("40"):
                return "ok", json.loads(msg[2:])
            if msg.startswith("44"):
                return "error", json.loads(msg[2:])
        raise TimeoutError("no connect answer")

    def call(self, event: str, *args: Any, ack_id: int = 1, timeout: float = 5.0) -> Any:
        """Emit an event with an ack id and return the ack's first argument."""
        self.send_raw(f"42{ack_id}" + json.dumps([event, *args]))
        return self.wait_ack(ack_id, timeout)

    def wait_ack(self, ack_id: int, timeout: float = 5.0) -> Any:
        """Wait for the ack with this id, skipping server events."""
        deadline = time.monotonic() + timeout
        prefix = f"43{ack_id}"
        while time.monotonic() < deadline:
            msg = self.recv_packet(max(0.05, deadline - time.monotonic()))
            if msg.startswith(prefix) and msg[len(prefix):len(prefix) + 1] == "[":
                return json.loads(msg[len(prefix):])[0]
            if msg in ("", "1"):
                raise ConnectionError("closed while waiting for an ack")
        raise TimeoutError(f"no ack {ack_id}")

    def wait_closed(self, timeout: float = 5.0) -> bool:
        """True once the server closes the session (CLOSE packet or WebSocket close) in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.recv_raw(max(0.05, deadline - time.monotonic()))
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
                return True
            if msg in ("", "1") or msg.startswith("41"):
                return True
            if msg == "2":
                self.send_raw("3")
        return False

    def close(self) -> None:
        """Close the WebSocket, ignoring errors."""
        try:
            self.ws.close(timeout=1)
        except Exception:
            pass
        finally:
            self.ws.shutdown()

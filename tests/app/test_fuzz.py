"""Property-based fuzzing of every event's payload through the Flask-SocketIO test client.

Whatever arrives, the ack is `{"ok": true, ...}` or `{"ok": false, "error": {"code": <contract code>}}`,
never an exception, and the socket stays usable.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extensions import db, socketio
from flask_socketio_jwt import get_state

settings.register_profile("fuzz", max_examples=200, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

ACK_CODES = {"invalid_payload", "forbidden", "not_joined", "rate_limited", "token_expired", "identity_mismatch",
             "internal_error", "auth_required", "token_invalid", "token_revoked", "wrong_token_type",
             "user_unknown"}
EVENTS = ["whoami", "join", "leave", "message", "presence", "refresh"]

text = st.text(alphabet=st.characters(codec="utf-8") | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
               max_size=80)
scalars = st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | \
    st.floats(allow_nan=False) | text
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=5) | st.dictionaries(text, kids, max_size=5),
                           max_leaves=30)
room_like = st.sampled_from(["lobby", "dm.a.b", "", "r" * 65, "l\u00f6bby", "x\x00y", "dm..", "dm.a"]) | text
payloads = json_values | st.fixed_dictionaries(
    {}, optional={"room": room_like | json_values, "text": text | json_values, "since_id": scalars,
                  "token": text | json_values})


def check_ack(ack: Any) -> None:
    """An ack is a contract success or a contract failure."""
    assert isinstance(ack, dict), ack
    if ack.get("ok") is True:
        return
    assert ack.get("ok") is False, ack
    assert ack["error"]["code"] in ACK_CODES, ack
    assert isinstance(ack["error"]["message"], str)


@pytest.fixture
def fuzz_socket(app, tokens):
    """One connected test client with generous rate limits, joined to `lobby`."""
    state = get_state(app)
    state.hub.event_rate = (1e6, 1e6)
    token = tokens.user()["access"]
    client = socketio.test_client(app, auth={"token": token})
    assert client.is_connected()
    assert client.emit("join", {"room": "lobby"}, callback=True)["ok"] is True
    yield client
    if client.is_connected():
        client.disconnect()
    with app.app_context():
        db.session.remove()


@settings(settings.get_profile("fuzz"))
@given(event=st.sampled_from(EVENTS), payload=payloads)
def test_fuzz_every_event_payload(fuzz_socket, event: str, payload: Any) -> None:
    check_ack(fuzz_socket.emit(event, payload, callback=True))
    assert fuzz_socket.is_connected()


@settings(settings.get_profile("fuzz"), max_examples=60)
@given(event=st.sampled_from(EVENTS) | text, args=st.lists(json_values, max_size=3))
def test_fuzz_event_arity_and_names(fuzz_socket, event: str, args: list) -> None:
    if event in ("connect", "disconnect"):  # reserved by Socket.IO, never sent as events
        event = "whoami"
    check_ack(fuzz_socket.emit(event, *args, callback=True))
    assert fuzz_socket.is_connected()

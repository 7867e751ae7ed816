"use client";
// Rooms, presence, direct messages and the message list, on the shared socket.
import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { dmRoom } from "flask-realtime-client";
import { useRealtime } from "./RealtimeProvider";

const ROOM_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const USERNAME_RE = /^[A-Za-z0-9_.-]{3,32}$/;
const DEFAULT_ROOM = "lobby";
const MESSAGE_LIMIT = 500;

const EMPTY_ROOM = { messages: [], members: [], lastId: null, unread: false };
const INITIAL = { rooms: { [DEFAULT_ROOM]: EMPTY_ROOM }, current: DEFAULT_ROOM };

function withMessages(room, list) {
  const seen = new Set(room.messages.map((m) => m.id));
  const added = list.filter((m) => m && !seen.has(m.id));
  if (!added.length) return room;
  const messages = [...room.messages, ...added].sort((a, b) => a.id - b.id).slice(-MESSAGE_LIMIT);
  return { ...room, messages, lastId: messages[messages.length - 1].id };
}

function reducer(state, action) {
  const room = state.rooms[action.room];
  switch (action.type) {
    case "open":
      return {
        current: action.room,
        rooms: { ...state.rooms, [action.room]: room ? { ...room, unread: false } : EMPTY_ROOM },
      };
    case "notice": {
      // Something arrived for a room that is not the open one (a DM someone started, a message):
      // listed, marked unread, not opened.
      if (action.room === state.current) return state;
      const base = room || EMPTY_ROOM;
      return { ...state, rooms: { ...state.rooms, [action.room]: { ...base, unread: true } } };
    }
    case "close": {
      const rooms = { ...state.rooms };
      delete rooms[action.room];
      const names = Object.keys(rooms);
      return { rooms, current: state.current === action.room ? names[0] || null : state.current };
    }
    case "messages":
      return room ? { ...state, rooms: { ...state.rooms, [action.room]: withMessages(room, action.messages) } } : state;
    case "members":
      return room ? { ...state, rooms: { ...state.rooms, [action.room]: { ...room, members: [...action.members].sort() } } } : state;
    default:
      return state;
  }
}

function ackText(ack) {
  const e = (ack && ack.error) || {};
  return `${e.code || "error"}${e.message ? `: ${e.message}` : ""}`;
}

export default function Chat({ username }) {
  const { status, stats, on, emitWithAck } = useRealtime();
  const [state, dispatch] = useReducer(reducer, INITIAL);
  const [error, setError] = useState("");
  const [text, setText] = useState("");
  const usable = status.state === "connected" || status.state === "refreshing";

  // The rooms to (re)join on every new connection (a new sid), read by the effect below.
  const roomsRef = useRef(state.rooms);
  useEffect(() => {
    roomsRef.current = state.rooms;
  }, [state.rooms]);

  const join = useCallback(
    async (room, since) => {
      let ack;
      try {
        ack = await emitWithAck("join", since ? { room, since_id: since } : { room });
      } catch (e) {
        return; // not connected: joined again on the next `session`
      }
      if (!ack || !ack.ok) {
        setError(`Cannot join ${room}: ${ackText(ack)}`);
        dispatch({ type: "close", room });
        return;
      }
      dispatch({ type: "messages", room, messages: ack.history || [] });
      dispatch({ type: "members", room, members: ack.members || [] });
    },
    [emitWithAck],
  );

  // Runs on mount when the socket is already up, and after every reconnect: join again,
  // asking only for the messages missed meanwhile.
  const sid = stats.sid;
  useEffect(() => {
    if (!sid) return;
    for (const [room, r] of Object.entries(roomsRef.current)) join(room, r.lastId);
  }, [sid, join]);
  const current = state.current;
  useEffect(
    () =>
      on("message", (m) => {
        if (!m) return;
        dispatch({ type: "messages", room: m.room, messages: [m] });
        if (m.room !== current && m.user !== username) dispatch({ type: "notice", room: m.room });
      }),
    [on, current, username],
  );
  // A DM someone else opened or wrote in: listed at once with an unread mark, and joined so its
  // messages (and history) arrive without the receiver doing anything.
  useEffect(
    () =>
      on("dm", (p) => {
        if (!p || !ROOM_RE.test(p.room || "")) return;
        const known = Boolean(roomsRef.current[p.room]);
        dispatch({ type: "notice", room: p.room });
        if (!known) join(p.room, null);
      }),
    [on, join],
  );
  useEffect(
    () => on("presence", (p) => p && Array.isArray(p.members) && dispatch({ type: "members", room: p.room, members: p.members })),
    [on],
  );

  function open(room) {
    setError("");
    if (!ROOM_RE.test(room)) {
      setError("Room names are 1-64 characters of A-Z a-z 0-9 _ . -");
      return;
    }
    const known = Boolean(state.rooms[room]);
    dispatch({ type: "open", room });
    if (!known && usable) join(room, null);
  }

  function onJoin(event) {
    event.preventDefault();
    const input = event.currentTarget.elements.room;
    const room = input.value.trim();
    input.value = "";
    if (room) open(room);
  }

  function onDm(event) {
    event.preventDefault();
    const input = event.currentTarget.elements.peer;
    const other = input.value.trim();
    if (!USERNAME_RE.test(other) || other === username) {
      setError(other === username ? "Pick someone else to talk to." : "Not a valid username.");
      return;
    }
    input.value = "";
    open(dmRoom(username, other));
  }

  async function leave(room) {
    dispatch({ type: "close", room });
    await emitWithAck("leave", { room }).catch(() => null);
  }

  async function send(event) {
    event.preventDefault();
    const room = state.current;
    if (!room || !text.trim()) return;
    let ack;
    try {
      ack = await emitWithAck("message", { room, text });
    } catch (e) {
      setError(`Not sent: ${e.code || e.message}`);
      return;
    }
    if (ack && ack.ok) {
      setText("");
      setError("");
    } else {
      setError(`Not sent: ${ackText(ack)}`);
    }
  }

  const shown = state.current ? state.rooms[state.current] : null;
  return (
    <div className="chat">
      <aside className="sidebar">
        <section className="panel">
          <h2>Rooms</h2>
          <form onSubmit={onJoin} className="inline">
            <input name="room" aria-label="Room name" placeholder="room name" maxLength={64} autoComplete="off" />
            <button type="submit">Join</button>
          </form>
          <form onSubmit={onDm} className="inline">
            <input name="peer" aria-label="Direct message to" placeholder="username for a DM" maxLength={32} autoComplete="off" />
            <button type="submit">DM</button>
          </form>
          <ul className="rooms" aria-label="Rooms">
            {Object.entries(state.rooms).map(([room, r]) => (
              <li
                key={room}
                className={[room === state.current ? "current" : "", r.unread ? "unread" : ""].join(" ").trim()}
                data-unread={r.unread ? "true" : undefined}
              >
                <button
                  type="button"
                  title={r.unread ? "new messages" : undefined}
                  onClick={() => dispatch({ type: "open", room })}
                >
                  {room}
                </button>
                <button type="button" className="leave" aria-label={`Leave ${room}`} onClick={() => leave(room)}>×</button>
              </li>
            ))}
          </ul>
        </section>
        <section className="panel">
          <h2>Here now</h2>
          <ul className="presence" aria-label="Here now">
            {(shown ? shown.members : []).map((m) => (
              <li key={m}>{m}</li>
            ))}
          </ul>
        </section>
      </aside>
      <section className="panel conversation">
        <h2>
          Room <span data-testid="current-room">{state.current || "-"}</span>
        </h2>
        <ol className="messages" aria-label="Messages" aria-live="polite">
          {(shown ? shown.messages : []).map((m) => (
            <li key={m.id}>
              <span className="who">{m.user}</span> <span className="text">{m.text}</span>
            </li>
          ))}
        </ol>
        <form onSubmit={send} className="composer">
          <input
            aria-label="Message"
            placeholder="Type a message, Enter sends"
            value={text}
            onChange={(e) => setText(e.target.value)}
            maxLength={2000}
            disabled={!usable}
            autoComplete="off"
          />
          <button type="submit" disabled={!usable}>Send</button>
        </form>
        <p role="alert" className="error">{error}</p>
      </section>
    </div>
  );
}

// Demo page logic. Uses the shared client module; every piece of server or user text is
// rendered with textContent (never innerHTML). Tokens live in memory only.
// The client package (clients/js), served by scripts/vendor.sh; the page's import map resolves
// both bare names to the vendored files.
import { createSocket, dmRoom, formatStatus } from "flask-realtime-client";

const USERNAME_RE = /^[A-Za-z0-9_.-]{3,32}$/;
const ROOM_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const DEFAULT_ROOM = "lobby";
const LOG_LIMIT = 300;
const MESSAGE_LIMIT = 500;

const $ = (id) => document.getElementById(id);
const el = {
  status: $("status"),
  ttl: $("token-ttl"),
  whoami: $("whoami"),
  logout: $("logout"),
  logoutAll: $("logout-all"),
  authPanel: $("auth-panel"),
  authForm: $("auth-form"),
  username: $("username"),
  password: $("password"),
  register: $("register"),
  login: $("login"),
  authError: $("auth-error"),
  chatPanel: $("chat-panel"),
  joinForm: $("join-form"),
  roomInput: $("room-input"),
  dmForm: $("dm-form"),
  dmInput: $("dm-input"),
  roomError: $("room-error"),
  join: $("join"),
  dm: $("dm"),
  rooms: $("rooms"),
  presence: $("presence"),
  currentRoom: $("current-room"),
  leave: $("leave"),
  messages: $("messages"),
  messageForm: $("message-form"),
  messageInput: $("message-input"),
  send: $("send"),
  chatError: $("chat-error"),
  log: $("log"),
};

// ---- state -------------------------------------------------------------------------
const state = {
  username: null,
  access: null,
  refresh: null,
  rt: null,
  current: null, // current room name
  rooms: new Map(), // name -> {messages: [], ids: Set, members: [], lastId, unread}
};

// For tests and debugging: every status the page went through, as displayed.
window.__demo = { statusHistory: [] };

// ---- helpers -----------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

async function api(path, { body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let resp;
  try {
    resp = await fetch(path, {
      method: "POST",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(0, "network_error", "the server cannot be reached");
  }
  let data = null;
  try {
    data = await resp.json();
  } catch (e) {
    data = null;
  }
  if (!resp.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(resp.status, err.code || `http_${resp.status}`, err.message || resp.statusText);
  }
  return data;
}

// The module's refreshToken(): REST refresh with the refresh token; keeps the new one.
async function refreshAccessToken() {
  if (!state.refresh) throw new ApiError(401, "auth_required", "not logged in");
  const data = await api("/api/auth/refresh", { body: {}, token: state.refresh });
  state.access = data.access_token;
  return state.access;
}

// Seconds since the epoch at which a JWT expires (its `exp`), or null.
function tokenExp(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part));
    return typeof claims.exp === "number" ? claims.exp : null;
  } catch (e) {
    return null;
  }
}

// A REST call with the access token, refreshed once if it has expired. A token about to expire
// is refreshed first: a request bound to fail would show as an error in the browser console.
async function authed(path, body) {
  const exp = state.access ? tokenExp(state.access) : null;
  if (state.refresh && exp !== null && exp - Date.now() / 1000 < 2) await refreshAccessToken();
  try {
    return await api(path, { body, token: state.access });
  } catch (e) {
    if (e.code !== "token_expired" || !state.refresh) throw e;
    await refreshAccessToken();
    return api(path, { body, token: state.access });
  }
}

function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function timeOf(ts) {
  let d;
  if (typeof ts === "number") d = new Date(ts < 1e12 ? ts * 1000 : ts);
  else if (typeof ts === "string") d = new Date(ts);
  else d = new Date();
  if (Number.isNaN(d.getTime())) d = new Date();
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function log(kind, text) {
  const li = make("li", `log-entry log-${kind.replace(/[^a-z_]/gi, "")}`);
  li.append(make("time", "log-time", timeOf()), make("span", "log-kind", kind), make("span", "log-text", text));
  el.log.append(li);
  while (el.log.childElementCount > LOG_LIMIT) el.log.firstElementChild.remove();
  el.log.scrollTop = el.log.scrollHeight;
}

function summarize(payload) {
  if (payload === undefined) return "";
  try {
    const s = JSON.stringify(payload);
    return s.length > 200 ? `${s.slice(0, 200)}…` : s;
  } catch (e) {
    return String(payload);
  }
}

function showError(node, text) {
  node.textContent = text || "";
}

// ---- rendering ---------------------------------------------------------------------
function roomState(name) {
  let r = state.rooms.get(name);
  if (!r) {
    r = { messages: [], ids: new Set(), members: [], lastId: null, unread: false };
    state.rooms.set(name, r);
  }
  return r;
}

function renderRooms() {
  el.rooms.replaceChildren();
  for (const name of state.rooms.keys()) {
    const li = make("li");
    const unread = name !== state.current && state.rooms.get(name).unread;
    const b = make("button", `room${name === state.current ? " active" : ""}${unread ? " unread" : ""}`, name);
    b.type = "button";
    b.dataset.room = name;
    if (name === state.current) b.setAttribute("aria-current", "true");
    if (unread) b.title = "new messages";
    b.addEventListener("click", () => switchRoom(name));
    li.append(b);
    el.rooms.append(li);
  }
  el.currentRoom.textContent = state.current || "(none)";
  el.leave.disabled = !state.current;
}

function messageNode(m) {
  const li = make("li", m.user === state.username ? "message mine" : "message");
  if (m.id !== undefined) li.dataset.id = String(m.id);
  li.append(
    make("time", "msg-time", timeOf(m.ts)),
    make("span", "msg-user", m.user),
    make("span", "msg-text", m.text),
  );
  return li;
}

function renderMessages() {
  el.messages.replaceChildren();
  if (!state.current) return;
  for (const m of roomState(state.current).messages) el.messages.append(messageNode(m));
  el.messages.scrollTop = el.messages.scrollHeight;
}

function renderPresence() {
  el.presence.replaceChildren();
  if (!state.current) return;
  for (const name of roomState(state.current).members) {
    const li = make("li", name === state.username ? "member me" : "member", name);
    el.presence.append(li);
  }
}

function addMessage(m) {
  if (!m || typeof m.room !== "string") return;
  const r = state.rooms.get(m.room);
  if (!r) return;
  if (m.id !== undefined && r.ids.has(m.id)) return;
  if (m.id !== undefined) r.ids.add(m.id);
  r.messages.push(m);
  if (r.messages.length > MESSAGE_LIMIT) r.messages.splice(0, r.messages.length - MESSAGE_LIMIT);
  if (typeof m.id === "number" && (r.lastId === null || m.id > r.lastId)) r.lastId = m.id;
  if (m.room !== state.current && !r.unread && m.user !== state.username) {
    r.unread = true;
    renderRooms();
  }
  if (m.room === state.current) {
    el.messages.append(messageNode(m));
    while (el.messages.childElementCount > MESSAGE_LIMIT) el.messages.firstElementChild.remove();
    el.messages.scrollTop = el.messages.scrollHeight;
  }
}

function setMembers(room, members) {
  if (!Array.isArray(members) || !state.rooms.has(room)) return;
  roomState(room).members = members.filter((m) => typeof m === "string").sort();
  if (room === state.current) renderPresence();
}

function switchRoom(name) {
  state.current = name;
  if (state.rooms.has(name)) state.rooms.get(name).unread = false;
  renderRooms();
  renderMessages();
  renderPresence();
  showError(el.chatError, "");
}

// ---- socket ------------------------------------------------------------------------
function ackError(ack) {
  const e = (ack && ack.error) || {};
  let text = e.code || "error";
  if (e.message) text += `: ${e.message}`;
  if (e.retry_after) text += ` (retry in ${e.retry_after}s)`;
  return text;
}

// Errors about a room the user typed show under the room inputs (phones stack the page).
async function joinRoom(name, { switchTo = true, dmWith = null } = {}) {
  if (!ROOM_RE.test(name)) {
    showError(el.roomError, "Room names are 1-64 characters of A-Z a-z 0-9 _ . -");
    return;
  }
  const known = state.rooms.has(name);
  const r = roomState(name);
  if (switchTo) switchRoom(name);
  if (!state.rt || !state.rt.connected) return; // joined on (re)connect
  const payload = r.lastId !== null ? { room: name, since_id: r.lastId } : { room: name };
  let ack;
  try {
    ack = await state.rt.emitWithAck("join", payload);
  } catch (e) {
    log("error", `join ${name}: ${e.code || e.message}`);
    return;
  }
  if (!ack || ack.ok !== true) {
    log("error", `join ${name}: ${ackError(ack)}`);
    // A dm the server refuses names a user who is not registered (spelled as registered).
    const unknown = dmWith && ack && ack.error && ["forbidden", "user_unknown"].includes(ack.error.code);
    showError(el.roomError, unknown ? `No user is called ${dmWith}.` : `Cannot join ${name}: ${ackError(ack)}`);
    if (!known || !r.messages.length) dropRoom(name);
    return;
  }
  log("join", `${name} (${(ack.history || []).length} messages)`);
  for (const m of ack.history || []) addMessage({ room: name, ...m });
  setMembers(name, ack.members);
}

function dropRoom(name) {
  state.rooms.delete(name);
  if (state.current === name) {
    const next = state.rooms.keys().next();
    state.current = next.done ? null : next.value;
  }
  renderRooms();
  renderMessages();
  renderPresence();
}

async function leaveRoom() {
  const name = state.current;
  if (!name) return;
  dropRoom(name);
  if (!state.rt || !state.rt.connected) return;
  try {
    const ack = await state.rt.emitWithAck("leave", { room: name });
    if (ack && ack.ok) log("leave", name);
    else log("error", `leave ${name}: ${ackError(ack)}`);
  } catch (e) {
    log("error", `leave ${name}: ${e.code || e.message}`);
  }
}

async function rejoinAll() {
  if (!state.rooms.size) roomState(DEFAULT_ROOM);
  if (!state.current) state.current = state.rooms.keys().next().value;
  renderRooms();
  for (const name of [...state.rooms.keys()]) {
    await joinRoom(name, { switchTo: false });
  }
}

let lastState = null;
function onStatus(s) {
  const text = formatStatus(s);
  // A routine in-place refresh shows as one "refreshed" log line, not two status lines.
  const routine =
    !s.code && (s.state === "refreshing" || (s.state === "connected" && lastState === "refreshing"));
  lastState = s.state;
  el.status.textContent = text;
  el.status.dataset.state = s.state;
  window.__demo.statusHistory.push(text);
  const extra = s.retryInMs !== undefined ? ` (retry in ${(s.retryInMs / 1000).toFixed(1)}s)` : "";
  if (!routine) log("status", text + (s.state !== "stopped" && s.code ? ` after ${s.code}` : "") + extra);
  const usable = s.state === "connected" || s.state === "refreshing";
  el.messageInput.disabled = !usable;
  el.send.disabled = !usable;
  if (s.state === "stopped" && s.code !== "closed") {
    // The server ended the session for good (revoked token, deleted user...): nothing on the
    // page works any more, so show only the login form, with the reason.
    endSession();
    showError(el.authError, `Session ended (${s.code}). Log in again.`);
  }
}

// Back to the login form: no socket, no tokens, no rooms, no chat or session buttons.
// The status line keeps saying why (set by the caller).
function endSession() {
  state.rt = null;
  state.username = null;
  state.access = null;
  state.refresh = null;
  state.rooms = new Map();
  state.current = null;
  el.whoami.textContent = "";
  el.logout.hidden = true;
  el.logoutAll.hidden = true;
  el.chatPanel.hidden = true;
  el.authPanel.hidden = false;
  for (const b of [el.logout, el.logoutAll, el.leave, el.join, el.dm]) b.disabled = true;
  showError(el.roomError, "");
  showError(el.chatError, "");
  renderRooms();
  renderMessages();
  renderPresence();
}

// The other user of a dm room wrote or opened it: list it (joined, so its messages arrive).
function onDm(p) {
  if (!p || typeof p.room !== "string" || !ROOM_RE.test(p.room)) return;
  if (state.rooms.has(p.room)) return;
  roomState(p.room).unread = true;
  renderRooms();
  joinRoom(p.room, { switchTo: false });
}

function onEvent(name, payload) {
  switch (name) {
    case "message":
      log("message", `${payload && payload.room} #${payload && payload.id} from ${payload && payload.user}`);
      break;
    case "presence":
      log("presence", `${payload && payload.room}: ${(payload && payload.members || []).join(", ")}`);
      break;
    case "session":
      log("session", `${payload && payload.user && payload.user.username}, sid ${payload && payload.sid}, expires ${timeOf(payload && payload.expires_at)}`);
      break;
    case "dm":
      log("dm", `${payload && payload.from} in ${payload && payload.room}`);
      break;
    case "refreshed":
      log("refreshed", `token swapped in place, expires ${timeOf(payload.expires_at)}`);
      break;
    default:
      log(name, summarize(payload));
  }
}

function connectSocket() {
  const rt = createSocket({
    getToken: () => state.access,
    refreshToken: refreshAccessToken,
    onStatus,
    onEvent,
    connectTimeoutMs: 10000,
  });
  state.rt = rt;
  rt.on("session", (s) => {
    el.whoami.textContent = s && s.user ? s.user.username : "";
    rejoinAll();
  });
  rt.on("message", addMessage);
  rt.on("presence", (p) => p && setMembers(p.room, p.members));
  rt.on("dm", onDm);
}

// Live countdown of the access token's remaining seconds.
setInterval(() => {
  const left = state.rt && state.rt.status.state !== "stopped" ? state.rt.secondsLeft : null;
  el.ttl.textContent = typeof left === "number" ? `${Math.max(0, Math.ceil(left))}s` : "-";
}, 250);

// ---- auth --------------------------------------------------------------------------
function readCredentials() {
  const username = el.username.value.trim();
  const password = el.password.value;
  if (!USERNAME_RE.test(username)) {
    showError(el.authError, "Usernames are 3-32 characters of A-Z a-z 0-9 _ . -");
    return null;
  }
  if (password.length < 8) {
    showError(el.authError, "Passwords have at least 8 characters.");
    return null;
  }
  return { username, password };
}

function setBusy(busy) {
  el.login.disabled = busy;
  el.register.disabled = busy;
}

async function login(creds) {
  const data = await api("/api/auth/login", { body: creds });
  if (state.rt) state.rt.close();
  state.username = creds.username;
  state.access = data.access_token;
  state.refresh = data.refresh_token;
  state.rooms = new Map();
  state.current = null;
  roomState(DEFAULT_ROOM);
  state.current = DEFAULT_ROOM;
  el.password.value = "";
  showError(el.authError, "");
  showError(el.roomError, "");
  showError(el.chatError, "");
  for (const b of [el.logout, el.logoutAll, el.join, el.dm]) b.disabled = false;
  el.authPanel.hidden = true;
  el.chatPanel.hidden = false;
  el.logout.hidden = false;
  el.logoutAll.hidden = false;
  el.whoami.textContent = creds.username;
  renderRooms();
  renderMessages();
  renderPresence();
  log("login", `${creds.username} (token expires in ${data.expires_in}s)`);
  connectSocket();
  el.messageInput.focus();
}

el.authForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const creds = readCredentials();
  if (!creds) return;
  setBusy(true);
  try {
    await login(creds);
  } catch (e) {
    showError(el.authError, e.code === "invalid_credentials" ? "Wrong username or password." : `Login failed: ${e.code}`);
  } finally {
    setBusy(false);
  }
});

el.register.addEventListener("click", async () => {
  const creds = readCredentials();
  if (!creds) return;
  setBusy(true);
  try {
    await api("/api/auth/register", { body: creds });
    log("register", creds.username);
    await login(creds);
  } catch (e) {
    showError(el.authError, e.code === "username_taken" ? "That username is taken." : `Registration failed: ${e.code}`);
  } finally {
    setBusy(false);
  }
});

async function logout(everywhere) {
  const rt = state.rt;
  if (!rt || !state.access) return; // the session has ended already
  state.rt = null;
  rt.close();
  try {
    const data = await authed("/api/auth/logout", everywhere ? { everywhere: true } : {});
    log("logout", `${everywhere ? "everywhere; " : ""}revoked ${(data.revoked || []).length} token(s)`);
  } catch (e) {
    log("error", `logout: ${e.code}`);
  }
  state.username = null;
  state.access = null;
  state.refresh = null;
  state.rooms = new Map();
  state.current = null;
  el.status.textContent = "logged out";
  el.status.dataset.state = "idle";
  el.whoami.textContent = "";
  el.logout.hidden = true;
  el.logoutAll.hidden = true;
  el.chatPanel.hidden = true;
  el.authPanel.hidden = false;
  showError(el.authError, "");
  showError(el.roomError, "");
  showError(el.chatError, "");
  el.username.focus();
}

el.logout.addEventListener("click", () => logout(false));
el.logoutAll.addEventListener("click", () => logout(true));

// ---- chat --------------------------------------------------------------------------
el.joinForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const name = el.roomInput.value.trim();
  if (!name) return;
  showError(el.roomError, "");
  if (!ROOM_RE.test(name)) {
    joinRoom(name); // shows why; the input keeps the name to fix
    return;
  }
  el.roomInput.value = "";
  joinRoom(name);
});

el.dmForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const other = el.dmInput.value.trim();
  showError(el.roomError, "");
  if (!USERNAME_RE.test(other)) {
    showError(el.roomError, "Not a valid username.");
    return;
  }
  if (other === state.username) {
    showError(el.roomError, "Pick someone else to talk to.");
    return;
  }
  el.dmInput.value = "";
  joinRoom(dmRoom(state.username, other), { dmWith: other });
});

el.leave.addEventListener("click", () => leaveRoom());

el.messageForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = el.messageInput.value;
  const room = state.current;
  if (!text.trim() || !room || !state.rt) return;
  if (text.length > 2000) {
    showError(el.chatError, "Messages are at most 2000 characters.");
    return;
  }
  let ack;
  try {
    ack = await state.rt.emitWithAck("message", { room, text });
  } catch (e) {
    showError(el.chatError, `Not sent: ${e.code || e.message}`);
    return;
  }
  if (ack && ack.ok) {
    if (el.messageInput.value === text) el.messageInput.value = "";
    showError(el.chatError, "");
  } else {
    showError(el.chatError, `Not sent: ${ackError(ack)}`);
    log("error", `message: ${ackError(ack)}`);
  }
});

renderRooms();
el.messageInput.disabled = true;
el.send.disabled = true;

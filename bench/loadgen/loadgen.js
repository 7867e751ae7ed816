'use strict';
// Load generator for the Socket.IO benchmark.
//
// Speaks Engine.IO v4 / Socket.IO v5 text frames over raw WebSockets (the `ws`
// package, no socket.io-client) so that one core can drive far more traffic
// than any server under test can take. Usage:
//
//   node loadgen.js CONFIG.json
//
// CONFIG: {host, port, mode, tokens: [...], ...mode options}. Progress lines on
// stdout start with "#"; "#MARK start <epoch_ms>" / "#MARK end <epoch_ms>" bound
// the measurement window (the orchestrator samples the server's CPU there); the
// last line is "RESULT <json>". Every loop is bounded in count and in time.

const fs = require('fs');
const net = require('net');
const { EventEmitter } = require('events');
const WebSocket = require('ws');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const now = () => performance.now();
const HOST = cfg.host || '127.0.0.1';
const PATH = '/socket.io/?EIO=4&transport=websocket';
const URL_ = `ws://${HOST}:${cfg.port}${PATH}`;
const USE_WS = cfg.transport === 'ws' || !!cfg.deflate;
const HARD_TIMEOUT_MS = (cfg.timeout_s || 300) * 1000;

let tokIdx = 0;
function nextToken() {
  const t = cfg.tokens[tokIdx % cfg.tokens.length];
  tokIdx += 1;
  return t;
}
let addrIdx = 0;
function localAddr() {
  // Spread client sockets over a few loopback source addresses so that
  // connect storms never run out of ephemeral ports.
  addrIdx += 1;
  return `127.0.0.${1 + (addrIdx % (cfg.local_addrs || 4))}`;
}

function log(...a) { process.stdout.write('# ' + a.join(' ') + '\n'); }
function mark(name) { process.stdout.write(`#MARK ${name} ${Date.now()}\n`); }

function cpuStart() { return { cpu: process.cpuUsage(), t: now() }; }
function cpuPct(s, part) {
  const d = process.cpuUsage(s.cpu);
  const wall = now() - s.t;
  const us = part === 'user' ? d.user : part === 'system' ? d.system : d.user + d.system;
  return wall > 0 ? (us / 1000) / wall * 100 : 0;
}

function pct(sorted, p) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1));
  return sorted[i];
}
function summary(samples) {
  const s = Float64Array.from(samples).sort();
  return {
    n: s.length,
    p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99),
    max: s.length ? s[s.length - 1] : null,
  };
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Minimal WebSocket client on a bare TCP socket: a fixed upgrade request, no
// HTTP parser, no extensions, client frames masked with an all-zero key (legal
// framing, no XOR work). Several times cheaper per connect than `ws`, which is
// what lets one core drive connect storms (set "transport": "ws" to compare;
// "deflate": true needs it).
const READ_BUF = Buffer.allocUnsafe(256 * 1024);

class RawWS extends EventEmitter {
  constructor(host, port, path, localAddress) {
    super();
    this.readyState = 0;
    this.buf = null;
    this.frag = null;
    // onread with one shared buffer: no Buffer allocated per read (every frame
    // is parsed synchronously; a partial frame is copied out before returning).
    const sock = net.connect({
      host, port, localAddress,
      onread: { buffer: READ_BUF, callback: (n, buf) => { this.onData(buf.subarray(0, n)); } },
    });
    this.sock = sock;
    sock.setNoDelay(true);
    sock.on('connect', () => sock.write(
      `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'));
    sock.on('error', (e) => this.emit('error', e));
    sock.on('close', () => { this.readyState = 3; this.emit('close'); });
  }

  onData(d) {
    const buf = this.buf ? Buffer.concat([this.buf, d]) : d;
    let off = 0;
    if (this.readyState === 0) {
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) { this.buf = Buffer.from(buf); return; }
      if (buf.toString('latin1', 9, 12) !== '101') {
        this.emit('error', new Error('handshake: ' + buf.toString('latin1', 0, Math.min(i, 120))));
        this.sock.destroy();
        return;
      }
      this.readyState = 1;
      off = i + 4;
    }
    while (buf.length - off >= 2) {
      const b0 = buf[off]; const b1 = buf[off + 1];
      let len = b1 & 0x7f; let hdr = 2;
      if (len === 126) {
        if (buf.length - off < 4) break;
        len = buf.readUInt16BE(off + 2); hdr = 4;
      } else if (len === 127) {
        if (buf.length - off < 10) break;
        len = Number(buf.readBigUInt64BE(off + 2)); hdr = 10;
      }
      let mask = null;
      if (b1 & 0x80) { mask = hdr; hdr += 4; }
      if (buf.length - off < hdr + len) break;
      let payload = buf.subarray(off + hdr, off + hdr + len);
      if (mask !== null) {
        payload = Buffer.from(payload);
        for (let k = 0; k < len; k++) payload[k] ^= buf[off + mask + (k & 3)];
      }
      off += hdr + len;
      const opcode = b0 & 0x0f; const fin = b0 & 0x80;
      if (opcode <= 2) {
        if (!fin) { (this.frag || (this.frag = [])).push(Buffer.from(payload)); continue; }
        if (this.frag) { this.frag.push(payload); payload = Buffer.concat(this.frag); this.frag = null; }
        if (this.onmessage) this.onmessage(payload); else this.emit('message', payload);
      } else if (opcode === 8) {
        if (this.readyState === 1) this.sock.write(Buffer.from([0x88, 0x80, 0, 0, 0, 0]));
        this.readyState = 2;
        this.sock.end();
      } else if (opcode === 9) {
        this.frame(0x8a, payload);
      }
    }
    this.buf = off < buf.length ? Buffer.from(buf.subarray(off)) : null;
  }

  frame(op, p) {
    const len = p.length;
    let h;
    if (len < 126) {
      h = Buffer.allocUnsafe(6); h[0] = op; h[1] = 0x80 | len; h.writeUInt32BE(0, 2);
    } else if (len < 65536) {
      h = Buffer.allocUnsafe(8); h[0] = op; h[1] = 0x80 | 126; h.writeUInt16BE(len, 2); h.writeUInt32BE(0, 4);
    } else {
      h = Buffer.allocUnsafe(14); h[0] = op; h[1] = 0x80 | 127; h.writeBigUInt64BE(BigInt(len), 2); h.writeUInt32BE(0, 10);
    }
    this.sock.write(Buffer.concat([h, p]));
  }

  send(str) { this.frame(0x81, Buffer.from(str)); }

  close() {
    if (this.readyState === 1) { this.sock.write(Buffer.from([0x88, 0x80, 0, 0, 0, 0])); this.readyState = 2; }
    this.sock.end();
  }

  terminate() { this.sock.destroy(); }
}

class Client {
  // One Socket.IO connection on namespace "/". Callbacks: onConnect(c, ms),
  // onFail(c, reason), onEvent(c, frame), onDrop(c).
  constructor(cb, port) {
    this.cb = cb;
    const p = port || cfg.port;
    this.ackId = 0;
    this.acks = new Map();
    this.connected = false;
    this.done = false; // connect settled (ok or failed)
    this.t0 = now();
    const ws = USE_WS ? new WebSocket(`ws://${HOST}:${p}${PATH}`, {
      perMessageDeflate: !!cfg.deflate,
      localAddress: localAddr(),
      handshakeTimeout: 30000,
    }) : new RawWS(HOST, p, PATH, localAddr());
    this.ws = ws;
    this.timer = setTimeout(() => this.fail('connect_timeout'), (cfg.connect_timeout_s || 30) * 1000);
    if (USE_WS) ws.on('message', (data) => this.onMessage(data.toString()));
    else ws.onmessage = (buf) => this.onBuf(buf);
    ws.on('error', (e) => this.fail('ws_error:' + (e.code || e.message)));
    ws.on('close', () => {
      this.closed = true;
      if (!this.done) this.fail('closed_before_connect');
      else if (this.connected && !this.closing && this.cb.onDrop) this.cb.onDrop(this);
    });
  }

  onBuf(buf) {
    // Fast path: broadcast events are parsed from the bytes, never decoded.
    if (buf[0] === 52 && buf[1] === 50 && this.cb.onEventBuf) this.cb.onEventBuf(this, buf);
    else this.onMessage(buf.toString());
  }

  fail(reason) {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    try { this.ws.terminate(); } catch (e) { /* ignore */ }
    if (this.cb.onFail) this.cb.onFail(this, reason);
  }

  send(s) {
    if (this.ws.readyState === 1) this.ws.send(s);
  }

  onMessage(s) {
    const c = s.charCodeAt(0);
    if (c === 52) { // '4' Engine.IO message -> Socket.IO packet
      const t = s.charCodeAt(1);
      if (t === 50) { // '2' EVENT
        if (this.cb.onEvent) this.cb.onEvent(this, s);
      } else if (t === 51) { // '3' ACK: 43<id>[...]
        let i = 2; let id = 0;
        while (i < s.length) {
          const d = s.charCodeAt(i);
          if (d < 48 || d > 57) break;
          id = id * 10 + (d - 48); i += 1;
        }
        const f = this.acks.get(id);
        if (f) { this.acks.delete(id); f(s, i); }
      } else if (t === 48) { // '0' CONNECT ok
        if (this.done) return;
        this.done = true;
        clearTimeout(this.timer);
        this.connected = true;
        if (this.cb.onConnect) this.cb.onConnect(this, now() - this.t0);
      } else if (t === 52) { // '4' CONNECT_ERROR
        let msg = s.slice(2);
        try { msg = JSON.parse(msg).message; } catch (e) { /* keep raw */ }
        this.fail('refused:' + msg);
      }
    } else if (c === 50) { // '2' ping
      this.send('3');
    } else if (c === 48) { // '0' open -> namespace CONNECT with the token
      this.send('40' + JSON.stringify({ token: nextToken() }));
    }
  }

  emit(argsJson, onAck) {
    // argsJson: the JSON array text, e.g. '["echo",{"x":1}]'
    this.ackId += 1;
    this.acks.set(this.ackId, onAck);
    this.send('42' + this.ackId + argsJson);
  }

  close() {
    this.closing = true;
    try { this.ws.close(); } catch (e) { /* ignore */ }
    setTimeout(() => { try { this.ws.terminate(); } catch (e) { /* ignore */ } }, 2000).unref();
  }
}

function connectOne(extra = {}) {
  return new Promise((resolve) => {
    const c = new Client({
      onConnect: (cl, ms) => resolve({ ok: true, c: cl, ms }),
      onFail: (cl, reason) => resolve({ ok: false, c: cl, reason }),
      ...extra,
    });
  });
}

// Open n sockets, at most `concurrency` handshakes in flight; keep them open.
async function connectMany(n, concurrency, extra = {}, deadlineMs = 120000) {
  const clients = [];
  const errors = {};
  const times = [];
  let next = 0;
  const t0 = now();
  async function worker() {
    while (next < n && now() - t0 < deadlineMs) {
      next += 1;
      const r = await connectOne(extra);
      if (r.ok) { clients.push(r.c); times.push(r.ms); } else errors[r.reason] = (errors[r.reason] || 0) + 1;
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return { clients, errors, times, seconds: (now() - t0) / 1000 };
}

function addErr(errors, reason) { errors[reason] = (errors[reason] || 0) + 1; }

// ---------------------------------------------------------------- modes

async function modeConnect() {
  // Authenticated connect storm. Closed loop (concurrency workers, each
  // connect -> namespace ack -> close -> next) unless cfg.rate is given, then
  // open loop at a fixed rate (used to prove the generator).
  const warm = (cfg.warmup_s ?? 1) * 1000;
  const dur = (cfg.duration_s ?? 5) * 1000;
  const maxCount = cfg.max_count || 1e9;
  const times = [];
  const errors = {};
  let measuring = false;
  let count = 0; let started = 0;
  const tStart = now();
  let cpu = null; let tMeasure = 0;
  const stopAt = tStart + warm + dur;
  // By default every connected socket stays open until the window ends (a
  // reconnect storm: clients come back and stay); close_each: true closes
  // each socket as soon as its namespace CONNECT is acknowledged (churn).
  const held = [];
  const one = () => connectOne().then((r) => {
    if (r.ok) {
      if (measuring) { times.push(r.ms); count += 1; }
      if (cfg.close_each) r.c.close(); else held.push(r.c);
    } else if (measuring) addErr(errors, r.reason);
  });
  setTimeout(() => { measuring = true; mark('start'); cpu = cpuStart(); tMeasure = now(); }, warm);
  if (cfg.rate) {
    const interval = 1000 / cfg.rate;
    const inflight = new Set();
    let sent = 0;
    while (now() < stopAt && started < maxCount) {
      const due = Math.floor((now() - tStart) / interval);
      while (sent < due && inflight.size < (cfg.max_inflight || 5000)) {
        sent += 1; started += 1;
        const p = one(); inflight.add(p); p.then(() => inflight.delete(p));
      }
      await sleep(1);
    }
  } else {
    const conc = cfg.concurrency || 50;
    async function worker() {
      while (now() < stopAt && started < maxCount) { started += 1; await one(); }
    }
    await Promise.all(Array.from({ length: conc }, worker));
  }
  const measuredS = (now() - tMeasure) / 1000;
  const genCpu = cpu ? cpuPct(cpu) : null;
  const genUser = cpu ? cpuPct(cpu, 'user') : null;
  mark('end');
  for (const c of held) c.close();
  await sleep(Math.min(5000, 200 + held.length * 0.5));
  return {
    gen_cpu_user: genUser, close_each: !!cfg.close_each,
    connects: count, seconds: measuredS, rate: count / measuredS,
    connect_ms: summary(times), errors, gen_cpu: genCpu,
    offered_rate: cfg.rate || null,
  };
}

async function modeEcho() {
  // N clients, each sending one acked event per 1/rate_per_client seconds,
  // open loop (sent on schedule whatever is outstanding); latency measured
  // from the scheduled send time, so a stall is not hidden.
  const n = cfg.clients;
  const { clients, errors, seconds } = await connectMany(n, cfg.connect_concurrency || 100);
  log(`connected ${clients.length}/${n} in ${seconds.toFixed(1)}s`);
  if (!clients.length) return { error: 'no client connected', errors };
  const period = 1000 / (cfg.rate_per_client || 1);
  const warm = (cfg.warmup_s ?? 2) * 1000;
  const dur = (cfg.duration_s ?? 8) * 1000;
  const args = JSON.stringify(cfg.event_args || ['echo', { p: 'x'.repeat(cfg.payload_bytes || 32) }]);
  const lat = [];
  let sent = 0; let acked = 0; let sentMeasured = 0; let ackedMeasured = 0;
  let dropped = 0;
  for (const c of clients) c.cb.onDrop = () => { dropped += 1; };
  const t0 = now();
  const mStart = t0 + warm; const mEnd = mStart + dur;
  // per-client phase spread evenly over one period
  const nextDue = new Float64Array(clients.length);
  for (let i = 0; i < clients.length; i++) nextDue[i] = t0 + (i / clients.length) * period;
  let cpu = null; let marked = false;
  while (true) {
    const t = now();
    if (!marked && t >= mStart) { marked = true; mark('start'); cpu = cpuStart(); }
    if (t >= mEnd) break;
    for (let i = 0; i < clients.length; i++) {
      while (nextDue[i] <= t) {
        const due = nextDue[i];
        nextDue[i] += period;
        const inWin = due >= mStart && due < mEnd;
        sent += 1; if (inWin) sentMeasured += 1;
        clients[i].emit(args, () => {
          acked += 1;
          if (inWin) { ackedMeasured += 1; lat.push(now() - due); }
        });
      }
    }
    await sleep(1);
  }
  const genCpu = cpuPct(cpu);
  mark('end');
  const drainEnd = now() + 5000;
  while (acked < sent && now() < drainEnd) await sleep(10);
  for (const c of clients) c.close();
  return {
    clients: clients.length, connect_errors: errors, rate_per_client: cfg.rate_per_client || 1,
    offered_rate: clients.length * 1000 / period,
    achieved_rate: ackedMeasured / (dur / 1000),
    sent: sentMeasured, acked: ackedMeasured, lost: sentMeasured - ackedMeasured, dropped,
    latency_ms: summary(lat), gen_cpu: genCpu,
  };
}

// The measured window of a closed-loop mode: warm up, then `dur` ms between the #MARK lines while
// `setMeasuring(true)`; returns the window's length in seconds and the generator's CPU in it.
async function closedLoopWindow(warm, dur, setMeasuring) {
  await sleep(warm);
  setMeasuring(true); mark('start');
  const cpu = cpuStart(); const t0 = now();
  await sleep(dur);
  setMeasuring(false);
  const secs = (now() - t0) / 1000;
  const genCpu = cpuPct(cpu);
  mark('end');
  return { secs, genCpu };
}

async function modeSaturate() {
  // Closed loop: N clients, each keeping `window` acked events in flight.
  const n = cfg.clients || 50;
  const win = cfg.window || 4;
  const { clients, errors } = await connectMany(n, cfg.connect_concurrency || 100);
  if (!clients.length) return { error: 'no client connected', errors };
  const warm = (cfg.warmup_s ?? 1) * 1000;
  const dur = (cfg.duration_s ?? 5) * 1000;
  const args = JSON.stringify(cfg.event_args || ['echo', { p: 'x'.repeat(cfg.payload_bytes || 32) }]);
  const lat = [];
  let measuring = false; let stop = false; let count = 0;
  function fire(c) {
    if (stop) return;
    const t = now();
    c.emit(args, () => {
      if (measuring) { count += 1; lat.push(now() - t); }
      fire(c);
    });
  }
  for (const c of clients) for (let k = 0; k < win; k++) fire(c);
  const { secs, genCpu } = await closedLoopWindow(warm, dur, (on) => { measuring = on; });
  stop = true;
  await sleep(200);
  for (const c of clients) c.close();
  return {
    clients: clients.length, window: win, connect_errors: errors,
    rate: count / secs, latency_ms: summary(lat), gen_cpu: genCpu,
  };
}

async function modeBroadcast() {
  // `members` sockets join room R; one extra sender socket sends `message` at
  // fixed rates (open loop), each text carrying its step and send time; every
  // member's delivery time is measured on receipt.
  const n = cfg.members || 1000;
  const room = cfg.room || 'bench';
  const steps = cfg.rates || [5, 15];
  const stepMs = (cfg.step_s ?? 4) * 1000;
  const perStep = steps.map(() => ({ lat: [], delivered: 0, first: 0, last: 0 }));
  let dropped = 0;
  const onEvent = (c, s) => {
    // 42["message",{...,"text":"B<step>:<ms>",...}] (a string, or the frame's bytes)
    const i = s.indexOf('"text":"B');
    if (i < 0) return;
    const j = s.indexOf(':', i + 9);
    const k = s.indexOf('"', j);
    const step = typeof s === 'string' ? +s.slice(i + 9, j) : +s.toString('latin1', i + 9, j);
    const t = typeof s === 'string' ? +s.slice(j + 1, k) : +s.toString('latin1', j + 1, k);
    const st = perStep[step];
    if (!st) return;
    const tn = now();
    st.delivered += 1; st.last = tn;
    st.lat.push(tn - t);
  };
  const { clients, errors, seconds } = await connectMany(n + 1, cfg.connect_concurrency || 100,
    { onEvent, onEventBuf: onEvent });
  log(`connected ${clients.length}/${n + 1} in ${seconds.toFixed(1)}s`);
  if (clients.length < 2) return { error: 'not enough clients', errors };
  const sender = clients.pop();
  sender.cb.onEvent = null;
  sender.cb.onEventBuf = null;
  for (const c of clients) c.cb.onDrop = () => { dropped += 1; };
  // join (bounded concurrency)
  const joinArgs = JSON.stringify(['join', { room }]);
  let joined = 0; let joinFail = 0;
  const joinOne = (c) => new Promise((res) => {
    const to = setTimeout(() => { joinFail += 1; res(); }, 30000);
    c.emit(joinArgs, (s) => { clearTimeout(to); if (s.indexOf('"ok":true') >= 0 || s.indexOf('"ok": true') >= 0) joined += 1; else joinFail += 1; res(); });
  });
  for (let i = 0; i < clients.length; i += 100) await Promise.all(clients.slice(i, i + 100).map(joinOne));
  await joinOne(sender);
  log(`joined ${joined} (failed ${joinFail})`);
  const members = joined - 1; // the sender is a member too but is not counted
  await sleep(500);
  const results = [];
  let cpuAll = null;
  mark('start');
  for (let si = 0; si < steps.length; si++) {
    const rate = steps[si];
    const st = perStep[si];
    const interval = 1000 / rate;
    const t0 = now(); st.first = t0;
    const cpu = cpuStart();
    if (!cpuAll) cpuAll = cpu;
    let sent = 0; let acked = 0;
    while (now() - t0 < stepMs) {
      const due = Math.floor((now() - t0) / interval) + 1;
      while (sent < due) {
        sent += 1;
        const txt = `B${si}:${now().toFixed(3)}`;
        sender.emit(JSON.stringify(['message', { room, text: txt }]), () => { acked += 1; });
      }
      await sleep(1);
    }
    const expected = sent * members;
    const drainEnd = now() + (cfg.drain_s ?? 5) * 1000;
    while (st.delivered < expected && now() < drainEnd) await sleep(5);
    const genCpu = cpuPct(cpu);
    const span = ((st.last || now()) - st.first) / 1000;
    results.push({
      rate_msgs: rate, offered_deliveries: rate * members, sent, acked, expected,
      delivered: st.delivered, missing: expected - st.delivered,
      deliveries_per_s: st.delivered / Math.max(span, stepMs / 1000),
      delivery_ms: summary(st.lat), gen_cpu: genCpu,
    });
    st.lat = [];
    log(`step ${si} rate ${rate} msg/s -> ${results[si].deliveries_per_s.toFixed(0)} deliveries/s p99 ${results[si].delivery_ms.p99}`);
    await sleep(300);
  }
  mark('end');
  for (const c of clients) c.close();
  sender.close();
  return { members, join_failed: joinFail, connect_errors: errors, dropped, steps: results };
}

async function modeIdle() {
  // Open N authenticated sockets and hold them (answering pings); print
  // "#READY" and wait for a line on stdin (or hold_s) before closing.
  const n = cfg.clients || 1000;
  let dropped = 0;
  const { clients, errors, times, seconds } = await connectMany(n, cfg.connect_concurrency || 100,
    { onDrop: () => { dropped += 1; } }, (cfg.connect_deadline_s || 120) * 1000);
  log(`connected ${clients.length}/${n} in ${seconds.toFixed(1)}s`);
  process.stdout.write(`#READY ${clients.length}\n`);
  await new Promise((res) => {
    const to = setTimeout(res, (cfg.hold_s || 30) * 1000);
    process.stdin.once('data', () => { clearTimeout(to); res(); });
  });
  const stillOpen = clients.filter((c) => !c.closed).length;
  for (const c of clients) c.close();
  return {
    requested: n, connected: clients.length, still_open: stillOpen, dropped, errors,
    connect_seconds: seconds, connect_ms: summary(times),
  };
}

async function modeChat() {
  // Chat rooms: `clients` sockets in rooms of `room_size`; each sends its next `message` to its
  // own room as soon as the last one is acked (closed loop), or `gap_ms` after it (a lone,
  // lightly loaded sender). Measures acked messages/s, ack latency from the send, and the
  // broadcasts received by the room members.
  const n = cfg.clients || 60;
  const size = cfg.room_size || 3;
  const prefix = cfg.room_prefix || 'chat';
  const gap = cfg.gap_ms || 0;
  let delivered = 0; let measuring = false; let deliveredM = 0; let dropped = 0;
  const onEvent = () => { delivered += 1; if (measuring) deliveredM += 1; };
  const { clients, errors, seconds } = await connectMany(n, cfg.connect_concurrency || 50,
    { onEvent, onEventBuf: onEvent, onDrop: () => { dropped += 1; } });
  log(`connected ${clients.length}/${n} in ${seconds.toFixed(1)}s`);
  if (!clients.length) return { error: 'no client connected', errors };
  let joinFail = 0;
  await Promise.all(clients.map((c, i) => new Promise((res) => {
    c.room = `${prefix}${Math.floor(i / size)}`;
    const to = setTimeout(() => { joinFail += 1; res(); }, 30000);
    c.emit(JSON.stringify(['join', { room: c.room }]), (s) => {
      clearTimeout(to);
      if (s.indexOf('"ok":true') < 0 && s.indexOf('"ok": true') < 0) joinFail += 1;
      res();
    });
  })));
  const warm = (cfg.warmup_s ?? 2) * 1000;
  const dur = (cfg.duration_s ?? 10) * 1000;
  const lat = [];
  let stop = false; let count = 0; let failed = 0; let seq = 0;
  function fire(c) {
    if (stop) return;
    seq += 1;
    const t = now();
    c.emit(JSON.stringify(['message', { room: c.room, text: `m${seq}` }]), (s) => {
      const ok = s.indexOf('"ok":true') >= 0 || s.indexOf('"ok": true') >= 0;
      if (measuring) { if (ok) { count += 1; lat.push(now() - t); } else failed += 1; }
      if (gap) setTimeout(() => fire(c), gap); else fire(c);
    });
  }
  for (const c of clients) fire(c);
  const { secs, genCpu } = await closedLoopWindow(warm, dur, (on) => { measuring = on; });
  stop = true;
  await sleep(300);
  for (const c of clients) c.close();
  return {
    clients: clients.length, room_size: size, gap_ms: gap, join_failed: joinFail, connect_errors: errors,
    dropped, rate: count / secs, failed, deliveries_per_s: deliveredM / secs,
    latency_ms: summary(lat), gen_cpu: genCpu,
  };
}

async function modeRooms() {
  // Rooms spread over several server processes: `rooms` rooms, room r on server r % ports.length,
  // each with sizes[r % sizes.length] members (one of them the sender). Every room's sender sends
  // `message` at rate_total / rooms per second (open loop, phases spread); each text carries its
  // send time, so every member's delivery latency is measured on receipt.
  const ports = cfg.ports;
  const nRooms = cfg.rooms || 400;
  const sizes = cfg.sizes || [2, 3, 4, 5];
  const prefix = cfg.room_prefix || 'sc';
  const lat = []; let delivered = 0; let measuring = false; let dropped = 0;
  const onEvent = (c, s) => {
    const i = s.indexOf('"text":"T');
    if (i < 0) return;
    const k = s.indexOf('"', i + 9);
    const t = typeof s === 'string' ? +s.slice(i + 9, k) : +s.toString('latin1', i + 9, k);
    if (measuring && t >= 0) { delivered += 1; lat.push(now() - t); }
  };
  const members = [];
  for (let r = 0; r < nRooms; r++) for (let m = 0; m < sizes[r % sizes.length]; m++) members.push(r);
  const clients = []; const errors = {};
  let next = 0;
  async function worker() {
    while (next < members.length) {
      const idx = next; next += 1;
      const r = members[idx];
      const c = await new Promise((resolve) => {
        const cl = new Client({
          onConnect: (x) => resolve(x), onFail: (x, reason) => { addErr(errors, reason); resolve(null); },
          onEvent, onEventBuf: onEvent, onDrop: () => { dropped += 1; },
        }, ports[r % ports.length]);
      });
      if (c) { c.room = `${prefix}${r}`; c.roomIdx = r; clients.push(c); }
    }
  }
  await Promise.all(Array.from({ length: cfg.connect_concurrency || 50 }, worker));
  log(`connected ${clients.length}/${members.length}`);
  // One idle socket on each bystander process (a manager subscribes once it serves a socket).
  const idle = [];
  for (const port of cfg.idle_ports || []) {
    idle.push(await new Promise((resolve) => {
      const cl = new Client({ onConnect: (x) => resolve(x), onFail: (x, reason) => { addErr(errors, reason); resolve(null); } }, port);
    }));
  }
  let joinFail = 0;
  for (let i = 0; i < clients.length; i += 200) {
    await Promise.all(clients.slice(i, i + 200).map((c) => new Promise((res) => {
      c.emit(JSON.stringify(['join', { room: c.room }]), (s) => { if (s.indexOf('"ok":true') < 0) joinFail += 1; res(); });
    })));
  }
  const senders = new Map();
  for (const c of clients) if (!senders.has(c.roomIdx)) senders.set(c.roomIdx, c);
  const roomSize = new Map();
  for (const c of clients) roomSize.set(c.roomIdx, (roomSize.get(c.roomIdx) || 0) + 1);
  const perRoom = (cfg.rate_total || 2000) / nRooms; const period = 1000 / perRoom;
  const warm = (cfg.warmup_s ?? 2) * 1000; const dur = (cfg.duration_s ?? 10) * 1000;
  const list = [...senders.values()];
  const t0 = now(); const due = new Float64Array(list.length);
  for (let i = 0; i < list.length; i++) due[i] = t0 + (i / list.length) * period;
  let sent = 0; let expected = 0; let cpu = null; let marked = false; let acked = 0;
  const mStart = t0 + warm; const mEnd = mStart + dur;
  while (true) {
    const t = now();
    if (!marked && t >= mStart) { marked = true; measuring = true; mark('start'); cpu = cpuStart(); }
    if (t >= mEnd) break;
    for (let i = 0; i < list.length; i++) {
      while (due[i] <= t) {
        const inWin = due[i] >= mStart && due[i] < mEnd;
        const stamp = inWin ? now().toFixed(3) : '-1';
        due[i] += period;
        const c = list[i];
        if (inWin) { sent += 1; expected += roomSize.get(c.roomIdx); }
        c.emit(JSON.stringify(['message', { room: c.room, text: `T${stamp}` }]), () => { acked += 1; });
      }
    }
    await sleep(1);
  }
  const genCpu = cpuPct(cpu);
  mark('end');
  const drainEnd = now() + 3000;
  while (delivered < expected && now() < drainEnd) await sleep(10);
  measuring = false;
  for (const c of clients) c.close();
  for (const c of idle) if (c) c.close();
  return {
    sockets: clients.length, rooms: nRooms, join_failed: joinFail, connect_errors: errors, dropped,
    sent, acked, expected, delivered, missing: expected - delivered, seconds: dur / 1000,
    deliveries_per_s: delivered / (dur / 1000), delivery_ms: summary(lat), gen_cpu: genCpu,
  };
}

const MODES = { connect: modeConnect, echo: modeEcho, saturate: modeSaturate, broadcast: modeBroadcast, idle: modeIdle, chat: modeChat, rooms: modeRooms };

async function main() {
  const fn = MODES[cfg.mode];
  if (!fn) throw new Error('unknown mode ' + cfg.mode);
  const hard = setTimeout(() => {
    process.stdout.write('RESULT ' + JSON.stringify({ error: 'hard timeout' }) + '\n', () => process.exit(2));
  }, HARD_TIMEOUT_MS);
  const t = cpuStart();
  const res = await fn();
  res.mode = cfg.mode;
  res.gen_cpu_total = cpuPct(t);
  clearTimeout(hard);
  await sleep(300);
  process.stdout.write('RESULT ' + JSON.stringify(res) + '\n', () => process.exit(0));
}

main().catch((e) => {
  process.stdout.write('RESULT ' + JSON.stringify({ error: String(e && e.stack || e) }) + '\n', () => process.exit(1));
});

'use strict';
// Peer (b), the reference peer: socket.io 4.8 with jsonwebtoken (Node), an io.use middleware
// verifying the JWT (HS256 pinned).
// Env: PORT, BENCH_JWT_SECRET, BENCH_LAG_FILE (optional event-loop lag log).
const http = require('http');
const fs = require('fs');
const { Server } = require('socket.io');
const jwt = require('jsonwebtoken');

const port = +(process.env.PORT || 5101);
const secret = process.env.BENCH_JWT_SECRET;
if (!secret) throw new Error('BENCH_JWT_SECRET is required');

const httpServer = http.createServer((req, res) => { res.writeHead(404); res.end(); });
const io = new Server(httpServer, { cors: { origin: '*' }, transports: ['websocket', 'polling'] });

io.use((socket, next) => {
  const auth = socket.handshake.auth;
  const token = auth && typeof auth.token === 'string' ? auth.token : null;
  if (!token) {
    const err = new Error('auth_required'); err.data = { code: 'auth_required' }; return next(err);
  }
  jwt.verify(token, secret, { algorithms: ['HS256'] }, (e, claims) => {
    if (e) {
      const code = e.name === 'TokenExpiredError' ? 'token_expired' : 'token_invalid';
      const err = new Error(code); err.data = { code }; return next(err);
    }
    if (claims.type !== 'access') {
      const err = new Error('wrong_token_type'); err.data = { code: 'wrong_token_type' }; return next(err);
    }
    socket.data.user = { id: claims.sub, username: 'user' + claims.sub };
    socket.data.exp = claims.exp;
    return next();
  });
});

let nextId = 0;
io.on('connection', (socket) => {
  socket.emit('session', { user: socket.data.user, sid: socket.id, expires_at: socket.data.exp });
  socket.on('echo', (data, ack) => { if (typeof ack === 'function') ack(data); });
  socket.on('whoami', (ack) => { if (typeof ack === 'function') ack({ ok: true, user: socket.data.user, expires_at: socket.data.exp }); });
  socket.on('join', (data, ack) => {
    const room = data && data.room;
    if (typeof room !== 'string') return ack && ack({ ok: false });
    socket.join(room);
    if (typeof ack === 'function') ack({ ok: true, room });
  });
  socket.on('message', (data, ack) => {
    nextId += 1;
    const msg = { id: nextId, room: data.room, user: socket.data.user.username, text: data.text, ts: Date.now() / 1000 };
    io.to(data.room).emit('message', msg);
    if (typeof ack === 'function') ack({ ok: true, id: nextId });
  });
});

if (process.env.BENCH_LAG_FILE) {
  // Event-loop lag probe: a 5 ms timer; logs the worst overshoot each second.
  const out = fs.openSync(process.env.BENCH_LAG_FILE, 'a');
  let worst = 0; let last = performance.now(); let bucket = Math.floor(Date.now() / 1000);
  setInterval(() => {
    const t = performance.now();
    worst = Math.max(worst, t - last - 5);
    last = t;
    const b = Math.floor(Date.now() / 1000);
    if (b !== bucket) { fs.writeSync(out, `${bucket} ${worst.toFixed(3)}\n`); bucket = b; worst = 0; }
  }, 5);
}

httpServer.listen(port, '127.0.0.1', () => console.log(`listening on ${port}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));

// The baseline of the gateway benchmarks (issue 13; docs/benchmarks.md, "Gateway"): a Node.js
// server on the `ws` package doing the same fan-out as chorusd's gateway, and nothing more:
// no storage, no authentication beyond looking the token up in the bench's users file, no
// idempotency. Same frames as chorusd (brd/chat.md): hello first, message.send acked with
// the message, message.new to every device of every member (the sender's included).
//
// Usage: node node_server.js --port P --users FILE --convs FILE
//   users: "user_id token" per line; convs: "conversation_id member_id ..." per line
//   (bench/wsload/setup.py writes both). Prints "listening <port>" when ready.
'use strict';
const fs = require('fs');
const { WebSocketServer } = require('ws');

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const userByToken = new Map();
for (const line of fs.readFileSync(args.users, 'utf8').split('\n')) {
  const [id, token] = line.trim().split(' ');
  if (token) userByToken.set(token, id);
}
const convs = new Map();
if (args.convs) {
  for (const line of fs.readFileSync(args.convs, 'utf8').split('\n')) {
    const [id, ...members] = line.trim().split(' ');
    if (id) convs.set(id, { members, memberSet: new Set(members), seq: 0 });
  }
}

const devices = new Map(); // user id -> Set of sockets
const HEARTBEAT_MS = 30000;
let nextId = 1n;
let nextSession = 1;

const wss = new WebSocketServer({ port: Number(args.port), host: '127.0.0.1', maxPayload: 64 * 1024, perMessageDeflate: false });

function send(ws, frame) {
  if (ws.readyState === 1) ws.send(frame);
}

wss.on('connection', (ws, req) => {
  const token = new URL(req.url, 'http://x').searchParams.get('access_token');
  const user = userByToken.get(token);
  if (!user) {
    ws.close(4001, 'unauthorized');
    return;
  }
  let set = devices.get(user);
  if (!set) devices.set(user, (set = new Set()));
  set.add(ws);
  ws.alive = true;
  ws.on('pong', () => { ws.alive = true; });
  send(ws, JSON.stringify({ op: 'hello', d: { session_id: String(nextSession++), heartbeat_ms: HEARTBEAT_MS } }));
  ws.on('message', (data) => {
    let f;
    try {
      f = JSON.parse(data);
    } catch (e) {
      send(ws, JSON.stringify({ op: 'error', d: { code: 'invalid_json', detail: 'not JSON' } }));
      return;
    }
    if (f.op !== 'message.send') {
      send(ws, JSON.stringify({ op: 'error', ref: f.ref, d: { code: 'unknown_op', detail: 'unknown op' } }));
      return;
    }
    const d = f.d || {};
    const conv = convs.get(String(d.conversation_id));
    if (!conv || !conv.memberSet.has(user)) {
      send(ws, JSON.stringify({ op: 'error', ref: f.ref, d: { code: 'not_found', detail: 'no such conversation' } }));
      return;
    }
    const msg = {
      id: String(nextId++), conversation_id: String(d.conversation_id), seq: ++conv.seq, sender_id: user,
      client_msg_id: d.client_msg_id, text: d.text, created_at: new Date().toISOString(),
    };
    send(ws, JSON.stringify({ op: 'ack', ref: f.ref, d: msg }));
    const frame = JSON.stringify({ op: 'message.new', d: msg });
    for (const m of conv.members) {
      const s = devices.get(m);
      if (s) for (const dev of s) send(dev, frame);
    }
  });
  ws.on('close', () => {
    set.delete(ws);
    if (!set.size) devices.delete(user);
  });
});

setInterval(() => {
  for (const ws of wss.clients) {
    if (!ws.alive) { ws.terminate(); continue; }
    ws.alive = false;
    ws.ping();
  }
}, HEARTBEAT_MS).unref();

wss.on('listening', () => console.log(`listening ${wss.address().port}`));

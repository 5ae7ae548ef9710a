// A stand-in for an OpenClaw node running the PrivaClaw skill, sending exactly what the
// skill's relayClient.ts sends (shared/spec/openclaw-nodes.md): RELAY_URL normalised the same
// way, <relay>/connect, a hello with node_id, token and meta.kind "openclaw", a heartbeat
// every 15 s after hello_ok, and every answer wrapped in a `response` frame. The test decides
// what it answers and when, so it can watch tokens arrive one by one: `next(type)` hands it
// the next command of that type, then `token`, `done`, `error` or `status` answer it.
import { connect } from './websocket.mjs';

const COMMANDS = ['prompt', 'status', 'restart', 'workflow'];

export async function openclawNode({ RELAY_URL, NODE_ID, AUTH_TOKEN }) {
  const base = RELAY_URL.replace(/\/+$/, '').replace(/^https:\/\//, 'wss://').replace(/^http:\/\//, 'ws://');
  const ws = await connect(`${base}/connect`);
  const started = Date.now();
  const commands = [];
  const waiters = [];
  const deliver = () => {
    for (const w of [...waiters]) {
      const i = commands.findIndex((c) => c.type === w.type);
      if (i < 0) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(commands.splice(i, 1)[0]);
    }
  };
  const greeted = new Promise((resolve, reject) => {
    ws.on('message', (text) => {
      const frame = JSON.parse(text);
      if (frame.type === 'hello_ok') resolve();
      // The skill only logs the relay's errors; a test wants to know at once.
      else if (frame.type === 'error') reject(new Error(`the relay refused the node: ${frame.data?.message}`));
      else if (COMMANDS.includes(frame.type)) {
        commands.push(frame);
        deliver();
      }
    });
    ws.on('close', (code) => reject(new Error(`the relay closed the node's socket (${code}) before hello_ok`)));
  });
  const send = (type, data) => ws.send(JSON.stringify({ type, data }));
  const respond = (command, type, fields = {}) => send('response', { type, request_id: command.data?.request_id ?? 'unknown', ...fields });
  const health = (fields) => ({
    node_id: NODE_ID, uptime: Math.floor((Date.now() - started) / 1000), active_tasks: 0, last_error: null, connection_state: 'online', ...fields,
  });

  send('hello', { node_id: NODE_ID, token: AUTH_TOKEN, meta: { kind: 'openclaw' } });
  await greeted;
  const beats = setInterval(() => send('heartbeat', health()), 15_000);
  ws.on('close', () => clearInterval(beats));

  return {
    /** The next command of `type` the relay sent (already or later): `{type, data: {request_id, data}}`. */
    next(type, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the node got no ${type} command within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ type, resolve: (c) => { clearTimeout(timer); resolve(c); } });
        deliver();
      });
    },
    token: (command, content) => respond(command, 'token', { content }),
    done: (command) => respond(command, 'done'),
    error: (command, message) => respond(command, 'error', { message }),
    status: (command, fields) => respond(command, 'status', health(fields)),
    heartbeat: (fields) => send('heartbeat', health(fields)),
    /** As the skill's disconnect(): close 1000 "shutdown". */
    close() {
      clearInterval(beats);
      ws.close(1000, 'shutdown');
    },
  };
}

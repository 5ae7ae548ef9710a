// A minimal WebSocket client (RFC 6455) for the tests: Node has no global WebSocket before
// version 22 and the tests run on Node 18 and 20. Plain ws:// only, text frames, masked as a
// client must; answers pings and a close. Enough to play an AI node against the relay.
import { request } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Resolves with an EventEmitter (`message` (text), `close` (code)) that can `send` and `close`. */
export function connect(url) {
  const u = new URL(url);
  if (u.protocol !== 'ws:') throw new Error(`only ws:// here, not ${u.protocol}`);
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key },
    });
    req.on('error', reject);
    req.on('response', (res) => reject(new Error(`no WebSocket upgrade: HTTP ${res.statusCode}`)));
    req.on('upgrade', (res, socket, head) => {
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      if (res.headers['sec-websocket-accept'] !== accept) {
        socket.destroy();
        reject(new Error('bad Sec-WebSocket-Accept'));
        return;
      }
      resolve(wrap(socket, head));
    });
    req.end();
  });
}

function wrap(socket, head) {
  const ws = new EventEmitter();
  let buffer = head;
  let text = [];
  let closed = false;
  const frame = (opcode, payload) => {
    const mask = randomBytes(4);
    const n = payload.length;
    const len = n < 126 ? Buffer.from([0x80 | n]) : n < 65536 ? Buffer.from([0x80 | 126, n >> 8, n & 255]) : Buffer.concat([Buffer.from([0x80 | 127]), bigLength(n)]);
    const masked = Buffer.alloc(n);
    for (let i = 0; i < n; i++) masked[i] = payload[i] ^ mask[i % 4];
    if (!socket.destroyed) socket.write(Buffer.concat([Buffer.from([0x80 | opcode]), len, mask, masked]));
  };
  const finish = (code) => {
    if (closed) return;
    closed = true;
    socket.end();
    ws.emit('close', code);
  };
  socket.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (buffer.length < 2) return;
      const opcode = buffer[0] & 0x0f;
      const fin = (buffer[0] & 0x80) !== 0;
      let n = buffer[1] & 0x7f;
      let at = 2;
      if (n === 126) {
        if (buffer.length < 4) return;
        n = buffer.readUInt16BE(2);
        at = 4;
      } else if (n === 127) {
        if (buffer.length < 10) return;
        n = Number(buffer.readBigUInt64BE(2));
        at = 10;
      }
      if (buffer.length < at + n) return;
      const payload = buffer.subarray(at, at + n);
      buffer = buffer.subarray(at + n);
      if (opcode === 0x1 || opcode === 0x0) {
        text.push(payload);
        if (fin) {
          ws.emit('message', Buffer.concat(text).toString('utf8'));
          text = [];
        }
      } else if (opcode === 0x8) {
        frame(0x8, payload.subarray(0, 2));
        finish(payload.length >= 2 ? payload.readUInt16BE(0) : 1005);
      } else if (opcode === 0x9) {
        frame(0xa, payload);
      }
    }
  });
  socket.on('close', () => finish(1006));
  socket.on('error', () => finish(1006));
  ws.send = (message) => frame(0x1, Buffer.from(message, 'utf8'));
  /**
   * Sends a close frame with `code` and ends the connection without waiting for the relay's
   * reply, as a browser's or Node's ws.close() lets the caller go on at once.
   */
  ws.close = (code = 1000, reason = '') => {
    if (closed) return;
    const body = Buffer.alloc(2 + Buffer.byteLength(reason));
    body.writeUInt16BE(code, 0);
    body.write(reason, 2);
    frame(0x8, body);
    finish(code);
  };
  return ws;
}

function bigLength(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

// The browser end of a /session WebSocket (docs/protocol.md). It authenticates with the
// terminal's size, hands output to the page, sends input and sizes, measures latency with
// ping/pong, and reconnects by itself (after 1, 2, 4, 8, 16, then every 30 s). It counts the
// output bytes it has received and sends that count as `auth.offset` when it comes back, so
// the relay replays exactly what was missed: nothing lost, nothing shown twice. A fresh page
// sends no offset and gets all the output the relay still holds. A link that was working and
// drops without a word (1006) or for being slow (4008) comes back at once. It joins a session
// someone else started only once the person said so (`join()`), and stops for good when the
// relay says their access ended.
import { accessToken } from '../auth.js';
import { fromBase64, toBase64, utf8, binary } from './bytes.js';

const DELAYS = [1, 2, 4, 8, 16, 30];
const PING_EVERY = 10_000;
// A link that has said nothing (not even a pong) this long is dead, even if TCP has not noticed.
const SILENCE = 25_000;
// A link that lasted this long was fine: the next loss starts the backoff again at 1 s.
const STABLE = 30_000;

/**
 * `on`: state(name, detail) with 'connecting' | 'connected' | 'waiting' {at} | 'ended'
 * {reason, status, by} | 'failed' {message, code} | 'join' {message} | 'restarting' (the
 * relay is restarting; it reconnects by itself); output(bytes, history) (history:
 * replayed to a fresh page, already seen once); latency(ms); device(status); dropped(bytes);
 * error({message, code}); authOk(data); viewer(joined, {user_id, email}).
 */
export class SessionLink {
  constructor({ sessionId, deviceId, size, on }) {
    Object.assign(this, { sessionId, deviceId, size, on });
    this.ws = null;
    this.authed = false;
    this.position = null;
    this.history = false;
    this.failures = 0;
    this.connects = 0;
    this.retryTimer = 0;
    this.pingTimer = 0;
    this.pingAt = 0;
    this.heard = 0;
    this.connectedAt = 0;
    this.stopped = false;
    this.authRetried = false;
    this.joining = false;
    this.lastError = null;
  }

  /** Attaches to a session someone else started: they are told. */
  join() {
    this.joining = true;
    this.stopped = false;
    this.connect();
  }

  async connect() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.drop();
    this.on.state('connecting');
    // A second connect() while this one waits for a token wins; this one gives up.
    const attempt = ++this.connects;
    let token;
    try {
      token = await accessToken();
    } catch (e) {
      if (attempt !== this.connects) return;
      if (e.status === 0) this.retry();
      else this.fail(e.message);
      return;
    }
    if (this.stopped || attempt !== this.connects) return;
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/session`);
    this.ws = ws;
    ws.onopen = () => {
      const { cols, rows } = this.size();
      const data = { token, session_id: this.sessionId, device_id: this.deviceId, cols, rows };
      if (this.position !== null) data.offset = this.position;
      if (this.joining) data.join = true;
      ws.send(JSON.stringify({ type: 'auth', data }));
    };
    ws.onmessage = (e) => this.receive(e.data);
    ws.onclose = (e) => this.lost(e.code);
  }

  receive(text) {
    this.heard = Date.now();
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    const d = frame.data ?? {};
    switch (frame.type) {
      case 'stdout': {
        const bytes = fromBase64(d.data_b64 ?? '');
        this.position += bytes.length;
        this.on.output(bytes, this.history);
        break;
      }
      case 'auth_ok':
        // A fresh attach replays the history first, then live output. The relay queues the
        // replay before it can read our first ping, so its pong marks where history ends.
        this.history = this.position === null;
        // Where the replay starts; a relay without the extension replays nothing we must count.
        this.position = Number.isInteger(d.offset) ? d.offset : (this.position ?? 0);
        this.authed = true;
        this.authRetried = false;
        this.connectedAt = Date.now();
        if (d.dropped > 0) this.on.dropped(d.dropped);
        this.on.state('connected');
        this.on.authOk(d);
        this.startPings();
        break;
      case 'pong':
        if (this.pingAt) this.on.latency(Math.round(performance.now() - this.pingAt));
        this.pingAt = 0;
        this.history = false;
        break;
      case 'session_end':
        this.finish('ended', { reason: d.reason ?? '', status: d.status, by: d.by });
        break;
      case 'device_status':
        this.on.device(d.status);
        break;
      case 'error':
        this.lastError = d;
        this.on.error(d);
        break;
      case 'viewer_joined':
      case 'viewer_left':
        this.on.viewer(frame.type === 'viewer_joined', d);
        break;
      default:
        // session_started, device_meta: nothing to do.
    }
  }

  lost(code) {
    const wasUp = this.authed;
    const said = this.lastError;
    this.ws = null;
    this.authed = false;
    this.lastError = null;
    clearInterval(this.pingTimer);
    if (this.stopped) return;
    if (this.connectedAt && Date.now() - this.connectedAt > STABLE) this.failures = 0;
    this.connectedAt = 0;
    if (said?.code === 'access_revoked') {
      this.finish('failed', { message: said.message, code: said.code });
      return;
    }
    switch (code) {
      case 4001: // the access token was refused: refresh it once, then give up
        if (this.authRetried) {
          this.fail('The relay did not accept your sign-in. Sign in again.');
          return;
        }
        this.authRetried = true;
        accessToken({ force: true }).then(() => this.connect(), (e) => this.fail(e.message));
        return;
      case 4002:
        this.finish('ended', { reason: 'unavailable' });
        return;
      case 4003:
        this.on.device('offline');
        break;
      case 4006: // someone else's session: join only if the person says so
        this.stopped = true;
        this.on.state('join', { message: said?.message ?? 'This session was started by someone else.' });
        return;
      case 1012: // the relay is restarting: come back once it is up again
        this.on.state('restarting');
        break;
      case 4010: // the relay is draining or the device moved to another relay: go there now
      case 4008: // we fell too far behind: come back at once and resume from our offset
      case 1006: // a working link cut without a word: the same, once
        if (wasUp || code === 4008 || code === 4010) {
          this.connect();
          return;
        }
        break;
      default:
    }
    this.retry();
  }

  retry() {
    const seconds = DELAYS[Math.min(this.failures++, DELAYS.length - 1)];
    this.on.state('waiting', { at: Date.now() + seconds * 1000 });
    this.retryTimer = setTimeout(() => this.connect(), seconds * 1000);
  }

  startPings() {
    const ws = this.ws;
    const tick = () => {
      if (Date.now() - this.heard > SILENCE) {
        this.drop();
        this.lost(1006);
        return;
      }
      // Between the server closing and our close event the socket is CLOSING: skip a beat.
      if (ws.readyState !== WebSocket.OPEN) return;
      this.pingAt = performance.now();
      ws.send('{"type":"ping"}');
    };
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(tick, PING_EVERY);
    tick();
  }

  send(type, data) {
    if (!this.authed || this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(data === undefined ? { type } : { type, data }));
    return true;
  }

  input(text) {
    return this.send('stdin', { session_id: this.sessionId, data_b64: toBase64(utf8(text)) });
  }

  inputBinary(text) {
    return this.send('stdin', { session_id: this.sessionId, data_b64: toBase64(binary(text)) });
  }

  resize(cols, rows) {
    this.send('resize', { session_id: this.sessionId, cols, rows });
  }

  pause() {
    this.send('pause', { session_id: this.sessionId });
  }

  resume() {
    this.send('resume', { session_id: this.sessionId });
  }

  /** Stops for good on this page (leaving it); the session keeps running on the relay. */
  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.drop();
  }

  finish(state, detail) {
    this.close();
    this.on.state(state, detail);
  }

  fail(message) {
    this.finish('failed', { message });
  }

  // Forgets the current socket without reacting to its close.
  drop() {
    const ws = this.ws;
    this.ws = null;
    this.authed = false;
    clearInterval(this.pingTimer);
    if (!ws) return;
    ws.onmessage = null;
    ws.onclose = null;
    // Closing a socket that is still connecting makes the browser log an error: wait for it.
    if (ws.readyState === WebSocket.CONNECTING) ws.onopen = () => ws.close(1000);
    else ws.close(1000);
  }
}

// Realtime changes from GET /api/v1/events, a server-sent event stream read with fetch so the
// access token travels in the Authorization header and never in a URL (EventSource cannot
// send headers). Reconnects with backoff; every stream after the first starts with a
// `resync`, because events may have been missed in between and pages should refetch.
import { accessToken } from './auth.js';

const handlers = new Map();
let controller = null;

/** Calls `fn(data)` for each `name` event until `signal` aborts. */
export function on(name, fn, { signal } = {}) {
  if (!handlers.has(name)) handlers.set(name, new Set());
  handlers.get(name).add(fn);
  signal?.addEventListener('abort', () => handlers.get(name).delete(fn), { once: true });
}

function emit(name, data) {
  for (const fn of handlers.get(name) ?? []) {
    // Each handler on its own: one page's failure must not stop the stream for the others.
    // Leaving a page aborts its requests; that is not an error worth reporting.
    Promise.resolve()
      .then(() => fn(data))
      .catch((e) => e?.name === 'AbortError' || reportError(e));
  }
}

export function start() {
  if (controller) return;
  controller = new AbortController();
  run(controller.signal);
}

export function stop() {
  controller?.abort();
  controller = null;
}

async function run(signal) {
  let failures = 0;
  let streams = 0;
  while (!signal.aborted) {
    try {
      const res = await fetch('/api/v1/events', {
        headers: { Authorization: `Bearer ${await accessToken()}`, Accept: 'text/event-stream' },
        cache: 'no-store',
        signal,
      });
      if (res.status === 401) await accessToken({ force: true });
      if (res.ok && res.body) {
        if (streams++ > 0) emit('resync', {});
        failures = 0;
        await read(res.body, signal);
      }
    } catch {
      // Network trouble, the relay restarting, or a sign-out: retry below, or stop if aborted.
    }
    if (signal.aborted) return;
    await pause(Math.min(30, 2 ** failures++) * 1000, signal);
  }
}

function pause(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

// The text/event-stream format as the relay writes it (LF line ends): blocks separated by a
// blank line; `event:` names the block, `data:` lines carry its JSON; lines starting with ':'
// are keep-alive comments.
async function read(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  signal.addEventListener('abort', () => reader.cancel().catch(() => {}), { once: true });
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      dispatch(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
}

function dispatch(block) {
  let name = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) name = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (data.length === 0) return;
  let payload = {};
  try {
    payload = JSON.parse(data.join('\n'));
  } catch {
    // The relay always sends JSON; an odd block still says "something changed".
  }
  emit(name, payload);
}

/**
 * Calls `fn()` once after a burst of any of `names` (e.g. a device added, then paired), for
 * pages that simply refetch what they show.
 */
export function onAny(names, fn, { signal, delay = 200 } = {}) {
  let timer = 0;
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(fn, delay);
  };
  signal?.addEventListener('abort', () => clearTimeout(timer), { once: true });
  for (const name of names) on(name, later, { signal });
}

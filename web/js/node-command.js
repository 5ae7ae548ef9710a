// Commands to AI nodes (POST /api/v1/nodes/{device_id}/commands): sends one and hands each
// line of the relay's newline-delimited JSON answer to `onLine` as it arrives, so tokens show
// while the node is still producing them. Resolves with the line that ended the answer
// (`done`, `status` or `error`); aborting `signal` abandons the request (the Stop button).
import { postStream, seg } from './api.js';

const LAST = new Set(['done', 'status', 'error']);

export async function sendCommand(deviceId, command, { onLine = () => {}, signal } = {}) {
  const res = await postStream(`/api/v1/nodes/${seg(deviceId)}/commands`, command, 'application/x-ndjson', { signal });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let last = null;
  const take = (text) => {
    if (!text.trim()) return;
    const line = JSON.parse(text);
    // The relay ends the stream after the last line; anything after it would be noise.
    if (last) return;
    if (LAST.has(line.type)) last = line;
    onLine(line);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n')) >= 0) {
      take(buffer.slice(0, end));
      buffer = buffer.slice(end + 1);
    }
  }
  take(buffer);
  return last ?? { type: 'error', message: 'The answer was cut off: the relay closed the stream before the node finished. Send it again.' };
}

// A node's streamed answer on the page, shared by the chat and the workflow runner: runs a
// command and writes each token into a box as it arrives (as text, never markup), then the
// node's or the relay's error if there is one; and the Send/Stop pair around it, where Stop
// aborts the request (the relay drops the rest of the answer; the node is not told).
import { h, replace } from '../../dom.js';
import { sendCommand } from '../../node-command.js';

/** Shows the answer to `command` in `box`; resolves with the last line, or null if stopped. */
export async function streamAnswer(box, deviceId, command, { signal, onGrow = () => {} }) {
  const text = h('div', { class: 'answer-text' });
  replace(box, text);
  box.setAttribute('aria-busy', 'true');
  const note = (message, error) => {
    box.append(h('p', { class: error ? 'answer-note error' : 'answer-note', role: error ? 'alert' : null }, message));
    onGrow();
  };
  try {
    const last = await sendCommand(deviceId, command, {
      signal,
      onLine: (line) => {
        if (line.type !== 'token') return;
        text.append(line.content ?? '');
        onGrow();
      },
    });
    if (last.type === 'error') note(last.message, true);
    return last;
  } catch (e) {
    // Stopped, or the page is gone (and nobody reads the note).
    if (signal.aborted) {
      note('Stopped: the rest of the answer is dropped.', false);
      return null;
    }
    note(e.message, true);
    return { type: 'error', message: e.message };
  } finally {
    box.removeAttribute('aria-busy');
  }
}

/**
 * Wires a Send (submit) and a Stop button: `run(fn)` calls `fn(signal)` with Send disabled
 * and Stop shown; Stop aborts that signal, as does leaving the page (`pageSignal`).
 */
export function sendAndStop(send, stop, pageSignal) {
  let current = null;
  stop.hidden = true;
  stop.addEventListener('click', () => current?.abort());
  return async (fn) => {
    current = new AbortController();
    send.disabled = true;
    stop.hidden = false;
    try {
      return await fn(AbortSignal.any([pageSignal, current.signal]));
    } finally {
      current = null;
      send.disabled = false;
      stop.hidden = true;
    }
  };
}

// Short notices in the corner: a device came online, an invitation was sent, something
// failed. The container is a live region, so screen readers announce them too.
import { h } from '../dom.js';

/** kind: 'info' | 'ok' | 'warn' | 'error'. */
export function toast(message, { kind = 'info', timeout = 5000 } = {}) {
  const box = document.getElementById('toasts');
  const close = () => item.remove();
  const item = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : null },
    h('span', { class: 'toast-text' }, message),
    h('button', { type: 'button', 'aria-label': 'Dismiss', onclick: close }, '×'));
  box.append(item);
  // Errors stay a little longer: they usually ask the reader to do something.
  setTimeout(close, kind === 'error' ? timeout * 2 : timeout);
}

export function toastError(e) {
  if (e?.name === 'AbortError') return;
  toast(e?.message ?? String(e), { kind: 'error' });
}

// The row of keys phones lack, shown on touch screens under the terminal: Esc, Tab, a sticky
// Ctrl (applied to the next key typed), and the arrows (in the form the running program asked
// for: vim and less switch the cursor keys to "application" mode).
import { h } from '../dom.js';

export function keysBar(term, send) {
  let ctrl = false;
  const ctrlButton = h('button', { type: 'button', 'aria-pressed': 'false' }, 'Ctrl');
  const setCtrl = (on) => {
    ctrl = on;
    ctrlButton.setAttribute('aria-pressed', String(on));
  };
  const arrow = (label, name, letter) => h('button', { type: 'button', 'aria-label': name, dataset: { arrow: letter } }, label);
  const bar = h('div', { class: 'keys-bar', role: 'toolbar', 'aria-label': 'Extra keys' },
    h('button', { type: 'button', dataset: { key: '\x1b' } }, 'Esc'),
    h('button', { type: 'button', dataset: { key: '\t' } }, 'Tab'),
    ctrlButton,
    arrow('←', 'Left', 'D'), arrow('↑', 'Up', 'A'), arrow('↓', 'Down', 'B'), arrow('→', 'Right', 'C'));
  // Keep the focus (and the on-screen keyboard) on the terminal.
  bar.addEventListener('pointerdown', (e) => e.preventDefault());
  bar.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (!b) return;
    if (b === ctrlButton) setCtrl(!ctrl);
    else if (b.dataset.arrow) send(`\x1b${term.modes.applicationCursorKeysMode ? 'O' : '['}${b.dataset.arrow}`);
    else send(b.dataset.key);
    term.focus();
  });
  return {
    element: bar,
    /** Applies a pending Ctrl to typed input: Ctrl then "c" sends ^C. */
    transform(data) {
      if (!ctrl || data.length !== 1) return data;
      setCtrl(false);
      const c = data.toUpperCase().charCodeAt(0);
      return c >= 0x40 && c <= 0x5f ? String.fromCharCode(c & 0x1f) : data;
    },
  };
}

// Copying text: the Clipboard API where the page is a secure context, else the old
// select-and-copy fallback (plain-http relays on a LAN), and code blocks with a copy button
// that says "Copied".
import { h } from '../dom.js';
import { toast } from './toast.js';

export async function copyText(text) {
  if (navigator.clipboard && isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = h('textarea', { readonly: true, class: 'visually-hidden' });
  area.value = text;
  document.body.append(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  if (!ok) throw new Error('Copying is blocked here: select the text and copy it yourself.');
}

function copyButton(text, accessibleName) {
  const button = h('button', { type: 'button', class: 'btn btn-sm copy', 'aria-label': accessibleName }, 'Copy');
  button.addEventListener('click', async () => {
    try {
      await copyText(text);
      button.textContent = 'Copied';
      setTimeout(() => { button.textContent = 'Copy'; }, 1500);
    } catch (e) {
      toast(e.message, { kind: 'error' });
    }
  });
  return button;
}

/** A code block with a copy button; `label` (optional) names it above the code. */
export function codeBlock(code, label) {
  return h('div', { class: 'code' },
    label && h('div', { class: 'code-label' }, label),
    h('pre', null, h('code', null, code)),
    copyButton(code, label ? `Copy: ${label}` : 'Copy this code'));
}

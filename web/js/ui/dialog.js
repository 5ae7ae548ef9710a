// Modal dialogs on the native <dialog> element (focus trapping, Escape, backdrop for free).
// One form dialog serves everything: its async submit keeps it open and shows the relay's
// message if it fails; confirm and info dialogs are that dialog with fewer parts.
import { h } from '../dom.js';
import { onSubmit } from './form.js';

let ids = 0;

/**
 * Resolves with what `submit(values)` returned (or true), or null when cancelled.
 * `cancelLabel: null` leaves only the submit button (an info dialog).
 */
export function formDialog({ title, body = [], fields = [], submitLabel = 'Save', cancelLabel = 'Cancel', danger = false, submit }) {
  return new Promise((resolve) => {
    const titleId = `dialog-title-${++ids}`;
    let result = null;
    const dialog = h('dialog', { 'aria-labelledby': titleId });
    const form = h('form', { class: 'dialog-body' },
      h('h2', { id: titleId }, title),
      body,
      fields,
      h('div', { class: 'form-actions' },
        cancelLabel && h('button', { type: 'button', class: 'btn', onclick: () => dialog.close() }, cancelLabel),
        h('button', { type: 'submit', class: danger ? 'btn btn-danger solid' : 'btn btn-primary' }, submitLabel)));
    onSubmit(form, async (values) => {
      result = (await submit?.(values)) ?? true;
      dialog.close();
    });
    dialog.append(form);
    const leave = new AbortController();
    dialog.addEventListener('close', () => {
      leave.abort();
      dialog.remove();
      resolve(result);
    });
    // Leaving the page (back button) closes what belonged to it.
    addEventListener('routechange', () => dialog.close(), { signal: leave.signal });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function confirmDialog({ title, message, confirmLabel = 'Confirm', danger = true, confirm }) {
  return formDialog({ title, body: h('p', null, message), submitLabel: confirmLabel, danger, submit: confirm });
}

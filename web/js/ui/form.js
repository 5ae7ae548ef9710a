// Form plumbing shared by every page and dialog: labelled inputs, and a submit handler that
// disables the buttons while it works and shows the relay's message inside the form when it
// fails, so nobody has to look elsewhere for what went wrong.
import { h } from '../dom.js';

let ids = 0;

/**
 * A labelled input (`type: 'textarea'` for several lines); extra props (required, minlength,
 * autocomplete…) go to the control.
 */
export function field({ label, name, type = 'text', value, hint, ...attrs }) {
  const id = `f-${name}-${++ids}`;
  const hintId = hint ? `${id}-hint` : null;
  const input = type === 'textarea'
    ? h('textarea', { id, name, 'aria-describedby': hintId, ...attrs })
    : h('input', { id, name, type, 'aria-describedby': hintId, ...attrs });
  if (value !== undefined && value !== null) input.value = value;
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint && h('div', { class: 'hint', id: hintId }, hint));
}

/** A labelled <select>; `options` are [value, text] pairs. */
export function selectField({ label, name, options, value }) {
  const id = `f-${name}-${++ids}`;
  const select = h('select', { id, name }, options.map(([v, text]) => h('option', { value: v }, text)));
  if (value !== undefined) select.value = value;
  return h('div', { class: 'field' }, h('label', { for: id }, label), select);
}

/** Calls `handler(values, form)` on submit; an error it throws is shown at the top of the form. */
export function onSubmit(form, handler) {
  const error = h('div', { class: 'form-error', role: 'alert', hidden: true });
  form.prepend(error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const buttons = [...form.querySelectorAll('button[type="submit"]')];
    error.hidden = true;
    for (const b of buttons) {
      b.disabled = true;
      b.setAttribute('aria-busy', 'true');
    }
    try {
      await handler(Object.fromEntries(new FormData(form)), form);
    } catch (err) {
      if (err?.name !== 'AbortError') {
        error.textContent = err?.message ?? String(err);
        error.hidden = false;
      }
    } finally {
      for (const b of buttons) {
        b.disabled = false;
        b.removeAttribute('aria-busy');
      }
    }
  });
  return form;
}

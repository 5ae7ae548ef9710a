// The shared "nothing here yet", "loading" and "that failed" blocks, so every page says these
// things the same way.
import { h } from '../dom.js';

export function loading(what = 'Loading…') {
  return h('p', { class: 'muted', role: 'status' }, what);
}

export function empty(title, text, ...actions) {
  return h('div', { class: 'empty' }, h('h3', null, title), text && h('p', null, text), actions.length > 0 && h('div', { class: 'row center' }, actions));
}

export function errorPage(e) {
  const missing = e?.status === 404;
  return h('div', { class: 'page narrow' },
    h('h1', null, missing ? 'Not found' : 'Something went wrong'),
    h('p', { class: 'muted' }, e?.message ?? String(e)),
    h('div', { class: 'row' },
      h('a', { class: 'btn btn-primary', href: '/dashboard' }, 'Go to the dashboard'),
      !missing && h('button', { class: 'btn', type: 'button', onclick: () => location.reload() }, 'Try again')));
}

// Any address that is not one of the app's pages.
import { h, replace } from '../dom.js';

export const title = 'Not found';

export function render(main) {
  replace(main, h('div', { class: 'page narrow' },
    h('h1', null, 'Page not found'),
    h('p', { class: 'muted' }, 'There is nothing at this address. It may have moved, or the link may be mistyped.'),
    h('div', { class: 'row' }, h('a', { class: 'btn btn-primary', href: '/' }, 'Home'), h('a', { class: 'btn', href: '/docs' }, 'Docs'))));
}

// The footer of the public pages: where the docs, the machine-readable docs and the API are.
import { h } from '../dom.js';

export function footer() {
  return h('footer', { class: 'site-footer' },
    h('a', { href: '/docs' }, 'Docs'),
    h('a', { href: '/llms.txt' }, 'llms.txt'),
    h('a', { href: '/api/v1/openapi.json' }, 'API (OpenAPI)'),
    h('span', null, 'PrivaClaw — open source, self-hosted'));
}

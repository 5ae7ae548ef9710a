// `/docs`: the human documentation, one page with a table of contents. The text lives in
// /content/docs/*.md (plain files, easy to edit); commands show this relay's own address.
import { h, replace } from '../dom.js';
import { renderMarkdown } from '../markdown.js';
import { loading } from '../ui/states.js';
import { footer } from '../ui/footer.js';

export const title = 'Docs';

const FILES = ['getting-started', 'connector', 'ai-nodes', 'install', 'troubleshooting', 'faq'];

export async function render(main, { signal }) {
  replace(main, h('div', { class: 'page' }, loading()));
  const texts = await Promise.all(FILES.map(async (name) => {
    const res = await fetch(`/content/docs/${name}.md`, { signal });
    if (!res.ok) throw new Error(`The docs could not be loaded (${res.status}); reload the page.`);
    return res.text();
  }));
  const sections = texts.map((text) => renderMarkdown(text.replaceAll('{{origin}}', location.origin)));
  const toc = sections.flatMap((s) => s.headings.filter((x) => x.level <= 3));
  replace(main,
    h('div', { class: 'page' },
      h('div', { class: 'docs' },
        h('nav', { class: 'docs-nav', 'aria-label': 'Documentation' },
          h('ul', null, toc.map((x) => h('li', { class: x.level === 3 ? 'sub' : null }, h('a', { href: `#${x.id}` }, x.text))))),
        h('article', { class: 'prose' },
          h('h1', { class: 'visually-hidden' }, 'PrivaClaw documentation'),
          sections.map((s) => h('section', null, s.nodes)),
          h('p', { class: 'muted section' }, 'For programs and AI agents: ', h('a', { href: '/llms.txt' }, 'llms.txt'), ' and ', h('a', { href: '/llms-full.txt' }, 'llms-full.txt'), '.')))),
    footer());
}

// Renders the docs' small Markdown dialect to DOM nodes (never to an HTML string): headings,
// paragraphs, fenced code (with a copy button), lists, tables, quotes, and inline `code`,
// **bold** and [links](/path). Links may only point to this site or to http(s)/mailto.
import { h } from './dom.js';
import { codeBlock } from './ui/copy.js';

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** Returns the nodes and the headings found ({level, text, id}); `#` becomes <h2>. */
export function renderMarkdown(source) {
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  const nodes = [];
  const headings = [];
  let i = 0;
  const take = (test) => {
    const out = [];
    while (i < lines.length && test(lines[i])) out.push(lines[i++]);
    return out;
  };
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (!line.trim()) {
      i++;
    } else if (line.startsWith('```')) {
      i++;
      const code = take((l) => !l.startsWith('```'));
      i++;
      nodes.push(codeBlock(code.join('\n')));
    } else if ((m = /^(#{1,3}) (.*)$/.exec(line))) {
      i++;
      const level = m[1].length + 1;
      const id = slug(m[2]);
      headings.push({ level, text: m[2], id });
      nodes.push(h(`h${level}`, { id }, inline(m[2])));
    } else if (line.startsWith('|')) {
      const rows = take((l) => l.startsWith('|')).map((l) => l.replace(/^\||\|$/g, '').split('|').map((c) => c.trim()));
      const [head, , ...body] = rows;
      nodes.push(h('div', { class: 'table-wrap' }, h('table', null,
        h('thead', null, h('tr', null, head.map((c) => h('th', { scope: 'col' }, inline(c))))),
        h('tbody', null, body.map((r) => h('tr', null, r.map((c) => h('td', null, inline(c)))))))));
    } else if (/^[-*] /.test(line)) {
      nodes.push(h('ul', null, take((l) => /^[-*] /.test(l)).map((l) => h('li', null, inline(l.slice(2))))));
    } else if (/^\d+\. /.test(line)) {
      nodes.push(h('ol', null, take((l) => /^\d+\. /.test(l)).map((l) => h('li', null, inline(l.replace(/^\d+\. /, ''))))));
    } else if (line.startsWith('> ')) {
      nodes.push(h('blockquote', null, h('p', null, inline(take((l) => l.startsWith('> ')).map((l) => l.slice(2)).join(' ')))));
    } else {
      const para = take((l) => l.trim() && !/^(```|#{1,3} |\||[-*] |\d+\. |> )/.test(l));
      nodes.push(h('p', null, inline(para.join(' '))));
    }
  }
  return { nodes, headings };
}

const SAFE_HREF = /^(\/|#|https?:\/\/|mailto:)/;

function inline(text) {
  const out = [];
  const re = /`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(h('code', null, m[1]));
    else if (m[2] !== undefined) out.push(h('strong', null, m[2]));
    else out.push(SAFE_HREF.test(m[4]) ? h('a', { href: m[4] }, m[3]) : m[3]);
    last = re.lastIndex;
  }
  out.push(text.slice(last));
  return out;
}

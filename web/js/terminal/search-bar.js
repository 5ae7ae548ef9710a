// Find in the terminal's scrollback (xterm's search addon): a small bar with the query, the
// match count, previous and next. Enter finds the next match, Shift+Enter the previous one,
// Escape closes it and returns to the terminal.
import { h } from '../dom.js';

const DECORATIONS = {
  matchBackground: '#3b4756',
  matchOverviewRuler: '#97a4b2',
  activeMatchBackground: '#2dd4bf',
  activeMatchColorOverviewRuler: '#2dd4bf',
};

export function searchBar(term, search) {
  const input = h('input', { type: 'search', 'aria-label': 'Search the terminal', placeholder: 'Search scrollback', autocomplete: 'off' });
  const count = h('span', { class: 'count', role: 'status' });
  // Incremental while typing, so the match grows with the query instead of jumping ahead.
  const find = (backwards, incremental = false) => {
    const opts = { decorations: DECORATIONS, incremental };
    if (!input.value) search.clearDecorations();
    else if (backwards) search.findPrevious(input.value, opts);
    else search.findNext(input.value, opts);
  };
  const bar = h('div', { class: 'term-search', hidden: true, role: 'search' },
    input,
    count,
    h('button', { type: 'button', class: 'btn btn-sm', onclick: () => find(true) }, 'Previous'),
    h('button', { type: 'button', class: 'btn btn-sm', onclick: () => find(false) }, 'Next'),
    h('button', { type: 'button', class: 'btn btn-sm btn-ghost', 'aria-label': 'Close search', onclick: () => close() }, '×'));
  const close = () => {
    bar.hidden = true;
    search.clearDecorations();
    term.focus();
  };
  search.onDidChangeResults(({ resultIndex, resultCount }) => {
    if (!input.value) count.textContent = '';
    else if (resultCount === 0) count.textContent = 'No matches';
    else count.textContent = resultIndex < 0 ? `${resultCount} matches` : `${resultIndex + 1} of ${resultCount}`;
  });
  input.addEventListener('input', () => find(false, true));
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      find(e.shiftKey);
    } else if (e.key === 'Escape') {
      close();
    }
  });
  return {
    element: bar,
    open() {
      bar.hidden = false;
      input.select();
      input.focus();
    },
    toggle() {
      if (bar.hidden) this.open();
      else close();
    },
  };
}

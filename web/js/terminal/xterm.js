// Loads xterm.js and its addons — the ES module builds that scripts/web-assets copies from
// npm into web/vendor/xterm, committed and built into the relay — and creates the terminal as
// this app uses it: unicode 11 widths, clickable links, search, fit-to-container. A relay built
// from a tree without those files has no /vendor: then this throws MissingAssets and the page
// says how to restore them.
import { nextFrame } from '../dom.js';

const BASE = '/vendor/xterm/';

export class MissingAssets extends Error {}

const THEME = {
  background: '#0a0d11',
  foreground: '#d7dee6',
  cursor: '#5eead4',
  cursorAccent: '#0a0d11',
  selectionBackground: '#2b4c63',
  black: '#1b222b', red: '#f47067', green: '#57d196', yellow: '#e8c662',
  blue: '#6cb6ff', magenta: '#dcbdfb', cyan: '#56d4dd', white: '#c9d4df',
  brightBlack: '#636e7b', brightRed: '#ff938a', brightGreen: '#7ee2b0', brightYellow: '#f2d98b',
  brightBlue: '#96d0ff', brightMagenta: '#eedcff', brightCyan: '#8ae7ee', brightWhite: '#f0f6fc',
};

async function load() {
  try {
    const names = ['xterm', 'addon-fit', 'addon-search', 'addon-unicode11', 'addon-web-links'];
    const [xterm, fit, search, unicode, links] = await Promise.all(names.map((n) => import(`${BASE}${n}.mjs`)));
    return { Terminal: xterm.Terminal, FitAddon: fit.FitAddon, SearchAddon: search.SearchAddon, Unicode11Addon: unicode.Unicode11Addon, WebLinksAddon: links.WebLinksAddon };
  } catch {
    throw new MissingAssets('This relay was built from a source tree without the terminal’s JavaScript (web/vendor/, xterm.js). Restore it (git checkout web/vendor, or scripts/web-assets), rebuild the relay (cargo build), and restart it.');
  }
}

function stylesheet(href) {
  if (document.querySelector(`link[href="${href}"]`)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const link = Object.assign(document.createElement('link'), { rel: 'stylesheet', href, onload: resolve, onerror: reject });
    document.head.append(link);
  });
}

/**
 * Opens a terminal in `host`, sized to it. Waits for xterm's stylesheet, the fonts and a
 * layout pass first, so the very first size (sent in `auth`) is already the right one.
 */
export async function createTerminal(host) {
  const x = await load();
  await stylesheet(`${BASE}xterm.css`);
  const small = matchMedia('(max-width: 760px)').matches;
  const term = new x.Terminal({
    allowProposedApi: true, // the unicode 11 widths are a "proposed" xterm API
    cursorBlink: true,
    scrollback: 10_000,
    fontFamily: getComputedStyle(document.documentElement).getPropertyValue('--mono'),
    fontSize: small ? 13 : 14,
    // Rows exactly as tall as the font clip what hangs below the baseline (DejaVu Sans Mono
    // at 14 px loses every underscore); a little room keeps `_` and `g` whole.
    lineHeight: 1.15,
    theme: THEME,
    macOptionIsMeta: true,
  });
  const fit = new x.FitAddon();
  const search = new x.SearchAddon();
  term.loadAddon(fit);
  term.loadAddon(search);
  term.loadAddon(new x.Unicode11Addon());
  term.unicode.activeVersion = '11';
  term.loadAddon(new x.WebLinksAddon());
  await document.fonts.ready;
  term.open(host);
  await nextFrame();
  fit.fit();
  return { term, fit, search };
}

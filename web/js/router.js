// Client-side routes: matches the path to a page module (loaded on first use), sends people
// who are not signed in from private pages to /auth and back, intercepts same-origin links,
// and gives each page an AbortSignal that fires when the person leaves it, so pages drop
// their listeners, streams and sockets in one place.
import { currentUser } from './auth.js';
import { replace } from './dom.js';
import { errorPage } from './ui/states.js';

const routes = [];
let notFound = null;
let current = null;
let renderedKey = null;

/**
 * `pattern` like '/project/:id'; `load` imports the page module, which exports `render(main,
 * {params, query, signal})` and optionally `title`; `opts.auth`, `opts.fullscreen`.
 */
export function route(pattern, load, opts = {}) {
  const names = [];
  const source = pattern.replace(/:(\w+)/g, (_, name) => {
    names.push(name);
    return '([^/]+)';
  });
  routes.push({ re: new RegExp(`^${source}/?$`), names, load, ...opts });
}

/** The page for every other path. */
export function otherwise(load) {
  notFound = { re: /^$/, names: [], load };
}

/** True when `path` is a page only signed-in people may see. */
export function isPrivate(path) {
  return !!routes.find((r) => r.re.test(path))?.auth;
}

export function navigate(to, { replace: swap = false } = {}) {
  history[swap ? 'replaceState' : 'pushState'](null, '', to);
  render();
}

/** A same-origin path to return to after signing in, or null for anything else. */
export function safeNext(value) {
  return typeof value === 'string' && /^\/(?![/\\])/.test(value) ? value : null;
}

export function start() {
  document.addEventListener('click', onClick);
  addEventListener('popstate', () => render());
  render();
}

function onClick(e) {
  const a = e.target.closest?.('a[href]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  if (a.target || a.hasAttribute('download') || a.origin !== location.origin) return;
  // Files (llms.txt, the API document) are not app routes: let the browser load them.
  if (/\.[a-z0-9]+$/i.test(a.pathname)) return;
  // In-page anchors scroll natively.
  if (a.pathname === location.pathname && a.search === location.search && a.hash) return;
  e.preventDefault();
  navigate(a.pathname + a.search + a.hash);
}

async function render() {
  // A hash change on the same page is not a new page.
  const key = location.pathname + location.search;
  if (key === renderedKey) return;
  renderedKey = key;

  const path = location.pathname;
  const found = routes.find((r) => r.re.test(path)) ?? notFound;
  const params = {};
  path.match(found.re)?.slice(1).forEach((v, i) => {
    params[found.names[i]] = decodeURIComponent(v);
  });
  if (found.auth && !currentUser()) {
    navigate(`/auth?next=${encodeURIComponent(key)}`, { replace: true });
    return;
  }

  current?.abort();
  current = new AbortController();
  const { signal } = current;
  // Before the new page renders: what belonged to the old one (a dialog) must go first.
  dispatchEvent(new Event('routechange'));
  const main = document.getElementById('main');
  document.body.classList.toggle('fullscreen', !!found.fullscreen);
  replace(main);
  try {
    const page = await found.load();
    if (signal.aborted) return;
    document.title = page.title ? `${page.title} — PrivaClaw` : 'PrivaClaw';
    await page.render(main, { params, query: new URLSearchParams(location.search), signal });
  } catch (e) {
    if (signal.aborted || e.name === 'AbortError') return;
    // A page that could not load its data says why, in the relay's words, instead of going blank.
    replace(main, errorPage(e));
  }
  if (signal.aborted) return;
  if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
  else scrollTo(0, 0);
  // Screen readers start reading the new page, unless the page put the focus somewhere itself.
  if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

/** Changes the address (a tab, a filter) without rendering the page again. */
export function replaceUrl(to) {
  history.replaceState(null, '', to);
  renderedKey = location.pathname + location.search;
}

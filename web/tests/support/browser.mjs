// Debian's chromium driven by playwright-core (no browser download), headless, plus a
// recorder of what must never happen on our pages: console errors, uncaught exceptions,
// failed requests and HTTP error responses.
import { chromium } from 'playwright-core';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launch() {
  // Playwright gives every launch a fresh temporary user-data-dir.
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ARGS });
}

/**
 * Records problems on every page of `context`. Reads the page itself cancels (leaving a page
 * aborts its requests, a reload ends the realtime stream) show up as net::ERR_ABORTED: those
 * are not failures. Anything else is, including aborted writes.
 */
export function watch(context) {
  const problems = [];
  context.on('page', (page) => attach(page, problems));
  for (const page of context.pages()) attach(page, problems);
  return problems;
}

/** Removes the problems a test caused on purpose (matching `re`), asserting there were some. */
export function expected(problems, re) {
  const before = problems.length;
  problems.splice(0, problems.length, ...problems.filter((p) => !re.test(p)));
  if (problems.length === before) throw new Error(`expected a problem matching ${re}`);
}

// Playwright's WebSocket routing relays frames through a socket of its own inside the page;
// a frame our page sends as the relay closes the connection makes that socket complain, from
// a script with no URL. Our code checks readyState before sending (js/terminal/link.js).
const routingNoise = (m) => m.location().url === '' && m.text() === 'WebSocket is already in CLOSING or CLOSED state.';

function attach(page, problems) {
  page.on('console', (m) => m.type() === 'error' && !routingNoise(m) && problems.push(`console: ${m.text()} (${m.location().url})`));
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
  page.on('requestfailed', (r) => {
    const cancelledRead = r.failure()?.errorText === 'net::ERR_ABORTED' && r.method() === 'GET';
    if (!cancelledRead) problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`));
}

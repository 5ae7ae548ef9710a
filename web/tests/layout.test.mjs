// Every page fits a phone: at 360×740 and 390×844 (touch), signed out and signed in, no page is
// wider than the window (nothing to scroll sideways, nothing cut off), and the terminal page
// is exactly the window's height. Screenshots of the terminal, desktop and phone, go to
// docs/img/ when UPDATE_SCREENSHOTS=1 (README shows them).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startRelay, call, ROOT } from './support/relay.mjs';
import { connector } from './support/connector.mjs';
import { launch, watch } from './support/browser.mjs';
import { signIn, connection, waitForRow, run } from './support/ui.mjs';

const EMAIL = 'phone@example.com';
const PASSWORD = 'correct horse battery';
const PHONES = [{ width: 360, height: 740 }, { width: 390, height: 844 }];
const PROMPT = /[$#]$/;

let relay;
let browser;
let box;
let project;
let device;

before(async () => {
  relay = await startRelay();
  browser = await launch();
  assert.equal((await call(relay, 'POST', '/auth/v1/signup', { body: { email: EMAIL, password: PASSWORD } })).status, 200);
  const token = (await call(relay, 'POST', '/auth/v1/token?grant_type=password', { body: { email: EMAIL, password: PASSWORD } })).body.access_token;
  project = (await call(relay, 'POST', '/api/v1/projects', { token, body: { name: 'A project with a rather long name, as people write them' } })).body;
  device = (await call(relay, 'POST', `/api/v1/projects/${project.id}/devices`, { token, body: { name: 'raspberry-pi-in-the-garden-shed' } })).body;
  box = connector(relay, 'raspberry-pi-in-the-garden-shed');
  await box.pair(device.pairing_code);
  box.start();
});

after(async () => {
  await box?.cleanup();
  await browser?.close();
  await relay?.stop();
});

/**
 * How far `path` sticks out sideways (px) once rendered, past the window's width; 0 when it
 * fits. (A phone browser widens its layout to fit wide content, so `innerWidth` would grow
 * with it: compare with the width the window really has.)
 */
async function overflow(page, path) {
  await page.goto(path);
  await page.locator('#main > *').first().waitFor();
  // Pages fill in what they fetch: measure once nothing says "Loading…" any more.
  await page.waitForFunction(() => ![...document.querySelectorAll('#main [role=status]')].some((e) => /Loading/.test(e.textContent)));
  return page.evaluate((width) => Math.max(document.documentElement.scrollWidth, innerWidth) - width, page.viewportSize().width);
}

const PUBLIC = ['/', '/auth', '/auth?mode=signup', '/auth?mode=forgot', '/reset-password', '/invite', '/docs', '/no-such-page'];
const PRIVATE = () => ['/dashboard', '/projects', `/project/${project.id}`, `/project/${project.id}?tab=team`,
  `/project/${project.id}?tab=sessions`, '/skill/privaclaw', '/settings'];

for (const size of PHONES) {
  test(`${size.width}×${size.height}: no page is wider than the phone, signed out or in`, async () => {
    const context = await browser.newContext({ baseURL: relay.url, viewport: size, hasTouch: true, isMobile: true });
    const problems = watch(context);
    const page = await context.newPage();
    const wide = [];
    for (const path of PUBLIC) {
      const px = await overflow(page, path);
      if (px > 0) wide.push(`${path} (signed out): ${px} px too wide`);
    }
    await signIn(page, EMAIL, PASSWORD);
    for (const path of [...PUBLIC.filter((p) => !p.startsWith('/auth')), ...PRIVATE()]) {
      const px = await overflow(page, path);
      if (px > 0) wide.push(`${path}: ${px} px too wide`);
    }
    assert.deepEqual(wide, []);
    await context.close();
    assert.deepEqual(problems.filter((p) => !/no-such-page/.test(p)), []);
  });
}

async function terminalPage(viewport, touch) {
  const context = await browser.newContext({ baseURL: relay.url, viewport, hasTouch: touch, isMobile: touch });
  const page = await context.newPage();
  await signIn(page, EMAIL, PASSWORD, `/project/${project.id}`);
  await page.getByRole('button', { name: 'Connect to raspberry-pi-in-the-garden-shed' }).click();
  await connection(page).filter({ hasText: /^Connected$/ }).waitFor();
  await waitForRow(page, PROMPT);
  return { context, page };
}

test('the terminal page is exactly as tall and as wide as the window, on a desktop and a phone', async () => {
  for (const [viewport, touch, name] of [[{ width: 1280, height: 800 }, false, 'terminal-desktop'], [PHONES[1], true, 'terminal-phone']]) {
    const { context, page } = await terminalPage(viewport, touch);
    await run(page, 'printf "%s\\n" "a_b_c  grep -n foo | sort" "PrivaClaw: a shell in the browser"');
    await waitForRow(page, /^PrivaClaw: a shell in the browser$/);
    const [w, h] = await page.evaluate(({ width, height }) => [
      Math.max(document.documentElement.scrollWidth, innerWidth) - width,
      Math.max(document.documentElement.scrollHeight, innerHeight) - height,
    ], viewport);
    const low = await page.evaluate(() => [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().bottom > innerHeight).map((e) => `${e.tagName}.${e.className} ${e.getBoundingClientRect().bottom}`).slice(0, 8));
    assert.deepEqual([w, h], [0, 0], `${name}: sticks out by ${w} px sideways and ${h} px down: ${low}`);
    if (process.env.UPDATE_SCREENSHOTS === '1') await page.screenshot({ path: join(ROOT, 'docs', 'img', `${name}.png`) });
    await context.close();
  }
});

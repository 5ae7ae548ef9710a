// The main story, in one browser against the real relay and the real connector: sign up,
// create a project, add a device, pair relay-connector with the code the page shows, watch
// the device come online without a reload, open its terminal and use it (output, search,
// size, reload and resume, a dropped link, a team mate joining and being removed, flow
// control, the device going away, ending the session), then the session history and the
// phone layout. Screenshots go to test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startRelay, call, ROOT } from './support/relay.mjs';
import { connector } from './support/connector.mjs';
import { launch, watch } from './support/browser.mjs';
import { signIn, addMember, connection, shownSize, waitForRow, run, search, glyphInk } from './support/ui.mjs';

const ARTIFACTS = join(ROOT, 'test-artifacts');
const EMAIL = 'owner@example.com';
const PASSWORD = 'correct horse battery';
// The end of bash's prompt: $ for a user, # for root.
const PROMPT = /[$#]$/;

let relay;
let browser;
let context;
let page;
let problems;
let box;
let deviceUrl;
// Every /session frame of the main page, both ways, parsed; and the live routes, to cut one
// like a network would.
const sent = [];
const received = [];
const sockets = [];

const framesOf = (list, type) => list.filter((f) => f.type === type);

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // A short token lifetime makes the page refresh it several times during this test.
  relay = await startRelay({ ACCESS_TOKEN_TTL: '20' });
  box = connector(relay, 'test-box');
  browser = await launch();
  context = await browser.newContext({ baseURL: relay.url, viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: relay.url });
  problems = watch(context);
  page = await context.newPage();
  await page.routeWebSocket(/\/session$/, (ws) => {
    const server = ws.connectToServer();
    sockets.push({ ws, server });
    ws.onMessage((m) => {
      sent.push(JSON.parse(m));
      server.send(m);
    });
    server.onMessage((m) => {
      received.push(JSON.parse(m));
      ws.send(m);
    });
  });
});

after(async () => {
  await box?.cleanup();
  await browser?.close();
  await relay?.stop();
});

test('sign up from the landing page', async () => {
  await page.goto('/');
  await page.getByRole('heading', { name: 'Browser terminals for machines that dial out' }).waitFor();
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.waitForURL('**/auth?mode=signup');
  await page.getByLabel('Email').fill(EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL('**/dashboard');
  await page.getByRole('heading', { name: 'Create your first project' }).waitFor();
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('privaclaw.session')));
  assert.equal(stored.user.email, EMAIL);
  assert.ok(!page.url().includes(stored.access_token), 'the token never goes in the URL');
});

test('create and rename a project', async () => {
  await page.getByRole('button', { name: 'New project' }).first().click();
  await page.getByLabel('Project name').fill('Lab');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.waitForURL(/\/project\/[0-9a-f-]+$/);
  await page.getByRole('button', { name: 'Rename' }).click();
  await page.getByLabel('Project name').fill('Home <lab> & "friends"');
  await page.getByRole('button', { name: 'Save' }).click();
  // Shown as text, never as markup.
  await page.getByRole('heading', { name: 'Home <lab> & "friends"' }).waitFor();
});

test('add a device: pairing code, exact commands, copy buttons', async () => {
  await page.getByRole('button', { name: 'Add device' }).first().click();
  await page.getByLabel('Device name').fill('test-box');
  await page.getByRole('button', { name: 'Add and get a pairing code' }).click();
  const dialog = page.getByRole('dialog', { name: 'Pair “test-box”' });
  const code = (await dialog.locator('.pairing-code').textContent()).trim();
  assert.match(code, /^[A-HJ-NP-Z2-9]{6}$/);
  // No builds in this relay's dist directory: no one-line installer (it would 404), but how
  // to get them, and pairing by hand, which keeps the device's name.
  await dialog.getByText('This relay has no connector downloads, so there is no one-line installer').waitFor();
  const manual = `relay-connector --pair ${code} --api ${relay.url}/functions/v1\nrelay-connector`;
  assert.deepEqual(await dialog.locator('pre').allTextContents(), [manual]);
  assert.equal(await dialog.locator('pre').evaluate((e) => getComputedStyle(e).whiteSpace), 'pre', 'commands never wrap');
  await dialog.getByRole('button', { name: /^Copy: Or pair/ }).click();
  await dialog.getByText('Copied').waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), manual);

  await page.evaluate(() => { window.sameDocument = true; });
  await box.pair(code);
  box.start();
  // Live, in the still-open dialog, in a toast, and in the list behind it.
  await dialog.getByText('test-box is online').waitFor();
  await page.locator('.toast', { hasText: 'test-box is online' }).waitFor();
  await dialog.getByRole('button', { name: 'Done' }).click();
  await page.locator('li[data-device-id] .status', { hasText: 'Online' }).waitFor();
  assert.equal(await page.evaluate(() => window.sameDocument), true, 'no reload happened');
  deviceUrl = page.url();
});

test('the dashboard shows the device online', async () => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
  await page.locator('li[data-device-id]', { hasText: 'test-box' }).locator('.status', { hasText: 'Online' }).waitFor();
  await page.getByText('1 / 1').waitFor();
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png') });
});

test('open the terminal: sized from the first frame, output, search', async () => {
  await page.getByRole('button', { name: 'Connect to test-box' }).click();
  await page.waitForURL(/\/terminal\/[0-9a-f-]+\/[0-9a-f-]+$/);
  await connection(page).filter({ hasText: /^Connected$/ }).waitFor();
  await waitForRow(page, PROMPT);
  const [cols, rows] = await shownSize(page);
  const [auth] = framesOf(sent, 'auth');
  assert.equal(auth.data.cols, cols);
  assert.equal(auth.data.rows, rows);
  assert.equal(auth.data.offset, undefined, 'a fresh page asks for all the history');

  await run(page, 'echo hello-$((6*7))');
  await waitForRow(page, /^hello-42$/);
  await run(page, 'echo size=$(stty size | tr " " x)');
  const [, ptyRows, ptyCols] = await waitForRow(page, /^size=(\d+)x(\d+)$/);
  assert.deepEqual([Number(ptyCols), Number(ptyRows)], [cols, rows], 'the PTY started with the page size');
  assert.equal(await search(page, 'hello-42'), '1 of 1');
  // Copy a line selected with the mouse (trailing blanks are not copied); paste a command.
  const line = await page.locator('.xterm-rows > div', { hasText: /^\s*hello-42\s*$/ }).boundingBox();
  await page.mouse.move(line.x + 1, line.y + line.height / 2);
  await page.mouse.down();
  await page.mouse.move(line.x + 300, line.y + line.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.locator('.xterm-selection > div').first().waitFor();
  await page.keyboard.press('Control+Shift+C');
  await page.locator('.toast', { hasText: 'Copied.' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), 'hello-42');
  await page.evaluate(() => navigator.clipboard.writeText('echo pasted-$((2*3))'));
  await page.keyboard.press('Control+Shift+V');
  await waitForRow(page, /[$#] echo pasted-\$\(\(2\*3\)\)$/);
  await page.keyboard.press('Enter');
  await waitForRow(page, /^pasted-6$/);
  await run(page, 'printf "\\033[1;32mgreen\\033[0m \\033[44m blue \\033[0m\\n"');
  await waitForRow(page, /^green +blue$/);
  await page.screenshot({ path: join(ARTIFACTS, 'terminal.png') });
  // Unicode 11 widths: an emoji takes two cells (one in Unicode 6), so after "😀|" the cursor
  // xterm reports (ESC[6n, read back by the shell) is in column 4.
  await run(page, "printf '\\U0001F600|\\033[6n'; read -rs -d R pos; echo; echo col=${pos#*;}");
  await waitForRow(page, /^col=4$/);
});

/** Asserts `_`, `g` and `|`, printed in the terminal, are drawn whole: nothing clipped. */
async function glyphsWhole(p) {
  await run(p, "printf '%s\\n' '_g|'");
  const [under, g, bar] = await glyphInk(p, '_g|');
  assert.ok(under, 'the underscore is drawn at all');
  assert.ok(under.top > 0.6, `the underscore sits low in its cell: ${JSON.stringify(under)}`);
  assert.ok(g && g.bottom > 0.7, `the descender of g is drawn: ${JSON.stringify(g)}`);
  assert.ok(bar && bar.top < 0.35 && bar.bottom > 0.7, `the bar spans its cell: ${JSON.stringify(bar)}`);
}

test('underscores, descenders and bars are drawn whole (14 px)', async () => {
  await glyphsWhole(page);
});

test('resizing the window resizes the PTY', async () => {
  const before = await shownSize(page);
  await page.setViewportSize({ width: 900, height: 560 });
  await page.locator('.term-meta[title="Columns × rows"]').filter({ hasNotText: before.join('×') }).waitFor();
  const [cols, rows] = await shownSize(page);
  assert.ok(cols < before[0] && rows < before[1]);
  assert.deepEqual(framesOf(sent, 'resize').at(-1).data, { session_id: framesOf(sent, 'auth')[0].data.session_id, cols, rows });
  await run(page, 'echo resized=$(stty size | tr " " x)');
  const [, ptyRows, ptyCols] = await waitForRow(page, /^resized=(\d+)x(\d+)$/);
  assert.deepEqual([Number(ptyCols), Number(ptyRows)], [cols, rows]);
});

test('a reload gets the session back with its earlier output', async () => {
  const authsBefore = framesOf(sent, 'auth').length;
  await page.reload();
  await connection(page).filter({ hasText: /^Connected$/ }).waitFor();
  await waitForRow(page, /^hello-42$/);
  const auth = framesOf(sent, 'auth').at(-1);
  assert.equal(framesOf(sent, 'auth').length, authsBefore + 1);
  assert.equal(auth.data.offset, undefined);
  assert.equal(framesOf(received, 'auth_ok').at(-1).data.resumed, true);
  assert.equal(await search(page, 'hello-42'), '1 of 1', 'the history came back once');
  // The history holds a cursor-position query (the width check above): answered a second
  // time, its reply would be typed into this command line.
  await page.locator('.xterm').click();
  await run(page, 'echo after-$((40+2))');
  await waitForRow(page, /^after-42$/);
});

test('a dropped connection comes back by itself and loses nothing', async () => {
  await run(page, 'sleep 1; echo late-$((3*3))');
  await waitForRow(page, /sleep 1; echo late-\$\(\(3\*3\)\)$/);
  const { ws, server } = sockets.at(-1);
  await ws.close({ code: 4000, reason: 'network lost (test)' });
  await server.close();
  await connection(page).filter({ hasText: /Reconnecting in \d+ s/ }).waitFor();
  await connection(page).filter({ hasText: /^Connected$/ }).waitFor();
  await waitForRow(page, /^late-9$/);
  const auth = framesOf(sent, 'auth').at(-1);
  assert.ok(Number.isInteger(auth.data.offset) && auth.data.offset > 0, 'the reconnect says how much output it has');
  assert.equal(framesOf(received, 'auth_ok').at(-1).data.dropped, 0);
  assert.equal(await search(page, 'late-9'), '1 of 1', 'nothing lost, nothing twice');
  assert.equal(await search(page, 'after-42'), '1 of 1');
  await page.getByRole('button', { name: 'Reconnect' }).click();
  await connection(page).filter({ hasText: /^Connected$/ }).waitFor();
  await page.getByText(/^\d+ ms$/).waitFor();
});

test('a link cut without a close frame comes back at once, not after a back-off', async () => {
  await page.evaluate(() => {
    window.pillTexts = [];
    const pill = document.querySelector('.term-title .status');
    new MutationObserver(() => window.pillTexts.push(pill.textContent)).observe(pill, { childList: true, subtree: true, characterData: true });
  });
  const auths = framesOf(sent, 'auth').length;
  const { ws, server } = sockets.at(-1);
  await ws.close({ code: 1006 });
  await server.close();
  await page.waitForFunction(() => window.pillTexts.includes('Connected'));
  assert.equal(framesOf(sent, 'auth').length, auths + 1, 'it authenticated again');
  assert.ok(framesOf(sent, 'auth').at(-1).data.offset > 0, 'resuming from its offset');
  const seen = await page.evaluate(() => window.pillTexts);
  assert.ok(!seen.some((t) => /Reconnecting in/.test(t)), `no back-off: ${seen.join(' → ')}`);
});

test('a team mate joins only after saying so, is shown, and is cut off when removed', async () => {
  const ownerToken = (await call(relay, 'POST', '/auth/v1/token?grant_type=password', { body: { email: EMAIL, password: PASSWORD } })).body.access_token;
  const mate = 'mate@example.com';
  assert.equal((await call(relay, 'POST', '/auth/v1/signup', { body: { email: mate, password: PASSWORD } })).status, 200);
  const mateToken = (await call(relay, 'POST', '/auth/v1/token?grant_type=password', { body: { email: mate, password: PASSWORD } })).body.access_token;
  const [project] = (await call(relay, 'GET', '/api/v1/projects', { token: ownerToken })).body;
  await addMember(relay, call, ownerToken, project.id, mate, mateToken);

  const other = await browser.newContext({ baseURL: relay.url, viewport: { width: 1000, height: 700 } });
  const otherProblems = watch(other);
  const tab = await other.newPage();
  await signIn(tab, mate, PASSWORD, new URL(page.url()).pathname);
  const ask = tab.locator('.term-banner', { hasText: `This session was started by ${EMAIL}` });
  await ask.waitFor();
  await connection(tab).filter({ hasText: 'Not joined' }).waitFor();
  await ask.getByRole('button', { name: 'Join session' }).click();
  await connection(tab).filter({ hasText: /^Connected$/ }).waitFor();
  await page.locator('.term-company', { hasText: `With you: ${mate}` }).waitFor();
  await page.locator('.toast', { hasText: `${mate} joined this session.` }).waitFor();
  await run(tab, 'echo from-$((40+2))');
  await waitForRow(page, /^from-42$/);

  const removed = await call(relay, 'DELETE', `/api/v1/projects/${project.id}/members/${(await call(relay, 'GET', '/auth/v1/user', { token: mateToken })).body.id}`, { token: ownerToken });
  assert.equal(removed.status, 204);
  await tab.locator('.term-banner', { hasText: 'You were removed from this project' }).waitFor();
  await connection(tab).filter({ hasText: 'Disconnected' }).waitFor();
  await page.locator('.term-company').waitFor({ state: 'hidden' });
  await other.close();
  assert.deepEqual(otherProblems, []);
});

test('flow control: a flood pauses the session instead of freezing the tab', async () => {
  // A second browser on the same session, with its own sign-in and the browser's own
  // WebSocket (not routed through the test): output reaches it in bursts, as on a network.
  const second = await browser.newContext({ baseURL: relay.url, viewport: { width: 1000, height: 700 } });
  const secondProblems = watch(second);
  const tab = await second.newPage();
  const frames = [];
  tab.on('websocket', (ws) => ws.on('framesent', (f) => frames.push(JSON.parse(f.payload))));
  const terminalPath = new URL(page.url()).pathname;
  await signIn(tab, EMAIL, PASSWORD, terminalPath);
  await connection(tab).filter({ hasText: /^Connected$/ }).waitFor();
  // The shell waits a second before the flood, so it arrives while the tab is busy (as a slow
  // phone would be): output piles up behind xterm.
  await run(tab, 'sleep 1; yes "$(printf %0100d 0)" | head -n 30000; echo flood-$((2+3))');
  await waitForRow(tab, /head -n 30000; echo flood-\$\(\(2\+3\)\)$/);
  await tab.evaluate(() => {
    const until = performance.now() + 3000;
    while (performance.now() < until);
  });
  await waitForRow(tab, /^flood-5$/, { timeout: 60_000 });
  const kinds = frames.map((f) => f.type);
  assert.ok(kinds.includes('pause'), 'xterm fell behind and the page asked for a pause');
  assert.ok(kinds.lastIndexOf('resume') > kinds.lastIndexOf('pause'), 'and resumed after');
  // The tab stayed responsive: it still answers input at once.
  await run(tab, 'echo alive-$((1+1))');
  await waitForRow(tab, /^alive-2$/);
  await second.close();
  assert.deepEqual(secondProblems, []);
  await waitForRow(page, /^alive-2$/);
});

test('the connector killed: the pill and banner say the device is offline, then why the session ended', async () => {
  await box.kill('SIGKILL');
  await page.locator('.term-banner', { hasText: 'test-box is offline' }).waitFor();
  await page.locator('.toast', { hasText: 'test-box is offline' }).waitFor();
  await connection(page).filter({ hasText: 'Device offline' }).waitFor();
  assert.equal(await page.locator('.term-banner', { hasText: 'keeps running' }).count(), 0, 'no promise the shell lives');
  box.start();
  // The new connector has no shells from before, so the relay ends the old session.
  const banner = page.locator('.term-banner', { hasText: 'This session has ended: the connector on test-box went away and came back without this shell' });
  await banner.waitFor();
  const again = banner.getByRole('button', { name: 'Start a new session', disabled: false });
  await again.waitFor();
  const oldUrl = page.url();
  await again.click();
  await page.waitForURL((u) => u.href !== oldUrl && /\/terminal\//.test(u.pathname));
  await connection(page).filter({ hasText: /^Connected$/ }).waitFor();
  await waitForRow(page, PROMPT);
});

test('ending the session', async () => {
  await page.getByRole('button', { name: 'End session' }).click();
  const answered = page.waitForResponse((r) => r.url().endsWith('/functions/v1/end-session'));
  await page.getByRole('dialog').getByRole('button', { name: 'End session' }).click();
  assert.equal((await answered).status(), 200);
  await page.locator('.term-banner', { hasText: `This session has ended: ${EMAIL} ended it.` }).waitFor();
  await connection(page).filter({ hasText: 'Ended' }).waitFor();
});

test('session history with filters', async () => {
  await page.goto(`${deviceUrl}?tab=sessions`);
  const rows = page.locator('tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), 2);
  assert.equal(await rows.filter({ hasText: 'test-box' }).filter({ hasText: EMAIL }).count(), 2);
  await page.getByLabel('Status').selectOption('active');
  await page.getByText('None match these filters.').waitFor();
  await page.getByLabel('Status').selectOption('ended');
  await rows.filter({ hasText: `${EMAIL} ended it` }).waitFor();
  // The reason reads on its own line under the badge, not run into it ("Ended ended by …").
  const reason = rows.filter({ hasText: `${EMAIL} ended it` }).locator('.end-reason');
  assert.equal(await reason.evaluate((e) => getComputedStyle(e).display), 'block');
  await page.getByLabel('Device').selectOption({ label: 'test-box' });
  await rows.filter({ hasText: 'came back without this shell' }).waitFor();
  assert.equal(await rows.count(), 2);
});

test('the access token is refreshed quietly before it expires', async () => {
  const firstToken = framesOf(sent, 'auth')[0].data.token;
  // With a 20 s lifetime the page refreshes every 15 s; if that has not happened yet, it will.
  await page.waitForFunction((first) => JSON.parse(localStorage.getItem('privaclaw.session')).access_token !== first,
    firstToken, { timeout: 30_000 });
  // The page carries on with the new token, without a reload.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects' }).click();
  await page.getByRole('link', { name: /Home <lab>/ }).waitFor();
});

test('on a phone: menu, and the extra keys under the terminal', async () => {
  const phone = await browser.newContext({ baseURL: relay.url, viewport: { width: 390, height: 780 }, hasTouch: true, isMobile: true });
  const phoneProblems = watch(phone);
  const p = await phone.newPage();
  await signIn(p, EMAIL, PASSWORD);
  await p.getByRole('button', { name: 'Menu' }).click();
  await p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects' }).waitFor();
  await p.screenshot({ path: join(ARTIFACTS, 'phone-menu.png') });
  await p.getByRole('button', { name: 'Menu' }).click();
  await p.getByRole('button', { name: 'Connect to test-box' }).tap();
  await connection(p).filter({ hasText: /^Connected$/ }).waitFor();
  await waitForRow(p, PROMPT);
  await glyphsWhole(p); // at the phone's 13 px
  await run(p, 'echo phone-$((5+5))');
  await waitForRow(p, /^phone-10$/);
  const keys = p.getByRole('toolbar', { name: 'Extra keys' });
  await keys.getByRole('button', { name: 'Up' }).tap();
  await waitForRow(p, /[$#] echo phone-\$\(\(5\+5\)\)$/, { count: 2 });
  await p.keyboard.press('Enter');
  await waitForRow(p, /^phone-10$/, { count: 2 });
  await keys.getByRole('button', { name: 'Ctrl' }).tap();
  await p.keyboard.type('c');
  await waitForRow(p, /\^C$/);
  await p.screenshot({ path: join(ARTIFACTS, 'terminal-phone.png') });
  await phone.close();
  assert.deepEqual(phoneProblems, []);
});

/** Opens a new session on test-box from its project page; resolves once its shell is ready. */
async function newSession() {
  await page.goto(deviceUrl);
  await page.getByRole('button', { name: 'Connect to test-box' }).click();
  await page.waitForURL(/\/terminal\//);
  await connection(page).filter({ hasText: /^Connected$/ }).waitFor();
  await waitForRow(page, PROMPT);
}

const ended = (text) => page.locator('.term-banner', { hasText: `This session has ended: ${text}` }).waitFor();

test('a relay restart: the page says so, comes back by itself, and the shell carries on', async () => {
  await newSession();
  await run(page, 'export MARK=before-$((1+1)); echo marked-$MARK');
  await waitForRow(page, /^marked-before-2$/);
  await relay.restart();
  await page.locator('.term-banner', { hasText: 'The relay is restarting' }).waitFor();
  await connection(page).filter({ hasText: /^Connected$/ }).waitFor({ timeout: 30_000 });
  await page.locator('.term-banner', { hasText: 'The relay is restarting' }).waitFor({ state: 'hidden' });
  await run(page, 'echo still-$MARK');
  await waitForRow(page, /^still-before-2$/);
  // The event stream was cut mid-chunk and reconnected while the relay was down; the
  // browser says so in the console.
  problems.splice(0, problems.length, ...problems.filter((p) => !/ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_INCOMPLETE_CHUNKED_ENCODING|WebSocket connection to/.test(p)));
});

test('a shell that exits says its status', async () => {
  await run(page, 'exit 3');
  await ended('the shell exited with status 3.');
  await connection(page).filter({ hasText: 'Ended' }).waitFor();
});

test('a connector stopped by its service manager says so', async () => {
  await newSession();
  await box.kill('SIGTERM');
  await ended('the connector on test-box was stopped, and the shell with it.');
  box.start();
});

test('a deleted device says so', async () => {
  await newSession();
  const terminal = page.url();
  const ownerToken = (await call(relay, 'POST', '/auth/v1/token?grant_type=password', { body: { email: EMAIL, password: PASSWORD } })).body.access_token;
  const deviceId = terminal.split('/terminal/')[1].split('/')[0];
  assert.equal((await call(relay, 'DELETE', `/api/v1/devices/${deviceId}`, { token: ownerToken })).status, 204);
  await ended('the device was deleted or paired again.');
  // The page asks about the device it no longer finds: expected here.
  problems.splice(0, problems.length, ...problems.filter((p) => !/HTTP 404: GET .*\/api\/v1\/devices\//.test(p)));
});

test('no console errors, no failed requests', () => {
  assert.deepEqual(problems, []);
});

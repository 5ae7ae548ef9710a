// Everything around the terminal, against the real relay: the public pages and docs,
// signing in and out, a password reset from the link the relay prints, a team (invitation
// links shown once, cancel, remove) and what a member may not do — no owner buttons, and the
// API refuses anyway — joining through an invitation link, escaping of names, the terminal
// page of a relay built without xterm.js, settings (a password change signs other browsers
// out), and the AI-node configurations.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRelay, call } from './support/relay.mjs';
import { launch, watch, expected } from './support/browser.mjs';
import { signIn } from './support/ui.mjs';

const OWNER = 'owner@example.com';
const MEMBER = 'member@example.com';
const PASSWORD = 'first password';
const NEW_PASSWORD = 'second password';
// A name written to break out of markup if it were ever parsed as HTML.
const NASTY = '<img src=x onerror="window.pwned=1">';

let relay;
let browser;
let owner;
let problems;
let project;
let device;
let memberToken;

const api = (method, path, token, body) => call(relay, method, path, { token, body });
const token = async (email, password) => (await api('POST', '/auth/v1/token?grant_type=password', null, { email, password })).body.access_token;

before(async () => {
  relay = await startRelay();
  browser = await launch();
  const context = await browser.newContext({ baseURL: relay.url, viewport: { width: 1280, height: 800 } });
  problems = watch(context);
  owner = await context.newPage();
  for (const email of [OWNER, MEMBER, 'third@example.com']) {
    assert.equal((await api('POST', '/auth/v1/signup', null, { email, password: PASSWORD })).status, 200);
  }
  const ownerToken = await token(OWNER, PASSWORD);
  memberToken = await token(MEMBER, PASSWORD);
  project = (await api('POST', '/api/v1/projects', ownerToken, { name: 'Shared' })).body;
  device = (await api('POST', `/api/v1/projects/${project.id}/devices`, ownerToken, { name: 'shared-box' })).body;
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

test('public pages: landing, docs, llms.txt, not found', async () => {
  await owner.goto('/docs');
  await owner.getByRole('heading', { name: 'Getting started', level: 2 }).waitFor();
  for (const heading of ['The connector', 'AI nodes', 'Install', 'Troubleshooting', 'FAQ']) {
    await owner.getByRole('heading', { name: heading, exact: true }).waitFor();
  }
  // Commands in the docs carry this relay's own address.
  const install = owner.locator('pre', { hasText: `curl -fsSL ${relay.url}/install.sh` });
  assert.equal(await install.count(), 2);
  await owner.getByRole('navigation', { name: 'Documentation' }).getByRole('link', { name: 'FAQ' }).click();
  assert.ok(owner.url().endsWith('/docs#faq'));
  for (const file of ['/llms.txt', '/llms-full.txt']) {
    const res = await owner.request.get(file);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-type'], /^text\/plain/);
    assert.match(await res.text(), /^# PrivaClaw/);
  }
  await owner.goto('/no/such/page');
  await owner.getByRole('heading', { name: 'Page not found' }).waitFor();
});

test('private pages send people to sign in and back', async () => {
  await owner.goto(`/project/${project.id}`);
  await owner.waitForURL(`**/auth?next=${encodeURIComponent(`/project/${project.id}`)}`);
  await owner.getByLabel('Email').fill(OWNER);
  await owner.getByLabel('Password').fill('not the password');
  await owner.getByRole('tabpanel').getByRole('button', { name: 'Sign in' }).click();
  await owner.getByRole('alert').filter({ hasText: 'Invalid login credentials' }).waitFor();
  expected(problems, /grant_type=password/);
  await owner.getByLabel('Password').fill(PASSWORD);
  await owner.getByRole('tabpanel').getByRole('button', { name: 'Sign in' }).click();
  await owner.waitForURL(`**/project/${project.id}`);
  await owner.getByRole('heading', { name: 'Shared' }).waitFor();
});

test('signing out while a page loads ends its requests first: none comes back 401', async () => {
  // A browser of its own (another tab would be signed out through the shared storage), whose
  // fetch reports how the latest request for the device list ended.
  const context = await browser.newContext({ baseURL: relay.url });
  const tabProblems = watch(context);
  const page = await context.newPage();
  const devices = `/api/v1/projects/${project.id}/devices`;
  await page.addInitScript((path) => {
    const fetch = window.fetch;
    window.fetch = (input, init) => {
      const answer = fetch(input, init);
      if (new URL(input, location.href).pathname === path) {
        window.listEnded = answer.then((r) => `HTTP ${r.status}`, (e) => e.name);
      }
      return answer;
    };
  }, devices);
  await signIn(page, OWNER, PASSWORD);
  // The list is held back until the relay has revoked the sign-in; the page hears of the
  // revocation (logout's answer, the event stream) only after the list's fate is known.
  await page.route((u) => u.pathname === '/api/v1/events', () => {});
  const held = new Promise((resolve) => page.route((u) => u.pathname === devices, resolve));
  const signingOut = new Promise((resolve) => page.route((u) => u.pathname === '/auth/v1/logout', resolve));
  await page.goto(`/project/${project.id}`);
  const list = await held;
  await page.getByRole('button', { name: 'Sign out' }).click();
  const revoke = await signingOut;
  const revoked = await revoke.fetch();
  assert.equal(revoked.status(), 204);
  // Had the page not ended it, the held request would now reach the relay and get 401.
  await list.continue().catch(() => {});
  assert.equal(await page.evaluate(() => window.listEnded), 'AbortError');
  await revoke.fulfill({ response: revoked });
  await page.waitForURL((u) => u.pathname === '/auth');
  await context.close();
  assert.deepEqual(tabProblems, []);
});

test('sign out, then reset the password from the link the relay prints', async () => {
  await owner.getByRole('button', { name: 'Sign out' }).click();
  await owner.waitForURL((u) => u.pathname === '/auth');
  assert.equal(await owner.evaluate(() => localStorage.getItem('privaclaw.session')), null);
  await owner.getByRole('tab', { name: 'Forgot password' }).click();
  await owner.getByLabel('Email').fill(OWNER);
  await owner.getByRole('button', { name: 'Send reset link' }).click();
  await owner.getByText('a reset link is on its way').waitFor();
  const [link] = await relay.waitFor(/http:\/\/\S+\/reset-password\?token=[\w-]+/);
  await owner.goto(link);
  // The one-time token leaves the address bar at once.
  await owner.waitForURL((u) => u.pathname === '/reset-password' && u.search === '');
  await owner.getByLabel('New password').fill(NEW_PASSWORD);
  await owner.getByLabel('Repeat it').fill(NEW_PASSWORD);
  await owner.getByRole('button', { name: 'Set password and sign in' }).click();
  await owner.waitForURL('**/dashboard');
  assert.equal((await api('POST', '/auth/v1/token?grant_type=password', null, { email: OWNER, password: PASSWORD })).status, 400);
  await owner.getByRole('button', { name: 'Sign out' }).click();
  await owner.waitForURL((u) => u.pathname === '/auth');
  await signIn(owner, OWNER, NEW_PASSWORD, `/project/${project.id}?tab=team`);
});

test('team: an invitation link shown once, cancel an invitation, remove a member', async () => {
  const result = owner.getByRole('form', { name: 'Invite someone' }).getByRole('status');
  const members = owner.getByRole('list', { name: 'Members' });
  // Inviting gives a link to hand over; whoever opens it joins (here, through the API).
  const invite = async (email) => {
    await owner.getByLabel('Email').fill(email);
    await owner.getByRole('button', { name: 'Invite', exact: true }).click();
    await result.filter({ hasText: email }).waitFor();
    assert.equal(await result.locator('[data-status]').getAttribute('data-status'), 'invited');
    const link = await result.locator('pre code').textContent();
    assert.match(link, new RegExp(`^${relay.url}/invite\\?token=[\\w-]{43}$`));
    return new URL(link).searchParams.get('token');
  };
  const accept = async (token, who) => assert.equal((await api('POST', '/api/v1/invitations/accept', who, { token })).status, 200);
  await accept(await invite(MEMBER), memberToken);
  await members.getByText(MEMBER).waitFor();
  await invite('newcomer@example.com');
  const pending = owner.getByRole('list', { name: 'Pending invitations' });
  await pending.getByText('newcomer@example.com').waitFor();
  await owner.getByRole('button', { name: 'Cancel the invitation of newcomer@example.com' }).click();
  await pending.waitFor({ state: 'detached' });

  await accept(await invite('third@example.com'), await token('third@example.com', PASSWORD));
  await members.getByText('third@example.com').waitFor();
  await owner.getByRole('button', { name: 'Remove: third@example.com' }).click();
  await owner.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
  await members.getByText('third@example.com').waitFor({ state: 'detached' });
  await members.getByText(MEMBER).waitFor();
});

test('names are shown as text, never as markup', async () => {
  await owner.getByRole('tab', { name: 'Devices' }).click();
  await owner.getByRole('button', { name: 'Rename: shared-box' }).click();
  await owner.getByLabel('Device name').fill(NASTY);
  await owner.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
  await owner.locator('li[data-device-id] .item-title', { hasText: NASTY }).waitFor();
  assert.equal(await owner.locator('img[src="x"]').count(), 0);
  assert.equal(await owner.evaluate(() => window.pwned), undefined);
});

test('devices: a new pairing code replaces the old one, with the relay’s downloads; delete', async () => {
  // A build in the relay's dist directory (a stand-in: the relay serves whatever file is there).
  const build = Buffer.from('stand-in for relay-connector-linux-armv7\n');
  mkdirSync(join(relay.dataDir, 'dist'), { recursive: true });
  writeFileSync(join(relay.dataDir, 'dist', 'relay-connector-linux-armv7'), build);
  writeFileSync(join(relay.dataDir, 'dist', 'relay-connector-linux-mipsel'), 'stand-in for a router build\n');
  const oldCode = device.pairing_code;
  await owner.getByRole('button', { name: `New pairing code: ${NASTY}` }).click();
  await owner.getByRole('dialog').getByRole('button', { name: 'Make a new code' }).click();
  const dialog = owner.getByRole('dialog', { name: `Pair “${NASTY}”` });
  const code = (await dialog.locator('.pairing-code').textContent()).trim();
  assert.notEqual(code, oldCode);
  const link = dialog.getByRole('list', { name: 'Connector downloads' }).getByRole('link', { name: 'linux-armv7' });
  await link.waitFor();
  // Each build says which machines it is for: a router owner need not know what "mipsel" is.
  const downloads = dialog.getByRole('list', { name: 'Connector downloads' }).getByRole('listitem');
  assert.deepEqual((await downloads.allTextContents()).map((t) => t.split(' · ')[0]), [
    'linux-armv7 — Raspberry Pi 2/3/4 with a 32-bit OS, ARMv7 boards, routers and NAS',
    'linux-mipsel — little-endian MIPS routers (MediaTek MT7621, MT7628)',
  ]);
  // A Linux build is served: the Linux one-liner is offered (not the Windows one).
  assert.deepEqual(await dialog.locator('pre').allTextContents(), [
    `curl -fsSL ${relay.url}/install.sh | sh -s -- --pair ${code}`,
    `relay-connector --pair ${code} --api ${relay.url}/functions/v1\nrelay-connector`,
  ]);
  const sha256 = createHash('sha256').update(build).digest('hex');
  await dialog.getByText(sha256).waitFor();
  const href = await link.getAttribute('href');
  assert.equal(await link.getAttribute('download'), 'relay-connector-linux-armv7');
  const got = await fetch(href);
  assert.equal(got.status, 200, href);
  assert.deepEqual(Buffer.from(await got.arrayBuffer()), build);
  await dialog.getByRole('button', { name: 'Done' }).click();
  const refused = await api('POST', '/functions/v1/pair-device', null, { pairing_code: oldCode });
  assert.equal(refused.status, 401, 'the old code no longer pairs');
  await owner.getByRole('button', { name: `Show code: ${NASTY}` }).click();
  assert.equal((await owner.getByRole('dialog').locator('.pairing-code').textContent()).trim(), code);
  await owner.getByRole('dialog').getByRole('button', { name: 'Done' }).click();

  // Added elsewhere (here: through the API), it appears live; then the owner deletes it.
  const ownerToken = await token(OWNER, NEW_PASSWORD);
  await api('POST', `/api/v1/projects/${project.id}/devices`, ownerToken, { name: 'spare' });
  await owner.getByRole('button', { name: 'Delete: spare' }).click();
  await owner.getByRole('dialog').getByRole('button', { name: 'Delete device' }).click();
  await owner.locator('li[data-device-id]', { hasText: 'spare' }).waitFor({ state: 'detached' });
});

test('projects: create and delete', async () => {
  await owner.goto('/projects');
  await owner.getByRole('button', { name: 'New project' }).click();
  await owner.getByLabel('Project name').fill('Short-lived');
  await owner.getByRole('button', { name: 'Create project' }).click();
  await owner.getByRole('heading', { name: 'Short-lived' }).waitFor();
  await owner.getByRole('button', { name: 'Delete project' }).click();
  await owner.getByRole('dialog').getByRole('button', { name: 'Delete project' }).click();
  await owner.waitForURL('**/projects');
  await owner.getByRole('link', { name: /Shared/ }).waitFor();
  assert.equal(await owner.getByRole('link', { name: /Short-lived/ }).count(), 0);
});

test('a relay built without xterm.js says how to add it', async () => {
  await owner.route('**/vendor/xterm/**', (r) => r.fulfill({ status: 404, body: '' }));
  await owner.goto(`/terminal/${device.id}/00000000-0000-4000-8000-000000000000`);
  await owner.getByRole('heading', { name: 'The terminal is not installed on this relay' }).waitFor();
  await owner.locator('pre', { hasText: 'scripts/web-assets' }).waitFor();
  await owner.unroute('**/vendor/xterm/**');
  expected(problems, /\/vendor\/xterm\//);
});

test('a member sees the project without owner controls, and the API refuses anyway', async () => {
  const context = await browser.newContext({ baseURL: relay.url, viewport: { width: 1280, height: 800 } });
  const memberProblems = watch(context);
  const member = await context.newPage();
  await signIn(member, MEMBER, PASSWORD);
  await member.getByRole('link', { name: 'Projects', exact: true }).click();
  await member.getByRole('link', { name: /Shared\s*Member/ }).click();
  await member.locator('li[data-device-id] .item-title', { hasText: NASTY }).waitFor();
  await member.getByRole('button', { name: `Connect to ${NASTY}` }).waitFor();
  for (const name of ['Add device', 'Delete', 'Rename', 'New pairing code', 'Delete project']) {
    assert.equal(await member.getByRole('button', { name, exact: false }).count(), 0, `no "${name}" button for a member`);
  }
  await member.getByRole('tab', { name: 'Team' }).click();
  await member.getByRole('list', { name: 'Members' }).getByText(OWNER).waitFor();
  assert.equal(await member.getByRole('form', { name: 'Invite someone' }).count(), 0);
  assert.equal(await member.getByRole('button', { name: /^Remove/ }).count(), 0);
  await member.getByRole('button', { name: `Leave: ${MEMBER}` }).waitFor();

  const refused = await api('DELETE', `/api/v1/devices/${device.id}`, memberToken);
  assert.equal(refused.status, 403);
  assert.match(refused.body.message, /Only the project's owner/);
  assert.equal((await api('GET', `/api/v1/devices/${device.id}`, memberToken)).status, 200, 'the device is still there');
  await context.close();
  assert.deepEqual(memberProblems, []);
});

test('someone given an invitation link signs up from it and joins', async () => {
  const ownerToken = await token(OWNER, NEW_PASSWORD);
  const invited = await api('POST', '/functions/v1/invite-member', ownerToken, { project_id: project.id, email: 'late@example.com' });
  assert.equal(invited.body.status, 'invited');
  const context = await browser.newContext({ baseURL: relay.url });
  const lateProblems = watch(context);
  const late = await context.newPage();
  await late.goto(invited.body.invite_url);
  // The token leaves the address bar at once.
  await late.waitForURL((u) => u.pathname === '/invite' && u.search === '');
  await late.getByText(`${OWNER} invited you to join the project Shared`).waitFor();
  await late.getByRole('link', { name: 'Create an account' }).click();
  await late.getByRole('tab', { name: 'Sign up', selected: true }).waitFor();
  assert.equal(await late.getByLabel('Email').inputValue(), 'late@example.com', 'the invited address is filled in');
  await late.getByLabel('Password').fill(PASSWORD);
  await late.getByRole('button', { name: 'Create account' }).click();
  await late.getByRole('button', { name: 'Join as late@example.com' }).click();
  await late.waitForURL(`**/project/${project.id}`);
  await late.getByRole('heading', { name: 'Shared' }).waitFor();
  // The link is spent.
  const again = await api('POST', '/api/v1/invitations/preview', null, { token: new URL(invited.body.invite_url).searchParams.get('token') });
  assert.equal(again.status, 404);
  await context.close();
  assert.deepEqual(lateProblems, []);
});

test('settings: display name', async () => {
  await owner.goto('/settings');
  // The sign-in email reads as text, not as a box waiting for input.
  const email = owner.getByLabel('Email');
  assert.equal(await email.getAttribute('readonly'), '');
  assert.equal(await email.evaluate((e) => getComputedStyle(e).borderTopColor), 'rgba(0, 0, 0, 0)');
  await owner.getByLabel('Display name').fill('Ada <Owner>');
  await owner.getByRole('button', { name: 'Save profile' }).click();
  await owner.locator('.toast', { hasText: 'Profile saved.' }).waitFor();
  await owner.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Ada <Owner>' }).waitFor();
  await owner.reload();
  assert.equal(await owner.getByLabel('Display name').inputValue(), 'Ada <Owner>');
});

test('AI-node configurations: create with checks, edit, switch, test the connection, delete', async () => {
  // A stand-in relay that accepts the WebSocket handshake, for "Test connection" below.
  await owner.routeWebSocket('wss://relay.test/connect', () => {});
  await owner.goto('/skill/privaclaw');
  await owner.getByRole('heading', { name: 'No nodes yet' }).waitFor();
  await owner.getByRole('button', { name: 'New configuration' }).click();
  const form = owner.getByRole('form', { name: 'New configuration' });
  await form.getByLabel('Name').fill('prod');
  await form.getByLabel('Node ID').fill('prod-node-01');
  await form.getByLabel('Relay URL').fill('http://relay.test');
  await form.getByLabel('Auth token').fill('short');
  await form.getByRole('button', { name: 'Save configuration' }).click();
  assert.equal(await form.getByLabel('Auth token').evaluate((el) => el.validity.tooShort), true, 'the browser holds a short token back');
  await form.getByLabel('Auth token').fill('a-long-enough-secret');
  await form.getByRole('button', { name: 'Save configuration' }).click();
  await form.getByRole('alert').filter({ hasText: 'must start with wss:// or https://' }).waitFor();
  await form.getByLabel('Relay URL').fill('wss://relay.test');
  await form.getByRole('button', { name: 'Save configuration' }).click();
  const nodes = owner.getByRole('list', { name: 'Nodes' });
  await nodes.getByRole('button', { name: /prod/ }).waitFor();
  await owner.locator('pre', { hasText: '"node_id": "prod-node-01"' }).waitFor();
  // Its node id is no device of this person's projects: nothing to command from here.
  await owner.getByText('A saved configuration only').waitFor();
  assert.equal(await owner.getByRole('button', { name: 'Status' }).count(), 0);

  await owner.getByRole('button', { name: 'Test connection' }).click();
  await owner.getByText(/WebSocket connected in \d+ ms/).waitFor();

  await owner.getByRole('button', { name: 'New configuration' }).click();
  const second = owner.getByRole('form', { name: 'New configuration' });
  await second.getByLabel('Name').fill('laptop');
  await second.getByLabel('Auth token').fill('another-secret');
  await second.getByRole('button', { name: 'Save configuration' }).click();
  await owner.getByRole('form', { name: 'Configuration of laptop' }).waitFor();
  const uuid = await owner.getByRole('form', { name: 'Configuration of laptop' }).getByLabel('Node ID').inputValue();
  assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

  await nodes.getByRole('button', { name: /prod/ }).click();
  const prod = owner.getByRole('form', { name: 'Configuration of prod' });
  await prod.getByLabel('Name').fill('production');
  await prod.getByRole('button', { name: 'Save changes' }).click();
  await nodes.getByRole('button', { name: /production/ }).waitFor();
  await owner.getByRole('button', { name: 'Delete configuration' }).click();
  await owner.getByRole('dialog').getByRole('button', { name: 'Delete configuration' }).click();
  await nodes.getByRole('button', { name: /production/ }).waitFor({ state: 'detached' });
  await owner.getByRole('form', { name: 'Configuration of laptop' }).waitFor();
});

test('changing the password needs the current one and signs every other browser out at once', async () => {
  const context = await browser.newContext({ baseURL: relay.url });
  const elsewhere = await context.newPage();
  await signIn(elsewhere, OWNER, NEW_PASSWORD);
  await owner.goto('/settings');
  const form = owner.getByRole('form', { name: 'Password' });
  await form.getByLabel('Current password').fill('not the password');
  await form.getByLabel('New password').fill('third password');
  await form.getByLabel('Repeat it').fill('third password');
  await form.getByRole('button', { name: 'Change password' }).click();
  await form.getByText('The current password is wrong').waitFor();
  expected(problems, /\/auth\/v1\/user/);
  await form.getByLabel('Current password').fill(NEW_PASSWORD);
  await form.getByRole('button', { name: 'Change password' }).click();
  await owner.locator('.toast', { hasText: 'Every other browser is signed out.' }).waitFor();
  // The other browser is sent to sign in, told why, without a reload.
  await elsewhere.waitForURL((u) => u.pathname === '/auth');
  await elsewhere.getByText('password was changed').waitFor();
  await context.close();
  await owner.goto('/dashboard');
  await owner.getByRole('heading', { name: 'Devices' }).waitFor();
});

test('no console errors, no failed requests', () => {
  assert.deepEqual(problems, []);
});

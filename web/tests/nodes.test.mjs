// AI nodes, against the real relay and a stand-in OpenClaw node that speaks the skill's exact
// frames (support/openclaw-node.mjs): sign up, create a project, Add node on the skill page
// (RELAY_URL, NODE_ID and AUTH_TOKEN shown once, with copy buttons), connect the node with
// those values and watch it come online without a reload; a prompt whose answer grows token
// by token, in order; heartbeats and the Status button; a workflow with its JSON checked
// first; Stop; a node's error; a member's view (no Restart); Restart; an offline node's
// refusal; the settings saved as a configuration when the relay is reached over TLS; a new
// token; the page on a desktop and a phone; the node in its project's device list. Screenshots go to
// test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startRelay, call, ROOT } from './support/relay.mjs';
import { launch, watch, expected } from './support/browser.mjs';
import { openclawNode } from './support/openclaw-node.mjs';
import { signIn, addMember } from './support/ui.mjs';

const ARTIFACTS = join(ROOT, 'test-artifacts');
const OWNER = 'owner@example.com';
const MEMBER = 'member@example.com';
const PASSWORD = 'correct horse battery';

let relay;
let browser;
let context;
let page;
let problems;
let values;
let node;
const urls = [];

const panel = () => page.getByRole('region', { name: 'Node status' });
const fact = (label, p = page) => p.locator('.facts div', { has: p.locator('dt', { hasText: label }) }).locator('dd');
const promptBox = (p = page) => p.getByRole('textbox', { name: 'Prompt', exact: true });
const log = (p = page) => p.getByRole('log', { name: 'Conversation' });
/** The text of the node's last answer in the chat. */
const lastAnswer = (p = page) => log(p).locator('.msg:not(.msg-mine) .answer-text').last();
/** The values a settings dialog shows, by name. */
async function shownValues(dialog) {
  const shown = async (key) => dialog.locator('.code', { has: page.locator('.code-label', { hasText: new RegExp(`^${key}$`) }) }).locator('pre').textContent();
  return { RELAY_URL: await shown('RELAY_URL'), NODE_ID: await shown('NODE_ID'), AUTH_TOKEN: await shown('AUTH_TOKEN') };
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  relay = await startRelay();
  browser = await launch();
  context = await browser.newContext({ baseURL: relay.url, viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: relay.url });
  problems = watch(context);
  context.on('request', (r) => urls.push(r.url()));
  page = await context.newPage();
});

after(async () => {
  node?.close();
  await browser?.close();
  await relay?.stop();
});

test('sign up and create a project', async () => {
  await page.goto('/auth?mode=signup');
  await page.getByLabel('Email').fill(OWNER);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL('**/dashboard');
  await page.getByRole('button', { name: 'New project' }).first().click();
  await page.getByLabel('Project name').fill('Lab');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.waitForURL(/\/project\/[0-9a-f-]+$/);
});

test('Add node: the three settings, once, with copy buttons', async () => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'AI nodes' }).click();
  await page.getByRole('heading', { name: 'No nodes yet' }).waitFor();
  // The empty state takes the page's width: no blank list column beside it.
  assert.equal(await page.locator('.split > nav').isVisible(), false);
  await page.getByRole('button', { name: 'Add node' }).first().click();
  const form = page.getByRole('dialog', { name: 'Add a node' });
  assert.equal(await form.getByLabel('Project').locator('option:checked').textContent(), 'Lab');
  await form.getByLabel('Node name').fill('claw-one');
  await form.getByRole('button', { name: 'Add and show its settings' }).click();

  const dialog = page.getByRole('dialog', { name: 'Settings for “claw-one”' });
  values = await shownValues(dialog);
  assert.equal(values.RELAY_URL, relay.url.replace(/^http:/, 'ws:'));
  assert.match(values.NODE_ID, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.match(values.AUTH_TOKEN, /^[\w-]{43}$/);
  const env = dialog.locator('.code', { hasText: 'All three, as environment variables' }).locator('pre');
  assert.equal(await env.textContent(), Object.entries(values).map(([k, v]) => `${k}=${v}`).join('\n'));
  await dialog.getByText('The token is shown only this once').waitFor();
  // A plain-http relay: ws:// may not go into a configuration, and the dialog says so.
  await dialog.getByText('Nothing was saved: copy it now.').waitFor();
  await dialog.getByText(/reached over plain http, so the node connects with ws:\/\//).waitFor();
  await page.screenshot({ path: join(ARTIFACTS, 'skill-add-node.png') });
  await dialog.getByRole('button', { name: 'Copy: AUTH_TOKEN' }).click();
  await dialog.getByText('Copied').waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), values.AUTH_TOKEN);

  // Behind the dialog the node is listed already, offline, and chosen.
  const nodes = page.getByRole('list', { name: 'Nodes' });
  await nodes.getByRole('button', { name: /claw-one.*Offline/ }).waitFor();
  assert.equal(new URL(page.url()).searchParams.get('node'), values.NODE_ID);
  // It is a node before it ever connects: still listed after a reload elsewhere, and its
  // project offers no terminal on it.
  const other = await page.context().newPage();
  await other.goto('/skill/privaclaw');
  await other.getByRole('list', { name: 'Nodes' }).getByRole('button', { name: /claw-one.*Offline/ }).waitFor();
  await other.goto('/projects');
  await other.getByRole('link', { name: /Lab/ }).click();
  await other.locator('li[data-device-id]', { hasText: 'claw-one' }).waitFor();
  assert.equal(await other.getByRole('button', { name: 'Connect to claw-one' }).count(), 0);
  await other.close();

  await page.evaluate(() => { window.sameDocument = true; });
  node = await openclawNode(values);
  await dialog.getByText('claw-one is online').waitFor();
  await dialog.getByRole('button', { name: 'Done' }).click();
  await nodes.getByRole('button', { name: /claw-one.*Online/ }).waitFor();
  await panel().locator('.status', { hasText: 'Online' }).waitFor();
  await panel().getByText('Lab · OpenClaw').waitFor();
  assert.equal(await fact('Last heartbeat').textContent(), 'just now');
  assert.equal(await page.evaluate(() => window.sameDocument), true, 'no reload happened');
  await page.screenshot({ path: join(ARTIFACTS, 'skill-added.png') });
});

test('a prompt: the answer streams in token by token, in order, as text', async () => {
  await promptBox().fill('Tell me a story');
  await promptBox().press('Enter');
  await log().locator('.msg-mine', { hasText: 'Tell me a story' }).waitFor();
  const prompt = await node.next('prompt');
  assert.deepEqual(prompt.data.data, { prompt: 'Tell me a story' });

  // The first token shows while the node is still "thinking"; Stop is offered meanwhile.
  node.token(prompt, 'Once upon a time');
  await lastAnswer().filter({ hasText: 'Once upon a time' }).waitFor();
  assert.equal(await lastAnswer().textContent(), 'Once upon a time');
  assert.equal(await page.getByRole('button', { name: 'Send' }).isDisabled(), true);
  await page.getByRole('button', { name: 'Stop' }).first().waitFor();

  for (const t of [', a relay', ' met a node.', ' <b>The end</b>']) node.token(prompt, t);
  node.done(prompt);
  await page.getByRole('button', { name: 'Send' }).and(page.locator(':enabled')).waitFor();
  assert.equal(await lastAnswer().textContent(), 'Once upon a time, a relay met a node. <b>The end</b>');
  assert.equal(await log().locator('b').count(), 0, 'tokens are text, never markup');
  assert.equal(await page.getByRole('button', { name: 'Stop' }).first().isVisible(), false);
});

test('heartbeats update the status live; the Status button asks the node', async () => {
  node.heartbeat({ active_tasks: 3, last_error: 'disk almost full' });
  await fact('Active tasks').filter({ hasText: /^3$/ }).waitFor();
  assert.equal(await fact('Last error').textContent(), 'disk almost full');

  await panel().getByRole('button', { name: 'Status' }).click();
  const status = await node.next('status');
  node.status(status, { uptime: 4200, active_tasks: 1, last_error: null });
  await fact('Uptime').filter({ hasText: '1 h 10 min' }).waitFor();
  assert.equal(await fact('Active tasks').textContent(), '1');
  assert.equal(await fact('Last error').textContent(), 'none');
  await panel().getByText(/The node reported its status at/).waitFor();
});

test('a workflow: the parameters are checked first, the output streams', async () => {
  const form = page.getByRole('form', { name: 'Run a workflow' });
  await form.getByLabel('Workflow ID').fill('daily-report');
  await form.getByLabel('Parameters').fill('{"day": "monday"');
  await form.getByRole('button', { name: 'Run workflow' }).click();
  await form.getByRole('alert').filter({ hasText: 'The parameters are not valid JSON' }).waitFor();
  await form.getByLabel('Parameters').fill('["monday"]');
  await form.getByRole('button', { name: 'Run workflow' }).click();
  await form.getByRole('alert').filter({ hasText: 'must be a JSON object' }).waitFor();

  await form.getByLabel('Parameters').fill('{"day": "monday", "items": 3}');
  await form.getByRole('button', { name: 'Run workflow' }).click();
  const run = await node.next('workflow');
  assert.deepEqual(run.data.data, { workflow_id: 'daily-report', params: { day: 'monday', items: 3 } });
  const output = form.getByRole('log', { name: 'Workflow output' });
  node.token(run, 'Report for monday: ');
  await output.getByText('Report for monday:').waitFor();
  node.token(run, '3 items.');
  node.done(run);
  await form.getByRole('button', { name: 'Run workflow' }).and(page.locator(':enabled')).waitFor();
  assert.equal(await output.locator('.answer-text').textContent(), 'Report for monday: 3 items.');
});

test('Stop abandons an answer; a node\'s error is shown', async () => {
  await promptBox().fill('Count slowly');
  await page.getByRole('button', { name: 'Send' }).click();
  const slow = await node.next('prompt');
  node.token(slow, 'One');
  await lastAnswer().filter({ hasText: 'One' }).waitFor();
  // The stopped request is the one failure here.
  const aborted = page.waitForEvent('requestfailed', (r) => r.url().endsWith('/commands'));
  await page.getByRole('form', { name: 'Prompt the node' }).getByRole('button', { name: 'Stop' }).click();
  await log().getByText('Stopped: the rest of the answer is dropped.').waitFor();
  await aborted;
  expected(problems, /request failed: POST .*\/api\/v1\/nodes\/[^/]+\/commands net::ERR_ABORTED/);
  // What the node still sends for the abandoned request goes nowhere.
  node.token(slow, ', two');
  node.done(slow);
  await page.getByRole('button', { name: 'Send' }).and(page.locator(':enabled')).waitFor();

  await promptBox().fill('Still there?');
  await page.getByRole('button', { name: 'Send' }).click();
  const next = await node.next('prompt');
  assert.equal(next.data.data.prompt, 'Still there?');
  node.error(next, 'The model is overloaded.');
  await log().getByRole('alert').filter({ hasText: 'The model is overloaded.' }).waitFor();
  assert.equal(await lastAnswer().textContent(), '');
  assert.equal(await log().locator('.msg').nth(3).locator('.answer-text').textContent(), 'One', 'the stopped answer keeps what came');
});

test('a member sees the node live and chats, with no Restart; the relay refuses theirs anyway', async () => {
  const ownerToken = (await call(relay, 'POST', '/auth/v1/token?grant_type=password', { body: { email: OWNER, password: PASSWORD } })).body.access_token;
  assert.equal((await call(relay, 'POST', '/auth/v1/signup', { body: { email: MEMBER, password: PASSWORD } })).status, 200);
  const projects = (await call(relay, 'GET', '/api/v1/projects', { token: ownerToken })).body;
  const memberToken = (await call(relay, 'POST', '/auth/v1/token?grant_type=password', { body: { email: MEMBER, password: PASSWORD } })).body.access_token;
  await addMember(relay, call, ownerToken, projects[0].id, MEMBER, memberToken);

  const memberContext = await browser.newContext({ baseURL: relay.url, viewport: { width: 1280, height: 800 } });
  const memberProblems = watch(memberContext);
  const member = await memberContext.newPage();
  await signIn(member, MEMBER, PASSWORD);
  await member.goto('/skill/privaclaw');
  await member.getByRole('list', { name: 'Nodes' }).getByRole('button', { name: /claw-one.*Online/ }).waitFor();
  const status = member.getByRole('region', { name: 'Node status' });
  await status.getByRole('button', { name: 'Status' }).waitFor();
  for (const name of ['Restart', 'New token']) {
    assert.equal(await status.getByRole('button', { name }).isVisible(), false, `no ${name} for a member`);
  }
  await member.getByText('Its relay settings and token are with whoever set the node up').waitFor();

  await promptBox(member).fill('Hello from a member');
  await member.getByRole('button', { name: 'Send' }).click();
  const prompt = await node.next('prompt');
  node.token(prompt, 'Hello, member.');
  node.done(prompt);
  await lastAnswer(member).filter({ hasText: 'Hello, member.' }).waitFor();

  const refused = await call(relay, 'POST', `/api/v1/nodes/${values.NODE_ID}/commands`, { token: memberToken, body: { type: 'restart' } });
  assert.equal(refused.status, 403);
  await memberContext.close();
  assert.deepEqual(memberProblems, []);
});

test('Restart: confirmed first; the node acknowledges, goes away and comes back', async () => {
  await panel().getByRole('button', { name: 'Restart' }).click();
  const dialog = page.getByRole('dialog', { name: 'Restart “claw-one”?' });
  await dialog.getByRole('button', { name: 'Restart node' }).click();
  const restart = await node.next('restart');
  // The skill acknowledges with done, then its runtime restarts and the client reconnects.
  node.done(restart);
  await page.locator('.toast', { hasText: 'claw-one is restarting.' }).waitFor();
  node.close();
  await panel().locator('.status', { hasText: 'Offline' }).waitFor();
  node = await openclawNode(values);
  await panel().locator('.status', { hasText: 'Online' }).waitFor();
});

test('an offline node: the prompt gets the relay\'s reason', async () => {
  node.close();
  node = null;
  await panel().locator('.status', { hasText: 'Offline' }).waitFor();
  await panel().getByText('offline: commands are refused, not queued').waitFor();
  await promptBox().fill('Anyone there?');
  // The refusal is an HTTP error, which the browser also logs to the console.
  const refusal = Promise.all([
    page.waitForEvent('response', (r) => r.url().endsWith('/commands') && r.status() === 409),
    page.waitForEvent('console', (m) => m.type() === 'error' && m.text().includes('409')),
  ]);
  await page.getByRole('button', { name: 'Send' }).click();
  await log().getByRole('alert').filter({ hasText: '"claw-one" is offline: commands are not queued.' }).waitFor();
  await refusal;
  expected(problems, /409.*\/api\/v1\/nodes\/[^/]+\/commands/);
});

test('on a relay reached over TLS, the settings are saved as a configuration', async () => {
  // The relay behind a TLS proxy names its wss:// address; only the address is rewritten here.
  await page.route('**/functions/v1/pair-device', async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, json: { ...await response.json(), relay_url: 'wss://relay.example.com' } });
  });
  await page.getByRole('button', { name: 'Add node' }).first().click();
  await page.getByRole('dialog', { name: 'Add a node' }).getByLabel('Node name').fill('claw-two');
  await page.getByRole('button', { name: 'Add and show its settings' }).click();
  const dialog = page.getByRole('dialog', { name: 'Settings for “claw-two”' });
  await dialog.getByText('A copy is saved in the node’s configuration').waitFor();
  const token = (await shownValues(dialog)).AUTH_TOKEN;
  await dialog.getByRole('button', { name: 'Done' }).click();
  await page.unroute('**/functions/v1/pair-device');

  const config = page.getByRole('form', { name: 'Configuration of claw-two' });
  assert.equal(await config.getByLabel('Relay URL').inputValue(), 'wss://relay.example.com');
  assert.equal(await config.getByLabel('Auth token').inputValue(), token);
  const nodes = page.getByRole('list', { name: 'Nodes' });
  await nodes.getByRole('button', { name: /claw-two.*Offline/ }).waitFor();
  // Switching keeps each node's conversation, scrolled to its end.
  await nodes.getByRole('button', { name: /claw-one/ }).click();
  await log().locator('.msg-mine', { hasText: 'Tell me a story' }).waitFor();
  assert.equal(await log().locator('.msg-mine').count(), 4);
  // The list was fetched again (a device was added): offline, claw-one keeps its last report.
  assert.match(await fact('Last heartbeat').textContent(), /ago|just now/);
  await page.waitForFunction((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 24, await log().elementHandle());
});

test('New token: the old one stops working, the saved configuration gets the new one', async () => {
  await page.getByRole('list', { name: 'Nodes' }).getByRole('button', { name: /claw-two/ }).click();
  const config = page.getByRole('form', { name: 'Configuration of claw-two' });
  const old = await config.getByLabel('Auth token').inputValue();
  await panel().getByRole('button', { name: 'New token' }).click();
  await page.getByRole('dialog', { name: 'New token for “claw-two”?' }).getByRole('button', { name: 'Make a new token' }).click();
  const dialog = page.getByRole('dialog', { name: 'Settings for “claw-two”' });
  await dialog.getByText('A copy is saved in the node’s configuration').waitFor();
  const fresh = await shownValues(dialog);
  assert.notEqual(fresh.AUTH_TOKEN, old);
  await assert.rejects(openclawNode({ ...fresh, AUTH_TOKEN: old }), /the relay refused the node/);
  const two = await openclawNode(fresh);
  await dialog.getByText('claw-two is online').waitFor();
  await dialog.getByRole('button', { name: 'Done' }).click();
  assert.equal(await config.getByLabel('Auth token').inputValue(), fresh.AUTH_TOKEN);
  assert.equal(await config.getByLabel('Relay URL').inputValue(), 'wss://relay.example.com', 'the saved relay URL stays');
  two.close();
  await panel().locator('.status', { hasText: 'Offline' }).waitFor();
  // The list was fetched again meanwhile (the new pairing); the newer offline event wins.
  await page.getByRole('list', { name: 'Nodes' }).getByRole('button', { name: /claw-two.*Offline/ }).waitFor();
  await page.getByRole('list', { name: 'Nodes' }).getByRole('button', { name: /claw-one/ }).click();
});

test('the page on a desktop and on a phone', async () => {
  await page.screenshot({ path: join(ARTIFACTS, 'skill-desktop.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole('list', { name: 'Nodes' }).getByRole('button', { name: /claw-one/ }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), true, 'nothing sticks out sideways');
  await page.screenshot({ path: join(ARTIFACTS, 'skill-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('in its project the node is a device, with a link here instead of Connect', async () => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects' }).click();
  await page.getByRole('link', { name: /Lab/ }).click();
  const row = page.locator('li[data-device-id]', { hasText: 'claw-one' });
  const open = row.getByRole('link', { name: 'Open the AI node claw-one' });
  await open.waitFor();
  assert.equal(await row.getByRole('button', { name: /^Connect/ }).count(), 0, 'an OpenClaw node has no terminal');
  await open.click();
  await page.waitForURL(`**/skill/privaclaw?node=${values.NODE_ID}`);
  await panel().getByRole('heading', { name: 'claw-one' }).waitFor();
});

test('tokens never travel in a URL', async () => {
  const session = await page.evaluate(() => JSON.parse(localStorage.getItem('privaclaw.session')));
  for (const secret of [values.AUTH_TOKEN, session.access_token, session.refresh_token]) {
    assert.equal(urls.filter((u) => u.includes(secret)).length, 0);
  }
});

test('no console errors, no failed requests', () => {
  assert.deepEqual(problems, []);
});

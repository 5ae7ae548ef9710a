// `/skill/privaclaw`: the person's AI-node configurations for the PrivaClaw skill — list,
// switch between nodes, create, edit, delete, copy the config for OpenClaw, and test that
// the relay answers. Checks mirror the relay's: relay_url wss:// or https://, auth_token of
// at least 8 characters, node_id a UUID or any id of one's own.
import { h, replace } from '../dom.js';
import { get, post, put, del, seg } from '../api.js';
import { replaceUrl } from '../router.js';
import { confirmDialog } from '../ui/dialog.js';
import { field, onSubmit } from '../ui/form.js';
import { codeBlock } from '../ui/copy.js';
import { empty, loading } from '../ui/states.js';
import { toast } from '../ui/toast.js';
import { testRelay } from '../skill-test.js';

export const title = 'AI nodes';

const defaultRelay = () => `wss://${location.host}`;

export async function render(main, { query, signal }) {
  const list = h('ul', { class: 'node-list', 'aria-label': 'Nodes' });
  const editor = h('div', null, loading());
  let configs = [];
  let selected = query.get('node');

  const select = (id) => {
    selected = id;
    replaceUrl(id ? `/skill/privaclaw?node=${encodeURIComponent(id)}` : '/skill/privaclaw');
    replace(list, configs.map((c) => h('li', null, h('button', {
      type: 'button', 'aria-current': String(c.id === id), onclick: () => select(c.id),
    }, c.name, h('span', { class: 'node-id' }, c.node_id)))));
    const config = configs.find((c) => c.id === id);
    replace(editor, config || id === 'new' ? nodeForm(config, { saved, removed }) : empty('No node selected',
      configs.length ? 'Pick a node on the left, or create another.' : 'Save the relay settings of an OpenClaw node here, then copy them into its configuration.',
      h('button', { type: 'button', class: 'btn btn-primary', onclick: () => select('new') }, 'New node')));
  };
  const load = async () => {
    configs = await get('/api/v1/skill-configs?skill_slug=privaclaw', { signal });
  };
  const saved = async (config) => {
    await load();
    select(config.id);
  };
  const removed = async () => {
    await load();
    select(configs[0]?.id ?? null);
  };

  replace(main, h('div', { class: 'page' },
    h('div', { class: 'page-head' },
      h('div', null,
        h('h1', null, 'AI nodes'),
        h('p', { class: 'muted' }, 'Relay settings for OpenClaw nodes running the PrivaClaw skill: one configuration per node.')),
      h('button', { type: 'button', class: 'btn btn-primary', onclick: () => select('new') }, 'New node')),
    h('div', { class: 'split' }, h('nav', { 'aria-label': 'Your nodes' }, list), editor)));
  await load();
  select(configs.some((c) => c.id === selected) || selected === 'new' ? selected : configs[0]?.id ?? null);
}

function nodeForm(existing, { saved, removed }) {
  const cfg = existing?.config ?? {};
  const form = h('form', { class: 'card', 'aria-label': existing ? `Node ${existing.name}` : 'New node' },
    h('h2', null, existing ? existing.name : 'New node'),
    field({ label: 'Name', name: 'name', required: true, maxlength: 100, value: existing?.name ?? '', hint: 'Your label, e.g. "prod" or "laptop".' }),
    field({ label: 'Node ID', name: 'node_id', required: true, maxlength: 128, value: existing?.node_id ?? uuid(), autocomplete: 'off', hint: 'A UUID, or an id of your own such as "my-server-01".' }),
    field({ label: 'Relay URL', name: 'relay_url', type: 'url', required: true, value: cfg.relay_url ?? defaultRelay(), placeholder: 'wss://relay.example.com', hint: 'Starts with wss:// or https://.' }),
    field({ label: 'Auth token', name: 'auth_token', type: 'password', required: true, minlength: 8, value: cfg.auth_token ?? '', autocomplete: 'new-password', hint: 'At least 8 characters; the node presents it to the relay.' }),
    h('div', { class: 'row toolbar' },
      h('button', { type: 'button', class: 'btn btn-sm', 'aria-pressed': 'false', onclick: (e) => reveal(e.currentTarget, token.type === 'password') }, 'Show token'),
      h('button', { type: 'button', class: 'btn btn-sm', onclick: (e) => { token.value = hex(24); reveal(e.currentTarget.previousSibling, true); } }, 'Generate token')));
  const token = form.elements.auth_token;
  const reveal = (toggle, show) => {
    token.type = show ? 'text' : 'password';
    toggle.textContent = show ? 'Hide token' : 'Show token';
    toggle.setAttribute('aria-pressed', String(show));
  };
  const result = h('p', { role: 'status', class: 'muted' });
  const values = () => Object.fromEntries(new FormData(form));
  form.append(result, h('div', { class: 'form-actions' },
    existing && h('button', { type: 'button', class: 'btn btn-danger', onclick: () => remove(existing, removed) }, 'Delete'),
    h('button', { type: 'button', class: 'btn', onclick: () => test(values().relay_url, result) }, 'Test connection'),
    h('button', { type: 'submit', class: 'btn btn-primary' }, existing ? 'Save changes' : 'Create node')));

  onSubmit(form, async (v) => {
    const problem = check(v);
    if (problem) throw new Error(problem);
    const body = {
      skill_slug: 'privaclaw',
      name: v.name.trim(),
      node_id: v.node_id.trim(),
      config: { ...cfg, relay_url: v.relay_url.trim(), node_id: v.node_id.trim(), auth_token: v.auth_token },
    };
    const config = existing ? await put(`/api/v1/skill-configs/${seg(existing.id)}`, body) : await post('/api/v1/skill-configs', body);
    toast(existing ? 'Node saved.' : 'Node created.', { kind: 'ok' });
    await saved(config);
  });

  return h('div', { class: 'stack' }, form, existing && h('div', { class: 'card' },
    h('h3', null, 'Configuration for OpenClaw'),
    h('p', { class: 'muted' }, 'Paste this into the node’s PrivaClaw skill settings.'),
    codeBlock(JSON.stringify({ relay_url: cfg.relay_url, node_id: existing.node_id, auth_token: cfg.auth_token }, null, 2))));
}

function check({ relay_url: url, auth_token: tokenValue, node_id: node }) {
  if (!/^(wss|https):\/\/[^\s/]+/.test(url.trim())) return 'The relay URL must start with wss:// or https://.';
  if ([...tokenValue].length < 8) return 'The auth token must have at least 8 characters.';
  if (!node.trim() || /\s/.test(node.trim())) return 'The node ID must be a UUID or an id without spaces.';
  return null;
}

async function test(url, result) {
  result.className = 'muted';
  result.textContent = 'Testing…';
  try {
    const ms = await testRelay(url);
    result.className = 'form-note';
    result.textContent = `The relay answered: WebSocket connected in ${ms} ms.`;
  } catch (e) {
    result.className = 'form-error';
    result.textContent = e.message;
  }
}

async function remove(config, removed) {
  const done = await confirmDialog({
    title: `Delete “${config.name}”?`,
    message: 'This removes the saved settings only; the node itself keeps running with whatever it has.',
    confirmLabel: 'Delete node',
    confirm: () => del(`/api/v1/skill-configs/${seg(config.id)}`),
  });
  if (done) {
    toast(`Deleted “${config.name}”.`, { kind: 'ok' });
    await removed();
  }
}

// getRandomValues works on plain-http relays too, unlike crypto.randomUUID.
function hex(bytes) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}

function uuid() {
  const x = hex(16);
  const variant = ((parseInt(x[16], 16) & 0x3) | 0x8).toString(16);
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-4${x.slice(13, 16)}-${variant}${x.slice(17, 20)}-${x.slice(20, 32)}`;
}

// A node's saved configuration (a skill config: relay URL, node id, auth token, private to
// the person who saved it): create, edit, delete, copy it for OpenClaw, and test that the
// relay answers. Checks mirror the relay's: relay_url wss:// or https://, auth_token of at
// least 8 characters, node_id a UUID or any id of one's own.
import { h, replace } from '../../dom.js';
import { post, put, del, seg } from '../../api.js';
import { confirmDialog } from '../../ui/dialog.js';
import { field, onSubmit } from '../../ui/form.js';
import { codeBlock } from '../../ui/copy.js';
import { toast } from '../../ui/toast.js';
import { testRelay } from '../../skill-test.js';

const defaultRelay = () => `wss://${location.host}`;

/**
 * The configuration part of a node's panel: the form for its configuration, or (without
 * one) how to save one — for the project's owner — or whose it is.
 */
export function configSection(node, callbacks) {
  if (node.config) return nodeForm(node.config, callbacks);
  if (node.project?.role !== 'owner') {
    return h('section', { class: 'card', 'aria-label': 'Configuration' },
      h('h3', null, 'Configuration'),
      h('p', { class: 'muted' }, 'Its relay settings and token are with whoever set the node up; the relay keeps only a hash of the token.'));
  }
  const section = h('section', { class: 'card', 'aria-label': 'Configuration' },
    h('h3', null, 'Configuration'),
    h('p', { class: 'muted' }, 'None saved on your account. The relay keeps only a hash of the node’s token: if you have the token, save the settings here to find them again.'),
    h('button', {
      type: 'button', class: 'btn', onclick: () => replace(section, nodeForm(null, { ...callbacks, defaults: { name: node.name, node_id: node.device.id } })),
    }, 'Save its settings'));
  return section;
}

/** The form for configuration `existing`, or for a new one (prefilled with `defaults`). */
export function nodeForm(existing, { saved, removed, defaults = {} }) {
  const cfg = existing?.config ?? {};
  const form = h('form', { class: 'card', 'aria-label': existing ? `Configuration of ${existing.name}` : 'New configuration' },
    existing ? h('h3', null, 'Saved configuration') : h('h2', null, 'New configuration'),
    field({ label: 'Name', name: 'name', required: true, maxlength: 100, value: existing?.name ?? defaults.name ?? '', hint: 'Your label, e.g. "prod" or "laptop".' }),
    field({ label: 'Node ID', name: 'node_id', required: true, maxlength: 128, value: existing?.node_id ?? defaults.node_id ?? uuid(), autocomplete: 'off', hint: 'The node’s device id, a UUID, or an id of your own such as "my-server-01".' }),
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
    existing && h('button', { type: 'button', class: 'btn btn-danger', onclick: () => remove(existing, removed) }, 'Delete configuration'),
    h('button', { type: 'button', class: 'btn', onclick: () => test(values().relay_url, result) }, 'Test connection'),
    h('button', { type: 'submit', class: 'btn btn-primary' }, existing ? 'Save changes' : 'Save configuration')));

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
    toast(existing ? 'Configuration saved.' : 'Configuration created.', { kind: 'ok' });
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
    message: 'This removes the saved settings only: the node keeps running with whatever it has, and stays paired.',
    confirmLabel: 'Delete configuration',
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

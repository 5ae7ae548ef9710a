// Setting a node up: an AI node is a device, so "Add node" adds one to a project the person
// owns and pairs it at once with its one-time code (the browser does what a connector's
// --pair does), and "New token" pairs an existing node again. Either way the dialog shows the
// three values the OpenClaw skill reads — RELAY_URL, NODE_ID (the device id), AUTH_TOKEN (the
// device token) — once, with copy buttons, and says when the node connects.
//
// A new node's values are also saved as the person's skill configuration, but only when
// RELAY_URL is wss://: the relay accepts no other scheme in configurations (the skill expects
// TLS). A plain-http relay hands out ws://, which works for a node on a trusted network; the
// dialog then says that nothing was saved and that the token must be copied now. A new token
// goes into the node's existing configuration, which keeps its own relay URL.
import { h } from '../../dom.js';
import { post, put, del, seg } from '../../api.js';
import * as events from '../../events.js';
import { requestJson } from '../../http.js';
import { newProject } from '../../project-actions.js';
import { confirmDialog, formDialog } from '../../ui/dialog.js';
import { field, selectField } from '../../ui/form.js';
import { codeBlock } from '../../ui/copy.js';

/** Resolves when the dialogs are closed; `created(deviceId)` runs before the settings show. */
export async function addNode(projects, created) {
  const owned = projects.filter((p) => p.role === 'owner');
  if (owned.length === 0) {
    const create = await formDialog({
      title: 'Add a node',
      body: h('p', null, 'A node is a device of a project you own. Create a project first.'),
      submitLabel: 'New project',
    });
    if (create) await newProject();
    return;
  }
  const paired = await formDialog({
    title: 'Add a node',
    body: h('p', { class: 'muted' }, 'The node becomes a device of the project: its members can chat with it and see its status; only owners restart it.'),
    fields: [
      selectField({ label: 'Project', name: 'project_id', options: owned.map((p) => [p.id, p.name]) }),
      field({ label: 'Node name', name: 'name', required: true, maxlength: 100, autocomplete: 'off', hint: 'For example "openclaw-laptop".' }),
    ],
    submitLabel: 'Add and show its settings',
    submit: async ({ project_id: projectId, name }) => {
      // An AI node from the start: listed here and not offered as a terminal before it connects.
      const device = await post(`/api/v1/projects/${seg(projectId)}/devices`, { name, kind: 'openclaw' });
      try {
        return { name: device.name, ...await pair(device.pairing_code) };
      } catch (e) {
        // Unpaired, it would only clutter the project.
        await del(`/api/v1/devices/${seg(device.id)}`).catch(() => {});
        throw e;
      }
    },
  });
  if (!paired) return;
  const values = settings(paired);
  const saved = await saveNew(paired.name, values);
  await created(values.NODE_ID);
  await showSettings(paired.name, values, saved);
}

/**
 * For the project's owner: a new token for `node` (the old one stops working at once), put
 * into its saved configuration, or saved like a new node's; `changed()` runs once that is done.
 */
export async function newToken(node, changed) {
  const paired = await confirmDialog({
    title: `New token for “${node.name}”?`,
    message: 'Its current token stops working at once: the node is disconnected until it has the new one.',
    confirmLabel: 'Make a new token',
    danger: false,
    confirm: async () => pair((await post(`/api/v1/devices/${seg(node.device.id)}/pairing-code`)).pairing_code),
  });
  if (!paired) return;
  const values = settings(paired);
  const { config } = node;
  // A saved configuration keeps its own relay URL; only the token changed.
  const saved = config
    ? await save(() => put(`/api/v1/skill-configs/${seg(config.id)}`, {
      name: config.name, node_id: config.node_id, config: { ...config.config, auth_token: values.AUTH_TOKEN },
    }))
    : await saveNew(node.name, values);
  await changed();
  await showSettings(node.name, values, saved);
}

function pair(code) {
  return requestJson('POST', '/functions/v1/pair-device', { body: { pairing_code: code } });
}

/**
 * The skill's three values. The relay names its WebSocket address after the scheme it serves
 * itself, so behind a TLS proxy without PUBLIC_URL it says ws:// although this page came over
 * https from that very host: the node reaches it through the same proxy, so wss://.
 */
function settings({ relay_url: relayUrl, device_id: deviceId, token }) {
  const url = new URL(relayUrl);
  if (url.protocol === 'ws:' && location.protocol === 'https:' && url.host === location.host) url.protocol = 'wss:';
  return { RELAY_URL: url.href.replace(/\/+$/, ''), NODE_ID: deviceId, AUTH_TOKEN: token };
}

/** Saves a new node's values as a configuration, if the relay accepts its URL there. */
function saveNew(name, values) {
  if (!values.RELAY_URL.startsWith('wss://')) return { outcome: 'insecure' };
  const config = { relay_url: values.RELAY_URL, node_id: values.NODE_ID, auth_token: values.AUTH_TOKEN };
  return save(() => post('/api/v1/skill-configs', { skill_slug: 'privaclaw', name, node_id: values.NODE_ID, config }));
}

/** Says how saving went; never throws, since the token must be shown either way. */
async function save(store) {
  try {
    await store();
    return { outcome: 'saved' };
  } catch (e) {
    return { outcome: 'failed', message: e.message };
  }
}

const SAVED = {
  saved: () => 'A copy is saved in the node’s configuration on this page, visible only to you.',
  failed: ({ message }) => `Saving it in a configuration failed (${message}): copy it now.`,
  insecure: () => 'Nothing was saved: copy it now.',
};

function showSettings(name, values, saved) {
  const live = h('p', { class: 'muted', role: 'status' }, 'Waiting for the node to connect…');
  const done = new AbortController();
  events.on('device_status', (e) => {
    if (e.device_id !== values.NODE_ID || e.status !== 'online') return;
    live.className = 'form-note';
    live.textContent = `${name} is online. You can close this and talk to it.`;
  }, { signal: done.signal });
  return formDialog({
    title: `Settings for “${name}”`,
    body: [
      h('p', null, 'Put these in the PrivaClaw skill’s settings on the OpenClaw machine (or in its environment), then start OpenClaw.'),
      h('div', { class: 'banner banner-warn', role: 'note' }, h('span', { class: 'banner-text' },
        h('strong', null, 'The token is shown only this once: '), 'the relay keeps only a hash of it. ', SAVED[saved.outcome](saved))),
      saved.outcome === 'insecure' && h('p', { class: 'muted' },
        'This relay is reached over plain http, so the node connects with ws://, unencrypted, and a configuration may only hold wss:// or https:// addresses. Serve the relay over HTTPS (TLS_CERT, or a proxy and PUBLIC_URL) for anything but a trusted network.'),
      Object.entries(values).map(([key, value]) => codeBlock(value, key)),
      codeBlock(Object.entries(values).map(([key, value]) => `${key}=${value}`).join('\n'), 'All three, as environment variables'),
      live,
    ],
    submitLabel: 'Done',
    cancelLabel: null,
  }).finally(() => done.abort());
}

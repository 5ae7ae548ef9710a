// One node's panel on the AI-node page: its live status and health (heartbeats, kept current
// by the page through `update`), the Status button (asks the node now), and for the project's
// owner New token and Restart (each behind a confirmation); then the chat, the workflow
// runner and its saved configuration. The page keeps a node's panel while it is open, so a
// conversation survives switching to another node and back.
import { h, replace } from '../../dom.js';
import { sendCommand } from '../../node-command.js';
import { ago, seconds } from '../../format.js';
import { confirmDialog } from '../../ui/dialog.js';
import { statusBadge, setStatus } from '../../ui/status.js';
import { toast } from '../../ui/toast.js';
import { newToken } from './add-node.js';
import { chat } from './chat.js';
import { configSection } from './config-form.js';
import { healthOf } from './nodes.js';
import { workflow } from './workflow.js';

const AGENTS = { openclaw: 'OpenClaw', node: 'relay-connector' };

/** `callbacks`: saved(config) and removed() for the configuration, changed() after a new token. */
export function nodePanel(entry, { signal, ...callbacks }) {
  let node = entry;
  const current = () => node;
  const title = h('h2', null);
  const badge = statusBadge('offline');
  const meta = h('p', { class: 'muted' });
  const facts = h('dl', { class: 'facts' });
  const result = h('p', { role: 'status' });
  const owner = [
    h('button', { type: 'button', class: 'btn', onclick: () => newToken(node, callbacks.changed) }, 'New token'),
    h('button', { type: 'button', class: 'btn btn-danger', onclick: () => restart(node) }, 'Restart'),
  ];
  const status = h('button', { type: 'button', class: 'btn', onclick: () => askStatus() }, 'Status');
  const config = h('div');
  const device = entry.device;

  const askStatus = async () => {
    status.disabled = true;
    say('muted', 'Asking the node…');
    try {
      const last = await sendCommand(device.id, { type: 'status' }, { signal });
      if (last.type !== 'status') throw new Error(last.message ?? 'The node answered without its status.');
      Object.assign(node.health, healthOf(last));
      fill();
      say('form-note', `The node reported its status at ${new Date().toLocaleTimeString()}.`);
    } catch (e) {
      if (e.name !== 'AbortError') say('form-error', e.message);
    } finally {
      status.disabled = false;
    }
  };
  const say = (kind, text) => {
    result.className = kind;
    result.textContent = text;
  };

  const fill = () => {
    title.textContent = node.name;
    if (!device) {
      meta.textContent = `A saved configuration only: its node ID (${node.config.node_id}) is no device of your projects, so this page cannot reach the node. Add node pairs one with this relay.`;
      return;
    }
    setStatus(badge, node.online ? 'online' : 'offline');
    const { kind } = node.device;
    const agent = AGENTS[kind] ?? (kind === 'connector' ? null : kind);
    meta.textContent = [
      node.project.name,
      agent ?? 'waiting for its first connection',
      node.online ? null : 'offline: commands are refused, not queued, until it connects',
    ].filter(Boolean).join(' · ');
    const { last_heartbeat: beat, uptime, active_tasks: tasks, last_error: error, connection_state: state } = node.health;
    const fact = (label, value) => h('div', null, h('dt', null, label), h('dd', null, value));
    replace(facts,
      fact('Last heartbeat', beat ? ago(beat) : 'none yet'),
      fact('Uptime', uptime == null ? '—' : seconds(uptime)),
      fact('Active tasks', tasks ?? '—'),
      fact('Last error', error || 'none'),
      fact('Connection', node.online ? state ?? 'online' : 'offline'));
    for (const b of owner) b.hidden = node.project.role !== 'owner';
  };

  let online = entry.online;
  const update = (next) => {
    const configChanged = next.config?.updated_at !== node.config?.updated_at || next.project?.role !== node.project?.role;
    // A status report from before the node went away no longer says anything.
    if (online && !next.online) say('', '');
    online = next.online;
    node = next;
    fill();
    if (configChanged) replace(config, configSection(node, callbacks));
  };

  const el = h('div', { class: 'stack' },
    h('section', { class: 'card node-head', 'aria-label': 'Node status' },
      h('div', { class: 'node-title' }, title, device && badge),
      meta,
      device && [facts, h('div', { class: 'row' }, status, owner), result]),
    device && chat(current, signal),
    device && workflow(current, signal),
    config);
  fill();
  replace(config, configSection(node, callbacks));
  return { el, update };
}

async function restart(node) {
  const done = await confirmDialog({
    title: `Restart “${node.name}”?`,
    message: 'The node acknowledges, then restarts its runtime: what it is doing now stops, and it shows offline until it has reconnected.',
    confirmLabel: 'Restart node',
    confirm: async () => {
      const last = await sendCommand(node.device.id, { type: 'restart' });
      if (last.type === 'error') throw new Error(last.message);
    },
  });
  if (done) toast(`${node.name} is restarting.`, { kind: 'ok' });
}

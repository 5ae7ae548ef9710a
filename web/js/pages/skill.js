// `/skill/privaclaw`: the person's AI nodes (OpenClaw nodes running the PrivaClaw skill, and
// relay-connectors in node mode). A node is a device of one of their projects, so the list
// gathers devices, connected nodes and saved configurations (pages/skill/nodes.js); switching
// nodes keeps each one's panel (chat, status, workflows, configuration), and status stays
// live from the realtime stream: `node` events carry heartbeats, `device_status` events
// online/offline, and changes to devices, projects or membership refetch the list.
import { h, replace } from '../dom.js';
import * as events from '../events.js';
import { replaceUrl } from '../router.js';
import { statusBadge, setStatus } from '../ui/status.js';
import { empty, loading } from '../ui/states.js';
import { toastError } from '../ui/toast.js';
import { addNode } from './skill/add-node.js';
import { nodeForm } from './skill/config-form.js';
import { nodePanel } from './skill/node-panel.js';
import { healthOf, liveHealth, loadNodes } from './skill/nodes.js';

export const title = 'AI nodes';

export async function render(main, { query, signal }) {
  const list = h('ul', { class: 'node-list', 'aria-label': 'Nodes' });
  const view = h('div', null, loading());
  const items = new Map();
  const panels = new Map();
  let nodes = new Map();
  let projects = [];
  let selected = query.get('node');
  // The last online/offline event of each device, numbered: one that arrives while a load is
  // under way is newer than what that load fetched.
  let heard = 0;
  const statuses = new Map();

  const show = (el) => {
    if (view.firstChild !== el) replace(view, el);
  };
  const select = (key) => {
    selected = key;
    replaceUrl(key ? `/skill/privaclaw?node=${encodeURIComponent(key)}` : '/skill/privaclaw');
    for (const [k, item] of items) item.firstChild.setAttribute('aria-current', String(k === key));
    if (key === 'new') {
      replace(view, nodeForm(null, { saved, removed }));
      return;
    }
    const node = nodes.get(key);
    if (!node) {
      show(empty('No nodes yet',
        'Add a node to get the three values its PrivaClaw skill needs; it shows up here, live, once it connects.',
        h('button', { type: 'button', class: 'btn btn-primary', onclick: add }, 'Add node')));
      return;
    }
    if (!panels.has(key)) panels.set(key, nodePanel(node, { signal, saved, removed, changed: reload }));
    show(panels.get(key).el);
  };

  const load = async () => {
    const before = nodes;
    const since = heard;
    ({ nodes, projects } = await loadNodes({ signal }));
    for (const [key, node] of nodes) {
      const news = node.device && statuses.get(node.device.id);
      if (news?.at > since) {
        node.online = news.status === 'online';
        node.device.status = news.status;
      }
      // Only connected nodes are in relay-nodes: an offline one keeps what it last reported.
      if (!node.online && before.has(key)) node.health = before.get(key).health;
    }
    for (const [key, panel] of panels) {
      if (nodes.has(key)) panel.update(nodes.get(key));
      else panels.delete(key);
    }
    items.clear();
    replace(list, [...nodes.values()].map((node) => {
      const item = listItem(node, () => select(node.key));
      items.set(node.key, item);
      return item;
    }));
    // An old address may name a configuration whose node is now listed under its device.
    const wanted = nodes.has(selected) || selected === 'new' ? selected : [...nodes.values()].find((n) => n.config?.id === selected)?.key;
    if (selected !== 'new') select(wanted ?? nodes.keys().next().value ?? null);
  };
  // One load at a time, in order: events can ask for several while one runs.
  let queue = Promise.resolve();
  const enqueue = () => (queue = queue.catch(() => {}).then(load));
  const reload = () => enqueue().catch(toastError);
  async function saved(config) {
    await reload();
    select([...nodes.values()].find((n) => n.config?.id === config.id)?.key ?? null);
  }
  async function removed() {
    await reload();
    if (!nodes.has(selected)) select(nodes.keys().next().value ?? null);
  }
  async function add() {
    await addNode(projects, async (deviceId) => {
      await reload();
      select(deviceId);
    });
  }

  const refresh = (node) => {
    fillItem(items.get(node.key), node);
    panels.get(node.key)?.update(node);
  };
  const deviceNode = (id) => (nodes.get(id)?.device ? nodes.get(id) : null);
  events.on('node', (e) => {
    const node = deviceNode(e.device_id);
    if (!node) return reload();
    Object.assign(node.health, healthOf(e));
    node.online = true;
    refresh(node);
  }, { signal });
  events.on('device_status', async (e) => {
    statuses.set(e.device_id, { at: ++heard, status: e.status });
    const node = deviceNode(e.device_id);
    if (!node) return e.kind && e.kind !== 'connector' ? reload() : undefined;
    Object.assign(node.device, { status: e.status, kind: e.kind ?? node.device.kind });
    node.online = e.status === 'online';
    refresh(node);
    // What it is connected as, and since when: relay-nodes knows.
    if (node.online) {
      Object.assign(node.health, await liveHealth(e.device_id, signal));
      refresh(node);
    }
  }, { signal });
  events.onAny(['device', 'project', 'membership', 'resync'], reload, { signal });
  // "Last heartbeat 2 minutes ago" must not stay "just now".
  const ticker = setInterval(() => nodes.has(selected) && panels.get(selected)?.update(nodes.get(selected)), 30_000);
  signal.addEventListener('abort', () => clearInterval(ticker), { once: true });

  replace(main, h('div', { class: 'page' },
    h('div', { class: 'page-head' },
      h('div', null,
        h('h1', null, 'AI nodes'),
        h('p', { class: 'muted' }, 'Your OpenClaw nodes: chat with them, check and restart them, run their workflows.')),
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'btn', onclick: () => select('new') }, 'New configuration'),
        h('button', { type: 'button', class: 'btn btn-primary', onclick: add }, 'Add node'))),
    h('div', { class: 'split' }, h('nav', { 'aria-label': 'Your nodes' }, list), view)));
  // The first load's failure is the page's: the router shows it.
  await enqueue();
}

function listItem(node, onclick) {
  const item = h('li', null, h('button', { type: 'button', 'aria-current': 'false', onclick },
    h('span', { class: 'node-name' }, node.name),
    node.device && statusBadge('offline'),
    h('span', { class: 'node-id' })));
  fillItem(item, node);
  return item;
}

function fillItem(item, node) {
  if (node.device) setStatus(item.querySelector('.status'), node.online ? 'online' : 'offline');
  item.querySelector('.node-id').textContent = node.device ? node.project.name : `configuration · ${node.config.node_id}`;
}

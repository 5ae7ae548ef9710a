// Which nodes the AI-node page shows. A node is a device of one of the person's projects
// (node id = device id), so they come from three places, matched by device id: the devices
// that said they are nodes when they connected (their `kind`), the relay's list of what is
// connected now (`relay-nodes`), and the person's saved skill configurations; a node added on
// this page is a device of kind `openclaw` from the start, before it ever connects. A
// configuration whose node id is no device of theirs is listed on its own (it can be edited,
// not commanded).
import { get, seg } from '../../api.js';
import { remember } from '../../names.js';

/** The health fields a heartbeat, `relay-nodes` or a `status` answer carry. */
export const HEALTH = ['last_heartbeat', 'uptime', 'active_tasks', 'last_error', 'connection_state'];

export function healthOf(report) {
  return Object.fromEntries(HEALTH.filter((k) => report[k] !== undefined).map((k) => [k, report[k]]));
}

/**
 * Resolves with `{ nodes, projects }`: nodes is a Map key → entry, where entry is
 * `{ key, name, device?, project?, config?, online, health }` and key the device id (or the
 * configuration id for a configuration of no device), sorted by name.
 */
export async function loadNodes({ signal }) {
  const [projects, configs, connected] = await Promise.all([
    get('/api/v1/projects', { signal }),
    get('/api/v1/skill-configs?skill_slug=privaclaw', { signal }),
    get('/functions/v1/relay-nodes', { signal }),
  ]);
  const perProject = await Promise.all(projects.map((p) => get(`/api/v1/projects/${seg(p.id)}/devices`, { signal })));
  const devices = new Map();
  projects.forEach((project, i) => {
    for (const device of remember(perProject[i])) devices.set(device.id, { device, project });
  });
  const live = new Map(connected.nodes.map((n) => [n.device_id, n]));

  const entries = [];
  const entry = (key, found, config) => {
    const now = found && live.get(found.device.id);
    return {
      key,
      name: config?.name ?? found.device.name,
      device: found?.device,
      project: found?.project,
      config,
      online: !!now || found?.device.status === 'online',
      health: now ? healthOf(now) : {},
    };
  };
  const configured = new Set();
  for (const config of configs) {
    const found = devices.get(config.node_id);
    if (found) configured.add(found.device.id);
    entries.push(entry(found ? found.device.id : config.id, found, config));
  }
  for (const [id, found] of devices) {
    const isNode = found.device.kind !== 'connector' || live.get(id)?.kind === 'node';
    if (isNode && !configured.has(id)) entries.push(entry(id, found, null));
  }
  entries.sort((a, b) => a.name.localeCompare(b.name) || a.key.localeCompare(b.key));
  return { nodes: new Map(entries.map((e) => [e.key, e])), projects };
}

/** The connected-now details of one device (after it came online), or null. */
export async function liveHealth(deviceId, signal) {
  const { nodes } = await get('/functions/v1/relay-nodes', { signal });
  const now = nodes.find((n) => n.device_id === deviceId);
  return now ? healthOf(now) : null;
}

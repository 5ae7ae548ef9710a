// One device as a list row — name, live status pill, what is known about its connection, and
// a Connect button enabled only while it is online (an AI node also links to its page, and an
// OpenClaw node, which has no terminal, has no Connect) — and the watcher that keeps rows
// current as the relay reports devices going online or offline. Pages add their own actions.
import { h } from '../dom.js';
import * as events from '../events.js';
import { openTerminal } from '../connect.js';
import { ago } from '../format.js';
import { statusBadge, setStatus } from './status.js';

export function deviceRow(device, { project, actions = [] } = {}) {
  const row = h('li', { dataset: { deviceId: device.id } },
    h('div', { class: 'item-main' },
      h('div', { class: 'item-title' }, device.name),
      h('div', { class: 'item-meta' })),
    statusBadge(device.status),
    h('div', { class: 'item-actions' },
      device.kind !== 'connector' && h('a', {
        class: 'btn btn-sm', href: `/skill/privaclaw?node=${encodeURIComponent(device.id)}`, 'aria-label': `Open the AI node ${device.name}`,
      }, 'AI node'),
      device.kind !== 'openclaw' && h('button', {
        type: 'button',
        class: 'btn btn-primary btn-sm connect',
        'aria-label': `Connect to ${device.name}`,
        onclick: (e) => openTerminal(device.id, e.currentTarget),
      }, 'Connect'),
      actions));
  fill(row, device, project);
  return row;
}

function fill(row, device, project) {
  const online = device.status === 'online';
  setStatus(row.querySelector('.status'), device.status);
  const connect = row.querySelector('.connect');
  if (connect) connect.disabled = !online;
  let seen = 'waiting for pairing';
  if (device.paired) seen = online ? 'connected' : `last seen ${ago(device.last_seen)}`;
  row.querySelector('.item-meta').textContent = [project?.name, seen].filter(Boolean).join(' · ');
}

/**
 * Updates the rows in `list` for devices in `entries` (a Map of id → {device, project}) when
 * their status changes; returns nothing, stops when `signal` aborts.
 */
export function watchDeviceRows(list, entries, signal) {
  events.on('device_status', (e) => {
    const entry = entries.get(e.device_id);
    const row = list.querySelector(`[data-device-id="${CSS.escape(e.device_id)}"]`);
    if (!entry || !row) return;
    Object.assign(entry.device, { status: e.status, last_seen: e.last_seen ?? entry.device.last_seen, paired: 1 });
    fill(row, entry.device, entry.project);
  }, { signal });
}

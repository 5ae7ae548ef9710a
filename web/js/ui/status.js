// The coloured status pill: online/offline, active/ended, and the terminal's connection states.
import { h } from '../dom.js';

const LABELS = { online: 'Online', offline: 'Offline', active: 'Active', ended: 'Ended' };

export function statusBadge(status, label = LABELS[status] ?? status) {
  return h('span', { class: 'badge status', dataset: { status } }, label);
}

export function setStatus(badge, status, label = LABELS[status] ?? status) {
  badge.dataset.status = status;
  badge.textContent = label;
}


// Session history as a table: device, who opened it and who joined, start, end or duration,
// status and why it ended. Active sessions get an Open link, so a team mate can join a running
// terminal (the terminal page asks first, and the others are told).
import { h } from '../dom.js';
import { when, duration, endReason } from '../format.js';
import { statusBadge } from './status.js';

export function sessionsTable(rows) {
  const cell = (label, ...content) => h('td', { 'data-label': label }, content);
  return h('div', { class: 'table-wrap' }, h('table', { class: 'responsive-table' },
    h('thead', null, h('tr', null,
      ['Device', 'User', 'Started', 'Ended', 'Duration', 'Status'].map((t) => h('th', { scope: 'col' }, t)),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
    h('tbody', null, rows.map((s) => h('tr', null,
      cell('Device', s.device_name),
      cell('User', h('span', { class: 'who', title: s.user_email }, s.user_display_name || s.user_email),
        s.joined?.length > 0 && h('span', { class: 'muted who' }, ` + ${s.joined.map((j) => j.email).join(', ')}`)),
      cell('Started', when(s.started_at)),
      cell('Ended', s.ended_at ? when(s.ended_at) : '—'),
      cell('Duration', duration(s.started_at, s.ended_at)),
      cell('Status', statusBadge(s.status), s.end_reason && h('span', { class: 'muted end-reason' },
        endReason({ reason: s.end_reason, status: s.exit_status, by: s.ended_by_email, device: s.device_name }))),
      cell('', s.status === 'active' && h('a', {
        class: 'btn btn-sm',
        href: `/terminal/${encodeURIComponent(s.device_id)}/${encodeURIComponent(s.id)}`,
      }, 'Open')))))));
}

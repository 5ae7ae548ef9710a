// The Sessions tab: the project's session history (who, which device, when, how it ended),
// filtered by device and status, refreshed as sessions start and end.
import { h, replace } from '../../dom.js';
import { get, seg } from '../../api.js';
import * as events from '../../events.js';
import { selectField } from '../../ui/form.js';
import { sessionsTable } from '../../ui/sessions-table.js';
import { empty, loading } from '../../ui/states.js';
import { toastError } from '../../ui/toast.js';

export async function render(panel, { project, signal }) {
  const base = `/api/v1/projects/${seg(project.id)}`;
  const devices = await get(`${base}/devices`, { signal });
  const filters = h('form', { class: 'row toolbar', 'aria-label': 'Filter sessions' },
    selectField({ label: 'Device', name: 'device_id', options: [['', 'All devices'], ...devices.map((d) => [d.id, d.name])] }),
    selectField({ label: 'Status', name: 'status', options: [['', 'Any status'], ['active', 'Active'], ['ended', 'Ended']] }));
  const body = h('div', null, loading());
  replace(panel, filters, body);

  const load = async () => {
    const query = new URLSearchParams(Object.entries(Object.fromEntries(new FormData(filters))).filter(([, v]) => v));
    query.set('limit', '200');
    const rows = await get(`${base}/sessions?${query}`, { signal });
    replace(body, rows.length > 0
      ? sessionsTable(rows)
      : empty('No sessions', query.size > 1 ? 'None match these filters.' : 'Sessions appear here once someone connects to a device.'));
  };
  filters.addEventListener('change', () => load().catch(toastError));
  events.onAny(['session', 'resync'], () => load().catch(toastError), { signal });
  await load();
}

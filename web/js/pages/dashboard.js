// `/dashboard`: the overview after signing in — how many devices are online, every device
// across the person's projects with a Connect button (kept live), and recent sessions.
import { h, replace } from '../dom.js';
import { get, seg } from '../api.js';
import * as events from '../events.js';
import { currentUser } from '../auth.js';
import { remember } from '../names.js';
import { newProject } from '../project-actions.js';
import { deviceRow, watchDeviceRows } from '../ui/device-row.js';
import { sessionsTable } from '../ui/sessions-table.js';
import { empty, loading } from '../ui/states.js';
import { toastError } from '../ui/toast.js';

export const title = 'Dashboard';

export async function render(main, { signal }) {
  const user = currentUser();
  const body = h('div', null, loading());
  const list = h('ul', { class: 'list', 'aria-label': 'Devices' });
  const entries = new Map();
  replace(main, h('div', { class: 'page' },
    h('div', { class: 'page-head' },
      h('div', null,
        h('h1', null, 'Dashboard'),
        h('p', { class: 'muted' }, `Signed in as ${user.user_metadata?.display_name || user.email}`)),
      h('button', { type: 'button', class: 'btn btn-primary', onclick: newProject }, 'New project')),
    body));
  watchDeviceRows(list, entries, signal);

  const load = async () => {
    const [projects, recent, active] = await Promise.all([
      get('/api/v1/projects', { signal }),
      get('/api/v1/sessions?limit=8', { signal }),
      get('/api/v1/sessions?status=active&limit=500', { signal }),
    ]);
    const perProject = await Promise.all(projects.map((p) => get(`/api/v1/projects/${seg(p.id)}/devices`, { signal })));
    entries.clear();
    projects.forEach((project, i) => {
      for (const device of remember(perProject[i])) entries.set(device.id, { device, project });
    });
    replace(body, projects.length === 0 ? firstRun() : overview(projects, [...entries.values()], recent, active.length, list));
  };
  events.onAny(['device', 'project', 'membership', 'session', 'resync'], () => load().catch(toastError), { signal });
  await load();
}

function firstRun() {
  return empty('Create your first project',
    'Projects hold your devices and the people who may use them. Create one, add a device, and run the connector on it.',
    h('button', { type: 'button', class: 'btn btn-primary', onclick: newProject }, 'New project'),
    h('a', { class: 'btn', href: '/docs' }, 'Read the getting-started guide'));
}

function overview(projects, devices, recent, active, list) {
  const online = devices.filter((d) => d.device.status === 'online').length;
  const stat = (value, label) => h('div', { class: 'card' }, h('div', { class: 'stat' }, value), h('div', { class: 'stat-label' }, label));
  replace(list, devices.map(({ device, project }) => deviceRow(device, { project })));
  return [
    h('div', { class: 'grid' },
      stat(projects.length, projects.length === 1 ? 'project' : 'projects'),
      stat(`${online} / ${devices.length}`, 'devices online'),
      stat(active, active === 1 ? 'open terminal session' : 'open terminal sessions')),
    h('section', { class: 'section' },
      h('h2', null, 'Devices'),
      devices.length > 0 ? list : empty('No devices yet', 'Open a project and choose Add device to pair your first machine.',
        h('a', { class: 'btn', href: `/project/${seg(projects[0].id)}` }, `Open ${projects[0].name}`))),
    h('section', { class: 'section' },
      h('h2', null, 'Recent sessions'),
      recent.length > 0 ? sessionsTable(recent) : h('p', { class: 'muted' }, 'No sessions yet: connect to a device to start one.')),
  ];
}

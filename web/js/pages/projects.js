// `/projects`: every project the person owns or was added to, with its device count, and
// the New project button.
import { h, replace } from '../dom.js';
import { get, seg } from '../api.js';
import * as events from '../events.js';
import { newProject } from '../project-actions.js';
import { empty, loading } from '../ui/states.js';
import { toastError } from '../ui/toast.js';
import { when } from '../format.js';

export const title = 'Projects';

export async function render(main, { signal }) {
  const body = h('div', null, loading());
  replace(main, h('div', { class: 'page' },
    h('div', { class: 'page-head' },
      h('div', null, h('h1', null, 'Projects'), h('p', { class: 'muted' }, 'Projects group devices and the people who may use them.')),
      h('button', { type: 'button', class: 'btn btn-primary', onclick: newProject }, 'New project')),
    body));

  const load = async () => {
    const projects = await get('/api/v1/projects', { signal });
    const devices = await Promise.all(projects.map((p) => get(`/api/v1/projects/${seg(p.id)}/devices`, { signal })));
    replace(body, projects.length === 0
      ? empty('No projects yet', 'Create a project, or ask someone to invite you to theirs.',
        h('button', { type: 'button', class: 'btn btn-primary', onclick: newProject }, 'New project'))
      : h('div', { class: 'grid' }, projects.map((p, i) => card(p, devices[i]))));
  };
  events.onAny(['project', 'membership', 'device', 'device_status', 'resync'], () => load().catch(toastError), { signal });
  await load();
}

function card(project, devices) {
  const online = devices.filter((d) => d.status === 'online').length;
  return h('a', { class: 'card', href: `/project/${seg(project.id)}` },
    h('div', { class: 'row' },
      h('span', { class: 'card-title' }, project.name),
      h('span', { class: `badge ${project.role === 'owner' ? 'badge-owner' : ''}` }, project.role === 'owner' ? 'Owner' : 'Member')),
    h('div', { class: 'card-meta' }, `${devices.length} ${devices.length === 1 ? 'device' : 'devices'} · ${online} online`),
    h('div', { class: 'card-meta' }, `Created ${when(project.created_at)}`));
}

// `/project/:id`: one project — its name, the owner's rename and delete buttons, and three
// tabs (Devices, Team, Sessions; `?tab=` keeps the choice in the address). Each tab gets its
// own AbortSignal so switching tabs drops the previous tab's listeners.
import { h, replace } from '../dom.js';
import { get, seg } from '../api.js';
import * as events from '../events.js';
import { navigate, replaceUrl } from '../router.js';
import { renameProject, deleteProject } from '../project-actions.js';
import { toast } from '../ui/toast.js';

export const title = 'Project';

const TABS = [
  ['devices', 'Devices', () => import('./project/devices.js')],
  ['team', 'Team', () => import('./project/team.js')],
  ['sessions', 'Sessions', () => import('./project/sessions.js')],
];

export async function render(main, { params, query, signal }) {
  const path = `/api/v1/projects/${seg(params.id)}`;
  const project = await get(path, { signal });
  const owner = project.role === 'owner';
  const heading = h('h1', null, project.name);
  const named = (p) => {
    heading.textContent = p.name;
    document.title = `${p.name} — PrivaClaw`;
  };
  named(project);

  const tabList = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Project sections' });
  const panel = h('div', { role: 'tabpanel', id: 'project-panel', tabindex: '-1' });
  let tabController = null;
  // Set while this tab deletes the project, so the relay's echo of it is not news.
  let leaving = false;
  // Deleted, or this person removed from it: nothing left to show here.
  const gone = (message, kind = 'warn') => {
    toast(message, { kind });
    navigate('/projects');
  };
  const show = async (key) => {
    tabController?.abort();
    tabController = new AbortController();
    const tabSignal = AbortSignal.any([signal, tabController.signal]);
    for (const t of tabList.children) t.setAttribute('aria-selected', String(t.dataset.tab === key));
    replaceUrl(`/project/${seg(project.id)}${key === 'devices' ? '' : `?tab=${key}`}`);
    const module = await TABS.find(([k]) => k === key)[2]();
    if (tabSignal.aborted) return;
    replace(panel);
    panel.setAttribute('aria-labelledby', `tab-${key}`);
    await module.render(panel, { project, owner, signal: tabSignal });
  };
  for (const [key, label] of TABS) {
    tabList.append(h('button', {
      type: 'button', role: 'tab', id: `tab-${key}`, 'aria-controls': 'project-panel', dataset: { tab: key },
      onclick: () => show(key),
    }, label));
  }

  replace(main, h('div', { class: 'page' },
    h('div', { class: 'page-head' },
      h('div', null,
        h('p', { class: 'muted' }, h('a', { href: '/projects' }, 'Projects'), ' / '),
        h('div', { class: 'row' }, heading, h('span', { class: `badge ${owner ? 'badge-owner' : ''}` }, owner ? 'Owner' : 'Member'))),
      owner && h('div', { class: 'row' },
        h('button', {
          type: 'button', class: 'btn', onclick: async () => {
            const renamed = await renameProject(project);
            if (renamed) named(Object.assign(project, renamed));
          },
        }, 'Rename'),
        h('button', {
          type: 'button', class: 'btn btn-danger', onclick: async () => {
            leaving = true;
            if (await deleteProject(project)) gone(`Deleted “${project.name}”.`, 'ok');
            leaving = false;
          },
        }, 'Delete project'))),
    tabList,
    panel));

  events.on('project', async (e) => {
    if (e.project_id !== project.id || leaving) return;
    if (e.action === 'deleted') gone(`“${project.name}” was deleted.`);
    else named(Object.assign(project, await get(path, { signal })));
  }, { signal });
  events.on('membership', async (e) => {
    if (e.project_id !== project.id || leaving) return;
    const still = await get('/api/v1/projects', { signal });
    if (!still.some((p) => p.id === project.id)) gone(`You no longer have access to “${project.name}”.`);
  }, { signal });

  const wanted = query.get('tab');
  await show(TABS.some(([k]) => k === wanted) ? wanted : 'devices');
}

// Creating, renaming and deleting projects: the dialogs behind those buttons, shared by the
// dashboard, the project list and the project page.
import { h } from './dom.js';
import { post, patch, del, seg } from './api.js';
import { formDialog, confirmDialog } from './ui/dialog.js';
import { field } from './ui/form.js';
import { navigate } from './router.js';

const nameField = (value) => field({ label: 'Project name', name: 'name', required: true, maxlength: 100, value, autocomplete: 'off' });

export async function newProject() {
  const project = await formDialog({
    title: 'New project',
    body: h('p', { class: 'muted' }, 'A project holds devices and the people who may use them.'),
    fields: nameField(),
    submitLabel: 'Create project',
    submit: ({ name }) => post('/api/v1/projects', { name }),
  });
  if (project) navigate(`/project/${seg(project.id)}`);
}

/** Resolves with the renamed project, or null. */
export function renameProject(project) {
  return formDialog({
    title: 'Rename project',
    fields: nameField(project.name),
    submit: ({ name }) => patch(`/api/v1/projects/${seg(project.id)}`, { name }),
  });
}

/** Resolves true once the project is deleted, false if the person changed their mind. */
export async function deleteProject(project) {
  return !!await confirmDialog({
    title: `Delete “${project.name}”?`,
    message: 'Its devices are disconnected and removed, its session history and invitations are deleted, and its members lose access. This cannot be undone.',
    confirmLabel: 'Delete project',
    confirm: () => del(`/api/v1/projects/${seg(project.id)}`),
  });
}

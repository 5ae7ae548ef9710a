// The Team tab: members and pending invitations. The owner invites by email: the relay gives
// an invitation link, shown once here (and mailed, on a relay that sends email), which whoever
// the owner hands it to opens to join; on a relay that confirms addresses, someone with a
// confirmed account is added at once. The owner removes members and cancels invitations; a
// member may leave. Either way their open terminals of the project close at once.
import { h, replace } from '../../dom.js';
import { get, post, del, seg } from '../../api.js';
import * as events from '../../events.js';
import { currentUser } from '../../auth.js';
import { navigate } from '../../router.js';
import { confirmDialog } from '../../ui/dialog.js';
import { field, onSubmit } from '../../ui/form.js';
import { loading } from '../../ui/states.js';
import { codeBlock } from '../../ui/copy.js';
import { toast, toastError } from '../../ui/toast.js';
import { when } from '../../format.js';

export async function render(panel, { project, owner, signal }) {
  const base = `/api/v1/projects/${seg(project.id)}`;
  const members = h('div', null, loading());
  const invitations = h('div');
  replace(panel,
    owner && inviteForm(project),
    h('section', null, h('h2', null, 'Members'), members),
    invitations);

  const load = async () => {
    const [people, pending] = await Promise.all([get(`${base}/members`, { signal }), get(`${base}/invitations`, { signal })]);
    replace(members, h('ul', { class: 'list', 'aria-label': 'Members' }, people.map((m) => memberRow(project, m, owner))));
    const open = pending.filter((i) => i.status === 'pending');
    replace(invitations, open.length > 0 && h('section', { class: 'section' },
      h('h2', null, 'Pending invitations'),
      h('ul', { class: 'list', 'aria-label': 'Pending invitations' }, open.map((i) => invitationRow(project, i, owner)))));
  };
  events.onAny(['member', 'invitation', 'membership', 'resync'], () => load().catch(toastError), { signal });
  await load();
}

function inviteForm(project) {
  const result = h('div', { role: 'status' });
  const form = h('form', { class: 'card toolbar', 'aria-label': 'Invite someone' },
    h('h2', null, 'Invite someone'),
    h('p', { class: 'muted' }, 'You get a link to give them: whoever opens it joins (after signing in or up). It works once, for 7 days.'),
    field({ label: 'Email', name: 'email', type: 'email', required: true, autocomplete: 'off' }),
    result,
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Invite')));
  return onSubmit(form, async ({ email }) => {
    replace(result);
    const r = await post('/functions/v1/invite-member', { project_id: project.id, email });
    const text = r.status === 'added' ? `Added: ${email} is now a member.` : `Invited ${email}. ${r.message}`;
    replace(result,
      h('p', { class: 'form-note', dataset: { status: r.status } }, text),
      r.invite_url && codeBlock(r.invite_url, `Invitation link for ${email}`));
    form.reset();
  });
}

function memberRow(project, m, owner) {
  const me = m.user_id === currentUser().id;
  const name = m.display_name || m.email;
  const remove = (label, title, message) => h('button', {
    type: 'button', class: 'btn btn-sm btn-danger', 'aria-label': `${label}: ${name}`,
    onclick: async () => {
      const done = await confirmDialog({
        title, message, confirmLabel: label,
        confirm: () => del(`/api/v1/projects/${seg(project.id)}/members/${seg(m.user_id)}`),
      });
      if (done && me) navigate('/projects');
      else if (done) toast(`Removed ${name}.`, { kind: 'ok' });
    },
  }, label);
  return h('li', null,
    h('div', { class: 'item-main' },
      h('div', { class: 'item-title' }, name, me && h('span', { class: 'muted' }, ' (you)')),
      h('div', { class: 'item-meta' }, [m.display_name && m.email, `joined ${when(m.created_at)}`].filter(Boolean).join(' · '))),
    h('span', { class: `badge ${m.role === 'owner' ? 'badge-owner' : ''}` }, m.role === 'owner' ? 'Owner' : 'Member'),
    m.role !== 'owner' && owner && remove('Remove', `Remove ${name}?`, `${name} loses access to “${project.name}” and its devices.`),
    m.role !== 'owner' && !owner && me && remove('Leave', `Leave “${project.name}”?`, 'You lose access to its devices until the owner invites you again.'));
}

function invitationRow(project, inv, owner) {
  return h('li', null,
    h('div', { class: 'item-main' },
      h('div', { class: 'item-title' }, inv.email),
      h('div', { class: 'item-meta' }, `invited ${when(inv.created_at)}`)),
    h('span', { class: 'badge' }, 'Invited'),
    owner && h('button', {
      type: 'button', class: 'btn btn-sm btn-ghost', 'aria-label': `Cancel the invitation of ${inv.email}`,
      onclick: async () => {
        await del(`/api/v1/projects/${seg(project.id)}/invitations/${seg(inv.id)}`).then(
          () => toast(`Cancelled the invitation of ${inv.email}.`, { kind: 'ok' }),
          (e) => toast(e.message, { kind: 'error' }));
      },
    }, 'Cancel invitation'));
}

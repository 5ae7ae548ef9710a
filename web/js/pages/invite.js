// `/invite?token=…`: an invitation link. Says which project it leads to and who sent it, then
// joins it as the signed-in person — after they sign in or sign up, if they have to. The token
// leaves the address bar at once and waits in this tab's sessionStorage meanwhile (the sign-up
// form sends it too, which an invitation-only relay asks for); joining spends it.
import { h, replace } from '../dom.js';
import { currentUser, signOut } from '../auth.js';
import { post, seg } from '../api.js';
import { requestJson } from '../http.js';
import { navigate, replaceUrl } from '../router.js';
import { toast } from '../ui/toast.js';

export const title = 'Invitation';

const KEY = 'privaclaw.invite';

/** The token of the invitation link this tab is following, if any. */
export function pendingInvitation() {
  return sessionStorage.getItem(KEY);
}

export async function render(main, { query, signal }) {
  const fromLink = query.get('token');
  if (fromLink) sessionStorage.setItem(KEY, fromLink);
  replaceUrl('/invite');
  const token = pendingInvitation();
  const page = (...content) => replace(main, h('div', { class: 'page narrow' }, h('h1', null, 'Invitation'), ...content));
  if (!token) {
    page(h('p', { class: 'muted' }, 'Open the invitation link you were given again: it carries the code this page needs.'));
    return;
  }
  let invitation;
  try {
    invitation = await requestJson('POST', '/api/v1/invitations/preview', { body: { token }, signal });
  } catch (e) {
    if (e.name === 'AbortError') return;
    sessionStorage.removeItem(KEY);
    page(h('div', { class: 'form-error', role: 'alert' }, e.message));
    return;
  }
  const from = invitation.invited_by_email ? `${invitation.invited_by_email} invited you` : 'You are invited';
  const what = h('p', null, `${from} to join the project `, h('strong', null, invitation.project_name), '.');
  const user = currentUser();
  if (!user) {
    const next = encodeURIComponent('/invite');
    const email = encodeURIComponent(invitation.email);
    page(what,
      h('p', { class: 'muted' }, 'Sign in, or create an account, to join it.'),
      h('div', { class: 'form-actions' },
        h('a', { class: 'btn', href: `/auth?next=${next}&email=${email}` }, 'Sign in'),
        h('a', { class: 'btn btn-primary', href: `/auth?mode=signup&next=${next}&email=${email}` }, 'Create an account')));
    return;
  }
  const join = h('button', {
    type: 'button',
    class: 'btn btn-primary',
    onclick: async () => {
      join.disabled = true;
      try {
        const project = await post('/api/v1/invitations/accept', { token });
        sessionStorage.removeItem(KEY);
        toast(`You joined “${project.name}”.`, { kind: 'ok' });
        navigate(`/project/${seg(project.id)}`, { replace: true });
      } catch (e) {
        join.disabled = false;
        toast(e.message, { kind: 'error' });
      }
    },
  }, `Join as ${user.email}`);
  page(what,
    h('div', { class: 'form-actions' },
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => signOut().then(() => navigate(`/auth?next=${encodeURIComponent('/invite')}`)) }, 'Not you? Sign out'),
      join));
}

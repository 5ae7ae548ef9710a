// `/reset-password?token=…`: choose a new password from a reset link. The token is taken out
// of the address bar at once (so it does not linger in history) and spent only when the
// form is sent, so opening the link by mistake does not use it up.
import { h, replace } from '../dom.js';
import { resetPassword } from '../auth.js';
import { navigate, replaceUrl } from '../router.js';
import { field, onSubmit } from '../ui/form.js';
import { toast } from '../ui/toast.js';

export const title = 'Choose a new password';

export function render(main, { query }) {
  const token = query.get('token');
  replaceUrl('/reset-password');
  if (!token) {
    replace(main, h('div', { class: 'page narrow' },
      h('h1', null, 'Reset your password'),
      h('p', { class: 'muted' }, 'Open the link from the reset email (or the relay’s log) again: it carries a one-time code this page needs. Links work for one hour.'),
      h('a', { class: 'btn btn-primary', href: '/auth?mode=forgot' }, 'Ask for a new link')));
    return;
  }
  const form = h('form', { class: 'card' },
    field({ label: 'New password', name: 'password', type: 'password', required: true, minlength: 8, autocomplete: 'new-password', hint: 'At least 8 characters.' }),
    field({ label: 'Repeat it', name: 'repeat', type: 'password', required: true, minlength: 8, autocomplete: 'new-password' }),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Set password and sign in')));
  onSubmit(form, async ({ password, repeat }) => {
    if (password !== repeat) throw new Error('The two passwords differ: type the same one twice.');
    await resetPassword(token, password);
    toast('Your password is changed; you are signed in.', { kind: 'ok' });
    navigate('/dashboard', { replace: true });
  });
  replace(main, h('div', { class: 'page narrow' }, h('h1', null, 'Choose a new password'), form));
}

// `/settings`: the person's display name and password, and signing out of every browser.
import { h, replace } from '../dom.js';
import { currentUser, updateUser, signOut } from '../auth.js';
import { field, onSubmit } from '../ui/form.js';
import { toast } from '../ui/toast.js';

export const title = 'Settings';

export function render(main) {
  const user = currentUser();
  const profile = onSubmit(h('form', { class: 'card', 'aria-labelledby': 'profile-h' },
    h('h2', { id: 'profile-h' }, 'Profile'),
    field({ label: 'Email', name: 'email', type: 'email', value: user.email, readonly: true, hint: 'Your sign-in name; it cannot be changed here.' }),
    field({ label: 'Display name', name: 'display_name', value: user.user_metadata?.display_name ?? '', maxlength: 100, autocomplete: 'name', hint: 'Shown to your team instead of your email.' }),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save profile'))),
  async ({ display_name: name }) => {
    await updateUser({ data: { display_name: name.trim() || null } });
    toast('Profile saved.', { kind: 'ok' });
  });

  const password = onSubmit(h('form', { class: 'card', 'aria-labelledby': 'password-h' },
    h('h2', { id: 'password-h' }, 'Password'),
    // Lets password managers pair the new password with the account.
    h('input', { type: 'text', name: 'username', value: user.email, autocomplete: 'username', hidden: true, readonly: true }),
    field({ label: 'Current password', name: 'current', type: 'password', required: true, autocomplete: 'current-password' }),
    field({ label: 'New password', name: 'password', type: 'password', required: true, minlength: 8, autocomplete: 'new-password', hint: 'At least 8 characters. Every other browser signed in to your account is signed out.' }),
    field({ label: 'Repeat it', name: 'repeat', type: 'password', required: true, minlength: 8, autocomplete: 'new-password' }),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Change password'))),
  async ({ current, password: pw, repeat }, form) => {
    if (pw !== repeat) throw new Error('The two passwords differ: type the same one twice.');
    await updateUser({ password: pw, current_password: current });
    form.reset();
    toast('Password changed. Every other browser is signed out.', { kind: 'ok' });
  });

  replace(main, h('div', { class: 'page narrow' },
    h('h1', null, 'Settings'),
    h('div', { class: 'stack' },
      profile,
      password,
      h('div', { class: 'card' },
        h('h2', null, 'Sign out everywhere'),
        h('p', { class: 'muted' }, 'Ends your sign-in in every browser, including this one, and closes their open terminals at once. The shells keep running on their devices until they time out.'),
        h('button', {
          type: 'button', class: 'btn btn-danger', onclick: () => signOut({ everywhere: true }),
        }, 'Sign out everywhere')))));
}

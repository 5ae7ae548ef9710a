// `/auth`: sign in, sign up, or ask for a password-reset link, on one card with three tabs.
// After signing in the person goes back to where they were sent from (`?next=`).
import { h, replace } from '../dom.js';
import { signIn, signUp, requestReset, currentUser, takeNotice } from '../auth.js';
import { pendingInvitation } from './invite.js';
import { navigate, safeNext } from '../router.js';
import { field, onSubmit } from '../ui/form.js';

export const title = 'Sign in';

const MODES = [['signin', 'Sign in'], ['signup', 'Sign up'], ['forgot', 'Forgot password']];

const NOTICES = {
  confirmed: ['note', 'Your email is confirmed: sign in.'],
  link_expired: ['error', 'That link is invalid, already used or expired. Ask for a new one.'],
  bad_link: ['error', 'That link is not valid.'],
  server: ['error', 'The relay could not confirm your email; try the link again.'],
};

export function render(main, { query }) {
  const next = safeNext(query.get('next')) ?? '/dashboard';
  if (currentUser()) {
    navigate(next, { replace: true });
    return;
  }
  const tabs = h('div', { class: 'segmented', role: 'tablist', 'aria-label': 'Account' });
  const panel = h('div', { role: 'tabpanel', id: 'auth-panel' });
  const why = takeNotice();
  const notice = why ? ['error', why] : NOTICES[query.get('confirmed') ? 'confirmed' : query.get('error')];

  const show = (mode) => {
    for (const t of tabs.children) t.setAttribute('aria-selected', String(t.dataset.mode === mode));
    panel.setAttribute('aria-labelledby', `auth-tab-${mode}`);
    replace(panel, FORMS[mode]({ next, show }));
    panel.querySelector('input')?.focus();
  };
  for (const [mode, label] of MODES) {
    tabs.append(h('button', {
      type: 'button', role: 'tab', id: `auth-tab-${mode}`, 'aria-controls': 'auth-panel', dataset: { mode }, onclick: () => show(mode),
    }, label));
  }
  replace(main, h('div', { class: 'page narrow' },
    h('h1', null, 'Welcome to PrivaClaw'),
    h('p', { class: 'muted' }, 'Browser terminals for your machines.'),
    notice && h('div', { class: notice[0] === 'note' ? 'form-note' : 'form-error', role: 'status' }, notice[1]),
    h('div', { class: 'card auth-card' }, tabs, panel)));
  show(MODES.some(([m]) => m === query.get('mode')) ? query.get('mode') : 'signin');
}

// `?email=` fills the address in (an invitation link's page sends it).
const email = () => field({ label: 'Email', name: 'email', type: 'email', required: true, autocomplete: 'email', value: new URLSearchParams(location.search).get('email') ?? '' });

const FORMS = {
  signin: ({ next, show }) => onSubmit(
    h('form', null,
      email(),
      field({ label: 'Password', name: 'password', type: 'password', required: true, autocomplete: 'current-password' }),
      h('div', { class: 'form-actions' },
        h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => show('forgot') }, 'Forgot password?'),
        h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in'))),
    async ({ email: e, password }) => {
      await signIn(e, password);
      navigate(next, { replace: true });
    }),

  signup: ({ next }) => {
    const form = h('form', null,
      email(),
      field({ label: 'Password', name: 'password', type: 'password', required: true, minlength: 8, autocomplete: 'new-password', hint: 'At least 8 characters.' }),
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create account')));
    return onSubmit(form, async ({ email: e, password }) => {
      if (await signUp(e, password, pendingInvitation())) {
        navigate(next, { replace: true });
        return;
      }
      replace(form, h('div', { class: 'form-note', role: 'status' }, `We sent a confirmation link to ${e}. Open it, then sign in.`));
    });
  },

  forgot: () => {
    const form = h('form', null,
      h('p', { class: 'muted' }, 'Enter your account’s email and we will send a link to choose a new password. (On a relay without email, the link appears in the relay’s log.)'),
      email(),
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Send reset link')));
    return onSubmit(form, async ({ email: e }) => {
      await requestReset(e);
      replace(form, h('div', { class: 'form-note', role: 'status' }, `If ${e} has an account, a reset link is on its way. It works for one hour.`));
    });
  },
};

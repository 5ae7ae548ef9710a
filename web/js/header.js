// The site header: brand, navigation for the signed-in or signed-out visitor, the current
// page marked for assistive technology, and a menu button on narrow screens.
import { h, replace } from './dom.js';
import { currentUser, signOut } from './auth.js';

const SIGNED_IN = [['/dashboard', 'Dashboard'], ['/projects', 'Projects'], ['/skill/privaclaw', 'AI nodes'], ['/docs', 'Docs']];
const SIGNED_OUT = [['/docs', 'Docs']];

export function renderHeader() {
  const user = currentUser();
  const nav = h('nav', { class: 'nav', id: 'site-nav', 'aria-label': 'Main' },
    (user ? SIGNED_IN : SIGNED_OUT).map(([href, text]) => h('a', { href }, text)),
    h('div', { class: 'nav-end' }, user
      ? [
          h('a', { href: '/settings', class: 'nav-user', title: user.email }, user.user_metadata?.display_name || user.email),
          h('button', { type: 'button', class: 'btn btn-sm', onclick: () => signOut() }, 'Sign out'),
        ]
      : [
          h('a', { href: '/auth' }, 'Sign in'),
          h('a', { href: '/auth?mode=signup', class: 'btn btn-primary btn-sm' }, 'Get started'),
        ]));
  const toggle = h('button', {
    type: 'button', class: 'btn btn-ghost menu-toggle', 'aria-expanded': 'false', 'aria-controls': 'site-nav',
  }, 'Menu');
  toggle.addEventListener('click', () => {
    const open = nav.classList.toggle('open');
    toggle.setAttribute('aria-expanded', String(open));
  });
  nav.addEventListener('click', (e) => {
    if (e.target.closest('a')) {
      nav.classList.remove('open');
      toggle.setAttribute('aria-expanded', 'false');
    }
  });
  replace(document.getElementById('site-header'),
    h('div', { class: 'header-inner' },
      h('a', { class: 'brand', href: user ? '/dashboard' : '/' }, h('img', { src: '/img/logo.svg', alt: '' }), 'PrivaClaw'),
      toggle,
      nav));
  markCurrent();
}

/** Marks the nav link of the section being shown (aria-current), after every navigation. */
export function markCurrent() {
  for (const a of document.querySelectorAll('#site-nav a')) {
    const section = a.pathname === '/skill/privaclaw' ? '/skill' : a.pathname;
    const here = location.pathname === a.pathname
      || location.pathname.startsWith(`${section}/`)
      || (a.pathname === '/projects' && location.pathname.startsWith('/project/'));
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

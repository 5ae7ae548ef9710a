// `/`: what PrivaClaw is, how it works, and the way in (sign up, or the dashboard when
// already signed in).
import { h, replace } from '../dom.js';
import { currentUser } from '../auth.js';
import { footer } from '../ui/footer.js';

const STEPS = [
  ['Create a project and add a device', 'The dashboard gives the device a one-time pairing code and the exact command to run on the machine.'],
  ['Run the connector on the machine', 'relay-connector dials out to your relay over WebSocket and waits. Nothing on the machine listens for connections.'],
  ['Open a terminal in the browser', 'Click Connect: a real shell on a real PTY, with colours, scrollback, copy and paste, and reconnection that loses nothing.'],
];

const FEATURES = [
  ['Outbound only', 'The machine connects out to the relay, so it works behind NAT, firewalls and mobile networks. No port forwarding, no VPN, no SSH keys to hand out.'],
  ['Yours to run', 'One relay binary holds the API, accounts, realtime updates, the WebSocket hub and this web app. SQLite by default, PostgreSQL when you need it.'],
  ['Teams', 'Invite people to a project by email. Owners manage devices and members; members open terminals.'],
  ['Sessions that survive', 'Close the tab or lose Wi-Fi: the shell keeps running for ten minutes and the page picks up exactly where it left off.'],
  ['Live status', 'Devices turn online and offline on screen as it happens, and every session is recorded with who, where and when — never what was typed.'],
  ['AI nodes', 'Keep the relay settings of your OpenClaw nodes in one place and check that each one can reach the relay.'],
];

export function render(main) {
  const signedIn = !!currentUser();
  replace(main,
    h('section', { class: 'hero' },
      h('h1', null, 'Browser terminals for machines that dial out'),
      h('p', { class: 'lead' }, 'A tiny connector on your server, Raspberry Pi or laptop connects out to your relay. You open a full terminal to it from any browser — no VPN, no SSH keys, no open ports.'),
      h('div', { class: 'row' },
        signedIn
          ? h('a', { class: 'btn btn-primary btn-lg', href: '/dashboard' }, 'Open the dashboard')
          : h('a', { class: 'btn btn-primary btn-lg', href: '/auth?mode=signup' }, 'Create an account'),
        h('a', { class: 'btn btn-lg', href: '/docs' }, 'Read the docs')),
      h('div', { class: 'demo', 'aria-hidden': 'true' },
        h('div', { class: 'demo-bar' }, h('span'), h('span'), h('span')),
        h('pre', null,
          h('span', { class: 'p' }, 'pi@garage:~$ '), 'relay-connector --pair K7M2QX --api https://relay.example.com/functions/v1\n',
          'paired as "garage-pi"; credentials saved to ~/.relay-connector.json\n',
          h('span', { class: 'p' }, 'pi@garage:~$ '), 'relay-connector\n',
          'connected to wss://relay.example.com — waiting for sessions'))),
    h('section', { class: 'features' },
      h('h2', null, 'How it works'),
      h('div', { class: 'grid steps' }, STEPS.map(([title, text]) => h('div', { class: 'card' }, h('h3', null, title), h('p', { class: 'muted' }, text)))),
      h('h2', { class: 'section' }, 'Why people use it'),
      h('div', { class: 'grid' }, FEATURES.map(([title, text]) => h('div', { class: 'card' }, h('h3', null, title), h('p', { class: 'muted' }, text))))),
    footer());
}

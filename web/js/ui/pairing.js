// What to run on a new machine: the device's one-time pairing code and the exact commands
// for this relay, each unwrapped with a copy button: the one-line installers for Linux and
// Windows when this relay serves connector builds for them (else a sentence on getting
// them), and pairing an installed connector by hand; and the builds themselves. Pairing
// keeps the name the device has here. The dialog notices when the device comes online.
import { h, replace } from '../dom.js';
import * as events from '../events.js';
import { requestJson } from '../http.js';
import { codeBlock } from './copy.js';
import { formDialog } from './dialog.js';

function pairingCommands(code) {
  const origin = location.origin;
  return {
    install: `curl -fsSL ${origin}/install.sh | sh -s -- --pair ${code}`,
    windows: `& ([scriptblock]::Create((irm ${origin}/install.ps1))) -Pair ${code}`,
    manual: `relay-connector --pair ${code} --api ${origin}/functions/v1\nrelay-connector`,
  };
}

export function showPairing(device) {
  const cmds = pairingCommands(device.pairing_code);
  const expires = device.pairing_code_expires_at ? new Date(device.pairing_code_expires_at * 1000) : null;
  const live = h('p', { class: 'muted', role: 'status' }, 'Waiting for the connector…');
  const installers = h('div', { class: 'installers' }, h('p', { class: 'muted' }, 'Looking for connector downloads…'));
  const done = new AbortController();
  events.on('device_status', (e) => {
    if (e.device_id !== device.id || e.status !== 'online') return;
    live.className = 'form-note';
    live.textContent = `${device.name} is online. You can close this and connect.`;
  }, { signal: done.signal });
  // The one-line installers download the connector from this relay: offer them only when it
  // has builds to give.
  requestJson('GET', '/functions/v1/download-connector').then(({ platforms, build }) => {
    const has = (os) => platforms.some((p) => p.os === os);
    replace(installers,
      has('linux') && codeBlock(cmds.install, 'Install, pair and start as a service (Linux, as root)'),
      has('windows') && codeBlock(cmds.windows, 'Windows: install, pair and start at logon (PowerShell)'),
      platforms.length === 0 && h('p', { class: 'muted' }, `This relay has no connector downloads, so there is no one-line installer. ${build} Or install relay-connector from a release, then:`),
      downloads(platforms));
  }).catch((e) => replace(installers, h('p', { class: 'muted' }, `Connector downloads are unavailable: ${e.message}`)));
  return formDialog({
    title: `Pair “${device.name}”`,
    body: [
      h('p', null, 'Run one of these on the machine. The code works once, and only for a short while.'),
      h('div', { class: 'pairing-code', 'aria-label': 'Pairing code', dataset: { code: device.pairing_code } }, device.pairing_code),
      expires && h('p', { class: 'muted' }, `Valid until ${expires.toLocaleString()}; after that, make a new code with “New pairing code”.`),
      installers,
      codeBlock(cmds.manual, 'Or pair an installed relay-connector, then run it'),
      live,
    ],
    submitLabel: 'Done',
    cancelLabel: null,
  }).finally(() => done.abort());
}

/** The builds this relay serves, as download links with size and SHA-256. */
function downloads(platforms) {
  if (!platforms.length) return null;
  return h('div', { class: 'downloads' },
    h('p', null, 'Or download relay-connector for the machine:'),
    h('ul', { class: 'download-list', 'aria-label': 'Connector downloads' }, platforms.map((p) => h('li', null,
      h('a', { href: p.url, download: p.file }, p.name),
      p.description && ` — ${p.description}`,
      ` · ${(p.size / 1e6).toFixed(2)} MB · SHA-256 `,
      h('code', null, p.sha256)))));
}

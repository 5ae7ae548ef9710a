// What to run on a new machine: the device's one-time pairing code and the exact commands
// for this relay (the one-line installer for Linux or Windows, or pairing an installed
// connector by hand), each with a copy button, and the connector builds this relay serves.
// The dialog notices when the device comes online.
import { h, replace } from '../dom.js';
import * as events from '../events.js';
import { shellWord } from '../format.js';
import { requestJson } from '../http.js';
import { codeBlock } from './copy.js';
import { formDialog } from './dialog.js';

function pairingCommands(code, name) {
  const origin = location.origin;
  return {
    install: `curl -fsSL ${origin}/install.sh | sh -s -- --pair ${code}`,
    windows: `& ([scriptblock]::Create((irm ${origin}/install.ps1))) -Pair ${code}`,
    manual: `relay-connector --pair ${code} --api ${origin}/functions/v1 --name ${shellWord(name)}\nrelay-connector`,
  };
}

export function showPairing(device) {
  const cmds = pairingCommands(device.pairing_code, device.name);
  const expires = device.pairing_code_expires_at ? new Date(device.pairing_code_expires_at * 1000) : null;
  const live = h('p', { class: 'muted', role: 'status' }, 'Waiting for the connector…');
  const done = new AbortController();
  events.on('device_status', (e) => {
    if (e.device_id !== device.id || e.status !== 'online') return;
    live.className = 'form-note';
    live.textContent = `${device.name} is online. You can close this and connect.`;
  }, { signal: done.signal });
  return formDialog({
    title: `Pair “${device.name}”`,
    body: [
      h('p', null, 'Run one of these on the machine. The code works once, and only for a short while.'),
      h('div', { class: 'pairing-code', 'aria-label': 'Pairing code', dataset: { code: device.pairing_code } }, device.pairing_code),
      expires && h('p', { class: 'muted' }, `Valid until ${expires.toLocaleString()}; after that, make a new code from the device’s menu.`),
      codeBlock(cmds.install, 'Install, pair and start as a service (Linux, as root)'),
      codeBlock(cmds.windows, 'Windows: install, pair and start at logon (PowerShell)'),
      codeBlock(cmds.manual, 'Or pair an installed relay-connector, then run it'),
      downloads(),
      live,
    ],
    submitLabel: 'Done',
    cancelLabel: null,
  }).finally(() => done.abort());
}

/** The builds this relay serves, as download links with size and SHA-256; or how to add them. */
function downloads() {
  const el = h('div', { class: 'downloads' }, h('p', { class: 'muted' }, 'Looking for connector downloads…'));
  requestJson('GET', '/functions/v1/download-connector').then(({ platforms, build }) => {
    if (!platforms.length) {
      replace(el, h('p', { class: 'muted' }, `This relay has no connector downloads yet. ${build}`));
      return;
    }
    replace(el, h('p', null, 'Or download relay-connector for the machine:'),
      h('ul', { class: 'download-list', 'aria-label': 'Connector downloads' }, platforms.map((p) => h('li', null,
        h('a', { href: p.url, download: p.file }, p.name),
        ` · ${(p.size / 1e6).toFixed(2)} MB · SHA-256 `,
        h('code', null, p.sha256)))));
  }).catch((e) => replace(el, h('p', { class: 'muted' }, `Connector downloads are unavailable: ${e.message}`)));
  return el;
}

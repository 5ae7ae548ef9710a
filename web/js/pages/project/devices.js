// The Devices tab: the project's devices with live status and Connect; for the owner also
// Add device (then the pairing instructions), Rename, New pairing code and Delete. Members
// never see those buttons, and the relay refuses the calls anyway.
import { h, replace } from '../../dom.js';
import { get, post, patch, del, seg } from '../../api.js';
import * as events from '../../events.js';
import { remember } from '../../names.js';
import { deviceRow, watchDeviceRows } from '../../ui/device-row.js';
import { formDialog, confirmDialog } from '../../ui/dialog.js';
import { field } from '../../ui/form.js';
import { showPairing } from '../../ui/pairing.js';
import { empty, loading } from '../../ui/states.js';
import { toast, toastError } from '../../ui/toast.js';

const nameField = (value) => field({ label: 'Device name', name: 'name', required: true, maxlength: 100, value, autocomplete: 'off', hint: value ? null : 'For example "build-box" or "garage-pi".' });

export async function render(panel, { project, owner, signal }) {
  const list = h('ul', { class: 'list', 'aria-label': 'Devices' });
  const body = h('div', null, loading());
  const entries = new Map();
  replace(panel,
    owner && h('div', { class: 'row toolbar' },
      h('button', { type: 'button', class: 'btn btn-primary', onclick: () => addDevice(project) }, 'Add device')),
    body);
  watchDeviceRows(list, entries, signal);

  const load = async () => {
    const devices = remember(await get(`/api/v1/projects/${seg(project.id)}/devices`, { signal }));
    entries.clear();
    for (const device of devices) entries.set(device.id, { device });
    replace(list, devices.map((d) => deviceRow(d, { actions: owner ? ownerActions(d, load) : [] })));
    replace(body, devices.length > 0 ? list : empty('No devices yet',
      owner ? 'Add a device to get a pairing code and the command to run on the machine.' : 'The project’s owner has not added any devices yet.'));
  };
  events.onAny(['device', 'resync'], () => load().catch(toastError), { signal });
  await load();
}

async function addDevice(project) {
  const device = await formDialog({
    title: 'Add a device',
    fields: nameField(),
    submitLabel: 'Add and get a pairing code',
    submit: ({ name }) => post(`/api/v1/projects/${seg(project.id)}/devices`, { name }),
  });
  if (device) await showPairing(device);
}

// `reload`: a new pairing code is not announced by the relay, and Show code must show it.
function ownerActions(device, reload) {
  const small = (label, onclick, danger) => h('button', {
    type: 'button', class: `btn btn-sm ${danger ? 'btn-danger' : 'btn-ghost'}`, 'aria-label': `${label}: ${device.name}`, onclick,
  }, label);
  const codeStillValid = device.pairing_code && device.pairing_code_expires_at * 1000 > Date.now();
  return [
    !device.paired && codeStillValid && small('Show code', () => showPairing(device)),
    small('New pairing code', async () => {
      const fresh = await confirmDialog({
        title: `New pairing code for “${device.name}”?`,
        message: device.paired
          ? 'The device stays connected until a connector pairs with the new code; then the old connector is disconnected and stops.'
          : 'The current code stops working.',
        confirmLabel: 'Make a new code',
        danger: false,
        confirm: () => post(`/api/v1/devices/${seg(device.id)}/pairing-code`),
      });
      if (!fresh) return;
      reload().catch(toastError);
      await showPairing(fresh);
    }),
    small('Rename', async () => {
      const renamed = await formDialog({
        title: 'Rename device',
        fields: nameField(device.name),
        submit: ({ name }) => patch(`/api/v1/devices/${seg(device.id)}`, { name }),
      });
      if (renamed) toast(`Renamed to “${renamed.name}”.`, { kind: 'ok' });
    }),
    small('Delete', async () => {
      const deleted = await confirmDialog({
        title: `Delete “${device.name}”?`,
        message: 'Its connector is disconnected and its open sessions end. To use the machine again, add it again and pair it with a new code.',
        confirmLabel: 'Delete device',
        confirm: () => del(`/api/v1/devices/${seg(device.id)}`),
      });
      if (deleted) toast(`Deleted “${device.name}”.`, { kind: 'ok' });
    }, true),
  ];
}

// Device names by id, remembered from every device list a page loads, so realtime events
// (which carry only ids) can say "build-box is online" without another request.
import { get, seg } from './api.js';

const names = new Map();

export function remember(devices) {
  for (const d of devices) names.set(d.id, d.name);
  return devices;
}

export async function deviceName(id) {
  if (!names.has(id)) {
    const d = await get(`/api/v1/devices/${seg(id)}`).catch(() => null);
    names.set(id, d?.name ?? 'A device');
  }
  return names.get(id);
}

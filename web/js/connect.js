// Opening a terminal on a device: asks the relay for a new session, then goes to its page.
// The dashboard and the project's device list both use this.
import { post } from './api.js';
import { navigate } from './router.js';
import { toastError } from './ui/toast.js';

export async function openTerminal(deviceId, button) {
  if (button) button.disabled = true;
  try {
    const { session_id: sessionId } = await post('/functions/v1/start-session', { device_id: deviceId });
    navigate(`/terminal/${encodeURIComponent(deviceId)}/${encodeURIComponent(sessionId)}`);
  } catch (e) {
    toastError(e);
  } finally {
    if (button) button.disabled = false;
  }
}

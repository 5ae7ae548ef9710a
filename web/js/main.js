// Starts the app: declares the routes, keeps the header and the realtime stream in step with
// the signed-in person, sends them to /auth when they sign out (here, in another tab, or by
// the relay ending the sign-in), and announces devices going online or offline.
import { route, otherwise, isPrivate, start, navigate } from './router.js';
import { onChange, currentUser, signedOutElsewhere } from './auth.js';
import { renderHeader, markCurrent } from './header.js';
import * as events from './events.js';
import { deviceName } from './names.js';
import { toast } from './ui/toast.js';

const page = (name) => () => import(`./pages/${name}.js`);

route('/', page('landing'));
route('/auth', page('sign-in'));
route('/reset-password', page('reset-password'));
route('/invite', page('invite'));
route('/docs', page('docs'));
route('/dashboard', page('dashboard'), { auth: true });
route('/projects', page('projects'), { auth: true });
route('/project/:id', page('project'), { auth: true });
route('/terminal/:deviceId/:sessionId', page('terminal'), { auth: true, fullscreen: true });
route('/skill/privaclaw', page('skill'), { auth: true });
route('/settings', page('settings'), { auth: true });
otherwise(page('not-found'));

let lastStatus = new Map();

events.on('device_status', async (e) => {
  if (lastStatus.get(e.device_id) === e.status) return;
  lastStatus.set(e.device_id, e.status);
  const name = await deviceName(e.device_id);
  toast(`${name} is ${e.status}`, { kind: e.status === 'online' ? 'ok' : 'warn' });
});

// This sign-in was ended by the relay (signed out elsewhere, password changed): leave at once.
events.on('revoked', (e) => signedOutElsewhere(e.message ?? 'You were signed out.'));

function followUser(user) {
  renderHeader();
  if (user) {
    events.start();
    return;
  }
  events.stop();
  lastStatus = new Map();
  // Signed out (here, in another tab, or the relay refused the refresh token): leave private
  // pages, with the way back for when they sign in again.
  if (isPrivate(location.pathname)) {
    navigate(`/auth?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
  }
}

onChange(followUser);
addEventListener('routechange', markCurrent);
renderHeader();
if (currentUser()) events.start();
start();

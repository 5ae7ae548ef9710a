// The signed-in session. The relay's tokens live in localStorage, never in a URL. The access
// token lasts minutes, so it is refreshed quietly a minute before it expires (and on demand
// after a 401). Refresh tokens are single-use and the relay signs the account out everywhere
// when one is replayed, so tabs take turns through a Web Lock and re-read storage first: a
// tab that finds a session another tab already refreshed adopts it instead of spending a
// spent token.
import { requestJson, ApiError } from './http.js';

const KEY = 'privaclaw.session';
// Refresh a minute before expiry, or at three quarters of a short lifetime.
const early = (s) => Math.min(60_000, (s.lifetime ?? 900) * 250);
const listeners = new Set();
let session = null;
let timer = 0;
let inflight = null;
// The API requests of this sign-in, ended when it ends here; signing out ends them before
// revoking it, as one answered after the revocation would come back 401 to a page being left.
let requests = new AbortController();
let leaving = false;

function read() {
  try {
    const s = JSON.parse(localStorage.getItem(KEY));
    return s?.access_token && s.refresh_token ? s : null;
  } catch {
    return null;
  }
}

function set(next) {
  const before = JSON.stringify(session?.user ?? null);
  // Signed out, here or in another tab: what is still in flight would only come back 401.
  if (session && !next) endRequests();
  session = next;
  clearTimeout(timer);
  if (session) {
    // If the early refresh fails (offline), the next API call tries again.
    timer = setTimeout(() => accessToken().catch(() => {}), Math.max(1_000, msLeft(session) - early(session)));
  }
  if (JSON.stringify(session?.user ?? null) !== before) listeners.forEach((fn) => fn(currentUser()));
}

function store(next) {
  if (next) localStorage.setItem(KEY, JSON.stringify(next));
  else localStorage.removeItem(KEY);
  set(next);
}

function adopt(r) {
  store({
    access_token: r.access_token,
    refresh_token: r.refresh_token,
    expires_at: r.expires_at ?? Math.floor(Date.now() / 1000) + r.expires_in,
    lifetime: r.expires_in,
    user: r.user,
  });
}

function msLeft(s) {
  return s.expires_at * 1000 - Date.now();
}

function signedOut() {
  return new ApiError(401, 'signed_out', 'You are signed out: sign in again.');
}

set(read());

// Another tab signed in, out, or refreshed.
addEventListener('storage', (e) => {
  if (e.key === KEY || e.key === null) set(read());
});

export function currentUser() {
  return session?.user ?? null;
}

/** Calls `fn(user or null)` whenever the person signs in or out or their profile changes. */
export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Aborted when this sign-in ends here (api.js adds it to every request). */
export function signInSignal() {
  return requests.signal;
}

function endRequests() {
  requests.abort();
  requests = new AbortController();
}

/** A valid access token, refreshed first if it is about to expire (or if `force`). */
export async function accessToken({ force = false } = {}) {
  if (!session || leaving) throw signedOut();
  if (!force && msLeft(session) > early(session)) return session.access_token;
  const stale = session.access_token;
  inflight ??= withLock(() => refresh(stale)).finally(() => {
    inflight = null;
  });
  await inflight;
  return session.access_token;
}

function withLock(fn) {
  // Web Locks exist only in secure contexts (https, localhost); elsewhere one tab is the norm.
  return navigator.locks ? navigator.locks.request('privaclaw-token-refresh', fn) : fn();
}

async function refresh(stale) {
  const latest = read();
  if (!latest) {
    set(null);
    throw signedOut();
  }
  if (latest.access_token !== stale && msLeft(latest) > early(latest)) {
    set(latest);
    return;
  }
  try {
    adopt(await requestJson('POST', '/auth/v1/token?grant_type=refresh_token', {
      body: { refresh_token: latest.refresh_token },
    }));
  } catch (e) {
    // The relay refused the refresh token (expired, revoked): this session is over.
    if (e instanceof ApiError && e.status >= 400 && e.status < 500) store(null);
    throw e;
  }
}

export async function signIn(email, password) {
  adopt(await requestJson('POST', '/auth/v1/token?grant_type=password', { body: { email, password } }));
}

/** Signs up; false when the relay wants the email confirmed first (it then sent a link).
 * An invitation link's token lets the sign-up through on an invitation-only relay. */
export async function signUp(email, password, inviteToken) {
  const body = inviteToken ? { email, password, invite_token: inviteToken } : { email, password };
  const r = await requestJson('POST', '/auth/v1/signup', { body });
  if (!r?.access_token) return false;
  adopt(r);
  return true;
}

export async function signOut({ everywhere = false } = {}) {
  const token = await accessToken().catch(() => null);
  // Without a refresh token the relay revokes every session of the account.
  const body = everywhere ? {} : { refresh_token: session?.refresh_token };
  leaving = true;
  endRequests();
  try {
    // Revoke first, then forget: leaving the page must not cut the request off.
    if (token) await requestJson('POST', '/auth/v1/logout', { token, body }).catch(() => {});
  } finally {
    leaving = false;
    store(null);
  }
}

const NOTICE = 'privaclaw.notice';

/** Forgets this browser's sign-in, which the relay ended (`why` is shown on the sign-in page). */
export function signedOutElsewhere(why) {
  sessionStorage.setItem(NOTICE, why);
  store(null);
}

/** The sentence saying why the person was signed out, once. */
export function takeNotice() {
  const why = sessionStorage.getItem(NOTICE);
  sessionStorage.removeItem(NOTICE);
  return why;
}

export async function requestReset(email) {
  await requestJson('POST', '/auth/v1/recover', { body: { email } });
}

/** Spends a reset link's one-time token (which signs in), then sets the new password. */
export async function resetPassword(token, password) {
  adopt(await requestJson('POST', '/auth/v1/verify', { body: { type: 'recovery', token } }));
  await updateUser({ password });
}

/** `{password}` or `{data: {display_name}}`; keeps the stored user up to date. */
export async function updateUser(fields) {
  const user = await requestJson('PUT', '/auth/v1/user', { token: await accessToken(), body: fields });
  if (session) store({ ...session, user });
}

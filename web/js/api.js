// Calls the relay's API as the signed-in person: adds the access token, and when the relay
// answers 401 anyway (a token revoked or expired while the tab slept) refreshes it once and
// retries. If that fails too, auth.js signs the person out and the router sends them to /auth.
import { accessToken, signInSignal } from './auth.js';
import { request, requestJson, ApiError } from './http.js';

async function withToken(call, signal) {
  // The caller's signal (its page left) or the sign-in's (signed out here), whichever first.
  const either = signal ? AbortSignal.any([signal, signInSignal()]) : signInSignal();
  try {
    return await call(await accessToken(), either);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401 || e.code === 'signed_out') throw e;
    return call(await accessToken({ force: true }), either);
  }
}

export function api(method, path, body, { signal } = {}) {
  return withToken((token, either) => requestJson(method, path, { body, signal: either, token }), signal);
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body ?? {}, opts);
export const patch = (path, body, opts) => api('PATCH', path, body, opts);
export const put = (path, body, opts) => api('PUT', path, body, opts);
export const del = (path, opts) => api('DELETE', path, undefined, opts);

/** POSTs `body` and resolves with the response unread, for answers that stream (`accept`). */
export function postStream(path, body, accept, { signal } = {}) {
  return withToken((token, either) => request('POST', path, { body, signal: either, token, accept }), signal);
}

/** encodeURIComponent for ids in paths (they are UUIDs, but a URL is no place to trust that). */
export const seg = encodeURIComponent;

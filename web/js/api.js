// Calls the relay's API as the signed-in person: adds the access token, and when the relay
// answers 401 anyway (a token revoked or expired while the tab slept) refreshes it once and
// retries. If that fails too, auth.js signs the person out and the router sends them to /auth.
import { accessToken } from './auth.js';
import { request, requestJson, ApiError } from './http.js';

async function withToken(call) {
  try {
    return await call(await accessToken());
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401 || e.code === 'signed_out') throw e;
    return call(await accessToken({ force: true }));
  }
}

export function api(method, path, body, { signal } = {}) {
  return withToken((token) => requestJson(method, path, { body, signal, token }));
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body ?? {}, opts);
export const patch = (path, body, opts) => api('PATCH', path, body, opts);
export const put = (path, body, opts) => api('PUT', path, body, opts);
export const del = (path, opts) => api('DELETE', path, undefined, opts);

/** POSTs `body` and resolves with the response unread, for answers that stream (`accept`). */
export function postStream(path, body, accept, { signal } = {}) {
  return withToken((token) => request('POST', path, { body, signal, token, accept }));
}

/** encodeURIComponent for ids in paths (they are UUIDs, but a URL is no place to trust that). */
export const seg = encodeURIComponent;

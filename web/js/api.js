// Calls the relay's API as the signed-in person: adds the access token, and when the relay
// answers 401 anyway (a token revoked or expired while the tab slept) refreshes it once and
// retries. If that fails too, auth.js signs the person out and the router sends them to /auth.
import { accessToken } from './auth.js';
import { requestJson, ApiError } from './http.js';

export async function api(method, path, body, { signal } = {}) {
  const call = async (force) => requestJson(method, path, { body, signal, token: await accessToken({ force }) });
  try {
    return await call(false);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401 || e.code === 'signed_out') throw e;
    return call(true);
  }
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body ?? {}, opts);
export const patch = (path, body, opts) => api('PATCH', path, body, opts);
export const put = (path, body, opts) => api('PUT', path, body, opts);
export const del = (path, opts) => api('DELETE', path, undefined, opts);

/** encodeURIComponent for ids in paths (they are UUIDs, but a URL is no place to trust that). */
export const seg = encodeURIComponent;

// The one HTTP helper: sends JSON, turns the relay's error bodies ({error, message}) into
// ApiError, whose message is written for people and shown as is. `requestJson` parses the
// answer; `request` hands back the response itself, for answers read as a stream.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Resolves with the response when it is a success; throws ApiError otherwise. */
export async function request(method, path, { body, token, signal, accept = 'application/json' } = {}) {
  const headers = { Accept: accept };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The relay cannot be reached: check your connection, then try again.');
  }
  if (res.ok) return res;
  const data = parse(await res.text());
  throw new ApiError(
    res.status,
    data?.error ?? `http_${res.status}`,
    data?.message ?? `The relay answered ${res.status} ${res.statusText}; try again.`,
  );
}

export async function requestJson(method, path, opts) {
  const res = await request(method, path, opts);
  return parse(await res.text());
}

function parse(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (a proxy's error page, say): the status line says enough.
    return null;
  }
}

// The one JSON-over-HTTP helper: sends and parses JSON, and turns the relay's error bodies
// ({error, message}) into ApiError, whose message is written for people and shown as is.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

export async function requestJson(method, path, { body, token, signal } = {}) {
  const headers = { Accept: 'application/json' };
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
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (a proxy's error page, say): the status line below says enough.
  }
  if (!res.ok) {
    throw new ApiError(
      res.status,
      data?.error ?? `http_${res.status}`,
      data?.message ?? `The relay answered ${res.status} ${res.statusText}; try again.`,
    );
  }
  return data;
}

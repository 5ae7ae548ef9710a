// Starts the real relay binary (RELAY_BIN, default target/debug/privaclaw-relay) on
// 127.0.0.1 with a free port and a throwaway data directory, and keeps its stdout, where it
// prints its address and, without SMTP, the links of the emails it would send.
import { spawn } from 'node:child_process';
import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export function binary(envName, fallback, what) {
  const path = resolve(ROOT, process.env[envName] ?? fallback);
  if (!existsSync(path)) {
    throw new Error(`${what} not found at ${path}: build it (see scripts/test-web) or set ${envName}.`);
  }
  return path;
}

export async function startRelay(env = {}) {
  const bin = binary('RELAY_BIN', 'target/debug/privaclaw-relay', 'The relay binary');
  const dataDir = mkdtempSync(join(tmpdir(), 'privaclaw-web-test-'));
  let child;
  let stdout = '';
  let stderr = '';
  const waiters = new Set();
  const run = (listen) => {
    child = spawn(bin, ['--listen', listen, '--data-dir', dataDir], {
      env: { ...process.env, RUST_LOG: 'warn', LOGIN_RATE: '1000', SIGNUP_RATE: '1000', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      stdout += chunk;
      for (const w of waiters) w();
    });
    child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk; });
  };
  const stopped = () => {
    child.kill('SIGTERM');
    return new Promise((done) => (child.exitCode !== null ? done() : child.once('exit', done)));
  };

  /** Resolves with the first match of `re` in the relay's stdout since `from`, now or later. */
  const waitFor = (re, timeoutMs = 15_000, from = 0) => new Promise((ok, fail) => {
    const check = () => {
      const m = re.exec(stdout.slice(from));
      if (!m) return;
      waiters.delete(check);
      clearTimeout(timer);
      ok(m);
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      fail(new Error(`relay never printed ${re}; stdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    waiters.add(check);
    child.once('exit', (code) => fail(new Error(`relay exited (${code}):\n${stderr}`)));
    check();
  });

  const listening = /privaclaw-relay listening on (http:\/\/127\.0\.0\.1:\d+)/;
  run('127.0.0.1:0');
  const [, url] = await waitFor(listening);
  return {
    url,
    dataDir,
    waitFor,
    /** Stops the relay as a service manager would (SIGTERM) and starts it again, same port and data. */
    async restart() {
      await stopped();
      const from = stdout.length;
      run(url.replace('http://', ''));
      await waitFor(listening, 15_000, from);
    },
    async stop() {
      await stopped();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Calls the relay's API from the test itself (not the page): JSON in, {status, body} out. */
export async function call(relay, method, path, { token, body } = {}) {
  const res = await fetch(relay.url + path, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

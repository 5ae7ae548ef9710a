// Pairs and runs the real relay-connector (CONNECTOR_BIN, default
// agent/target/debug/relay-connector) with its own config file and bash as its shell.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binary } from './relay.mjs';

export function connector(relay, name) {
  const bin = binary('CONNECTOR_BIN', 'agent/target/debug/relay-connector', 'The connector (relay-connector)');
  const home = mkdtempSync(join(tmpdir(), 'privaclaw-connector-'));
  const config = join(home, 'cfg.json');
  // A clean HOME: no personal shell start-up files in the terminal under test.
  const env = { ...process.env, HOME: home, SHELL: '/bin/bash' };
  let running = null;
  let log = '';

  const run = (args) => {
    const child = spawn(bin, [...args, '--config', config], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', (c) => { log += c; });
    child.stderr.setEncoding('utf8').on('data', (c) => { log += c; });
    return child;
  };
  const exited = (child) => new Promise((done) => (child.exitCode !== null || child.signalCode ? done(child.exitCode) : child.once('exit', done)));

  return {
    /** Pairs with `code` exactly as the dashboard tells people to; resolves when it has exited. */
    async pair(code) {
      const status = await exited(run(['--pair', code, '--api', `${relay.url}/functions/v1`, '--name', name]));
      if (status !== 0) throw new Error(`relay-connector --pair exited ${status}:\n${log}`);
    },
    start() {
      running = run([]);
    },
    /** SIGKILL: the connector vanishes without a word, as on a power cut. */
    async kill(signal = 'SIGTERM') {
      if (!running) return;
      const child = running;
      running = null;
      child.kill(signal);
      await exited(child);
    },
    async cleanup() {
      await this.kill();
      rmSync(home, { recursive: true, force: true });
    },
    get log() {
      return log;
    },
  };
}

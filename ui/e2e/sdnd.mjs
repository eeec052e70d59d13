// Starts a real sdnd for the browser tests and the benchmark: a temp data dir, an ephemeral
// loopback port, its node agent (`--node`) writing into the temp dir with empty reload
// commands, and users made with the sdnd CLI before the server starts.

import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The sdnd binary: $SDND_BIN, else target/debug/sdnd, else target/release/sdnd. */
export function sdndBinary() {
  if (process.env.SDND_BIN) return process.env.SDND_BIN;
  for (const profile of ['debug', 'release']) {
    const candidate = join(repo, 'target', profile, 'sdnd');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('no sdnd binary: build it with `cargo build -p sdnd` (or set SDND_BIN)');
}

export function sdndCli(bin, dataDir, args, input) {
  const out = spawnSync(bin, [...args, '--data-dir', dataDir], { input, encoding: 'utf8', env: { ...process.env, SDND_LOG: 'warn' } });
  if (out.status !== 0) throw new Error(`sdnd ${args.join(' ')} failed: ${out.stderr}`);
  return out.stdout;
}

/**
 * users: [{ id, password, roles?, path? }] (root@pam only gets its password set).
 * setup(bin, dataDir): runs before the server starts (e.g. an import).
 * reloadInterfaces: the agent's reload command (default none; a failing one fails applies).
 */
export async function startSdnd({ node = 'n1', users = [], setup, reloadInterfaces = '' } = {}) {
  const bin = sdndBinary();
  const dataDir = mkdtempSync(join(tmpdir(), 'sdnd-ui-'));
  const nodeDir = join(dataDir, 'node');
  mkdirSync(nodeDir);
  writeFileSync(join(nodeDir, 'facts.json'), JSON.stringify({
    node, 'route-iface': 'vmbr0', 'route-ip': '192.168.0.1', mac: 'bc:24:11:1d:69:60', 'bridge-ports': { vmbr0: ['eth0'] },
  }));
  writeFileSync(join(nodeDir, 'interfaces'), 'auto vmbr0\niface vmbr0 inet static\n\taddress 192.168.0.1/24\n\tbridge-ports eth0\n\tbridge-stp off\n\tbridge-fd 0\n');
  for (const user of users) {
    if (user.id === 'root@pam') sdndCli(bin, dataDir, ['user', 'passwd', 'root@pam'], `${user.password}\n`);
    else sdndCli(bin, dataDir, ['user', 'add', user.id, '--password-stdin'], `${user.password}\n`);
    if (user.roles) sdndCli(bin, dataDir, ['acl', 'modify', user.path ?? '/', '--users', user.id, '--roles', user.roles]);
  }
  if (setup) await setup(bin, dataDir);
  const child = spawn(bin, [
    'serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--node', node,
    '--host-interfaces', join(nodeDir, 'interfaces'), '--interfaces-out', join(nodeDir, 'sdn'),
    '--frr-out', join(nodeDir, 'frr.conf'), '--frr-local', join(nodeDir, 'frr.conf.local'),
    '--node-facts', join(nodeDir, 'facts.json'), '--reload-frr', '', '--reload-interfaces', reloadInterfaces,
  ], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SDND_LOG: process.env.SDND_LOG ?? 'warn' } });
  const base = await new Promise((resolveBase, reject) => {
    const timer = setTimeout(() => reject(new Error('sdnd did not start within 30 s')), 30000);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const m = line.match(/^sdnd listening on (\S+)/);
      if (m) {
        clearTimeout(timer);
        resolveBase(m[1].replace(/\/api2\/json\/?$/, ''));
      }
    });
    child.on('exit', (code) => reject(new Error(`sdnd exited with ${code} before listening`)));
  });
  // Keep draining stdout so the server never blocks on a full pipe.
  child.stdout.resume();
  return {
    base,
    dataDir,
    nodeDir,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Chromium (Debian's; browsers can't be downloaded) driven by playwright-core. Playwright
 * starts it on a fresh temporary --user-data-dir of its own (it refuses one in `args`).
 */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
  });
  return { browser, close: () => browser.close() };
}

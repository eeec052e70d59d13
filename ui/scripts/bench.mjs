// Benchmark: the bundle's gzipped size, and how long the first page takes to be interactive on
// loopback with 2,000 vnets (10 zones, 50 subnets; applied, so node n1 runs them too).
// Fails when the bundle exceeds 500 kB gzipped or a page takes more than 1 s.
// Usage: node scripts/bench.mjs (after `npm run build` and a sdnd build that embeds it).

import { readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { launchChromium, sdndCli, startSdnd } from '../e2e/sdnd.mjs';

const BUNDLE_LIMIT = 500 * 1024;
const INTERACTIVE_LIMIT_MS = 1000;
const VNETS = 2000;
const ZONES = 10;
const SUBNETS = 50;

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}
let raw = 0;
let gzipped = 0;
for (const file of files(dist)) {
  const bytes = readFileSync(file);
  raw += bytes.length;
  gzipped += gzipSync(bytes, { level: 9 }).length;
}
console.log(`bundle: ${(raw / 1024).toFixed(1)} kB, ${(gzipped / 1024).toFixed(1)} kB gzipped (limit ${BUNDLE_LIMIT / 1024} kB)`);

const password = 'bench-password-1';
const server = await startSdnd({
  users: [{ id: 'root@pam', password }],
  setup(bin, dataDir) {
    const dir = join(dataDir, 'import');
    mkdirSync(dir);
    let zones = '';
    for (let z = 1; z <= ZONES; z++) zones += `simple: zone${z}\n\tnodes n1\n\n`;
    let vnets = '';
    for (let v = 1; v <= VNETS; v++) vnets += `vnet: v${v}\n\tzone zone${((v - 1) % ZONES) + 1}\n\talias bench vnet ${v}\n\n`;
    let subnets = '';
    for (let s = 1; s <= SUBNETS; s++) {
      const zone = ((s - 1) % ZONES) + 1;
      subnets += `subnet: zone${zone}-10.${s}.0.0-24\n\tvnet v${s}\n\tgateway 10.${s}.0.1\n\n`;
    }
    writeFileSync(join(dir, 'zones.cfg'), zones);
    writeFileSync(join(dir, 'vnets.cfg'), vnets);
    writeFileSync(join(dir, 'subnets.cfg'), subnets);
    sdndCli(bin, dataDir, ['import', '--from', dir]);
  },
});
const chromium = await launchChromium();
const results = {};
try {
  // Apply, so the configuration is running on the node (the normal state of a cluster).
  const context = await chromium.browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(60000);
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await page.goto(`${server.base}/`);
  await page.getByLabel('User name').fill('root@pam');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Login' }).click();
  await page.locator('.lock-banner').waitFor();
  await page.goto(`${server.base}/#/pending`);
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByTestId('task-state').filter({ hasText: 'Task finished: OK' }).waitFor();

  // Interactive: the whole configuration known and shown (pending count in the header, the
  // vnet count in the tree, the lock banner), and on the VNets view its first page of rows
  // with the way to the rest. (Functions, not strings: the CSP forbids eval.)
  const ready = ({ vnets, rows, t0 }) => {
    const shown = document.querySelector('[data-testid=pending-count]')?.textContent?.trim() === 'Pending: 0'
      && document.querySelector('nav a[href="#/vnets"] .count')?.textContent === String(vnets)
      && document.querySelector('.lock-title')?.textContent === 'Not locked'
      && (!rows || document.querySelectorAll('table.objects tbody tr').length === rows);
    return shown && performance.now() - (t0 ?? 0);
  };
  const worstOfThree = async (hash, rows) => {
    await page.goto(`${server.base}/${hash}`);
    const times = [];
    for (let i = 0; i < 3; i++) {
      // Each load starts from a quiet page: the previous one has fetched every vnet's subnets.
      await page.waitForLoadState('networkidle');
      await page.reload({ waitUntil: 'commit' });
      times.push(await page.waitForFunction(ready, { vnets: VNETS, rows }, { polling: 'raf' }).then((h) => h.jsonValue()));
    }
    return Math.max(...times);
  };

  // 1. A fresh login: from the click on "Login" to the first page showing the configuration.
  await page.getByRole('button', { name: 'Logout' }).click();
  await page.goto(`${server.base}/#/`);
  await page.getByLabel('User name').fill('root@pam');
  await page.getByLabel('Password').fill(password);
  const t0 = await page.evaluate(() => performance.now());
  await page.getByRole('button', { name: 'Login' }).click();
  results.login = await page.waitForFunction(ready, { vnets: VNETS, t0 }, { polling: 'raf' }).then((h) => h.jsonValue());

  // 2. The first page loaded with a session: from navigation start, bundle download included.
  results.reload = await worstOfThree('#/', 0);
  // 3. The VNets view loaded the same way: its first 200 rows, "Show all 2000" below.
  results.vnets = await worstOfThree('#/vnets', 200);
  // 4. Then every row: from the click on "Show all" to 2,000 rows on screen (reported only).
  const t1 = await page.evaluate(() => performance.now());
  await page.getByRole('button', { name: `Show all ${VNETS}` }).click();
  results.all = await page.waitForFunction(ready, { vnets: VNETS, rows: VNETS, t0: t1 }, { polling: 'raf' }).then((h) => h.jsonValue());
  await context.close();
} catch (err) {
  const pages = chromium.browser.contexts().flatMap((c) => c.pages());
  for (const p of pages) {
    console.log('page state:', await p.evaluate(() => ({
      pending: document.querySelector('[data-testid=pending-count]')?.textContent,
      vnets: document.querySelector('nav a[href="#/vnets"] .count')?.textContent,
      lock: document.querySelector('.lock-title')?.textContent,
      rows: document.querySelectorAll('table.objects tbody tr').length,
      body: document.body.innerText.slice(0, 300),
    })).catch((e) => String(e)));
  }
  throw err;
} finally {
  await chromium.close();
  await server.stop();
}
const scale = `${VNETS} vnets, ${ZONES} zones, ${SUBNETS} subnets`;
console.log(`first page interactive after "Login" (${scale}): ${Math.round(results.login)} ms`);
console.log(`first page interactive on load with a session, worst of 3: ${Math.round(results.reload)} ms`);
console.log(`VNets view (first 200 rows) interactive on load, worst of 3: ${Math.round(results.vnets)} ms`);
console.log(`VNets view "Show all": ${VNETS} rows rendered after ${Math.round(results.all)} ms (reported, no limit)`);
const ok = gzipped <= BUNDLE_LIMIT && [results.login, results.reload, results.vnets].every((t) => t <= INTERACTIVE_LIMIT_MS);
console.log(ok ? `bench: within limits (${BUNDLE_LIMIT / 1024} kB, ${INTERACTIVE_LIMIT_MS} ms)` : 'bench: OVER LIMIT');
process.exit(ok ? 0 : 1);

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
  await page.goto(`${server.base}/`);
  await page.getByLabel('User name').fill('root@pam');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Login' }).click();
  await page.locator('.lock-banner').waitFor();
  await page.goto(`${server.base}/#/pending`);
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByTestId('task-state').filter({ hasText: 'Task finished: OK' }).waitFor();

  const ready = `document.querySelector('[data-testid=pending-count]')?.textContent?.trim() === 'Pending: 0'
    && document.querySelector('nav a[href="#/vnets"] .count')?.textContent === '${VNETS}'
    && document.querySelector('.lock-title')?.textContent === 'Not locked'`;

  // 1. A fresh login: from the click on "Login" to the page showing the whole configuration.
  await page.getByRole('button', { name: 'Logout' }).click();
  await page.goto(`${server.base}/#/`);
  await page.getByLabel('User name').fill('root@pam');
  await page.getByLabel('Password').fill(password);
  await page.evaluate(() => {
    window.__t0 = performance.now();
  });
  await page.getByRole('button', { name: 'Login' }).click();
  results.login = await page.waitForFunction(`(${ready}) && (performance.now() - window.__t0)`, null, { polling: 'raf' }).then((h) => h.jsonValue());

  // 2. Opening the page with a session: from navigation start (the page loads its bundle too).
  const times = [];
  for (let i = 0; i < 3; i++) {
    await page.goto(`${server.base}/#/vnets`, { waitUntil: 'commit' });
    await page.reload({ waitUntil: 'commit' });
    times.push(await page.waitForFunction(`(${ready}) && document.querySelectorAll('table.objects tbody tr').length === ${VNETS} && performance.now()`, null, { polling: 'raf' }).then((h) => h.jsonValue()));
  }
  results.reload = Math.max(...times);
  await context.close();
} finally {
  await chromium.close();
  await server.stop();
}
console.log(`first page interactive after login (${VNETS} vnets, ${ZONES} zones, ${SUBNETS} subnets): ${Math.round(results.login)} ms`);
console.log(`VNets view interactive on page load with a session, worst of 3: ${Math.round(results.reload)} ms (limit ${INTERACTIVE_LIMIT_MS} ms)`);
const ok = gzipped <= BUNDLE_LIMIT && results.login <= INTERACTIVE_LIMIT_MS && results.reload <= INTERACTIVE_LIMIT_MS;
console.log(ok ? 'bench: within limits' : 'bench: OVER LIMIT');
process.exit(ok ? 0 : 1);

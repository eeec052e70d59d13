// End-to-end tests: Debian's Chromium (headless, via playwright-core) against a real sdnd with
// its node agent. Each step asserts what a user sees and screenshots the main views.
// Usage: node e2e/run.mjs (SDND_BIN, CHROMIUM override the binaries; SCREENSHOTS the folder).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, startSdnd } from './sdnd.mjs';

// Into test-results/ (not tracked) unless told otherwise: `npm run screenshots` renews the
// committed ones in screenshots/.
const shots = resolve(process.env.SCREENSHOTS ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'test-results', 'screenshots'));
mkdirSync(shots, { recursive: true });

const ROOT_PW = 'root-secret-1';
const ADMIN_PW = 'admin-secret-2';
const AUDIT_PW = 'audit-secret-3';
const TIMEOUT = 15000;

const server = await startSdnd({
  node: 'n1',
  users: [
    { id: 'root@pam', password: ROOT_PW },
    { id: 'admin2@pve', password: ADMIN_PW, roles: 'PVESDNAdmin', path: '/' },
    { id: 'auditor@pve', password: AUDIT_PW, roles: 'PVEAuditor', path: '/' },
  ],
});
// sdnd asks a PowerDNS server for its url before writing it (the reference's on_update_hook):
// a loopback stand-in answers that.
const powerdns = createServer((req, res) => {
  const found = req.method === 'GET' && req.url === '/api/v1/servers/localhost';
  res.writeHead(found ? 200 : 404, { 'Content-Type': 'application/json' });
  res.end(found ? '{"type":"Server","id":"localhost","daemon_type":"authoritative"}' : '{"error":"Not Found"}');
});
await new Promise((done) => powerdns.listen(0, '127.0.0.1', done));
const powerdnsUrl = `http://127.0.0.1:${powerdns.address().port}/api/v1/servers/localhost`;
const chromium = await launchChromium();
const errors = [];
let failed = 0;
let passed = 0;

async function newPage({ width = 1280, height = 800, colorScheme = 'light', frozenClock = false } = {}) {
  const context = await chromium.browser.newContext({ ignoreHTTPSErrors: true, viewport: { width, height }, colorScheme });
  // A frozen clock keeps this page from polling: it then acts on what it showed last, as a
  // user does between two refreshes.
  if (frozenClock) await context.clock.install();
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && !/status of 4\d\d/.test(m.text()) && errors.push(`console: ${m.text()}`));
  return page;
}

async function login(page, user, password) {
  await page.goto(`${server.base}/`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByLabel('Password').press('Enter');
  await page.locator('.lock-banner').waitFor();
}

async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}\n     ${String(err?.stack ?? err).split('\n').slice(0, 6).join('\n     ')}`);
    throw err;
  }
}

const lockTitle = (page) => page.locator('.lock-title');
const pendingCount = (page) => page.getByTestId('pending-count');

let root, admin, admin2Clockless;
try {
  await step('a wrong password is refused with a clear message', async () => {
    const page = await newPage();
    await page.goto(`${server.base}/`);
    await page.getByLabel('User name').fill('root@pam');
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Login' }).click();
    await page.getByRole('alert').filter({ hasText: 'Login failed: wrong user name or password' }).waitFor();
    await page.screenshot({ path: join(shots, 'login-failed.png') });
    await page.context().close();
  });

  await step('root@pam logs in with the keyboard; the lock banner says "Not locked"', async () => {
    root = await newPage();
    await login(root, 'root@pam', ROOT_PW);
    await root.getByText('Not locked').waitFor();
    assert.equal((await pendingCount(root).textContent()).trim(), 'Pending: 0');
    assert.equal(await root.locator('.top .user').textContent(), 'root@pam');
  });

  await step("creating a zone: the API's 400 appears next to the field it names, then the zone is created", async () => {
    await root.goto(`${server.base}/#/zones`);
    await root.getByRole('button', { name: 'Create Zone' }).click();
    const dialog = root.getByRole('dialog', { name: 'Create Zone' });
    await dialog.getByLabel('ID').fill('zone1');
    await dialog.getByLabel('Type').selectOption('vlan');
    await dialog.getByRole('button', { name: 'Create' }).click();
    const bridgeError = dialog.locator('#f-bridge-note .field-error');
    await bridgeError.waitFor();
    assert.match(await bridgeError.textContent(), /missing|not optional/i);
    assert.equal(await dialog.locator('#f-bridge').getAttribute('aria-invalid'), 'true');
    await root.screenshot({ path: join(shots, 'field-error.png') });
    await dialog.getByLabel('Bridge').fill('vmbr0');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    await root.locator('table.objects tr[data-id="zone1"] .badge-new').waitFor();
  });

  await step('creating a vnet in the zone; both show as pending with the count', async () => {
    await root.goto(`${server.base}/#/zones/zone1`);
    await root.getByRole('button', { name: 'Create VNet' }).click();
    const dialog = root.getByRole('dialog', { name: 'Create VNet' });
    await dialog.getByLabel('Name').fill('vnet1');
    assert.equal(await dialog.getByLabel('Zone').inputValue(), 'zone1');
    await dialog.getByLabel('Tag').fill('100');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    await root.locator('table.objects tr[data-id="vnet1"]').waitFor();
    await root.waitForFunction(() => document.querySelector('[data-testid=pending-count]')?.textContent?.trim() === 'Pending: 2');
    assert.equal(await root.title(), 'sdnd — SDN (2 pending)');
  });

  await step('creating a subnet in the vnet, from the tree', async () => {
    // On the zone's page its branch of the tree is open.
    assert.equal(await root.locator('nav').getByRole('button', { name: 'Collapse zone zone1' }).getAttribute('aria-expanded'), 'true');
    await root.locator('nav').getByRole('link', { name: 'vnet1' }).click();
    await root.getByRole('button', { name: 'Create subnet' }).click();
    const dialog = root.getByRole('dialog', { name: 'Create Subnet in vnet1' });
    await dialog.getByLabel('Subnet').fill('10.0.0.0/24');
    await dialog.getByLabel('Gateway').fill('10.0.0.1');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    await root.locator('table.objects tr[data-id="zone1-10.0.0.0-24"] .badge-new').waitFor();
    await root.waitForFunction(() => document.querySelector('[data-testid=pending-count]')?.textContent?.trim() === 'Pending: 3');
  });

  await step('the pending view diffs against running, property by property, with the node file diff', async () => {
    await root.goto(`${server.base}/#/pending`);
    await root.getByTestId('pending-summary').filter({ hasText: '3 pending changes (3 new)' }).waitFor();
    const zone = root.getByRole('article', { name: 'Zone zone1: new' });
    await zone.locator('.badge-new').filter({ hasText: '+ new' }).waitFor();
    const bridge = zone.locator('tr.prop-added', { hasText: 'bridge' });
    assert.equal(await bridge.locator('.prop-mark').getAttribute('aria-label'), 'added');
    assert.equal((await bridge.locator('.prop-after').textContent()).trim(), 'vmbr0');
    const vnet = root.getByRole('article', { name: 'VNet vnet1: new' });
    assert.equal((await vnet.locator('tr.prop-added', { hasText: 'tag' }).locator('.prop-after').textContent()).trim(), '100');
    const subnet = root.getByRole('article', { name: 'Subnet zone1-10.0.0.0-24: new' });
    assert.equal((await subnet.locator('tr.prop-added', { hasText: 'gateway' }).locator('.prop-after').textContent()).trim(), '10.0.0.1');
    const diff = root.locator('.node-dry-run', { hasText: 'Node n1' }).locator('.diff-add', { hasText: 'auto vnet1' }).first();
    await diff.waitFor();
    // The header with the count and the lock banner stay in view while the diff scrolls.
    await root.locator('.node-dry-run').first().scrollIntoViewIfNeeded();
    assert.equal(await pendingCount(root).isVisible(), true);
    assert.ok((await pendingCount(root).boundingBox()).y < 50, 'the pending count is still at the top');
    await root.locator('main').evaluate((m) => m.scrollTo(0, 0));
    await root.screenshot({ path: join(shots, 'pending-diff.png') });
  });

  // A second session, opened before the lock is taken, with its clock frozen: it polls no more.
  await step('admin2 opens an edit form while nothing is locked', async () => {
    admin2Clockless = await newPage({ frozenClock: true });
    await login(admin2Clockless, 'admin2@pve', ADMIN_PW);
    await admin2Clockless.getByText('Not locked').waitFor();
    await admin2Clockless.goto(`${server.base}/#/zones/zone1`);
    await admin2Clockless.getByRole('button', { name: 'Edit zone' }).click();
    await admin2Clockless.getByRole('dialog', { name: 'Edit Zone: zone1' }).getByLabel('MTU').fill('1400');
  });

  await step('root takes the lock (with its pending changes): the banner names holder, time and why', async () => {
    await root.getByRole('button', { name: 'Lock' }).click();
    const dialog = root.getByRole('dialog', { name: 'Lock the SDN configuration' });
    assert.equal(await dialog.getByLabel(/Lock with pending changes/).isChecked(), true);
    await dialog.getByLabel('Expires after').selectOption({ label: '1 hour' });
    await dialog.getByLabel('Comment').fill('e2e maintenance window');
    await dialog.getByRole('button', { name: 'Lock' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await lockTitle(root).textContent(), 'Locked by root@pam');
    const text = await root.locator('.lock-banner').textContent();
    for (const part of ['held by this session', 'since ', 'until ', '(in 1 h)', 'why: e2e maintenance window']) assert.ok(text.includes(part), `${part} in ${text}`);
    await root.getByRole('button', { name: 'Release' }).waitFor();
    await root.screenshot({ path: join(shots, 'locked-by-me.png') });
  });

  await step("the second session's change is refused, naming the holder; its buttons turn disabled with the reason", async () => {
    const page = admin2Clockless;
    const dialog = page.getByRole('dialog', { name: 'Edit Zone: zone1' });
    await dialog.getByRole('button', { name: 'OK' }).click();
    const refusal = dialog.getByRole('alert').filter({ hasText: 'Refused by the SDN lock' });
    await refusal.waitFor();
    assert.match(await refusal.textContent(), /root@pam/);
    // The refusal made it read the lock again.
    await page.waitForFunction(() => document.querySelector('.lock-title')?.textContent === 'Locked by root@pam');
    assert.equal(await dialog.getByRole('button', { name: 'OK' }).isDisabled(), true);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    const edit = page.getByRole('button', { name: 'Edit zone' });
    assert.equal(await edit.isDisabled(), true);
    assert.match(await edit.getAttribute('title'), /Locked by root@pam/);
    assert.match(await page.locator('#change-blocked').textContent(), /Changes disabled — Locked by root@pam/);
    assert.match(await page.locator('.lock-banner').textContent(), /why: e2e maintenance window/);
    await page.getByRole('button', { name: 'Force release' }).waitFor();
    await page.screenshot({ path: join(shots, 'locked-by-other.png') });
    await page.context().close();
  });

  await step('root applies: the task shows node n1 turn OK and the log, and the lock is released', async () => {
    await root.goto(`${server.base}/#/pending`);
    await root.getByRole('button', { name: 'Apply' }).click();
    await root.waitForURL(/#\/task$/);
    await root.getByTestId('task-state').filter({ hasText: 'Task finished: OK' }).waitFor();
    const n1 = root.locator('tr[data-node="n1"]');
    await n1.locator('.badge-node-ok').filter({ hasText: 'OK (version 1)' }).waitFor();
    assert.match(await root.locator('pre.task-log').textContent(), /n1: applied version 1/);
    await root.screenshot({ path: join(shots, 'apply-task.png') });
    await root.waitForFunction(() => document.querySelector('.lock-title')?.textContent === 'Not locked');
    await root.waitForFunction(() => document.querySelector('[data-testid=pending-count]')?.textContent?.trim() === 'Pending: 0');
  });

  await step("the nodes view shows n1's applied version, result and zone status", async () => {
    await root.goto(`${server.base}/#/nodes/n1`);
    await root.locator('table.props').filter({ hasText: 'Applied version' }).waitFor();
    const props = await root.locator('table.props').textContent();
    assert.match(props, /Applied version1/);
    assert.match(props, /Last resultOK/);
    await root.locator('tr', { hasText: 'zone1' }).locator('.badge-status-available').waitFor();
    await root.screenshot({ path: join(shots, 'node.png') });
  });

  await step('rolling back asks for confirmation, shows what it discards, then pending is empty', async () => {
    await root.goto(`${server.base}/#/vnets/vnet1`);
    await root.getByRole('button', { name: 'Edit VNet' }).click();
    const dialog = root.getByRole('dialog', { name: 'Edit VNet: vnet1' });
    await dialog.getByLabel('Alias').fill('temporary');
    await dialog.getByRole('button', { name: 'OK' }).click();
    await dialog.waitFor({ state: 'detached' });
    await root.waitForFunction(() => document.querySelector('[data-testid=pending-count]')?.textContent?.trim() === 'Pending: 1');
    await root.goto(`${server.base}/#/pending`);
    const alias = root.getByRole('article', { name: 'VNet vnet1: changed' }).locator('tr.prop-added', { hasText: 'alias' });
    assert.equal((await alias.locator('.prop-after').textContent()).trim(), 'temporary');
    await root.getByRole('button', { name: 'Rollback' }).click();
    const confirm = root.getByRole('dialog', { name: 'Roll back all pending changes' });
    assert.match(await confirm.textContent(), /discards these 1 pending changes/);
    await confirm.getByRole('article', { name: 'VNet vnet1: changed' }).waitFor();
    await root.screenshot({ path: join(shots, 'rollback-confirm.png') });
    await confirm.getByRole('button', { name: 'Rollback' }).click();
    await confirm.waitFor({ state: 'detached' });
    await root.getByTestId('pending-summary').filter({ hasText: 'No pending changes' }).waitFor();
    assert.equal((await pendingCount(root).textContent()).trim(), 'Pending: 0');
  });

  await step('a DNS server: created with its type fields, its key masked, its own view', async () => {
    await root.goto(`${server.base}/#/dns`);
    await root.getByRole('button', { name: 'Create DNS' }).click();
    const dialog = root.getByRole('dialog', { name: 'Create DNS' });
    await dialog.getByLabel('ID').fill('pdns1');
    await dialog.getByLabel('URL').fill(powerdnsUrl);
    assert.equal(await dialog.getByLabel('API key').getAttribute('type'), 'password');
    await dialog.getByLabel('API key').fill('very-secret-key');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    const row = root.locator('tr[data-id="pdns1"]');
    await row.waitFor();
    assert.ok(!(await row.textContent()).includes('very-secret-key'), 'the key is masked');
    await row.getByRole('link', { name: 'pdns1' }).click();
    await root.getByRole('heading', { name: 'DNS pdns1 (powerdns)' }).waitFor();
    assert.ok((await root.locator('table.props').textContent()).includes(`URL${powerdnsUrl}`), 'the URL is shown');
  });

  await step('a stale edit says so instead of overwriting', async () => {
    await root.goto(`${server.base}/#/vnets/vnet1`);
    await root.getByRole('button', { name: 'Edit VNet' }).click();
    const mine = root.getByRole('dialog', { name: 'Edit VNet: vnet1' });
    await mine.getByLabel('Alias').waitFor();
    // Meanwhile someone else changes the same vnet.
    const other = await newPage();
    await login(other, 'admin2@pve', ADMIN_PW);
    await other.goto(`${server.base}/#/vnets/vnet1`);
    await other.getByRole('button', { name: 'Edit VNet' }).click();
    const theirs = other.getByRole('dialog', { name: 'Edit VNet: vnet1' });
    await theirs.getByLabel('Alias').fill('by-admin2');
    await theirs.getByRole('button', { name: 'OK' }).click();
    await theirs.waitFor({ state: 'detached' });
    await other.context().close();
    await mine.getByLabel('Alias').fill('by-root');
    await mine.getByRole('button', { name: 'OK' }).click();
    await mine.getByRole('alert').filter({ hasText: 'Someone changed this object since you opened it; nothing was overwritten' }).waitFor();
    await root.screenshot({ path: join(shots, 'stale-edit.png') });
    await mine.getByRole('button', { name: 'Cancel' }).click();
    await root.locator('table.props tr', { hasText: 'Alias' }).filter({ hasText: 'by-admin2' }).waitFor();
    // Back to running, for what follows.
    await root.goto(`${server.base}/#/pending`);
    await root.getByRole('button', { name: 'Rollback' }).click();
    await root.getByRole('dialog', { name: 'Roll back all pending changes' }).getByRole('button', { name: 'Rollback' }).click();
    await root.getByTestId('pending-summary').filter({ hasText: 'No pending changes' }).waitFor();
  });

  await step('an admin force-releases a lock after a confirmation naming the holder', async () => {
    await root.getByRole('button', { name: 'Lock' }).click();
    await root.getByRole('dialog', { name: 'Lock the SDN configuration' }).getByRole('button', { name: 'Lock' }).click();
    await root.getByRole('button', { name: 'Release' }).waitFor();
    admin = await newPage();
    await login(admin, 'admin2@pve', ADMIN_PW);
    await lockTitle(admin).filter({ hasText: 'Locked by root@pam' }).waitFor();
    await admin.getByRole('button', { name: 'Force release' }).click();
    const confirm = admin.getByRole('dialog', { name: 'Force release the SDN lock' });
    assert.match(await confirm.textContent(), /held by root@pam/);
    await admin.screenshot({ path: join(shots, 'force-release.png') });
    await confirm.getByRole('button', { name: 'Force release' }).click();
    await confirm.waitFor({ state: 'detached' });
    await admin.waitForFunction(() => document.querySelector('.lock-title')?.textContent === 'Not locked');
    // The former holder's session learns it on its next poll.
    await root.waitForFunction(() => document.querySelector('.lock-title')?.textContent === 'Not locked', null, { timeout: 10000 });
    await root.getByRole('button', { name: 'Lock' }).waitFor();
  });

  await step('a PVEAuditor sees everything read-only, with no change buttons', async () => {
    const page = await newPage();
    await login(page, 'auditor@pve', AUDIT_PW);
    await page.locator('.badge-ro').filter({ hasText: 'read-only' }).waitFor();
    for (const [hash, wait] of [['#/zones', 'tr[data-id="zone1"]'], ['#/zones/zone1', 'tr[data-id="vnet1"]'], ['#/vnets/vnet1', 'table.props'], ['#/pending', '[data-testid=pending-summary]'], ['#/nodes', 'tr[data-node="n1"]']]) {
      await page.goto(`${server.base}/${hash}`);
      await page.locator(wait).first().waitFor();
      const buttons = await page.locator('main button, .lock-banner button').allTextContents();
      const forbidden = buttons.filter((b) => /Create|Edit|Remove|Lock|Release|Apply|Rollback/.test(b));
      assert.deepEqual(forbidden, [], `no change buttons on ${hash}`);
    }
    await page.goto(`${server.base}/#/pending`);
    await page.locator('.node-dry-run .file-diff').first().waitFor();
    await page.goto(`${server.base}/#/zones/zone1`);
    await page.locator('tr[data-id="vnet1"]').waitFor();
    await page.screenshot({ path: join(shots, 'auditor.png') });
    await page.context().close();
  });

  await step('narrow window and dark theme: the menu folds away and still reaches every view', async () => {
    const page = await newPage({ width: 390, height: 800, colorScheme: 'dark' });
    await login(page, 'root@pam', ROOT_PW);
    assert.equal(await page.locator('nav#nav').isVisible(), false);
    await page.getByRole('button', { name: 'Menu' }).click();
    await page.locator('nav#nav').getByRole('link', { name: /^Zones/ }).click();
    await page.locator('tr[data-id="zone1"]').waitFor();
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(bg, 'rgb(22, 24, 28)', 'dark theme follows the system');
    await page.screenshot({ path: join(shots, 'narrow-dark.png') });
    await page.context().close();
  });

  await step('keyboard: a dialog opens from its button, Escape closes it and focus returns', async () => {
    await root.goto(`${server.base}/#/zones`);
    const create = root.getByRole('button', { name: 'Create Zone' });
    await create.focus();
    await root.keyboard.press('Enter');
    const dialog = root.getByRole('dialog', { name: 'Create Zone' });
    await dialog.waitFor();
    assert.equal(await root.evaluate(() => document.activeElement?.id), 'f-zone', 'focus starts in the first field');
    await root.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await root.evaluate(() => document.activeElement?.textContent), 'Create Zone');
  });

  await step('the session renews its ticket before it expires (15 minutes on, a new ticket)', async () => {
    const page = await newPage({ frozenClock: true });
    await login(page, 'admin2@pve', ADMIN_PW);
    const ticket = async () => (await page.context().cookies()).find((c) => c.name === 'PVEAuthCookie')?.value;
    const first = await ticket();
    assert.ok(first?.startsWith('PVE%3Aadmin2%40pve%3A'), first);
    // Tickets carry their issue time in seconds: let a real second pass so the new one differs.
    await new Promise((r) => setTimeout(r, 1100));
    await page.clock.fastForward('16:00');
    await page.waitForFunction(() => document.cookie.includes('PVEAuthCookie='), null);
    for (let i = 0; i < 50 && (await ticket()) === first; i++) await new Promise((r) => setTimeout(r, 100));
    const second = await ticket();
    assert.notEqual(second, first, 'the ticket was renewed');
    // The renewed ticket and CSRF token work for changes: lock, then release.
    await page.getByRole('button', { name: 'Lock' }).click();
    await page.getByRole('dialog', { name: 'Lock the SDN configuration' }).getByRole('button', { name: 'Lock' }).click();
    await page.getByRole('button', { name: 'Release' }).click();
    await page.getByRole('button', { name: 'Lock' }).waitFor();
    assert.equal(await page.locator('.lock-title').textContent(), 'Not locked');
    assert.equal(await page.getByLabel('User name').count(), 0, 'still logged in');
    await page.context().close();
  });

  await step('screen readers: every control has a name, no id is used twice, views have headings', async () => {
    const audit = () => root.evaluate(() => {
      const problems = [];
      const seen = new Set();
      for (const el of document.querySelectorAll('[id]')) {
        if (seen.has(el.id)) problems.push(`duplicate id ${el.id}`);
        seen.add(el.id);
      }
      for (const el of document.querySelectorAll('input, select, textarea')) {
        if (!el.labels?.length && !el.getAttribute('aria-label')) problems.push(`unlabelled ${el.tagName} ${el.name || el.id}`);
      }
      for (const el of document.querySelectorAll('button, a')) {
        if (!(el.getAttribute('aria-label') || el.textContent.trim())) problems.push(`nameless ${el.tagName} ${el.outerHTML.slice(0, 60)}`);
      }
      if (!document.querySelector('main h2')) problems.push('no heading in main');
      for (const ref of document.querySelectorAll('[aria-describedby]')) {
        for (const id of ref.getAttribute('aria-describedby').split(' ')) if (!document.getElementById(id)) problems.push(`aria-describedby ${id} missing`);
      }
      return problems;
    });
    for (const hash of ['#/', '#/zones', '#/zones/zone1', '#/vnets/vnet1', '#/pending', '#/nodes', '#/nodes/n1', '#/dns', '#/dns/pdns1']) {
      await root.goto(`${server.base}/${hash}`);
      await root.locator('main h2').first().waitFor();
      assert.deepEqual(await audit(), [], hash);
    }
    await root.goto(`${server.base}/#/zones`);
    await root.getByRole('button', { name: 'Create Zone' }).click();
    await root.getByRole('dialog', { name: 'Create Zone' }).getByLabel('Type').selectOption('evpn');
    assert.deepEqual(await audit(), [], 'the create dialog');
    await root.keyboard.press('Escape');
  });

  await step('logout returns to the login form, and the old session is gone', async () => {
    await root.getByRole('button', { name: 'Logout' }).click();
    await root.getByLabel('User name').waitFor();
    await root.reload();
    await root.getByLabel('User name').waitFor();
  });

  await step("a node whose reload fails: the apply shows it failed, with the node's error", async () => {
    const failing = await startSdnd({ node: 'n2', users: [{ id: 'root@pam', password: ROOT_PW }], reloadInterfaces: 'echo reload refused by n2 >&2; exit 3' });
    try {
      const page = await newPage();
      await page.goto(`${failing.base}/`);
      await page.getByLabel('User name').fill('root@pam');
      await page.getByLabel('Password').fill(ROOT_PW);
      await page.getByRole('button', { name: 'Login' }).click();
      await page.goto(`${failing.base}/#/zones`);
      await page.getByRole('button', { name: 'Create Zone' }).click();
      const dialog = page.getByRole('dialog', { name: 'Create Zone' });
      await dialog.getByLabel('ID').fill('zs');
      await dialog.getByRole('button', { name: 'Create' }).click();
      await dialog.waitFor({ state: 'detached' });
      await page.goto(`${failing.base}/#/pending`);
      await page.getByRole('article', { name: 'Zone zs: new' }).waitFor();
      await page.getByRole('button', { name: 'Apply' }).click();
      await page.getByTestId('task-state').filter({ hasText: 'Task failed' }).waitFor();
      const n2 = page.locator('tr[data-node="n2"] .badge-node-failed');
      await n2.waitFor();
      assert.match(await n2.textContent(), /failed: .*reload refused by n2/);
      assert.match(await page.locator('pre.task-log').textContent(), /reload refused by n2/);
      await page.screenshot({ path: join(shots, 'apply-failed.png') });
      await page.goto(`${failing.base}/#/nodes/n2`);
      assert.match(await page.locator('table.props').textContent(), /Last resultfailed: .*reload refused by n2/);
      await page.locator('tr', { hasText: 'zs' }).locator('.badge-status-error').waitFor();
      await page.context().close();
    } finally {
      await failing.stop();
    }
  });

  assert.deepEqual(errors, [], 'no errors in the browser console');
} catch {
  // reported by step()
} finally {
  await chromium.close();
  await server.stop();
  powerdns.closeAllConnections();
  powerdns.close();
}
if (errors.length) console.log(`browser errors:\n  ${errors.join('\n  ')}`);
console.log(`${passed} passed, ${failed} failed; screenshots in ${shots}`);
process.exit(failed || errors.length ? 1 : 0);

// The published site (site/, from www/publish.mjs) as a static host serves it. On a plain server
// that sends no COOP/COEP headers (`python3 -m http.server`, as the README's "Publish it" says):
// the service worker's one reload makes the page cross-origin isolated and threaded, never two;
// offline, the page and its kept model still run; a new version is offered with a notice and
// replaces the old one's files; a broken service worker never blocks the page. With the headers
// sent (www/serve.mjs): no reload at all.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, assertLikeReference, classifyFile, image, launch, plainServer, siteWithModel, startServer, trainHead, uploadCifar, waitStatus } from './harness.mjs';

const ready = (page) => waitStatus(page, /^ready$/);
const classifyGrey = (page) => classifyFile(page, image('grey.png'));

const env = { stops: [] };
before(async () => {
  env.browser = await launch();
});
after(async () => {
  await env.browser?.close();
  for (const stop of env.stops) stop();
});

/** A page in a fresh context, and how many times its main frame navigated. */
async function openCounted(url) {
  const context = await env.browser.newContext();
  const page = await context.newPage({ viewport: { width: 1200, height: 1000 } });
  const counted = { navigations: 0 };
  page.on('framenavigated', (frame) => frame === page.mainFrame() && counted.navigations++);
  await page.goto(url);
  await ready(page);
  return { context, page, counted };
}

const isolated = (page) => page.evaluate(() => crossOriginIsolated);

/** Fine-tunes a CIFAR-10 head on the synthetic batches; how many features it computed. */
async function fineTune(page) {
  await page.getByTestId('source-cifar').click();
  await uploadCifar(page);
  await page.getByTestId('finetune-samples').fill('100');
  await page.getByTestId('finetune-test-samples').fill('50');
  const { accuracy, computed } = await trainHead(page, { epochs: 2, lr: 0.01 });
  assert.ok(accuracy > 0, `test accuracy ${accuracy}%`);
  return computed;
}

test('on a server without COOP/COEP: one reload for threads, none after; offline it still runs', async () => {
  const server = await plainServer(siteWithModel());
  env.stops.push(server.stop);
  const { context, page, counted } = await openCounted(server.url);
  assert.equal(counted.navigations, 2, 'the first visit reloads once, for the headers');
  assert.equal(await isolated(page), true);
  assert.match(await page.getByTestId('threads').textContent(), /^[2-9]\d* CPU threads$/);
  assert.match(await page.getByTestId('cpu-kernel').getAttribute('data-build'), /^threads/);
  assertLikeReference('grey.png', await classifyGrey(page), 'the published site, threaded');

  // A second visit: controlled from the start, so isolated without a reload.
  await page.reload();
  await ready(page);
  assert.equal(counted.navigations, 3);
  assert.equal(await isolated(page), true);
  // What the service worker keeps is listed (the scripts and the wasm build in use at least).
  const row = page.getByTestId('stored-site');
  await row.waitFor();
  const [, megabytes] = (await row.textContent()).match(/^This page's files, for offline use: ([\d.]+) MB/) ?? [];
  assert.ok(Number(megabytes) > 1, await row.textContent());
  // Installable: Chromium finds nothing missing in the page (the manifest, its icons, the service
  // worker); that a test's context is incognito-like is the one thing it names.
  const cdp = await context.newCDPSession(page);
  const manifest = await cdp.send('Page.getAppManifest');
  assert.deepEqual(manifest.errors, [], 'the manifest parses');
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  assert.deepEqual(installabilityErrors.filter((e) => e.errorId !== 'in-incognito'), [], 'the page is installable');
  await cdp.detach();
  // Features for a fine-tune, kept (in IndexedDB) for the offline visit.
  assert.equal(await fineTune(page), 150);

  // Offline, the server gone too: the page from the service worker, the model from OPFS (kept
  // on the first visit).
  server.stop();
  await context.setOffline(true);
  await page.reload();
  await ready(page);
  assert.match(await page.locator('#model-info').textContent(), /read from this browser's storage\. Offline: this page and its model came from this browser\.$/);
  assert.equal(await isolated(page), true);
  assertLikeReference('grey.png', await classifyGrey(page), 'the published site, offline');
  assert.equal(await fineTune(page), 0, 'offline, a fine-tune runs on the kept features');
  await page.screenshot({ path: join(ARTIFACTS, 'site-offline.png'), fullPage: true });
  await context.setOffline(false);

  // The files' row removes what the service worker keeps.
  await page.getByTestId('stored-site').getByRole('button', { name: 'Remove' }).click();
  await page.getByTestId('stored-site').waitFor({ state: 'detached' });
  assert.deepEqual(await page.evaluate(async () => (await caches.keys()).filter((k) => k.startsWith('vit-wasm-site-'))), []);
  await context.close();
});

test('with the headers sent by the host: no reload, and offline after that one visit', async () => {
  const server = await startServer(siteWithModel());
  env.stops.push(server.stop);
  const { context, page, counted } = await openCounted(server.url);
  assert.equal(counted.navigations, 1);
  assert.equal(await isolated(page), true);
  assert.match(await page.getByTestId('threads').textContent(), /^[2-9]\d* CPU threads$/);
  await page.getByTestId('stored-model').waitFor();
  server.stop();
  await context.setOffline(true);
  await page.reload();
  await ready(page);
  assert.equal(await isolated(page), true);
  assertLikeReference('grey.png', await classifyGrey(page), 'the published site, offline after one visit');
  await context.close();
});

test('a broken service worker never blocks the page: one thread, and it says why', async () => {
  const dir = siteWithModel();
  writeFileSync(join(dir, 'sw.js'), "throw new Error('a broken service worker');\n");
  const server = await plainServer(dir);
  env.stops.push(server.stop);
  const { context, page, counted } = await openCounted(server.url);
  assert.equal(counted.navigations, 1);
  assert.equal(await isolated(page), false);
  assert.match(await page.getByTestId('threads').textContent(), /^1 CPU thread \(this page is not cross-origin isolated: its service worker did not start \(.+\)\)$/);
  assertLikeReference('grey.png', await classifyGrey(page), 'the published site without its service worker');
  await context.close();
});

test('a new version is offered with a notice, runs after the reload, and replaces the old files', async () => {
  const dir = siteWithModel();
  const server = await plainServer(dir);
  env.stops.push(server.stop);
  const first = await openCounted(server.url);
  const oldVersion = await first.page.locator('meta[name=vit-site]').getAttribute('content');
  await first.page.close();

  // A new build: another version in the page, and in its service worker with the page's hash.
  const newVersion = 'f'.repeat(16);
  const sri = (text) => `sha256-${createHash('sha256').update(text).digest('base64')}`;
  const oldIndex = readFileSync(join(dir, 'index.html'), 'utf8');
  const newIndex = oldIndex.replaceAll(oldVersion, newVersion);
  const sw = readFileSync(join(dir, 'sw.js'), 'utf8');
  writeFileSync(join(dir, 'index.html'), newIndex);
  writeFileSync(join(dir, 'sw.js'), sw.replaceAll(oldVersion, newVersion).replace(sri(oldIndex), sri(newIndex)));
  const page = await first.context.newPage();
  await page.goto(server.url);
  await ready(page);
  // The old version runs this visit; the new one waits, with the notice.
  assert.equal(await page.locator('meta[name=vit-site]').getAttribute('content'), oldVersion);
  await page.getByTestId('update-notice').waitFor();
  assert.match(await page.getByTestId('update-notice').textContent(), /^A new version of this page is ready\. Reload$/);
  await page.screenshot({ path: join(ARTIFACTS, 'site-update.png'), fullPage: true });
  await Promise.all([page.waitForEvent('load'), page.getByTestId('update-reload').click()]);
  await ready(page);
  assert.equal(await page.locator('meta[name=vit-site]').getAttribute('content'), newVersion);
  assert.equal(await isolated(page), true);
  assert.equal(await page.getByTestId('update-notice').isHidden(), true);
  assert.deepEqual(await page.evaluate(async () => (await caches.keys()).filter((k) => k.startsWith('vit-wasm-site-'))), [`vit-wasm-site-${newVersion}`]);
  await first.context.close();
});

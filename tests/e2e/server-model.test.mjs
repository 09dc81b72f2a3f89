// The model the page finds on its own server: loaded with progress, then cached in the browser.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, FIXTURES, ROOT, TINY_LABELS, image, launch, referenceTopK, startServer } from './harness.mjs';

let site;
let server;
let browser;

before(async () => {
  // The site as www/serve.sh serves it, with the tiny model where weights/download.sh puts the real one.
  site = mkdtempSync(join(tmpdir(), 'vit-site-'));
  for (const entry of ['index.html', 'www']) symlinkSync(join(ROOT, entry), join(site, entry));
  mkdirSync(join(site, 'weights'));
  symlinkSync(join(FIXTURES, 'tiny_hf'), join(site, 'weights', 'vit-base-patch16-224'));
  server = await startServer(site);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
  rmSync(site, { recursive: true, force: true });
});

test('the server model loads on its own, is cached for the next visit, and can be forgotten', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const downloads = [];
  page.on('request', (r) => r.method() === 'GET' && r.url().includes('/weights/') && downloads.push(r.url()));
  const ready = () => page.getByTestId('status').filter({ hasText: /^ready$/ }).waitFor({ timeout: 180_000 });

  await page.goto(server.url);
  await ready();
  assert.match(await page.locator('#model-info').textContent(), /from this server.*2 layers, 3 heads/);
  assert.equal(downloads.filter((u) => u.endsWith('model.safetensors')).length, 1);
  // The last progress report covered the whole file.
  assert.match(await page.locator('#progress-text').textContent(), /^downloading model\.safetensors: 0\.2 MB of 0\.2 MB \(100%\)$/);

  downloads.length = 0;
  await page.reload();
  await ready();
  assert.deepEqual(downloads, [], 'the second visit reads the weights from the browser cache');

  await page.getByTestId('image-input').setInputFiles(image('grey.png'));
  await ready();
  const labels = await page.locator('[data-testid=result][data-file="grey.png"] [data-testid=label]').allTextContents();
  assert.deepEqual(labels, referenceTopK('grey.png', TINY_LABELS).map((p) => p.label));
  await page.screenshot({ path: join(ARTIFACTS, 'page-server-model.png'), fullPage: true });

  await page.locator('#clear-cache').click();
  assert.equal(await page.evaluate(async () => (await caches.keys()).length), 0);
  downloads.length = 0;
  await page.reload();
  await ready();
  assert.equal(downloads.filter((u) => u.endsWith('model.safetensors')).length, 1, 'forgotten, so downloaded again');
  await context.close();
});

// The model the page finds on its own server: loaded with progress, then cached in the browser.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, FIXTURES, TINY_LABELS, image, referenceTopK, serverAndBrowser, serveWithModel, waitStatus } from './harness.mjs';

const env = serverAndBrowser(() => serveWithModel(join(FIXTURES, 'tiny_hf')));

test('the server model loads on its own, is cached for the next visit, and can be forgotten', async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  const downloads = [];
  page.on('request', (r) => r.method() === 'GET' && r.url().includes('/weights/') && downloads.push(r.url()));
  const ready = () => waitStatus(page, /^ready$/);

  await page.goto(env.server.url);
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

test('a malformed address gets a 400 and the server goes on serving', async () => {
  for (const path of ['/www/%E0%A4%A', '/%', '/www/%zz']) {
    const response = await fetch(env.server.url + path.slice(1));
    assert.equal(response.status, 400, path);
  }
  assert.equal((await fetch(env.server.url)).status, 200);
});

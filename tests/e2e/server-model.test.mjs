// The model the page finds on its own server: downloaded once, with one progress bar, and kept in
// the browser (OPFS) as it streams in; later visits read it from there without a request (the
// server's log says so). A download cut midway is never used; a quota too small is named and the
// model still loads; the storage panel removes what the page keeps; features of a model that is
// gone are removed; a dropped model can be kept too.
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, FIXTURES, assertLikeReference, image, keptModels, readCard, serverAndBrowser, serveWithModel, waitStatus } from './harness.mjs';

const env = serverAndBrowser(() => serveWithModel(join(FIXTURES, 'tiny_hf')));
const WEIGHTS = '/weights/vit-base-patch16-224/model.safetensors';
const ready = (page) => waitStatus(page, /^ready$/);
const weightsServed = () => env.server.requests.filter((line) => line.startsWith(`GET ${WEIGHTS} `)).length;

const SERVER_FILES = { server: ['config.json', 'manifest.json', 'model.safetensors', 'preprocessor_config.json'] };

async function classifiesGrey(page, where) {
  await page.locator('[data-testid=result]').evaluateAll((cards) => cards.forEach((c) => c.remove()));
  await page.getByTestId('image-input').setInputFiles(image('grey.png'));
  await ready(page);
  assertLikeReference('grey.png', (await page.evaluate(readCard, 'grey.png')).labels, where);
}

test('the server model downloads once, is kept, starts from storage, and can be removed', async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  const served = weightsServed();
  await page.goto(env.server.url);
  await ready(page);
  const info = page.locator('#model-info');
  assert.match(await info.textContent(), /^weights\/vit-base-patch16-224\/model\.safetensors \(from this server\): ViT with 2 layers, 3 heads.* Loaded in [\d.]+ m?s, downloaded\.$/);
  assert.equal(weightsServed() - served, 1);
  // The last report of the one progress bar covered the whole file.
  assert.match(await page.locator('#progress-text').textContent(), /^downloading model\.safetensors: 0\.2 MB of 0\.2 MB \(100%\), [\d.]+ MB\/s, 0 ms left$/);
  // Written on while the model is already in use; listed once the disk has it all.
  const row = page.getByTestId('stored-model');
  await row.waitFor();
  assert.deepEqual(await keptModels(page), SERVER_FILES);
  assert.match(await row.textContent(), /^weights\/vit-base-patch16-224\/model\.safetensors \(from this server\): \d+ kB \(in use\)Remove$/);
  assert.match(await page.getByTestId('storage-summary').textContent(), /^This page keeps \d+ kB in this browser, which allows it [\d.]+ GB\. Persistent storage (is granted|was not granted)/);

  await page.reload();
  await ready(page);
  assert.equal(weightsServed() - served, 1, 'the second visit reads the weights from storage, not the server');
  assert.match(await info.textContent(), /Loaded in [\d.]+ m?s, read from this browser's storage\.$/);
  await classifiesGrey(page, 'the kept model');
  await page.screenshot({ path: join(ARTIFACTS, 'page-server-model.png'), fullPage: true });

  // Removed in the storage panel: gone from OPFS, so the next visit downloads it again.
  await row.getByRole('button', { name: 'Remove' }).click();
  await page.getByTestId('storage-summary').filter({ hasText: /^Nothing is kept in this browser\./ }).waitFor();
  assert.deepEqual(await keptModels(page), {});
  await page.reload();
  await ready(page);
  assert.equal(weightsServed() - served, 2, 'removed, so downloaded again');
  await row.waitFor();
  assert.deepEqual(await keptModels(page), SERVER_FILES);
  await context.close();
});

test('a download cut midway, or a copy left half-written, is never used', async () => {
  // In front of the server: the first download of the weights stops halfway, as a dropped
  // connection does.
  let cut = true;
  const proxy = createServer((req, res) => {
    const upstream = request(new URL(req.url, env.server.url), { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode, up.headers);
      if (!(cut && req.method === 'GET' && req.url === WEIGHTS)) return up.pipe(res);
      cut = false;
      let left = Number(up.headers['content-length']) >> 1;
      up.on('data', (chunk) => {
        res.write(chunk.subarray(0, left));
        left -= Math.min(left, chunk.length);
        if (!left) {
          up.destroy();
          res.destroy();
        }
      });
    });
    req.pipe(upstream);
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const context = await env.browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(`http://127.0.0.1:${proxy.address().port}/`);
    await page.locator('#page-error').waitFor();
    await waitStatus(page, /^no model loaded$/);
    assert.deepEqual(await page.evaluate(async () => (await import('./www/model_store.js')).list()), [], 'nothing of the cut download is kept');
    assert.deepEqual(await keptModels(page), {});

    // A tab closed mid-download leaves files without a manifest: removed, and downloaded again.
    await page.evaluate(async () => {
      const models = await (await navigator.storage.getDirectory()).getDirectoryHandle('models', { create: true });
      const file = await (await models.getDirectoryHandle('server', { create: true })).getFileHandle('model.safetensors', { create: true });
      const writable = await file.createWritable();
      await writable.write(new Uint8Array(1000));
      await writable.close();
    });
    await page.reload();
    await ready(page);
    assert.match(await page.locator('#model-info').textContent(), /, downloaded\.$/);
    await page.getByTestId('stored-model').waitFor();
    assert.deepEqual(await keptModels(page), SERVER_FILES);
    await classifiesGrey(page, 'after a cut download');
  } finally {
    await context.close();
    proxy.close();
  }
});

test('a storage quota too small: the error says what did not fit, and the model still loads', async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  // Chromium's own quota, shrunk below the 0.2 MB of weights: writes fail as on a full disk.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(env.server.url).origin, quotaSize: 100_000 });
  await page.goto(env.server.url);
  await ready(page);
  await page.getByTestId('storage-error').waitFor();
  assert.match(
    await page.getByTestId('storage-error').textContent(),
    /^The model is not kept in this browser \(model\.safetensors \(\d+ kB\) did not fit in this browser's storage \(QuotaExceededError after \d+ kB; the browser reports [\d.]+ [kMG]B free\)\); the next visit downloads it again\.$/,
  );
  assert.deepEqual(await keptModels(page), {});
  await classifiesGrey(page, 'a model that could not be kept');
  await page.screenshot({ path: join(ARTIFACTS, 'page-storage-quota.png'), fullPage: true });
  await context.close();
});

test("a dropped model can be kept and used; a kept model's features go with it", async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await page.goto(env.server.url);
  await ready(page);
  await page.getByTestId('stored-model').waitFor();
  const fingerprint = await page.locator('#model-info').getAttribute('data-fingerprint');

  // A dropped model (timm's layout): offered, kept, and the next visit starts with it.
  const timm = ['model.safetensors', 'config.json'].map((f) => join(FIXTURES, 'tiny_timm', f));
  await page.getByTestId('model-input').setInputFiles(timm);
  await ready(page);
  await page.getByTestId('keep-model').click();
  await page.locator('[data-testid=stored-model][data-id=dropped]').waitFor();
  assert.equal(await page.getByTestId('keep-model').isHidden(), true);
  await page.reload();
  await ready(page);
  assert.match(await page.locator('#model-info').textContent(), /^model\.safetensors \(kept in this browser\): ViT .* read from this browser's storage\.$/);
  assert.deepEqual(Object.keys(await keptModels(page)).sort(), ['dropped', 'server']);
  // The server's copy can be used again, from storage.
  const server = page.locator('[data-testid=stored-model][data-id=server]');
  await server.getByRole('button', { name: 'Use' }).click();
  await page.locator('#model-info').filter({ hasText: /^weights\/.*\(from this server\).* read from this browser's storage\.$/ }).waitFor();
  await ready(page);
  await page.screenshot({ path: join(ARTIFACTS, 'page-storage.png'), fullPage: true });

  // Features of the server's model, and of a model dropped once and not kept: removing the
  // server's model removes its features, and only those.
  const entries = () => page.evaluate(async () => (await import('./www/feature_store.js')).entries());
  await page.evaluate(async (fingerprint) => {
    const store = await import('./www/feature_store.js');
    const set = (n) => ({ values: new Float32Array(n * 48), labels: new Uint8Array(n), indices: new Uint32Array(n) });
    await store.put(`${fingerprint}/data/plain`, set(10));
    await store.put('0123456789abcdef/data/plain', set(20));
  }, fingerprint);
  await page.reload();
  await ready(page);
  await page.getByTestId('stored-features').filter({ hasText: /^Fine-tuning features: 2 sets, 6 kB/ }).waitFor();
  await server.getByRole('button', { name: 'Remove' }).click();
  await page.getByTestId('stored-features').filter({ hasText: /1 set/ }).waitFor();
  assert.deepEqual(await entries(), [{ key: '0123456789abcdef/data/plain', bytes: 20 * 48 * 4 + 20 + 20 * 4 }]);
  await context.close();
});

test('a malformed address gets a 400 and the server goes on serving', async () => {
  for (const path of ['/www/%E0%A4%A', '/%', '/www/%zz']) {
    const response = await fetch(env.server.url + path.slice(1));
    assert.equal(response.status, 400, path);
  }
  assert.equal((await fetch(env.server.url)).status, 200);
});

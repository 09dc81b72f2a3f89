// The page in a second browser engine: Firefox ESR headless (Gecko, SpiderMonkey's wasm), driven by
// puppeteer-core over WebDriver BiDi. It has no WebGPU, so this is the CPU path (threaded, with the
// server's COOP/COEP); page.test.mjs covers the rest in Chromium.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, FIXTURES, LOSSLESS, TINY_MODEL, assertLikeReference, image, launchFirefox, plainServer, readCard, serverAndBrowser, serveWithModel, siteWithModel, startServer } from './harness.mjs';

const env = serverAndBrowser(() => startServer(), launchFirefox);

// On a timeout, the error says what the page showed instead.
const waitStatus = (page, pattern) =>
  page
    .waitForFunction((source) => new RegExp(source).test(document.querySelector('[data-testid=status]').textContent), { timeout: 180_000, polling: 100 }, pattern.source)
    .catch(async (e) => {
      const shown = await page.evaluate(() => ['status', 'model-info', 'page-error'].map((id) => `${id}: ${document.getElementById(id)?.textContent}`).join('; ')).catch((f) => f.message);
      throw new Error(`${e.message}, waiting for ${pattern}; the page shows ${shown}`);
    });

// Until every card of `names` has its result or its error, and the page is idle again.
async function classify(page, paths, names) {
  await (await page.$('[data-testid=image-input]')).uploadFile(...paths);
  await page.waitForFunction(
    (names) => names.every((n) => [...document.querySelectorAll('[data-testid=result]')].some((el) => el.dataset.file === n && !el.classList.contains('pending'))),
    { timeout: 180_000, polling: 100 },
    names,
  );
  await waitStatus(page, /^ready$/);
}

test('Firefox classifies like the reference, and a bad model leaves the page working', { timeout: 600_000 }, async () => {
  const page = await env.browser.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  const tmp = mkdtempSync(join(tmpdir(), 'vit-firefox-'));
  try {
    await page.setViewport({ width: 1200, height: 1000 });
    await page.goto(env.server.url);
    await waitStatus(page, /^no model loaded$/);
    const { isolated, cores, gpu } = await page.evaluate(() => ({ isolated: self.crossOriginIsolated, cores: navigator.hardwareConcurrency, gpu: 'gpu' in navigator }));
    assert.ok(isolated, 'the server is cross-origin isolated, so Firefox must be too');
    assert.equal(await page.$eval('[data-testid=backend]', (s) => s.value), 'flex');

    await (await page.$('[data-testid=model-input]')).uploadFile(...TINY_MODEL);
    await waitStatus(page, /^ready$/);

    await classify(page, LOSSLESS.map(image), LOSSLESS);
    const threads = cores > 1 ? `, ${cores} threads` : '';
    for (const name of LOSSLESS) {
      const card = await page.evaluate(readCard, name);
      assertLikeReference(name, card.labels, 'flex in Firefox');
      assert.match(card.meta, new RegExp(`ms on flex${threads} \\(${LOSSLESS.length} images in one \\d+ ms pass\\)$`));
    }
    await page.click('#show-attention');
    await page.click('#show-grid');
    await page.screenshot({ path: join(ARTIFACTS, 'firefox-classify.png'), fullPage: true });

    // A corrupt model: a visible error naming the file; the model loaded before keeps classifying.
    const bad = join(tmp, 'model.safetensors');
    writeFileSync(bad, 'definitely not tensors');
    await (await page.$('[data-testid=model-input]')).uploadFile(bad);
    await page.waitForSelector('#page-error[data-testid=error]:not([hidden])', { timeout: 60_000 });
    assert.match(await page.$eval('#page-error', (e) => e.textContent), /^model\.safetensors: not a safetensors file .*The model loaded before is still in use\.$/);
    await waitStatus(page, /^ready$/);
    await page.evaluate(() => document.querySelector('#results').replaceChildren());
    await classify(page, [image('grey.png')], ['grey.png']);
    assertLikeReference('grey.png', (await page.evaluate(readCard, 'grey.png')).labels, 'flex in Firefox after a bad model');
    await page.screenshot({ path: join(ARTIFACTS, 'firefox-error.png'), fullPage: true });
    logs.push(`navigator.gpu: ${gpu}, cores: ${cores}`);
  } finally {
    writeFileSync(join(ARTIFACTS, 'firefox.log'), logs.join('\n'));
    rmSync(tmp, { recursive: true, force: true });
    await page.close();
  }
});

test('Firefox keeps the server model in OPFS and starts from there on the next visit', { timeout: 600_000 }, async () => {
  const server = await serveWithModel(join(FIXTURES, 'tiny_hf'));
  const context = await env.browser.createBrowserContext();
  const page = await context.newPage();
  try {
    const info = () => page.$eval('#model-info', (e) => e.textContent);
    await page.goto(server.url);
    await waitStatus(page, /^ready$/);
    assert.match(await info(), /, downloaded\.$/);
    // Kept once the storage panel lists it (written on after the model is ready).
    await page.waitForSelector('[data-testid=stored-model]');
    await page.reload();
    await waitStatus(page, /^ready$/);
    assert.match(await info(), /, read from this browser's storage\.$/);
    assert.equal(server.requests.filter((line) => line.startsWith('GET /weights/vit-base-patch16-224/model.safetensors ')).length, 1);
    await classify(page, [image('grey.png')], ['grey.png']);
    assertLikeReference('grey.png', (await page.evaluate(readCard, 'grey.png')).labels, 'the kept model in Firefox');
  } finally {
    await context.close();
    server.stop();
  }
});

test('Firefox runs the published site from a server without COOP/COEP, and says how many threads it has', { timeout: 600_000 }, async (t) => {
  const server = await plainServer(siteWithModel());
  const context = await env.browser.createBrowserContext();
  const page = await context.newPage();
  try {
    await page.goto(server.url);
    await waitStatus(page, /^ready$/);
    // Whether Firefox lets the service worker isolate the page decides the threads; either way
    // the page says which, and classifies like the reference.
    const isolated = await page.evaluate(() => self.crossOriginIsolated);
    const threads = await page.$eval('[data-testid=threads]', (e) => e.textContent);
    t.diagnostic(`Firefox on a plain server: crossOriginIsolated ${isolated}; "${threads}"`);
    assert.match(threads, isolated ? /^[2-9]\d* CPU threads$/ : /^1 CPU thread \(this page is not cross-origin isolated: .+\)$/);
    await classify(page, [image('grey.png')], ['grey.png']);
    assertLikeReference('grey.png', (await page.evaluate(readCard, 'grey.png')).labels, 'the published site in Firefox');
  } finally {
    await context.close();
    server.stop();
  }
});

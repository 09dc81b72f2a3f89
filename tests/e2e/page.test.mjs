// The page end to end in headless Chromium, on WebGPU (SwiftShader here) and on the CPU.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, FIXTURES, LOSSLESS, TINY_MODEL, assertLikeReference, image, launch, openPage, openWithModel, readCard, serverAndBrowser, waitStatus } from './harness.mjs';

const env = serverAndBrowser();

const waitReady = (page) => waitStatus(page, /^ready$/);

for (const backend of ['wgpu', 'flex']) {
  test(`classifies dropped images like the reference on ${backend}`, async () => {
    const { page, logs } = await openPage(env.browser, env.server.url);
    try {
      const select = page.getByTestId('backend');
      if (backend === 'wgpu') {
        const option = select.locator('option[value=wgpu]');
        assert.equal(await option.isDisabled(), false, 'headless Chromium here must expose WebGPU');
        // SwiftShader is offered but, being slower than the CPU, not chosen by default.
        assert.match(await option.textContent(), /software emulation/);
        assert.equal(await select.inputValue(), 'flex');
      }
      await select.selectOption(backend);
      await page.getByTestId('model-input').setInputFiles(TINY_MODEL);
      await waitReady(page);
      assert.equal(await select.inputValue(), backend);

      await page.getByTestId('image-input').setInputFiles(LOSSLESS.map(image));
      await waitReady(page);
      for (const name of LOSSLESS) {
        const card = page.locator(`[data-testid=result][data-file="${name}"]`);
        await card.getByTestId('probability').first().waitFor();
        const { labels, meta } = await page.evaluate(readCard, name);
        assertLikeReference(name, labels, backend);
        // This server is cross-origin isolated, so with more than one core flex runs threaded.
        const cores = await page.evaluate(() => navigator.hardwareConcurrency);
        const threads = backend === 'flex' && cores > 1 ? `, ${cores} threads` : '';
        // All of them went through in one forward pass.
        const pass = `\\(${LOSSLESS.length} images in one \\d+ ms pass\\)`;
        assert.match(meta, new RegExp(`ms on ${backend}${threads} ${pass}$`));
      }
      await page.locator('#show-attention').check();
      await page.locator('#show-grid').check();
      await page.screenshot({ path: join(ARTIFACTS, `page-${backend}.png`), fullPage: true });
    } finally {
      writeFileSync(join(ARTIFACTS, `page-${backend}.log`), logs.join('\n'));
      await page.close();
    }
  });
}

test('bad files get visible errors and the page keeps working', async () => {
  const { page, logs } = await openWithModel(env.browser, env.server.url, 'flex');
  try {

    // A corrupt model: the page says which file and what is wrong, and keeps the loaded model.
    await page.getByTestId('model-input').setInputFiles({ name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('definitely not tensors') });
    const pageError = page.locator('#page-error[data-testid=error]');
    await pageError.waitFor({ state: 'visible' });
    assert.match(await pageError.textContent(), /^model\.safetensors: not a safetensors file .*The model loaded before is still in use\.$/);
    // Weights whose head count nothing gives (no config; no published ViT size): refused, not guessed.
    await page.getByTestId('model-input').setInputFiles(TINY_MODEL[0]);
    await pageError.filter({ hasText: /^config\.json: the number of attention heads is not given.*`num_attention_heads`.*The model loaded before is still in use\.$/ }).waitFor();

    // A text file, a truncated PNG and a BMP header claiming 16000 x 12000 pixels (over Pillow's
    // limit) among images: errors on their own cards only.
    const png = readFileSync(image('gradient.png'));
    const bmp = Buffer.from(readFileSync(image('checker.bmp')));
    bmp.writeUInt32LE(16000, 18);
    bmp.writeUInt32LE(12000, 22);
    await page.getByTestId('image-input').setInputFiles([
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') },
      { name: 'broken.png', mimeType: 'image/png', buffer: png.subarray(0, 60) },
      { name: 'huge.bmp', mimeType: 'image/bmp', buffer: bmp },
      { name: 'grey.png', mimeType: 'image/png', buffer: readFileSync(image('grey.png')) },
    ]);
    await waitReady(page);
    for (const [name, reason] of [['notes.txt', /not an image/], ['broken.png', /not an image/], ['huge.bmp', /16000x12000 pixels is out of range/]]) {
      const err = page.locator(`[data-testid=result][data-file="${name}"] [data-testid=error]`);
      await err.waitFor({ state: 'visible' });
      const text = await err.textContent();
      assert.ok(text.startsWith(`${name}: `) && reason.test(text), text);
    }
    const grey = page.locator('[data-testid=result][data-file="grey.png"]');
    await grey.getByTestId('label').first().waitFor();
    assertLikeReference('grey.png', (await page.evaluate(readCard, 'grey.png')).labels, 'flex after bad files');
    await page.screenshot({ path: join(ARTIFACTS, 'page-errors.png'), fullPage: true });
  } finally {
    writeFileSync(join(ARTIFACTS, 'page-errors.log'), logs.join('\n'));
    await page.close();
  }
});

test("timm's variants load in the page and classify, the attention map over their patches", async () => {
  // Register tokens with position embeddings for the patches only, layer scale, patch 14.
  const variant = ['model.safetensors', 'config.json'].map((f) => join(FIXTURES, 'variants', 'dinov2_registers', f));
  const { page, logs } = await openWithModel(env.browser, env.server.url, 'flex', variant);
  try {
    await page.locator('#show-attention').check();
    assert.match(await page.locator('#model-info').textContent(), /56x56 input in 14x14 patches, 7 labels/);
    await page.getByTestId('image-input').setInputFiles(image('gradient.png'));
    await waitReady(page);
    const { labels } = await page.evaluate(readCard, 'gradient.png');
    assert.equal(labels.length, 5);
    assert.ok(labels.every((p) => /^LABEL_\d$/.test(p.label) && p.probability > 0 && p.probability < 1), JSON.stringify(labels));
    await page.screenshot({ path: join(ARTIFACTS, 'page-variant.png'), fullPage: true });
  } finally {
    writeFileSync(join(ARTIFACTS, 'page-variant.log'), logs.join('\n'));
    await page.close();
  }
});

test('a model runs at another input size on request, and back at its own', async () => {
  const { page, logs } = await openWithModel(env.browser, env.server.url, 'flex');
  try {
    const size = page.getByTestId('image-size');
    assert.equal(await size.inputValue(), '48');
    await size.fill('64');
    await size.dispatchEvent('change');
    await page.locator('#model-info').filter({ hasText: /64x64 input \(its own: 48x48; position embeddings resampled\)/ }).waitFor();
    await waitReady(page);
    await page.getByTestId('image-input').setInputFiles(image('grey.png'));
    await waitReady(page);
    const at64 = (await page.evaluate(readCard, 'grey.png')).labels;
    assert.ok(at64.length === 5 && at64.every((p) => p.probability > 0 && p.probability < 1), JSON.stringify(at64));
    // Not a multiple of the patch size: refused, and the model keeps its size.
    await size.fill('50');
    await size.dispatchEvent('change');
    await page.locator('#page-error').filter({ hasText: /cannot run this model at 50x50: the size must be a multiple of its patch size 8/ }).waitFor();
    assert.equal(await size.inputValue(), '64');
    // Back at its own size it is the model the reference computed.
    await size.fill('48');
    await size.dispatchEvent('change');
    await page.locator('#model-info').filter({ hasText: /48x48 input in 8x8 patches/ }).waitFor();
    await waitReady(page);
    await page.locator('[data-testid=result]').evaluateAll((cards) => cards.forEach((c) => c.remove()));
    await page.getByTestId('image-input').setInputFiles(image('grey.png'));
    await waitReady(page);
    assertLikeReference('grey.png', (await page.evaluate(readCard, 'grey.png')).labels, 'flex at its own size again');
    await page.screenshot({ path: join(ARTIFACTS, 'page-input-size.png'), fullPage: true });
  } finally {
    writeFileSync(join(ARTIFACTS, 'page-input-size.log'), logs.join('\n'));
    await page.close();
  }
});

test('a thread pool that never starts is given up on: the next build runs, and the page says why', async () => {
  const context = await env.browser.newContext();
  // The pool's workers fetch their script again as they start: those fetches never answer (as
  // in a worker Firefox froze), while the first, the build's own import, goes through.
  const seen = new Set();
  await context.route('**/snippets/*/src/workerHelpers.no-bundler.js', (route) => {
    const build = new URL(route.request().url()).pathname.split('/')[2];
    if (!seen.has(build)) {
      seen.add(build);
      return route.continue();
    }
  });
  const { page, logs } = await openPage(context, env.server.url, 90_000);
  try {
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    if (cores < 2) return;
    assert.deepEqual([...seen].sort(), ['pkg-threads', 'pkg-threads-relaxed'], 'each threaded build was tried');
    assert.equal(await page.getByTestId('threads').textContent(), `1 CPU thread (the threads build did not start: its ${cores} threads did not start within 10 s)`);
    assert.match(await page.getByTestId('cpu-kernel').getAttribute('title'), /^wasm build single/);
    await page.getByTestId('model-input').setInputFiles(TINY_MODEL);
    await waitReady(page);
    await page.getByTestId('image-input').setInputFiles([image('grey.png')]);
    await waitReady(page);
    assertLikeReference('grey.png', (await page.evaluate(readCard, 'grey.png')).labels, 'after the threaded builds were given up');
  } catch (e) {
    throw new Error(`${e.message}\n${logs.join('\n')}`, { cause: e });
  } finally {
    await context.close();
  }
});

test('on a phone: nothing wider than the screen, targets a finger can hit, the rear camera first and a switch', async () => {
  const browser = await launch({ webgpu: false, cameras: 2 });
  try {
    for (const width of [360, 390, 414]) {
      const context = await browser.newContext({ viewport: { width, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2, permissions: ['camera'] });
      const { page, logs } = await openPage(context, env.server.url);
      try {
        await page.getByTestId('model-input').setInputFiles(TINY_MODEL);
        await waitReady(page);
        await page.getByTestId('image-input').setInputFiles([image('grey.png'), image('gradient.png')]);
        await waitReady(page);
        assertLikeReference('grey.png', (await page.evaluate(readCard, 'grey.png')).labels, `at ${width} px`);

        // The webcam asks for the camera facing away from the person; the switch goes to the other.
        await page.getByTestId('camera-toggle').tap();
        await page.getByTestId('camera-video').locator('visible=true').waitFor();
        const track = () => page.getByTestId('camera-video').evaluate((v) => {
          const t = /** @type {MediaStream} */ (/** @type {HTMLVideoElement} */ (v).srcObject).getVideoTracks()[0];
          return { label: t.label, asked: t.getConstraints().facingMode ?? null };
        });
        const first = await track();
        assert.match(JSON.stringify(first.asked), /"environment"/);
        await page.getByTestId('camera-switch').tap();
        await page.waitForFunction((label) => {
          const now = document.getElementById('camera-video').srcObject?.getVideoTracks()[0];
          return now !== undefined && now.label !== label;
        }, first.label);
        assert.notEqual((await track()).label, first.label, 'the other camera');

        // A class card too (its name field and buttons).
        await page.locator('#add-class').tap();
        await page.locator('.class-card').first().waitFor();
        for (const source of ['source-pictures', 'source-cifar']) {
          await page.getByTestId(source).tap();
          const { scrollWidth, wide, coarse, small } = await page.evaluate((width) => ({
            scrollWidth: document.documentElement.scrollWidth,
            wide: [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > width + 0.5).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`),
            coarse: matchMedia('(pointer: coarse)').matches,
            small: [...document.querySelectorAll('button, select, .button, input[type=number], input[type=text], input:not([type])')]
              .filter((e) => e.checkVisibility() && e.getBoundingClientRect().height < 44)
              .map((e) => `${e.id || e.textContent}: ${e.getBoundingClientRect().height} px`),
          }), width);
          assert.equal(scrollWidth, width, `nothing wider than the ${width} px screen (${source}): ${wide.join(', ')}`);
          assert.ok(coarse, 'a phone points coarsely');
          assert.deepEqual(small, [], 'every control at least 44 px high');
        }
        await page.getByTestId('source-pictures').tap();
        await page.screenshot({ path: join(ARTIFACTS, `phone-${width}.png`), fullPage: true });
      } catch (e) {
        throw new Error(`${e.message}\n${logs.join('\n')}`, { cause: e });
      } finally {
        await context.close();
      }
    }
  } finally {
    await browser.close();
  }
});

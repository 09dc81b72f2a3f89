// Every CPU matmul kernel of every wasm build the page loads, in headless Chromium: the page
// times its build's kernels and keeps the fastest, which varies between CPUs, so each of them
// must classify like the reference, not only the one this machine picks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BUILDS, TINY_MODEL, assertLikeReference, image, openPage, readCard, serverAndBrowser, waitStatus } from './harness.mjs';

const env = serverAndBrowser();
const IMAGES = ['gradient.png', 'disc_rgba.png', 'checker.bmp'];

/// The page at `query` with the tiny model loaded, classifying IMAGES; returns what its kernel
/// line says (data-build, data-kernel, data-measured).
async function classify(query) {
  const context = await env.browser.newContext();
  const { page, logs } = await openPage(context, `${env.server.url}?${query}`);
  try {
    await page.getByTestId('model-input').setInputFiles(TINY_MODEL);
    await waitStatus(page, /^ready$/);
    await page.getByTestId('image-input').setInputFiles(IMAGES.map(image));
    await waitStatus(page, /^ready$/);
    for (const name of IMAGES) {
      assertLikeReference(name, (await page.evaluate(readCard, name)).labels, query);
    }
    const line = page.getByTestId('cpu-kernel');
    assert.equal(await line.isVisible(), true, 'the CPU kernel is shown');
    return { ...(await line.evaluate((el) => ({ ...el.dataset }))), text: await line.textContent() };
  } catch (e) {
    throw new Error(`${e.message}\n${logs.join('\n')}`, { cause: e });
  } finally {
    await context.close();
  }
}

for (const [build, query] of Object.entries(BUILDS)) {
  test(`every kernel of the ${build} build classifies like the reference`, async () => {
    // A fresh browser profile: the kernels are timed, and the chosen one (listed first) is used.
    const timed = await classify(query);
    assert.equal(timed.build, build);
    const kernels = JSON.parse(timed.measured).map((t) => t.kernel);
    assert.ok(kernels.length >= 2, `${build} has several kernels: ${timed.measured}`);
    assert.equal(timed.kernel, kernels[0], 'the chosen kernel is listed first');
    assert.match(timed.text, new RegExp(`^CPU kernel ${timed.kernel}: chosen from ${kernels.length} timed in this browser \\(\\d+\\.\\d GMAC/s\\)$`));
    for (const kernel of kernels.slice(1)) {
      const named = await classify(`${query}&kernel=${encodeURIComponent(kernel)}`);
      assert.equal(named.kernel, kernel);
      assert.equal(named.build, build);
    }
  });
}

// Times ViT-B/16 in the page, as a user gets it: headless Chromium, the README's server, the
// model downloaded from its server folder (first visit) and read from the browser's storage
// (a reload), one image classified repeatedly, then batches of eight.
//   node tests/bench/page.mjs DIR [--rows flex@1,flex@1/plain,flex@2,flex@2/plain,ndarray@1] [--runs 6] [--json out.json]
// A row is a backend at a thread count (`?threads=N`), on the page's relaxed-SIMD build unless
// `/plain` (`?relaxed=0`): one thread runs `www/pkg(-relaxed)`, more the threaded builds.
// DIR holds model.safetensors (+ configs), e.g. from tests/fixtures/generate.py --full DIR.
import { readFileSync } from 'node:fs';
import { image, openPage } from '../e2e/harness.mjs';
import { opt, ready, runBench } from './bench.mjs';

const runs = Number(opt('runs', 6));
const items = opt('rows', 'flex@1,flex@1/plain,flex@2,flex@2/plain,ndarray@1')
  .split(',')
  .map((row) => {
    const [, backend, threads, plain] = row.match(/^(\w+)@(\d+)(\/plain)?$/);
    return { backend, threads: Number(threads), relaxed: !plain };
  });

// WebGPU here is SwiftShader, a CPU emulation: timings need a real GPU, so the CPU backends only.
await runBench({ items }, async (browser, url, { backend, threads: n, relaxed }) => {
  const { page, logs } = await openPage(browser, `${url}?threads=${n}${relaxed ? '' : '&relaxed=0'}`, 600_000);
  await ready(page, logs);
  // Wasm memory never shrinks, so right after the load it is the load's peak.
  const wasmMemoryMb = Number(await page.locator('#model-info').getAttribute('data-wasm-memory')) / 1e6;
  const loadMs = Number(await page.locator('#model-info').getAttribute('data-load-ms'));
  // A second visit reads the model from the browser's storage (OPFS), where the first kept it
  // (written on after the model is ready: listed once it is all on disk).
  await page.getByTestId('stored-model').waitFor({ timeout: 120_000 });
  await page.reload();
  await ready(page, logs);
  const from = await page.locator('#model-info').getAttribute('data-from');
  if (from !== 'storage') throw new Error(`the second visit's model came from the ${from}, not from storage`);
  const storedLoadMs = Number(await page.locator('#model-info').getAttribute('data-load-ms'));
  const start = Date.now();
  await page.getByTestId('backend').selectOption(backend);
  await ready(page, logs);
  const switchMs = Date.now() - start;
  const kernel = page.getByTestId('cpu-kernel');
  // Drops files on the page; the first card's line once it is ready again ("N ms on …").
  const drop = async (files) => {
    await page.getByTestId('image-input').setInputFiles(files);
    await ready(page, logs);
    return page.locator('[data-testid=result] .meta').first().textContent();
  };
  const png = readFileSync(image('gradient.png'));
  const times = [];
  for (let i = 0; i < runs; i++) times.push(Number((await drop(image('gradient.png'))).match(/^([\d.]+) ms/)[1]));
  const warm = times.slice(1).sort((a, b) => a - b);
  // Eight images dropped at once go through in one forward pass; the best of three.
  const eight = Array.from({ length: 8 }, (_, i) => ({ name: `gradient-${i}.png`, mimeType: 'image/png', buffer: png }));
  const batch8 = [];
  for (let i = 0; i < 3; i++) batch8.push(Number((await drop(eight)).match(/\(8 images in one (\d+) ms pass\)/)[1]));
  const row = {
    backend,
    threads: n,
    build: await kernel.getAttribute('data-build'),
    kernel: backend === 'flex' ? await kernel.getAttribute('data-kernel') : null,
    // The model is loaded once per page, on the default backend (flex): other rows have none.
    load_ms: backend === 'flex' ? loadMs : null,
    stored_load_ms: backend === 'flex' ? storedLoadMs : null,
    first_ms: times[0],
    warm_median_ms: warm[Math.floor(warm.length / 2)],
    warm_min_ms: warm[0],
    batch8_images_per_s: +(8000 / Math.min(...batch8)).toFixed(2),
    switch_and_warm_up_ms: switchMs,
    wasm_memory_after_load_mb: backend === 'flex' ? Math.round(wasmMemoryMb) : null,
  };
  await page.close();
  return row;
});

// Times ViT-B/16 in the page, as a user gets it: headless Chromium, the README's server, the
// model read from its server folder, one image classified repeatedly on each backend, then
// batches of eight.
//   node tests/bench/page.mjs DIR [--backends flex,ndarray] [--threads 1,2] [--runs 6] [--json out.json]
// More than one thread is flex on the threaded build (ndarray stays on one).
// DIR holds model.safetensors (+ configs), e.g. from tests/fixtures/generate.py --full DIR.
import { readFileSync } from 'node:fs';
import { image, openPage } from '../e2e/harness.mjs';
import { opt, ready, runBench } from './bench.mjs';

const backends = opt('backends', 'flex,ndarray').split(',');
const runs = Number(opt('runs', 6));
const threads = opt('threads', '1,2').split(',').map(Number);
const items = backends.flatMap((backend) => (backend === 'flex' ? threads : [1]).map((n) => ({ backend, threads: n })));

// WebGPU here is SwiftShader, a CPU emulation: timings need a real GPU, so the CPU backends only.
await runBench({ items, webgpu: backends.includes('wgpu') }, async (browser, url, { backend, threads: n }) => {
  const { page, logs } = await openPage(browser, `${url}?threads=${n}`, 600_000);
  await ready(page, logs);
  // Wasm memory never shrinks, so right after the load it is the load's peak.
  const wasmMemoryMb = Number(await page.locator('#model-info').getAttribute('data-wasm-memory')) / 1e6;
  const loadMs = Number(await page.locator('#model-info').getAttribute('data-load-ms'));
  const start = Date.now();
  await page.getByTestId('backend').selectOption(backend);
  await ready(page, logs);
  const switchMs = Date.now() - start;
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
  await page.close();
  return {
    backend,
    threads: n,
    // The model is loaded once per page, on the default backend (flex): other rows have none.
    load_ms: backend === 'flex' ? loadMs : null,
    first_ms: times[0],
    warm_median_ms: warm[Math.floor(warm.length / 2)],
    warm_min_ms: warm[0],
    batch8_images_per_s: +(8000 / Math.min(...batch8)).toFixed(2),
    switch_and_warm_up_ms: switchMs,
    wasm_memory_after_load_mb: backend === 'flex' ? Math.round(wasmMemoryMb) : null,
  };
});

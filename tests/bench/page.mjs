// Times ViT-B/16 in the page, as a user gets it: headless Chromium, the README's server, the
// model read from its server folder, one image classified repeatedly on each backend.
//   node tests/bench/page.mjs DIR [--backends flex,ndarray] [--runs 6] [--json out.json]
// DIR holds model.safetensors (+ configs), e.g. from tests/fixtures/generate.py --full DIR.
import { writeFileSync } from 'node:fs';
import { image, launch } from '../e2e/harness.mjs';
import { ready as pageReady, serveWithModel } from './site.mjs';

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const backends = opt('backends', 'flex,ndarray').split(',');
const runs = Number(opt('runs', 6));

const server = await serveWithModel(args[0] ?? 'target/vit-b16-random');
// WebGPU here is SwiftShader, a CPU emulation: timings need a real GPU, so the CPU backends only.
const browser = await launch({ webgpu: backends.includes('wgpu') });
const results = [];
try {
  for (const backend of backends) {
    const page = await browser.newPage();
    const logs = [];
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(e.message));
    const ready = () => pageReady(page, logs);
    await page.goto(server.url);
    await ready();
    // Wasm memory never shrinks, so right after the load it is the load's peak.
    const wasmMemoryMb = Number(await page.locator('#model-info').getAttribute('data-wasm-memory')) / 1e6;
    const start = Date.now();
    await page.getByTestId('backend').selectOption(backend);
    await ready();
    const switchMs = Date.now() - start;
    const times = [];
    for (let i = 0; i < runs; i++) {
      await page.getByTestId('image-input').setInputFiles(image('gradient.png'));
      await ready();
      const meta = await page.locator('[data-testid=result] .meta').first().textContent();
      times.push(Number(meta.match(/^([\d.]+) ms/)[1]));
    }
    const warm = times.slice(1).sort((a, b) => a - b);
    const row = { backend, first_ms: times[0], warm_median_ms: warm[Math.floor(warm.length / 2)], warm_min_ms: warm[0], switch_and_warm_up_ms: switchMs, wasm_memory_after_load_mb: Math.round(wasmMemoryMb) };
    console.log(JSON.stringify(row));
    results.push(row);
    await page.close();
  }
} finally {
  await browser.close();
  server.stop();
}
if (opt('json')) writeFileSync(opt('json'), JSON.stringify(results, null, 2) + '\n');

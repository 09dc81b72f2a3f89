// Times onnxruntime-web on the same ViT-B/16 (DIR/model.onnx from export_onnx.py) in headless
// Chromium, served cross-origin isolated as the page is, at 1 and 2 threads.
//   node tests/bench/peer.mjs DIR [--threads 1,2] [--runs 6] [--json out.json]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, launch } from '../e2e/harness.mjs';
import { serveWithModel } from './site.mjs';

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const threads = opt('threads', '1,2').split(',').map(Number);
const runs = Number(opt('runs', 6));

const server = await serveWithModel(args[0] ?? 'target/vit-b16-random', {
  'peer.html': join(ROOT, 'tests', 'bench', 'peer.html'),
  ort: join(ROOT, 'node_modules', 'onnxruntime-web', 'dist'),
});
const browser = await launch({ webgpu: false });
const results = [];
try {
  for (const n of threads) {
    const page = await browser.newPage();
    await page.goto(`${server.url}weights/bench/peer.html?threads=${n}&runs=${runs}`);
    await page.waitForFunction(() => window.result, null, { timeout: 600_000, polling: 500 });
    const row = await page.evaluate(() => window.result);
    if (row.error) throw new Error(row.error);
    console.log(JSON.stringify(row));
    results.push(row);
    await page.close();
  }
} finally {
  await browser.close();
  server.stop();
}
if (opt('json')) writeFileSync(opt('json'), JSON.stringify(results, null, 2) + '\n');

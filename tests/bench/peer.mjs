// Times onnxruntime-web on the same ViT-B/16 (DIR/model.onnx from export_onnx.py) in headless
// Chromium, served cross-origin isolated as the page is, at 1 and 2 threads.
//   node tests/bench/peer.mjs DIR [--threads 1,2] [--runs 6] [--json out.json]
import { join } from 'node:path';
import { ROOT } from '../e2e/harness.mjs';
import { opt, runBench } from './bench.mjs';

const threads = opt('threads', '1,2').split(',').map(Number);
const runs = Number(opt('runs', 6));
const extra = {
  'peer.html': join(ROOT, 'tests', 'bench', 'peer.html'),
  ort: join(ROOT, 'node_modules', 'onnxruntime-web', 'dist'),
};

await runBench({ items: threads, extra }, async (browser, url, n) => {
  const page = await browser.newPage();
  await page.goto(`${url}weights/bench/peer.html?threads=${n}&runs=${runs}`);
  await page.waitForFunction(() => window.result, null, { timeout: 600_000, polling: 500 });
  const row = await page.evaluate(() => window.result);
  if (row.error) throw new Error(row.error);
  await page.close();
  return row;
});

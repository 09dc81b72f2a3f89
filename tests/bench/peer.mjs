// Times the peers on the same ViT-B/16 in headless Chromium, served cross-origin isolated as the
// page is, at 1 and 2 threads: onnxruntime-web (DIR/model.onnx from export_onnx.py) and LiteRT.js
// (DIR/model.tflite and model-b8.tflite from export_tflite.py).
//   node tests/bench/peer.mjs DIR [--runtimes ort,litert] [--threads 1,2] [--runs 6] [--json out.json]
import { join } from 'node:path';
import { ROOT } from '../e2e/harness.mjs';
import { opt, runBench } from './bench.mjs';

const runtimes = opt('runtimes', 'ort,litert').split(',');
const threads = opt('threads', '1,2').split(',').map(Number);
const runs = Number(opt('runs', 6));
const extra = {
  'peer.html': join(ROOT, 'tests', 'bench', 'peer.html'),
  ort: join(ROOT, 'node_modules', 'onnxruntime-web', 'dist'),
  litertjs: join(ROOT, 'node_modules', '@litertjs'),
};
const items = runtimes.flatMap((runtime) => threads.map((n) => ({ runtime, threads: n })));

await runBench({ items, extra }, async (browser, url, { runtime, threads: n }) => {
  const page = await browser.newPage();
  await page.goto(`${url}weights/bench/peer.html?runtime=${runtime}&threads=${n}&runs=${runs}`);
  await page.waitForFunction(() => window.result, null, { timeout: 600_000, polling: 500 });
  const row = await page.evaluate(() => window.result);
  if (row.error) throw new Error(row.error);
  await page.close();
  return { peer: runtime, ...row };
});

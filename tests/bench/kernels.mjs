// The CPU matmul kernels of each wasm build, as the page times them when it starts (one of
// ViT-B/16's dense layers' shapes, on one thread, best of several rounds), in headless Chromium:
// one Markdown row per build, fastest first. A fresh browser profile per build, so nothing is
// remembered from an earlier visit.
//   bash www/build.sh && node tests/bench/kernels.mjs [--rounds 3]
import { BUILDS, openPage, launch, startServer } from '../e2e/harness.mjs';
import { opt } from './bench.mjs';

const server = await startServer();
const browser = await launch({ webgpu: false });
try {
  console.log('| build | kernels, GMAC/s (the best of each page start) |');
  console.log('| --- | --- |');
  for (const [build, query] of Object.entries(BUILDS)) {
    const best = new Map();
    for (let i = 0; i < Number(opt('rounds', 3)); i++) {
      const context = await browser.newContext();
      const { page } = await openPage(context, `${server.url}?${query}&kernel=auto`);
      const line = page.getByTestId('cpu-kernel');
      await line.and(page.locator('[data-measured]')).waitFor({ state: 'attached' });
      for (const { kernel, gmacs } of JSON.parse(await line.getAttribute('data-measured'))) best.set(kernel, Math.max(best.get(kernel) ?? 0, gmacs));
      await context.close();
    }
    const row = [...best].sort((a, b) => b[1] - a[1]).map(([k, g]) => `${k} ${g.toFixed(1)}`);
    console.log(`| \`${build}\` | ${row.join(', ')} |`);
  }
} finally {
  await browser.close();
  server.stop();
}

// Where a forward pass's time goes: one of the page's wasm builds run on a page's own thread in
// headless Chromium, its CPU profile summed by function (self time), top rows printed.
//   bash www/build.sh && node tests/bench/profile.mjs DIR [--build pkg-relaxed] [--backend flex] [--kernel NAME] [--runs 4] [--top 20]
import { join } from 'node:path';
import { ROOT, image } from '../e2e/harness.mjs';
import { opt, runBench } from './bench.mjs';

const runs = Number(opt('runs', 4));
const query = new URLSearchParams({ build: opt('build', 'pkg-relaxed'), backend: opt('backend', 'flex'), ...(opt('kernel') ? { kernel: opt('kernel') } : {}) });
const extra = { 'profile.html': join(ROOT, 'tests', 'bench', 'profile.html'), 'gradient.png': image('gradient.png') };

await runBench({ items: [query], extra }, async (browser, url) => {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(e.message));
  await page.goto(`${url}weights/bench/profile.html?${query}`);
  await page.waitForFunction(() => window.classify, null, { timeout: 600_000, polling: 500 });
  await page.evaluate((n) => window.classify(n), 2); // past the baseline compiler
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  const forwardMs = await page.evaluate((n) => window.classify(n), runs);
  const { profile } = await cdp.send('Profiler.stop');
  const self = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id).callFrame;
    const name = (frame.functionName.replace(/::h[0-9a-f]{16}$/, '') || '(anonymous)') + (process.env.FRAMES ? ` @${frame.url.slice(-12)}:${frame.lineNumber}:${frame.columnNumber}` : '');
    self.set(name, (self.get(name) ?? 0) + profile.timeDeltas[i] / 1000);
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  console.log(`${runs} forward passes (${query}, kernel ${await page.evaluate(() => window.kernel)}), ${forwardMs.toFixed(0)} ms each; self time per function:`);
  for (const [name, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(opt('top', 20)))) {
    console.log(`${((ms / total) * 100).toFixed(1).padStart(5)}%  ${(ms / runs).toFixed(1).padStart(7)} ms/forward  ${name}`);
  }
  await page.close();
  return { forward_ms: forwardMs };
});

// Times live classification from the webcam in the page on ViT-B/16: Chromium's fake camera plays
// the test video (harness.mjs), "Classify live" runs with the model's own head, and the top-k
// updates over `--seconds` are counted (one frame at a time: the rate is the page's, frames
// taken while one is being classified are dropped). Flex at each thread count.
//   node tests/bench/live.mjs DIR [--threads 1,2] [--seconds 15] [--json out.json]
import { openPage } from '../e2e/harness.mjs';
import { opt, ready, runBench } from './bench.mjs';

const threads = opt('threads', '1,2').split(',').map(Number);
const seconds = Number(opt('seconds', 15));

await runBench({ items: threads.map((n) => ({ threads: n })), camera: true }, async (browser, url, { threads: n }) => {
  const context = await browser.newContext({ permissions: ['camera'] });
  const { page, logs } = await openPage(context, `${url}?threads=${n}`, 600_000);
  await ready(page, logs);
  await page.getByTestId('camera-toggle').click();
  await page.getByTestId('camera-video').locator('visible=true').waitFor();
  await page.getByTestId('camera-live').check();
  const updates = () => page.evaluate(() => Number(document.getElementById('live-labels').dataset.updates ?? 0));
  await page.waitForFunction(() => Number(document.getElementById('live-labels').dataset.updates) >= 2, null, { timeout: 120_000 });
  const [before, started] = [await updates(), Date.now()];
  await page.waitForTimeout(seconds * 1000);
  const [after, elapsed] = [await updates(), (Date.now() - started) / 1000];
  await context.close();
  return { backend: 'flex', threads: n, updates: after - before, seconds: +elapsed.toFixed(1), updates_per_s: +((after - before) / elapsed).toFixed(2) };
});

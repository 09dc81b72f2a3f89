// What the page benchmarks share: their options, the site with a model, Chromium, one JSON row
// per measured item printed and collected.
import { writeFileSync } from 'node:fs';
import { launch, serveWithModel } from '../e2e/harness.mjs';

const args = process.argv.slice(2);
/// `--name value` from the command line, or `fallback`.
export const opt = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
/// The model folder: the first argument (e.g. from tests/fixtures/generate.py --full DIR).
export const modelDir = args[0] && !args[0].startsWith('--') ? args[0] : 'target/vit-b16-random';

/// Serves the site (with `extra`, see serveWithModel), and for each of `items` prints and keeps
/// the row `measure(browser, url, item)` returns; writes them to `--json FILE` when given.
/// `camera`: Chromium's fake webcam (see launch).
export async function runBench({ items, webgpu = false, camera = false, extra = {} }, measure) {
  const server = await serveWithModel(modelDir, extra);
  const browser = await launch({ webgpu, camera });
  const rows = [];
  try {
    for (const item of items) {
      const row = await measure(browser, server.url, item);
      console.log(JSON.stringify(row));
      rows.push(row);
    }
  } finally {
    await browser.close();
    server.stop();
  }
  if (opt('json')) writeFileSync(opt('json'), JSON.stringify(rows, null, 2) + '\n');
  return rows;
}

/// Waits for the page's status to say ready, or throws with what the page says.
export async function ready(page, logs) {
  try {
    await page.getByTestId('status').filter({ hasText: /^ready$/ }).waitFor({ timeout: 600_000 });
  } catch (e) {
    const status = await page.getByTestId('status').textContent();
    const error = await page.locator('#page-error').textContent();
    throw new Error(`page not ready (status "${status}", error "${error}"): ${logs.join(' | ')}`, { cause: e });
  }
}

// The site as the README's server gives it, with a model in weights/vit-base-patch16-224/.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ROOT, startServer } from '../e2e/harness.mjs';

/// Serves index.html and www/ with `model` (a folder) as the server's model, and `extra`
/// ({ name: path }) under weights/bench/ (the only other folder the server serves); returns
/// { url, stop }.
export async function serveWithModel(model, extra = {}) {
  const site = mkdtempSync(join(tmpdir(), 'vit-bench-'));
  for (const entry of ['index.html', 'www']) symlinkSync(join(ROOT, entry), join(site, entry));
  mkdirSync(join(site, 'weights', 'bench'), { recursive: true });
  symlinkSync(resolve(model), join(site, 'weights', 'vit-base-patch16-224'));
  for (const [name, path] of Object.entries(extra)) symlinkSync(path, join(site, 'weights', 'bench', name));
  const server = await startServer(site);
  return {
    url: server.url,
    stop() {
      server.stop();
      rmSync(site, { recursive: true, force: true });
    },
  };
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

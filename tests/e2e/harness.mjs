// Shared by the page tests: the README's server, Debian's Chromium and Firefox ESR, and the
// reference outputs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = join(ROOT, 'tests', 'fixtures');
export const ARTIFACTS = join(ROOT, 'test-results');
mkdirSync(ARTIFACTS, { recursive: true });

/// Starts www/serve.mjs (what the README's serve command runs after building) on a free port,
/// with `mounts` ({ address: path }, see its --mount); `requests` collects its log ('GET /path 200').
export async function startServer(root = ROOT, mounts = {}) {
  const mounted = Object.entries(mounts).flatMap(([address, path]) => ['--mount', `${address}=${path}`]);
  const proc = spawn('node', [join(ROOT, 'www', 'serve.mjs'), '--root', root, '--port', '0', '--log', ...mounted], { stdio: ['ignore', 'pipe', 'inherit'] });
  const requests = [];
  const url = await new Promise((resolve, reject) => {
    let rest = '';
    proc.stdout.on('data', (d) => {
      const lines = (rest + d).split('\n');
      rest = lines.pop();
      for (const line of lines) {
        const m = line.match(/at (http:\/\/\S+)/);
        if (m) resolve(m[1]);
        else requests.push(line);
      }
    });
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { url, requests, stop: () => proc.kill() };
}

/// The site as www/serve.sh serves it, with `model` (a folder) where weights/download.sh puts the
/// real one, and `extra` ({ name: path }, files or folders) under weights/bench/; returns
/// { url, requests, stop }.
export async function serveWithModel(model, extra = {}) {
  const mounts = { '/weights/vit-base-patch16-224/': resolve(model) };
  for (const [name, path] of Object.entries(extra)) mounts[`/weights/bench/${name}${statSync(path).isDirectory() ? '/' : ''}`] = path;
  return startServer(ROOT, mounts);
}

/// A copy of the published site (site/, www/publish.mjs) with the tiny model where a model goes;
/// returns its folder.
export function siteWithModel() {
  const dir = mkdtempSync(join(tmpdir(), 'vit-site-'));
  cpSync(join(ROOT, 'site'), dir, { recursive: true });
  const weights = join(dir, 'weights', 'vit-base-patch16-224');
  mkdirSync(weights);
  for (const file of ['model.safetensors', 'config.json', 'preprocessor_config.json']) copyFileSync(join(FIXTURES, 'tiny_hf', file), join(weights, file));
  return dir;
}

/// Python's http.server over `dir`: a plain static server, no COOP/COEP; returns { url, stop }.
export async function plainServer(dir) {
  const proc = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', dir], { stdio: ['ignore', 'pipe', 'ignore'] });
  const url = await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      const m = String(d).match(/\(http:\/\/[^:]+:(\d+)\/\)/);
      if (m) resolve(`http://127.0.0.1:${m[1]}/`);
    });
    proc.on('exit', (code) => reject(new Error(`http.server exited with ${code}`)));
  });
  return { url, stop: () => proc.kill() };
}

/// Waits until the page's status matches `pattern`.
export const waitStatus = (page, pattern, timeout = 180_000) => page.getByTestId('status').filter({ hasText: pattern }).waitFor({ timeout });

/// A new page of `target` (a browser or a context) at `url`, its console kept in `logs`, once it
/// has started (with or without a model).
export async function openPage(target, url, timeout = 120_000) {
  const page = await target.newPage({ viewport: { width: 1200, height: 1000 } });
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(url);
  await waitStatus(page, /^(ready|no model loaded)$/, timeout);
  return { page, logs };
}

/// A new page as `openPage` gives it, on `backend`, with a model loaded through the file picker:
/// the tiny model unless `files` are given.
export async function openWithModel(target, url, backend, files = TINY_MODEL) {
  const { page, logs } = await openPage(target, url);
  await page.getByTestId('backend').selectOption(backend);
  await page.getByTestId('model-input').setInputFiles(files);
  await waitStatus(page, /^ready$/);
  return { page, logs };
}

/// A file of the synthetic CIFAR-10 (tests/fixtures/cifar).
export const CIFAR = (name) => join(FIXTURES, 'cifar', name);

/// The synthetic CIFAR-10's two training batches (400 images) and its test batch (200) into the
/// page's CIFAR-10 inputs, once the page has read them.
export async function uploadCifar(page) {
  await page.getByTestId('cifar-train-input').setInputFiles([CIFAR('data_batch_1.bin'), CIFAR('data_batch_2.bin')]);
  await page.locator('#train-info').filter({ hasText: /^400 images from data_batch_1\.bin, data_batch_2\.bin/ }).waitFor();
  await page.getByTestId('cifar-test-input').setInputFiles(CIFAR('test_batch.bin'));
  await page.locator('#test-info').filter({ hasText: /^200 images from test_batch\.bin/ }).waitFor();
}

/// Fine-tunes a head with the panel's options as they are but `epochs` and `lr`: starts the run
/// and waits for its test accuracy. Returns { accuracy, computed } (the features computed).
export async function trainHead(page, { epochs, lr }) {
  await page.getByTestId('finetune-epochs').fill(String(epochs));
  await page.getByTestId('finetune-batch-size').fill('32');
  await page.getByTestId('finetune-lr').fill(String(lr));
  // The click disables the button at once, and the run enables it again once its accuracy (or
  // error) is shown: the previous run's stay on the page until this one has checked its options.
  await page.getByTestId('finetune-start').click();
  await page.waitForFunction(
    () =>
      !(/** @type {HTMLButtonElement} */ (document.querySelector('[data-testid=finetune-start]')).disabled) &&
      (/\d/.test(document.querySelector('[data-testid=finetune-accuracy]').textContent) || !document.querySelector('[data-testid=finetune-error]').hidden),
    null,
    { timeout: 300_000, polling: 100 },
  );
  const error = page.getByTestId('finetune-error');
  assert.equal(await error.isVisible(), false, await error.textContent());
  return {
    accuracy: Number(await page.getByTestId('finetune-accuracy').textContent()),
    computed: Number(await page.getByTestId('finetune-summary').getAttribute('data-computed')),
  };
}

/// What the page keeps in OPFS (model_store.js): { id: [file names] }.
export const keptModels = (page) =>
  page.evaluate(async () => {
    const models = await (await navigator.storage.getDirectory()).getDirectoryHandle('models', { create: true });
    const out = {};
    for await (const [id, dir] of models.entries()) {
      out[id] = [];
      for await (const [name] of dir.entries()) out[id].push(name);
      out[id].sort();
    }
    return out;
  });

/// Classifies the image file `path` alone (the cards before it removed): its top-k as
/// [{ label, probability }].
export async function classifyFile(page, path) {
  await page.locator('[data-testid=result]').evaluateAll((cards) => cards.forEach((c) => c.remove()));
  await page.getByTestId('image-input').setInputFiles(path);
  const card = page.locator('[data-testid=result]').first();
  await card.getByTestId('probability').first().waitFor();
  const labels = await card.getByTestId('label').allTextContents();
  const probabilities = await card.getByTestId('probability').evaluateAll((els) => els.map((e) => Number(e.dataset.value)));
  return labels.map((label, i) => ({ label, probability: probabilities[i] }));
}

/// Debian's Chromium; with `webgpu`, WebGPU through SwiftShader; with `camera`, a fake webcam
/// playing `fakeCameraVideo()`, or with `cameras` that many fake webcams of Chromium's own
/// pattern (a phone's two), to contexts granted the camera permission.
export async function launch({ webgpu = true, camera = false, cameras = 0 } = {}) {
  const cameraArgs = camera
    ? ['--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${fakeCameraVideo()}`]
    : cameras
      ? [`--use-fake-device-for-media-stream=device-count=${cameras}`]
      : [];
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [...(webgpu ? ['--enable-unsafe-webgpu'] : []), ...cameraArgs, '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/// A y4m video for Chromium's fake camera, which plays it in a loop: 3 s of a red disc moving
/// over a grey background, then 3 s of blue stripes, at 10 frames a second. Returns its path.
export function fakeCameraVideo() {
  const [w, h, fps, per] = [160, 120, 10, 30];
  const yuv = ([r, g, b]) => [0.299 * r + 0.587 * g + 0.114 * b, 128 - 0.168736 * r - 0.331264 * g + 0.5 * b, 128 + 0.5 * r - 0.418688 * g - 0.081312 * b].map(Math.round);
  const grey = yuv([128, 128, 128]);
  const parts = [Buffer.from(`YUV4MPEG2 W${w} H${h} F${fps}:1 Ip A1:1 C420jpeg\n`)];
  for (let f = 0; f < 2 * per; f++) {
    const disc = f < per;
    const color = disc ? yuv([230, 40, 40]) : yuv([40, 70, 230]);
    const [cx, cy] = [50 + 2 * (f % per), 60];
    const at = (x, y) => (disc ? (x - cx) ** 2 + (y - cy) ** 2 < 30 ** 2 : (x + f) % 16 < 8);
    const planes = [new Uint8Array(w * h), new Uint8Array((w / 2) * (h / 2)), new Uint8Array((w / 2) * (h / 2))];
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) planes[0][y * w + x] = (at(x, y) ? color : grey)[0];
    for (let y = 0; y < h / 2; y++) for (let x = 0; x < w / 2; x++) for (const c of [1, 2]) planes[c][y * (w / 2) + x] = (at(2 * x, 2 * y) ? color : grey)[c];
    parts.push(Buffer.from('FRAME\n'), ...planes.map((p) => Buffer.from(p)));
  }
  const path = join(mkdtempSync(join(tmpdir(), 'vit-camera-')), 'camera.y4m');
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

/// Debian's Firefox ESR, driven by puppeteer-core over WebDriver BiDi (Playwright drives only its
/// own patched Firefox, which cannot be installed here).
export async function launchFirefox() {
  return puppeteer.launch({ browser: 'firefox', executablePath: process.env.FIREFOX ?? '/usr/bin/firefox-esr', headless: true, protocol: 'webDriverBiDi' });
}

/// For a test file: `start()` (a server) and a browser (Chromium unless `browser` launches
/// another) before its tests, both stopped after. Returns an object that holds { server,
/// browser } once they run.
export function serverAndBrowser(start = () => startServer(), browser = launch) {
  const env = {};
  before(async () => {
    env.server = await start();
    env.browser = await browser();
  });
  after(async () => {
    await env.browser?.close();
    env.server?.stop();
  });
  return env;
}

/// Reads a float32 tensor from tests/fixtures/reference.safetensors.
export function reference(key) {
  const bytes = readFileSync(join(FIXTURES, 'reference.safetensors'));
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString());
  const [start, end] = header[key].data_offsets;
  const data = bytes.subarray(8 + n + start, 8 + n + end);
  return Array.from({ length: data.length / 4 }, (_, i) => data.readFloatLE(i * 4));
}

/// The reference top-k (label, probability) for one image's logits.
export function referenceTopK(image, labels, k = 5) {
  const logits = reference(`${image.replace('.', '_')}.hf.logits`);
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  const sum = exps.reduce((a, b) => a + b);
  return exps
    .map((e, i) => ({ label: labels[i], probability: e / sum }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, k);
}

/// Fixture images every decoder reads to the same pixels, so their outputs must match the reference.
export const LOSSLESS = ['gradient.png', 'disc_rgba.png', 'grey.png', 'noise.webp', 'checker.bmp'];

/// Asserts the page's top-k for fixture `name` ([{ label, probability }]) has the reference's labels
/// in its order, each probability within 1e-4; `where` names the run in failures.
export function assertLikeReference(name, ours, where) {
  const theirs = referenceTopK(name, TINY_LABELS);
  assert.deepEqual(ours.map((p) => p.label), theirs.map((p) => p.label), `${name} labels on ${where}`);
  ours.forEach((p, i) => assert.ok(Math.abs(p.probability - theirs[i].probability) < 1e-4, `${name} ${p.label} on ${where}: ${p.probability} vs ${theirs[i].probability}`));
}

/// Runs in the page (pass it to Playwright's or Puppeteer's `page.evaluate`): the result card of
/// `file` as { labels: [{ label, probability }], meta, error }.
export function readCard(file) {
  const card = [...document.querySelectorAll('[data-testid=result]')].find((el) => el.dataset.file === file);
  const labels = [...card.querySelectorAll('[data-testid=label]')].map((el, i) => ({ label: el.textContent, probability: Number(card.querySelectorAll('[data-testid=probability]')[i].dataset.value) }));
  return { labels, meta: card.querySelector('.meta').textContent, error: card.querySelector('[data-testid=error]')?.textContent ?? null };
}

/// The page's four wasm builds, and the address that picks each in headless Chromium here
/// (relaxed SIMD validates, the server is cross-origin isolated, there are two cores or more).
export const BUILDS = { single: 'threads=1&relaxed=0', 'single-relaxed': 'threads=1', threads: 'threads=2&relaxed=0', 'threads-relaxed': 'threads=2' };

export const TINY_MODEL = ['model.safetensors', 'config.json', 'preprocessor_config.json'].map((f) => join(FIXTURES, 'tiny_hf', f));
export const TINY_LABELS = JSON.parse(readFileSync(join(FIXTURES, 'reference.json'))).labels;
export const image = (name) => join(FIXTURES, 'images', name);

// Models by their Hugging Face hub name, against the stand-in hub (tests/hub/server.mjs: the
// hub's URLs, redirects to its CDN, CORS and error codes): a page with no model offers
// google/vit-base-patch16-224 in one click, keeps it, and a later visit reads it from storage
// without a request; `?model=` loads a model by its id (and revision); the field takes ids, and
// what cannot be loaded (gated, missing, pickles only, not a ViT, not an id) is named.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startHub } from '../hub/server.mjs';
import { ARTIFACTS, FIXTURES, TINY_LABELS, TINY_MODEL, assertLikeReference, classifyFile, image, keptModels, launch, openPage, startServer, waitStatus } from './harness.mjs';

const DEFAULT = 'google/vit-base-patch16-224';
const TIMM = 'timm/vit_tiny_test.fixture';
const ready = (page) => waitStatus(page, /^ready$/);

/** A safetensors file whose one tensor no ViT has. */
function notVit() {
  const header = Buffer.from(JSON.stringify({ 'bert.embeddings.word_embeddings.weight': { dtype: 'F32', shape: [4, 2], data_offsets: [0, 32] } }));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([length, header, Buffer.alloc(32)]);
}

const env = {};
before(async () => {
  const root = mkdtempSync(join(tmpdir(), 'vit-hub-page-'));
  /** A repo folder with `files` ({ name: bytes }). */
  const repo = (name, files) => {
    const dir = join(root, name);
    mkdirSync(dir);
    for (const [file, bytes] of Object.entries(files)) writeFileSync(join(dir, file), bytes);
    return dir;
  };
  const config = join(FIXTURES, 'tiny_hf', 'config.json');
  const pickles = repo('pickles', { 'pytorch_model.bin': 'PK\x03\x04 a pickle' });
  copyFileSync(config, join(pickles, 'config.json'));
  env.hub = await startHub({
    repos: {
      [DEFAULT]: join(FIXTURES, 'tiny_hf'),
      [TIMM]: join(FIXTURES, 'tiny_timm'),
      'org/pickles': pickles,
      'org/not-vit': repo('not-vit', { 'model.safetensors': notVit(), 'config.json': '{"model_type": "bert"}' }),
    },
    gated: ['org/gated'],
  });
  // The page's server has no model of its own, as on a static host.
  env.server = await startServer(undefined, { '/weights/vit-base-patch16-224/': repo('empty', {}) });
  env.browser = await launch();
});
after(async () => {
  await env.browser?.close();
  env.server?.stop();
  await env.hub?.close();
});

/** A browser context whose pages use the stand-in hub. */
async function hubContext() {
  const context = await env.browser.newContext();
  await context.addInitScript((endpoint) => {
    globalThis.VIT_HUB_ENDPOINT = endpoint;
  }, env.hub.endpoint);
  return context;
}

/** The hub requests made since `from` (an index into its log). */
const requestsSince = (from) => env.hub.requests.slice(from);


const classifyGrey = (page) => classifyFile(page, image('grey.png'));

test('a page without a model offers the hub model in one click, keeps it, and starts from it offline', async () => {
  const context = await hubContext();
  const { page } = await openPage(context, env.server.url);
  await page.locator('#model-info').filter({ hasText: /^No model on this server/ }).waitFor();
  assert.match(await page.locator('#model-info').textContent(), /^No model on this server\. Load one from the Hugging Face hub, or drop or choose a model below\.$/);
  const offer = page.getByTestId('hub-offer');
  assert.equal(await offer.textContent(), `Load ${DEFAULT} from the Hugging Face hub (346 MB)`);
  await page.screenshot({ path: join(ARTIFACTS, 'page-hub-offer.png'), fullPage: true });

  const from = env.hub.requests.length;
  await offer.click();
  await ready(page);
  assert.match(await page.locator('#model-info').textContent(), /^google\/vit-base-patch16-224 \(Hugging Face hub\): ViT with 2 layers, 3 heads.* Loaded in [\d.]+ m?s, downloaded\.$/);
  assert.equal(await offer.isHidden(), true);
  // The weights through the hub's redirect to its CDN, once; the configs from resolve URLs.
  const asked = requestsSince(from);
  assert.deepEqual(asked.filter((r) => r.startsWith('GET /cdn/')).length, 1, asked.join('\n'));
  for (const file of ['model.safetensors', 'config.json', 'preprocessor_config.json']) assert.ok(asked.includes(`GET /${DEFAULT}/resolve/main/${file}`), file);
  assertLikeReference('grey.png', await classifyGrey(page), 'the hub model');
  // The address names the model, so that it can be shared.
  assert.equal(new URL(page.url()).searchParams.get('model'), DEFAULT);

  // Kept under its id and revision, listed by name.
  const row = page.getByTestId('stored-model');
  await row.waitFor();
  assert.match(await row.textContent(), /^google\/vit-base-patch16-224 \(Hugging Face hub\): \d+ kB \(in use\)Remove$/);
  assert.deepEqual(await keptModels(page), { [`hub:${encodeURIComponent(`${DEFAULT}@main`)}`]: ['config.json', 'manifest.json', 'model.safetensors', 'preprocessor_config.json'] });
  await page.screenshot({ path: join(ARTIFACTS, 'page-hub.png'), fullPage: true });

  // The shared address, again: from storage, without asking the hub anything.
  const before = env.hub.requests.length;
  await page.reload();
  await ready(page);
  assert.match(await page.locator('#model-info').textContent(), /^google\/vit-base-patch16-224 \(Hugging Face hub\): .* read from this browser's storage\.$/);
  assert.deepEqual(requestsSince(before), []);
  // And a visit without `?model=` starts with the model used last.
  await page.goto(env.server.url);
  await ready(page);
  assert.match(await page.locator('#model-info').textContent(), /^google\/vit-base-patch16-224 \(Hugging Face hub\): .* read from this browser's storage\.$/);
  assert.deepEqual(requestsSince(before), []);
  assert.equal(new URL(page.url()).searchParams.get('model'), DEFAULT);
  // A dropped model: the address no longer names the hub's.
  await page.getByTestId('model-input').setInputFiles(TINY_MODEL);
  await page.locator('#model-info').filter({ hasText: /^model\.safetensors: ViT/ }).waitFor();
  assert.equal(new URL(page.url()).search, '');
  await context.close();
});

test('?model= loads a model by id and revision; what cannot be loaded is named, and the page keeps working', async () => {
  const context = await hubContext();
  const commit = createHash('sha1').update('org/gated').digest('hex');
  const { page } = await openPage(context, `${env.server.url}?model=org/gated&revision=${commit}`);
  const error = page.getByTestId('error');
  // (The page may say "no model loaded" before it has asked the hub.)
  await page.locator('#model-info').filter({ hasText: /^No model loaded\./ }).waitFor();
  assert.match(await error.textContent(), /^org\/gated is gated: accept its terms on http:\/\/127\.0\.0\.1:\d+\/org\/gated, then download it \(vit download org\/gated\) and drop its folder here; this page takes no tokens$/);
  assert.match(await page.locator('#model-info').textContent(), /^No model loaded\. Load one from the Hugging Face hub, or drop or choose a model below\.$/);
  assert.equal(await page.getByTestId('hub-offer').isVisible(), true);
  await page.getByTestId('storage-summary').filter({ hasText: /^Nothing is kept in this browser\./ }).waitFor();

  /** Loads `id` through the field; the error it gives. */
  const refused = async (id) => {
    const previous = await error.textContent();
    await page.getByTestId('hub-model').fill(id);
    await page.getByTestId('hub-load').click();
    await page.waitForFunction((previous) => {
      const shown = /** @type {HTMLElement} */ (document.getElementById('page-error'));
      return !shown.hidden && shown.textContent !== previous;
    }, previous);
    await waitStatus(page, /^no model loaded$/);
    return error.textContent();
  };
  assert.equal(await refused('org/missing'), 'org/missing: no such model on the Hugging Face hub, or it is private or gated (this page takes no tokens)');
  const picklesFrom = env.hub.requests.length;
  assert.equal(await refused('org/pickles'), 'org/pickles has only PyTorch pickles (pytorch_model.bin); this page reads safetensors, which cannot run code');
  assert.ok(!requestsSince(picklesFrom).some((r) => r.startsWith('GET') && r.includes('pytorch_model.bin')), 'a pickle is never downloaded');
  assert.match(await refused('org/not-vit'), /^org\/not-vit: /);
  const before = env.hub.requests.length;
  assert.match(await refused('not an id!'), /^"not an id!" is not a Hugging Face model id \(ORG\/NAME, such as google\/vit-base-patch16-224\)$/);
  assert.match(await refused(`${DEFAULT}@no-such-branch`), /^google\/vit-base-patch16-224 has no revision "no-such-branch"$/);
  assert.deepEqual(requestsSince(before).filter((r) => !r.includes('no-such-branch')), [], 'an invalid id makes no request');
  assert.deepEqual(await keptModels(page), {}, 'nothing that failed is kept');
  await page.screenshot({ path: join(ARTIFACTS, 'page-hub-errors.png'), fullPage: true });

  // timm's layout, at a commit, by the address.
  const timmCommit = createHash('sha1').update(TIMM).digest('hex');
  await page.goto(`${env.server.url}?model=${TIMM}&revision=${timmCommit}`);
  await ready(page);
  assert.equal(await error.isHidden(), true);
  assert.match(await page.locator('#model-info').textContent(), new RegExp(`^${TIMM.replace('.', '\\.')}@${timmCommit} \\(Hugging Face hub\\): ViT with 2 layers.* downloaded\\.$`));
  const top = await classifyGrey(page);
  assert.equal(top.length, 5);
  for (const { label, probability } of top) assert.ok(TINY_LABELS.includes(label) && probability > 0 && probability < 1, `${label} ${probability}`);
  assert.deepEqual(Object.keys(await keptModels(page)), [`hub:${encodeURIComponent(`${TIMM}@${timmCommit}`)}`]);
  await context.close();
});

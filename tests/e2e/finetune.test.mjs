// Fine-tuning in the page, end to end: upload the synthetic CIFAR-10 batches, extract features,
// train, see the charts and the accuracy, export the head, reload, import it and classify with it.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, CIFAR, FIXTURES, TINY_LABELS, TINY_MODEL, classifyFile, image, openWithModel, serverAndBrowser, trainHead, uploadCifar, waitStatus } from './harness.mjs';

const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

const env = serverAndBrowser();

async function finetune(page, { samples = 300, testSamples = 200, epochs = 4, lr = 0.01 } = {}) {
  await page.getByTestId('finetune-samples').fill(String(samples));
  await page.getByTestId('finetune-test-samples').fill(String(testSamples));
  return trainHead(page, { epochs, lr });
}

const classifyGrey = (page) => classifyFile(page, image('grey.png'));

for (const backend of ['wgpu', 'flex']) {
  test(`fine-tunes a CIFAR-10 head on ${backend}, exports it and imports it after a reload`, async () => {
    const context = await env.browser.newContext({ acceptDownloads: true });
    let { page, logs } = await openWithModel(context, env.server.url, backend);
    const saveLogs = () => writeFileSync(join(ARTIFACTS, `finetune-${backend}.log`), logs.join('\n'));
    try {
      await uploadCifar(page);
      const preview = page.getByTestId('cifar-preview');
      assert.deepEqual(await preview.locator('.class-name').allTextContents(), CLASSES);
      assert.equal(await preview.locator('canvas').count(), 80);

      // Cancelling at once keeps the few features computed before the cancel was heard.
      await page.evaluate(() => {
        document.querySelector('[data-testid=finetune-start]').click();
        document.querySelector('[data-testid=finetune-cancel]').click();
      });
      await page.getByTestId('finetune-summary').filter({ hasText: /^Cancelled/ }).waitFor();
      assert.equal(await page.getByTestId('finetune-start').isEnabled(), true);

      const first = await finetune(page);
      assert.ok(first.accuracy >= 85, `test accuracy ${first.accuracy}% on ${backend}`);
      assert.ok(first.computed > 0 && first.computed < 500, `computed ${first.computed} after the cancel`);
      // 4 epochs of ceil(300 / 32) = 10 steps; train and test accuracy for each epoch.
      assert.equal(await page.getByTestId('loss-chart').getAttribute('data-points'), '40');
      assert.equal(await page.getByTestId('accuracy-chart').getAttribute('data-points'), '8');
      assert.equal(await page.locator('#epoch-log tbody tr').count(), 4);
      const confusion = await page.locator('[data-testid=confusion] tbody tr').evaluateAll((rows) =>
        rows.map((r) => [...r.cells].slice(1).map((c) => Number(c.textContent))),
      );
      assert.equal(confusion.length, 10);
      const right = confusion.reduce((n, row, i) => n + row[i], 0);
      assert.equal(confusion.flat().reduce((a, b) => a + b), 200);
      assert.ok(Math.abs((right / 200) * 100 - first.accuracy) < 0.051, `${right}/200 vs ${first.accuracy}%`);
      assert.equal(await page.locator('[data-testid=misclassified] figure').count(), Math.min(12, 200 - right));
      await page.screenshot({ path: join(ARTIFACTS, `finetune-${backend}.png`), fullPage: true });

      // Another learning rate and more epochs: the features come from memory, not the model.
      const second = await finetune(page, { epochs: 2, lr: 0.02 });
      assert.equal(second.computed, 0);
      assert.match(await page.getByTestId('finetune-summary').textContent(), /all from the cache/);

      // The new head classifies dropped images with CIFAR-10's labels.
      assert.equal(await page.getByTestId('head-select').inputValue(), 'trained');
      const trained = await classifyGrey(page);
      assert.ok(trained.every((p) => CLASSES.includes(p.label)), JSON.stringify(trained));

      const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('head-export').click()]);
      assert.equal(download.suggestedFilename(), 'cifar10-head.safetensors');
      const headPath = join(ARTIFACTS, `head-${backend}.safetensors`);
      await download.saveAs(headPath);
      assert.ok(readFileSync(headPath).length < 4096);

      // A reload: the head comes back from the file, the features from IndexedDB.
      await page.close();
      ({ page, logs } = await openWithModel(context, env.server.url, backend));
      // (Playwright's isDisabled() does not look at <option>.)
      assert.equal(await page.locator('[data-testid=head-select] option[value=trained]').evaluate((o) => o.disabled), true);
      await page.getByTestId('head-import').setInputFiles(headPath);
      await page.getByTestId('head-select').filter({ has: page.locator('option[value=trained]:not([disabled])') }).waitFor();
      await page.getByTestId('head-select').selectOption('trained');
      const imported = await classifyGrey(page);
      assert.deepEqual(imported.map((p) => p.label), trained.map((p) => p.label));
      imported.forEach((p, i) => assert.ok(Math.abs(p.probability - trained[i].probability) < 1e-6, `${p.label}: ${p.probability} vs ${trained[i].probability}`));

      await page.getByTestId('head-select').selectOption('original');
      const original = await classifyGrey(page);
      assert.ok(original.every((p) => TINY_LABELS.includes(p.label)), JSON.stringify(original));

      await uploadCifar(page);
      const again = await finetune(page, { epochs: 1 });
      assert.equal(again.computed, 0, 'features from IndexedDB after the reload');
    } finally {
      saveLogs();
      await context.close();
    }
  });
}

test('bad CIFAR-10 files and bad heads get errors that name them; the rest loads', async () => {
  const context = await env.browser.newContext();
  const { page, logs } = await openWithModel(context, env.server.url, 'flex');
  try {
    await page.getByTestId('cifar-train-input').setInputFiles([CIFAR('malformed/partial_record.bin'), CIFAR('data_batch_1.bin'), CIFAR('malformed/bad_label.bin')]);
    await page.locator('#train-info').filter({ hasText: /^200 images from data_batch_1\.bin/ }).waitFor();
    const error = page.getByTestId('cifar-error');
    assert.equal(
      await error.textContent(),
      'partial_record.bin: 9119 bytes is not a whole number of 3073-byte CIFAR-10 records (1 label byte + 3072 pixels)\n' +
        'bad_label.bin: record 1 has label 12; CIFAR-10 labels are 0 to 9',
    );
    await page.getByTestId('cifar-test-input').setInputFiles(CIFAR('malformed/corrupt.tar.gz'));
    await error.filter({ hasText: /^corrupt\.tar\.gz: not a readable CIFAR-10 archive/ }).waitFor();
    // Files built to exhaust memory or the stack: an error each, and the tab goes on.
    await page.getByTestId('cifar-test-input').setInputFiles(['too_big.tar.gz', 'dup_bomb.tar.gz', 'deep_pickle'].map((f) => CIFAR(`hostile/${f}`)));
    await error.filter({ hasText: /^too_big\.tar\.gz: not a readable CIFAR-10 archive \(.*larger than 256 MB uncompressed/ }).waitFor();
    assert.match(await error.textContent(), /\ndup_bomb\.tar\.gz\/cifar-10-batches-py\/data_batch_1: not a CIFAR-10 Python batch \(a container changed after it was put into another\)\ndeep_pickle: not a CIFAR-10 Python batch \(it nests deeper than 32 levels\)$/);
    assert.equal(await page.getByTestId('finetune-start').isDisabled(), true);

    // A tarball holding both splits fills both.
    await page.getByTestId('cifar-train-input').setInputFiles(CIFAR('cifar-10-python.tar.gz'));
    await page.locator('#test-info').filter({ hasText: /^200 images from cifar-10-python\.tar\.gz\/cifar-10-batches-py\/test_batch / }).waitFor();
    assert.match(await page.locator('#train-info').textContent(), /^400 images from /);
    assert.equal(await page.getByTestId('finetune-start').isEnabled(), true);

    await page.getByTestId('head-import').setInputFiles(TINY_MODEL[0]);
    await page.getByTestId('head-error').filter({ hasText: /^model\.safetensors: / }).waitFor();
    await page.getByTestId('finetune-lr').fill('-1');
    await page.getByTestId('finetune-start').click();
    await page.getByTestId('finetune-error').filter({ hasText: /^The learning rate must be a positive number$/ }).waitFor();
    // The page still classifies.
    assert.ok((await classifyGrey(page)).length === 5);
    await page.screenshot({ path: join(ARTIFACTS, 'finetune-errors.png'), fullPage: true });
  } finally {
    writeFileSync(join(ARTIFACTS, 'finetune-errors.log'), logs.join('\n'));
    await context.close();
  }
});

test('a worker that dies with several calls pending is replaced once, and the page goes on', async () => {
  const context = await env.browser.newContext();
  const { page, logs } = await openWithModel(context, env.server.url, 'flex');
  try {
    await uploadCifar(page);
    const modelWorker = (w) => /\/worker\.js\?build=/.test(w.url());
    const started = [];
    page.on('worker', (w) => modelWorker(w) && started.push(w.url()));
    // Feature extraction and a classification both waiting on the worker when it dies.
    await page.getByTestId('finetune-samples').fill('400');
    await page.getByTestId('finetune-test-samples').fill('200');
    await page.getByTestId('finetune-start').click();
    await page.getByTestId('finetune-progress').locator('visible=true').waitFor();
    await page.getByTestId('image-input').setInputFiles(image('grey.png'));
    // An exception nothing catches: the worker's error event, as a trap outside a call gives.
    await page.workers().find(modelWorker).evaluate(() => queueMicrotask(() => { throw new Error('the worker died (test)'); }));
    await page.locator('#page-error').filter({ hasText: /Switched to the CPU backend\.$/ }).waitFor();
    await waitStatus(page, /^ready$/);
    assert.match(await page.getByTestId('finetune-error').textContent(), /the worker died \(test\)/);
    assert.deepEqual(started.length, 1, `one new worker, not one per failed call: ${started.join(', ')}`);
    // The new worker has the model and the data: it classifies and fine-tunes.
    assert.equal((await classifyGrey(page)).length, 5);
    assert.ok((await finetune(page, { epochs: 1 })).accuracy >= 0);
    assert.equal(started.length, 1);
  } finally {
    writeFileSync(join(ARTIFACTS, 'finetune-crash.log'), logs.join('\n'));
    await context.close();
  }
});

test('a backbone without a head says so, fine-tunes, and classifies with the head it trained', async () => {
  const context = await env.browser.newContext();
  // Hugging Face's `ViTModel` layout: no `vit.` prefix, a pooler, no classifier.
  const headless = ['model.safetensors', 'config.json', 'preprocessor_config.json'].map((f) => join(FIXTURES, 'tiny_hf_headless', f));
  const { page, logs } = await openWithModel(context, env.server.url, 'flex', headless);
  try {
    assert.match(await page.locator('#model-info').textContent(), /3 heads, .* no classification head \(a backbone for fine-tuning: train a head below or import one\)/);
    assert.equal(await page.locator('[data-testid=head-select] option[value=original]').evaluate((o) => o.disabled), true);
    await page.getByTestId('image-input').setInputFiles(image('grey.png'));
    await waitStatus(page, /^ready$/);
    assert.match(await page.locator('[data-testid=result][data-file="grey.png"] [data-testid=error]').textContent(), /this model has no classification head/);

    await uploadCifar(page);
    await finetune(page, { epochs: 2 });
    assert.equal(await page.getByTestId('head-select').inputValue(), 'trained');
    const trained = await classifyGrey(page);
    assert.ok(trained.length === 5 && trained.every((p) => CLASSES.includes(p.label)), JSON.stringify(trained));
    await page.screenshot({ path: join(ARTIFACTS, 'finetune-headless.png'), fullPage: true });
  } finally {
    writeFileSync(join(ARTIFACTS, 'finetune-headless.log'), logs.join('\n'));
    await context.close();
  }
});

// Teaching the page your own classes: a folder of class folders, archives of one, class cards
// edited by hand, the webcam (Chromium's fake camera playing a generated video) and live
// classification; training on them, the results with the class names, and the head exported and
// imported again.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, FIXTURES, classifyFile, launch, openWithModel, serverAndBrowser, trainHead } from './harness.mjs';

const PICTURES = join(FIXTURES, 'pictures');
const CLASSES = ['disc', 'square', 'stripes'];

const env = serverAndBrowser();

/// The class cards as [{ name, count, thumbs }].
const cards = (page) =>
  page.getByTestId('class-card').evaluateAll((els) =>
    els.map((el) => ({ name: el.querySelector('[data-testid=class-name]').value, count: el.querySelector('[data-testid=class-count]').textContent, thumbs: el.querySelectorAll('canvas').length })),
  );

/// Waits until the cards are `names`, each with its thumbnails drawn.
async function waitCards(page, names) {
  await page.waitForFunction(
    (want) => {
      const els = [...document.querySelectorAll('[data-testid=class-card]')];
      return JSON.stringify(els.map((el) => el.querySelector('[data-testid=class-name]').value)) === JSON.stringify(want) && els.every((el) => el.querySelector('canvas') || !el.querySelector('[data-testid=class-count]').textContent.match(/^[1-9]/));
    },
    names,
    { timeout: 60_000 },
  );
}

const train = (page, { epochs = 10, lr = 0.01 } = {}) => trainHead(page, { epochs, lr });

/// Drops the file at `path` on the element `id`, as a file manager drops one.
async function drop(page, id, path) {
  const data = await page.evaluateHandle(
    ([name, base64]) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], name));
      return transfer;
    },
    [basename(path), readFileSync(path).toString('base64')],
  );
  await page.locator(`#${id}`).dispatchEvent('drop', { dataTransfer: data });
}

/// The confusion matrix's class names (its rows) and counts.
const confusion = (page) =>
  page.locator('[data-testid=confusion] tbody tr').evaluateAll((rows) => rows.map((r) => ({ name: r.cells[0].textContent, counts: [...r.cells].slice(1).map((c) => Number(c.textContent)) })));

test('a folder of class folders trains a head with its class names, exported and imported again', async () => {
  const context = await env.browser.newContext({ acceptDownloads: true });
  let { page, logs } = await openWithModel(context, env.server.url, 'flex');
  try {
    assert.equal(await page.getByTestId('source-pictures').getAttribute('aria-selected'), 'true');
    assert.match(await page.locator('#finetune-hint').textContent(), /^Add pictures/);
    await page.getByTestId('pictures-folder').setInputFiles(PICTURES);
    await waitCards(page, CLASSES);
    const shown = await cards(page);
    assert.deepEqual(shown.map((c) => c.count), ['20 pictures', '20 pictures', '20 pictures']);
    assert.deepEqual(shown.map((c) => c.thumbs), [8, 8, 8]);
    // The files that are no pictures are named; the hidden one is passed over.
    const notes = await page.getByTestId('pictures-notes').textContent();
    assert.match(notes, /pictures\/README\.txt: not in a class folder, skipped/);
    assert.match(notes, /pictures\/stripes\/notes\.txt: not an image this app can read/);
    assert.doesNotMatch(notes, /DS_Store/);
    assert.equal(await page.getByTestId('pictures-info').textContent(), '60 pictures in 3 classes: 48 to train on, 12 to test on (20% of each class held out, chosen by seed 0).');

    const first = await train(page);
    assert.ok(first.accuracy >= 90, `test accuracy ${first.accuracy}%`);
    assert.equal(first.computed, 60, 'each picture once');
    const matrix = await confusion(page);
    assert.deepEqual(matrix.map((r) => r.name), CLASSES);
    assert.equal(matrix.flat().reduce((n, r) => n + r.counts.reduce((a, b) => a + b), 0), 12);
    assert.deepEqual(await page.locator('[data-testid=confusion] thead td').allTextContents(), ['true \\ predicted', ...CLASSES]);
    assert.equal(await page.getByTestId('loss-chart').getAttribute('data-points'), '20');
    assert.match(await page.locator('[data-testid=head-select] option[value=trained]').textContent(), /^the head trained here on your 3 classes: disc, square, stripes$/);
    await page.screenshot({ path: join(ARTIFACTS, 'pictures-folder.png'), fullPage: true });

    // Another seed holds out other pictures: their features come from the cache.
    await page.getByTestId('finetune-seed').fill('3');
    await page.getByTestId('finetune-seed').dispatchEvent('change');
    await page.getByTestId('pictures-info').filter({ hasText: /chosen by seed 3/ }).waitFor();
    const second = await train(page, { epochs: 2 });
    assert.equal(second.computed, 0);

    const trained = await classifyFile(page, join(PICTURES, 'square', 'square_05.jpg'));
    assert.deepEqual(trained.map((p) => p.label).sort(), CLASSES);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('head-export').click()]);
    assert.equal(download.suggestedFilename(), 'pictures-head.safetensors');
    const headPath = join(ARTIFACTS, 'pictures-head.safetensors');
    await download.saveAs(headPath);

    await page.close();
    ({ page, logs } = await openWithModel(context, env.server.url, 'flex'));
    await page.getByTestId('head-import').setInputFiles(headPath);
    await page.locator('[data-testid=head-select] option[value=trained]:not([disabled])').waitFor({ state: 'attached' });
    assert.match(await page.locator('[data-testid=head-select] option[value=trained]').textContent(), /3 classes: disc, square, stripes/);
    const imported = await classifyFile(page, join(PICTURES, 'square', 'square_05.jpg'));
    assert.deepEqual(imported.map((p) => p.label), trained.map((p) => p.label));
    imported.forEach((p, i) => assert.ok(Math.abs(p.probability - trained[i].probability) < 1e-6, `${p.label}: ${p.probability} vs ${trained[i].probability}`));

    // The same pictures after the reload: every feature from the browser's storage.
    await page.getByTestId('pictures-folder').setInputFiles(PICTURES);
    await waitCards(page, CLASSES);
    assert.equal((await train(page, { epochs: 1 })).computed, 0);
  } finally {
    writeFileSync(join(ARTIFACTS, 'pictures-folder.log'), logs.join('\n'));
    await context.close();
  }
});

test('archives of pictures, a test folder, and class cards edited by hand', async () => {
  const context = await env.browser.newContext();
  const { page, logs } = await openWithModel(context, env.server.url, 'flex');
  try {
    for (const archive of ['pictures.zip', 'pictures.tar.gz']) {
      if (archive.endsWith('.zip')) await drop(page, 'pictures-drop', join(FIXTURES, archive));
      else await page.getByTestId('pictures-files').setInputFiles(join(FIXTURES, archive));
      await waitCards(page, CLASSES);
      assert.deepEqual((await cards(page)).map((c) => c.count), ['20 pictures', '20 pictures', '20 pictures'], archive);
      assert.match(await page.getByTestId('pictures-notes').textContent(), /pictures\/stripes\/notes\.txt: not an image/);
      // Emptied and removed for the next one.
      for (let i = 0; i < 3; i++) await page.getByTestId('class-remove').first().click();
      await waitCards(page, []);
    }
    // An archive that would unpack past the bound, and one that is no archive: named, skipped.
    await page.getByTestId('pictures-files').setInputFiles(['zip_bomb.zip', 'not_a_zip.zip'].map((f) => join(FIXTURES, 'pictures_hostile', f)));
    await page.getByTestId('pictures-notes').filter({ hasText: /zip_bomb\.zip: not a readable archive of pictures \(.*larger than 256 MB uncompressed\); skipped/ }).waitFor();
    assert.match(await page.getByTestId('pictures-notes').textContent(), /not_a_zip\.zip: not a readable archive of pictures/);

    // One class is not enough; an empty class says so; a class too small to split says so.
    const hint = () => page.locator('#finetune-hint').textContent();
    await page.getByTestId('pictures-folder').setInputFiles(join(PICTURES, 'disc'));
    await waitCards(page, ['disc']);
    assert.match(await hint(), /^your pictures: one class \(disc\); fine-tuning needs at least two classes/);
    await page.getByTestId('class-name').first().fill('round');
    await page.getByTestId('class-name').first().dispatchEvent('change');
    await waitCards(page, ['round']);
    await page.getByTestId('add-class').click();
    await waitCards(page, ['round', 'Class 2']);
    assert.equal(await hint(), 'your pictures/Class 2: no pictures to train on; add some, or remove the class');
    // The same name twice is refused, and the card keeps its name.
    await page.getByTestId('class-name').nth(1).fill('round');
    await page.getByTestId('class-name').nth(1).dispatchEvent('change');
    await page.getByTestId('pictures-error').filter({ hasText: 'there is already a class named round' }).waitFor();
    assert.equal(await page.getByTestId('class-name').nth(1).inputValue(), 'Class 2');
    await page.getByTestId('class-files').nth(1).setInputFiles([join(PICTURES, 'square', 'square_00.png'), join(PICTURES, 'stripes', 'notes.txt')]);
    await page.getByTestId('class-count').nth(1).filter({ hasText: /^1 picture$/ }).waitFor();
    assert.match(await page.getByTestId('pictures-notes').textContent(), /notes\.txt: not an image this app can read/);
    assert.equal(await hint(), 'your pictures/Class 2: 1 picture(s); holding some out for testing needs at least 2 in each class (or give a separate test folder)');
    assert.equal(await page.getByTestId('finetune-start').isDisabled(), true);
    // A picture removed from its card, a card emptied, and both removed.
    await page.getByTestId('class-card').first().getByTestId('remove-picture').first().click({ force: true });
    await page.getByTestId('class-count').first().filter({ hasText: /^19 pictures$/ }).waitFor();
    await page.getByTestId('class-clear').first().click();
    await page.getByTestId('class-count').first().filter({ hasText: /^0 pictures$/ }).waitFor();
    for (let i = 0; i < 2; i++) await page.getByTestId('class-remove').first().click();
    await waitCards(page, []);

    // A separate test folder: its pictures are the test set, and a class it has that training
    // has not is refused.
    await page.getByTestId('pictures-folder').setInputFiles(PICTURES);
    await waitCards(page, CLASSES);
    await page.getByTestId('pictures-test-folder').setInputFiles(join(FIXTURES, 'pictures'));
    await page.getByTestId('pictures-info').filter({ hasText: /60 to test on \(the test folder’s\)/ }).waitFor();
    assert.deepEqual((await cards(page)).map((c) => c.count), ['20 pictures, 20 to test on', '20 pictures, 20 to test on', '20 pictures, 20 to test on']);
    const run = await train(page, { epochs: 3 });
    assert.equal(run.computed, 60, 'the test folder holds the same pictures: their features are computed once');
    assert.equal((await confusion(page)).reduce((n, r) => n + r.counts.reduce((a, b) => a + b), 0), 60);
    // Misclassified test pictures are titled by their files.
    const titles = await page.locator('[data-testid=misclassified] canvas').evaluateAll((els) => els.map((e) => e.title));
    assert.ok(titles.length > 0 && titles.every((t) => /^pictures\/(disc|square|stripes)\/\w+\.(png|jpg)$/.test(t)), titles.join(', '));
    await page.screenshot({ path: join(ARTIFACTS, 'pictures-cards.png'), fullPage: true });
  } finally {
    writeFileSync(join(ARTIFACTS, 'pictures-cards.log'), logs.join('\n'));
    await context.close();
  }
});

/// What the webcam shows now: 'disc' (red), 'stripes' (blue) or null.
const showing = (page) =>
  page.evaluate(() => {
    const video = document.getElementById('camera-video');
    const canvas = Object.assign(document.createElement('canvas'), { width: 16, height: 12 });
    const ctx = canvas.getContext('2d');
    ctx.drawImage(video, 0, 0, 16, 12);
    const d = ctx.getImageData(0, 0, 16, 12).data;
    let [r, b] = [0, 0];
    for (let i = 0; i < d.length; i += 4) [r, b] = [r + d[i], b + d[i + 2]];
    return r > b * 1.1 ? 'disc' : b > r * 1.1 ? 'stripes' : null;
  });

/// Holds class card `i`'s record button for `ms` from the moment the webcam starts showing `what`.
async function record(page, i, what, ms = 1200) {
  // The start of a segment: what it shows after something else.
  let before = await showing(page);
  for (;;) {
    const now = await showing(page);
    if (now === what && before !== what) break;
    before = now;
    await page.waitForTimeout(30);
  }
  const box = await page.getByTestId('record').nth(i).boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.waitForTimeout(ms);
  await page.mouse.up();
}

test('the webcam records two classes, trains on them and classifies live; a denied camera says so', async () => {
  const browser = await launch({ webgpu: false, camera: true });
  const context = await browser.newContext({ permissions: ['camera'] });
  const { page, logs } = await openWithModel(context, env.server.url, 'flex');
  try {
    await page.getByTestId('camera-toggle').click();
    await page.getByTestId('camera-video').locator('visible=true').waitFor();
    await page.getByTestId('add-class').click();
    await page.getByTestId('add-class').click();
    await waitCards(page, ['Class 1', 'Class 2']);
    for (const [i, name] of ['red disc', 'blue stripes'].entries()) {
      await page.getByTestId('class-name').nth(i).fill(name);
      await page.getByTestId('class-name').nth(i).dispatchEvent('change');
    }
    await waitCards(page, ['red disc', 'blue stripes']);
    await record(page, 0, 'disc');
    await record(page, 1, 'stripes');
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=class-count]')].every((el) => !el.textContent.startsWith('0 ')));
    const counts = (await cards(page)).map((c) => Number(c.count.split(' ')[0]));
    assert.ok(counts.every((n) => n >= 5 && n <= 14), `frames recorded in 1.2 s at ~10 a second: ${counts}`);
    // Let go, recording stops.
    await page.waitForTimeout(500);
    assert.deepEqual((await cards(page)).map((c) => Number(c.count.split(' ')[0])), counts);

    const run = await train(page, { epochs: 10 });
    assert.ok(run.accuracy >= 75, `test accuracy ${run.accuracy}%`);
    assert.deepEqual((await confusion(page)).map((r) => r.name), ['red disc', 'blue stripes']);

    // Live classification with the head just trained: it keeps updating, with the classes' names.
    await page.getByTestId('camera-live').check();
    await page.waitForFunction(() => Number(document.getElementById('live-labels').dataset.updates) >= 5, null, { timeout: 60_000 });
    const live = await page.locator('#live-labels [data-testid=label]').allTextContents();
    assert.deepEqual([...live].sort(), ['blue stripes', 'red disc']);
    // And what it says follows what the camera shows.
    for (const what of ['disc', 'stripes']) {
      const want = what === 'disc' ? 'red disc' : 'blue stripes';
      await page.waitForFunction((w) => document.querySelector('#live-labels [data-testid=label]')?.textContent === w, want, { timeout: 20_000 });
    }
    await page.screenshot({ path: join(ARTIFACTS, 'pictures-webcam.png'), fullPage: true });
    await page.getByTestId('camera-live').uncheck();
    await page.getByTestId('camera-toggle').click();
    await page.getByTestId('camera-video').waitFor({ state: 'hidden' });

    // Where the camera is not allowed: the message, and the rest of the page works.
    const denied = await browser.newContext({ permissions: [] });
    const other = await openWithModel(denied, env.server.url, 'flex');
    await other.page.getByTestId('camera-toggle').click();
    await other.page.getByTestId('camera-status').filter({ hasText: /^The webcam is not allowed for this page/ }).waitFor();
    await other.page.getByTestId('pictures-folder').setInputFiles(PICTURES);
    await waitCards(other.page, CLASSES);
    await other.page.screenshot({ path: join(ARTIFACTS, 'pictures-camera-denied.png'), fullPage: true });
    await denied.close();
  } finally {
    writeFileSync(join(ARTIFACTS, 'pictures-webcam.log'), logs.join('\n'));
    await context.close();
    await browser.close();
  }
});

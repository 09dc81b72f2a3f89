// Times fine-tuning in the page on ViT-B/16: feature extraction (images/s, mirrored copies
// included) on each backend, then training epochs on the cached features. A fresh browser
// profile per backend, so nothing comes from an earlier run's cache. Flex runs at each thread
// count (`?threads=N`, as page.mjs), the other backends on one. With `--pictures FOLDER` (one
// folder of pictures per class) the run is on those pictures instead of CIFAR-10's 32x32 images
// (all of them, 20% held out): the decoding and resizing of a person's photos is in the time.
//   node tests/bench/finetune.mjs DIR [--backends flex,ndarray] [--threads 1,2] [--images 64] [--epochs 20] [--pictures FOLDER] [--json out.json]
import { join } from 'node:path';
import { FIXTURES, openPage } from '../e2e/harness.mjs';
import { opt, ready, runBench } from './bench.mjs';

const backends = opt('backends', 'flex,ndarray').split(',');
const images = Number(opt('images', 64));
const epochs = Number(opt('epochs', 20));
const threads = opt('threads', '1,2').split(',').map(Number);
const items = backends.flatMap((backend) => (backend === 'flex' ? threads : [1]).map((n) => ({ backend, threads: n })));
const cifar = (name) => join(FIXTURES, 'cifar', name);
const pictures = opt('pictures', null);

await runBench({ items, webgpu: backends.includes('wgpu') }, async (browser, url, { backend, threads: n }) => {
  const context = await browser.newContext();
  const { page, logs } = await openPage(context, `${url}?threads=${n}`, 600_000);
  await ready(page, logs);
  await page.getByTestId('backend').selectOption(backend);
  await ready(page, logs);
  if (pictures) {
    await page.getByTestId('pictures-folder').setInputFiles(pictures);
    await page.getByTestId('pictures-info').filter({ hasText: /to test on/ }).waitFor({ timeout: 600_000 });
  } else {
    await page.getByTestId('cifar-train-input').setInputFiles([cifar('data_batch_1.bin'), cifar('data_batch_2.bin')]);
    await page.getByTestId('cifar-test-input').setInputFiles(cifar('test_batch.bin'));
    await page.locator('#test-info').filter({ hasText: /^200 images/ }).waitFor();
  }
  // Mirrored copies double the training features at no extra cost in the epochs timed.
  await page.getByTestId('finetune-flip').check();
  const run = async (n, e) => {
    if (!pictures) {
      await page.getByTestId('finetune-samples').fill(String(n));
      await page.getByTestId('finetune-test-samples').fill(String(Math.max(1, n / 4)));
    }
    await page.getByTestId('finetune-epochs').fill(String(e));
    await page.getByTestId('finetune-start').click();
    const watch = setInterval(async () => console.error(backend, await page.getByTestId('finetune-progress').textContent().catch(() => '')), 15_000);
    await page.getByTestId('finetune-accuracy').filter({ hasText: /\d/ }).or(page.getByTestId('finetune-error').locator('visible=true')).first().waitFor({ timeout: 3_600_000 });
    clearInterval(watch);
    const summary = page.getByTestId('finetune-summary');
    if (!(await summary.getAttribute('data-steps'))) throw new Error(await page.getByTestId('finetune-error').textContent());
    return summary.evaluate(({ dataset: d }) => ({ computed: +d.computed, featureSeconds: +d.featureSeconds, trainSeconds: +d.trainSeconds, steps: +d.steps }));
  };
  const first = await run(images, 1);
  const second = await run(images, epochs);
  const stepMs = (second.trainSeconds * 1000) / second.steps;
  const row = {
    data: pictures ? 'pictures' : 'cifar',
    backend,
    threads: n,
    images_extracted: first.computed,
    features_per_s: +(first.computed / first.featureSeconds).toFixed(2),
    cached_rerun_computed: second.computed,
    train_features: pictures ? null : 2 * images,
    epochs,
    // Each epoch also evaluates on both sets, so this is an upper bound of a step's time.
    ms_per_step_batch_32: +stepMs.toFixed(2),
    ms_per_epoch: +((second.trainSeconds * 1000) / epochs).toFixed(1),
    s_per_epoch_of_50000_extrapolated: +((Math.ceil(50000 / 32) * stepMs) / 1000).toFixed(1),
  };
  await context.close();
  return row;
});

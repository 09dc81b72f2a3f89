// The fine-tuning panel: CIFAR-10 uploads and preview, feature extraction with progress and
// cancel, head training with live charts, the results, and choosing, exporting and importing
// the head. The work itself happens in the worker (worker.js).
import { lineChart } from './chart.js';
import { Code } from './protocol.js';

const $ = (id) => document.getElementById(id);
const PREVIEW_PER_CLASS = 8;
// A forward pass of ViT-B/16 takes around half a second on a CPU and milliseconds on a GPU.
const DEFAULT_SAMPLES = { cpu: [300, 100], gpu: [2000, 500] };
const SERIES = { loss: '#3056d3', train: '#3056d3', test: '#d3303a' };

/// call(op, args, transfer): the worker RPC; onEvent(name, handler): its progress events;
/// cancel(): stops feature extraction; recover(reason): replaces a crashed worker;
/// featuresStored(): features were added to the browser's storage.
export function setupFinetune({ call, cancel, onEvent, isModelLoaded, recover, featuresStored }) {
  const data = { train: null, test: null, classNames: [] };
  const files = { train: [], test: [] };
  let model = null; // { fingerprint, ownHead }
  let running = false;
  let run = null; // live state of the run in progress

  // ---- data ------------------------------------------------------------------------------------

  function showError(id, message) {
    $(id).hidden = !message;
    $(id).textContent = message ?? '';
  }
  const dataError = (message) => showError('cifar-error', message);
  const runError = (message) => showError('finetune-error', message);
  const headError = (message) => showError('head-error', message);

  function describe(set) {
    if (!set?.images) return 'none yet';
    const counts = set.perClass.map((n, i) => `${data.classNames[i]} ${n}`).join(', ');
    return `${set.images.toLocaleString('en')} images from ${set.files.join(', ')} (${counts})`;
  }

  function showData(summary) {
    Object.assign(data, summary);
    for (const split of ['train', 'test']) {
      $(`${split}-info`).textContent = describe(data[split]);
      const input = $(split === 'train' ? 'finetune-samples' : 'finetune-test-samples');
      input.max = data[split].images || '';
    }
    updateStart();
  }

  /// Replaces a split's files with `chosen`; each bad file gets its own error, the good ones stay.
  async function addFiles(split, chosen) {
    files[split] = chosen;
    dataError(null);
    const errors = [];
    let summary = await call('data.clear', [split]);
    for (const file of chosen) {
      $(`${split}-info`).textContent = `reading ${file.name}…`;
      try {
        const bytes = await file.arrayBuffer();
        summary = await call('data.add', [split, file.name, new Uint8Array(bytes)], [bytes]);
      } catch (e) {
        errors.push(e.message);
        if (e.code === Code.crashed) {
          // The file that killed the worker is not sent to the next one; the others are.
          files[split] = chosen.filter((f) => f !== file);
          dataError(errors.join('\n'));
          await recover(`The model worker crashed reading ${file.name}`);
          return;
        }
      }
    }
    showData(summary);
    dataError(errors.length ? errors.join('\n') : null);
    await preview();
  }

  async function preview() {
    const grid = $('cifar-preview');
    const split = data.train?.images ? 'train' : data.test?.images ? 'test' : null;
    grid.replaceChildren();
    grid.hidden = !split;
    if (!split) return;
    const { labels, rgba } = await call('data.preview', [split, PREVIEW_PER_CLASS]);
    const rows = new Map();
    labels.forEach((label, i) => {
      if (!rows.has(label)) {
        const row = document.createElement('div');
        row.className = 'preview-row';
        row.innerHTML = '<span class="class-name"></span>';
        row.firstChild.textContent = data.classNames[label];
        rows.set(label, row);
        grid.append(row);
      }
      rows.get(label).append(tinyImage(rgba, i));
    });
  }

  function tinyImage(rgba, i, title) {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 32;
    canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset + i * 4096, 4096), 32, 32), 0, 0);
    if (title) canvas.title = title;
    return canvas;
  }

  // ---- options ---------------------------------------------------------------------------------

  function number(id, name, { integer = false, positive = false } = {}) {
    const text = $(id).value.trim();
    const value = Number(text);
    const ok = text !== '' && Number.isFinite(value) && (positive ? value > 0 : value >= 0) && (!integer || Number.isInteger(value));
    if (!ok) throw new Error(`${name} must be ${positive ? 'a positive' : 'a non-negative'} ${integer ? 'whole number' : 'number'}`);
    return value;
  }

  function options() {
    const count = { integer: true, positive: true };
    return {
      trainCount: Math.min(number('finetune-samples', 'The number of training images', count), data.train.images),
      testCount: Math.min(number('finetune-test-samples', 'The number of test images', count), data.test.images),
      flip: $('finetune-flip').checked,
      train: {
        epochs: number('finetune-epochs', 'The number of epochs', count),
        batchSize: number('finetune-batch-size', 'The batch size', count),
        learningRate: number('finetune-lr', 'The learning rate', { positive: true }),
        weightDecay: number('finetune-weight-decay', 'The weight decay'),
        seed: number('finetune-seed', 'The seed', { integer: true }),
      },
    };
  }

  function updateStart() {
    const ready = isModelLoaded() && data.train?.images > 0 && data.test?.images > 0;
    $('finetune-start').disabled = running || !ready;
    $('finetune-hint').textContent = running
      ? ''
      : !isModelLoaded()
        ? 'Load a model first.'
        : !data.train?.images
          ? 'Choose CIFAR-10 training data.'
          : !data.test?.images
            ? 'Choose CIFAR-10 test data (test_batch).'
            : '';
  }

  // ---- progress and charts -----------------------------------------------------------------------

  const PHASES = { train: 'training images', mirrored: 'mirrored training images', test: 'test images' };

  function showProgress(fraction, text) {
    const el = $('finetune-progress');
    el.hidden = fraction === null;
    if (fraction === null) return;
    el.dataset.fraction = fraction;
    el.querySelector('.bar').style.width = `${(fraction * 100).toFixed(1)}%`;
    el.querySelector('span').textContent = text;
  }

  const seconds = (s) => (s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(s < 10 ? 1 : 0)} s`);

  onEvent('progress', ({ name, done, total, cached }) => {
    if (!run) return;
    const now = performance.now();
    const phase = (run.phases[name] ??= { start: now, from: done, cached });
    phase.done = done;
    phase.total = total;
    const computed = done - phase.from;
    const elapsed = (now - phase.start) / 1000;
    const rate = computed > 0 && elapsed > 0 ? computed / elapsed : 0;
    const left = rate ? ` ${seconds((total - done) / rate)} left` : '';
    const from = cached ? ` (${cached} from the cache)` : '';
    showProgress(total ? done / total : 1, `${PHASES[name]}: ${done} of ${total}${from}${rate ? `, ${rate.toFixed(1)} images/s,${left}` : ''}`);
  });

  onEvent('step', ({ step, loss }) => {
    if (!run) return;
    run.losses.push([step + 1, loss]);
    showProgress((step + 1) / run.steps, `training: step ${step + 1} of ${run.steps}, loss ${loss.toFixed(4)}`);
    run.redraw ??= requestAnimationFrame(() => {
      run.redraw = null;
      drawLoss();
    });
  });

  onEvent('epoch', ({ report }) => {
    if (!run) return;
    run.epochs.push(report);
    drawAccuracy();
    const row = document.createElement('tr');
    for (const v of [report.epoch, report.meanLoss.toFixed(4), pct(report.trainAccuracy), pct(report.testAccuracy)]) row.insertCell().textContent = v;
    $('epoch-log').tBodies[0].append(row);
  });

  const pct = (x) => `${(x * 100).toFixed(1)}%`;

  function drawLoss() {
    lineChart($('loss-chart'), [{ label: 'loss', color: SERIES.loss, points: run?.losses ?? [] }], { xLabel: 'step' });
  }

  function drawAccuracy() {
    const epochs = run?.epochs ?? [];
    lineChart(
      $('accuracy-chart'),
      [
        { label: 'train', color: SERIES.train, points: epochs.map((r) => [r.epoch, r.trainAccuracy]) },
        { label: 'test', color: SERIES.test, points: epochs.map((r) => [r.epoch, r.testAccuracy]) },
      ],
      { yMax: 1, xLabel: 'epoch', yFormat: (y) => `${Math.round(y * 100)}%` },
    );
  }

  // ---- a run -------------------------------------------------------------------------------------

  function featureSets(o) {
    const key = (split, flip) => `${model.fingerprint}/${data[split].fingerprint}/${flip ? 'mirrored' : 'plain'}`;
    const sets = [{ name: 'train', split: 'train', count: o.trainCount, flip: false, key: key('train', false) }];
    if (o.flip) sets.push({ name: 'mirrored', split: 'train', count: o.trainCount, flip: true, key: key('train', true) });
    sets.push({ name: 'test', split: 'test', count: o.testCount, flip: false, key: key('test', false) });
    return sets;
  }

  async function start() {
    let o;
    try {
      o = options();
    } catch (e) {
      runError(e.message);
      return;
    }
    runError(null);
    running = true;
    updateStart();
    $('finetune-cancel').hidden = false;
    $('finetune-results').hidden = true;
    $('finetune-accuracy').textContent = '';
    delete $('finetune-accuracy').dataset.value;
    const trainRows = o.trainCount * (o.flip ? 2 : 1);
    run = { phases: {}, losses: [], epochs: [], steps: o.train.epochs * Math.ceil(trainRows / o.train.batchSize) };
    $('epoch-log').tBodies[0].replaceChildren();
    // Charts appear with the first run: empty axes before it would say nothing.
    $('finetune-charts').hidden = false;
    drawLoss();
    drawAccuracy();
    try {
      const started = performance.now();
      const prepared = await call('prepareFeatures', [featureSets(o)]);
      featuresStored();
      if (!prepared) {
        showProgress(null);
        $('finetune-summary').textContent = 'Cancelled. The features computed so far are kept: the next run starts from there.';
        return;
      }
      const computed = Object.values(prepared).reduce((n, p) => n + p.computed, 0);
      const featureTime = (performance.now() - started) / 1000;
      $('finetune-cancel').hidden = true;
      const trainStart = performance.now();
      const result = await call('trainHead', [o.train]);
      const trainTime = (performance.now() - trainStart) / 1000;
      showProgress(null);
      const last = result.reports.at(-1);
      $('finetune-accuracy').textContent = (last.testAccuracy * 100).toFixed(1);
      $('finetune-accuracy').dataset.value = last.testAccuracy * 100;
      Object.assign($('finetune-summary').dataset, { computed, featureSeconds: featureTime, trainSeconds: trainTime, steps: run.steps });
      $('finetune-summary').textContent =
        `Features: ${trainRows} training and ${o.testCount} test images; ` +
        (computed ? `${computed} computed in ${seconds(featureTime)} (${(computed / featureTime).toFixed(1)} images/s), the rest from the cache. ` : 'all from the cache. ') +
        `Training: ${o.train.epochs} epochs in ${seconds(trainTime)} (${seconds(trainTime / o.train.epochs)} per epoch), seed ${o.train.seed}.`;
      showResults(result);
      setTrainedHead('trained here on CIFAR-10');
    } catch (e) {
      showProgress(null);
      runError(e.message);
      if (e.code === Code.crashed) await recover('The model worker crashed while fine-tuning');
    } finally {
      running = false;
      $('finetune-cancel').hidden = true;
      updateStart();
    }
  }

  function showResults({ confusion, classNames, misclassified, misclassifiedRgba }) {
    $('finetune-results').hidden = false;
    const table = $('confusion');
    const max = Math.max(1, ...confusion.flat());
    table.replaceChildren();
    const head = table.createTHead().insertRow();
    head.insertCell().textContent = 'true \\ predicted';
    classNames.forEach((n) => (head.insertCell().textContent = n));
    const body = table.createTBody();
    confusion.forEach((row, t) => {
      const tr = body.insertRow();
      tr.insertCell().textContent = classNames[t];
      row.forEach((n, p) => {
        const cell = tr.insertCell();
        cell.textContent = n;
        const strength = n / max;
        cell.style.background = t === p ? `rgba(48, 86, 211, ${strength})` : `rgba(211, 48, 58, ${strength})`;
        if (strength > 0.55) cell.style.color = '#fff';
      });
    });
    const gallery = $('misclassified');
    gallery.replaceChildren(
      ...misclassified.map((m, i) => {
        const fig = document.createElement('figure');
        const caption = document.createElement('figcaption');
        caption.textContent = `${classNames[m.label]} → ${classNames[m.predicted]}`;
        fig.append(tinyImage(misclassifiedRgba, i, `test image ${m.index}`), caption);
        return fig;
      }),
    );
    $('misclassified-none').hidden = misclassified.length > 0;
  }

  // ---- heads -------------------------------------------------------------------------------------

  function setTrainedHead(source) {
    const option = $('head-select').querySelector('[value=trained]');
    option.disabled = false;
    option.textContent = `the CIFAR-10 head (${source})`;
    $('head-select').value = 'trained';
    $('head-export').disabled = false;
  }

  /// No trained head yet. A backbone made for fine-tuning has no head of its own either.
  function resetHeads() {
    const own = model?.ownHead ?? true;
    const option = $('head-select').querySelector('[value=trained]');
    option.disabled = true;
    option.textContent = 'a CIFAR-10 head (train or import one)';
    const original = $('head-select').querySelector('[value=original]');
    original.disabled = !own;
    original.textContent = own ? 'the model’s own head' : 'the model’s own head (it has none: train or import one)';
    $('head-select').value = 'original';
    $('head-export').disabled = true;
  }

  $('head-select').addEventListener('change', async (e) => {
    headError(null);
    try {
      await call('model.useHead', [e.target.value]);
    } catch (err) {
      headError(err.message);
      e.target.value = 'original';
    }
  });

  $('head-export').addEventListener('click', async () => {
    headError(null);
    try {
      const bytes = await call('model.exportHead');
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
      a.download = 'cifar10-head.safetensors';
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    } catch (e) {
      headError(e.message);
    }
  });

  $('head-import').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (!file) return;
    headError(null);
    try {
      if (!isModelLoaded()) throw new Error(`${file.name}: load a model first; a head belongs to its backbone`);
      const bytes = await file.arrayBuffer();
      const labels = await call('model.importHead', [file.name, new Uint8Array(bytes)], [bytes]);
      setTrainedHead(`${file.name}, ${labels.length} classes`);
    } catch (err) {
      headError(err.message);
    }
  });

  // ---- wiring ------------------------------------------------------------------------------------

  for (const split of ['train', 'test']) {
    $(`cifar-${split}-input`).addEventListener('change', (e) => {
      addFiles(split, [...e.target.files]).catch((err) => dataError(err.message));
      e.target.value = '';
    });
  }
  $('finetune-start').addEventListener('click', () => start().catch((e) => runError(e.message)));
  $('finetune-cancel').addEventListener('click', cancel);
  for (const id of ['finetune-samples', 'finetune-test-samples']) $(id).addEventListener('input', () => ($(id).dataset.edited = 'yes'));
  resetHeads();
  updateStart();

  return {
    /// A new model: its heads are gone, and its features are keyed by its fingerprint.
    modelLoaded(info) {
      model = { fingerprint: info.fingerprint, ownHead: info.numLabels > 0 };
      resetHeads();
      updateStart();
    },
    /// Sample sizes suited to the backend, unless the person has set their own.
    backendChanged(fast) {
      const [train, test] = fast ? DEFAULT_SAMPLES.gpu : DEFAULT_SAMPLES.cpu;
      for (const [id, n] of [['finetune-samples', train], ['finetune-test-samples', test]]) {
        if (!$(id).dataset.edited) $(id).value = n;
      }
    },
    /// A fresh worker knows no data and no head: send the files again.
    async workerRestarted() {
      resetHeads();
      for (const split of ['train', 'test']) if (files[split].length) await addFiles(split, files[split]);
    },
  };
}

// The fine-tuning panel: the data to train on (the person's own pictures, pictures_source.js, or
// CIFAR-10, cifar_source.js), feature extraction with progress and cancel, head training with
// live charts, the results, and choosing, exporting and importing the head. The work itself
// happens in the worker (worker.js).
import { lineChart } from './chart.js';
import { setupCifar } from './cifar_source.js';
import { setupPictures } from './pictures_source.js';
import { Code } from './protocol.js';
import { rgbaCanvas } from './rgba.js';

const $ = (id) => document.getElementById(id);
// A forward pass of ViT-B/16 takes around half a second on a CPU and milliseconds on a GPU.
const DEFAULT_SAMPLES = { cpu: [300, 100], gpu: [2000, 500] };
const SERIES = { loss: '#3056d3', train: '#3056d3', test: '#d3303a' };

/// call(op, args, transfer): the worker RPC; onEvent(name, handler): its progress events;
/// cancel(): stops feature extraction; recover(reason): replaces a crashed worker;
/// featuresStored(): features were added to the browser's storage.
export function setupFinetune({ call, cancel, onEvent, isModelLoaded, recover, featuresStored }) {
  let model = null; // { fingerprint, ownHead }
  let running = false;
  let run = null; // live state of the run in progress

  // ---- the data: the person's pictures or CIFAR-10, one at a time --------------------------------

  const changed = () => updateStart();
  const sources = {
    pictures: setupPictures({ call, recover, changed, chosen: () => choose('pictures'), isModelLoaded }),
    cifar: setupCifar({ call, recover, changed, chosen: () => choose('cifar') }),
  };
  let source = sources.pictures;

  function choose(id) {
    source = sources[id];
    for (const [other, s] of Object.entries(sources)) {
      $(`source-${other}`).setAttribute('aria-selected', String(s === source));
      $(`${other}-source`).hidden = s !== source;
    }
    for (const el of document.querySelectorAll('.for-cifar')) el.hidden = id !== 'cifar';
    for (const el of document.querySelectorAll('.for-pictures')) el.hidden = id !== 'pictures';
    updateStart();
  }

  function showError(id, message) {
    $(id).hidden = !message;
    $(id).textContent = message ?? '';
  }
  const runError = (message) => showError('finetune-error', message);
  const headError = (message) => showError('head-error', message);

  // ---- options ---------------------------------------------------------------------------------

  function number(id, name, { integer = false, positive = false } = {}) {
    const text = $(id).value.trim();
    const value = Number(text);
    const ok = text !== '' && Number.isFinite(value) && (positive ? value > 0 : value >= 0) && (!integer || Number.isInteger(value));
    if (!ok) throw new Error(`${name} must be ${positive ? 'a positive' : 'a non-negative'} ${integer ? 'whole number' : 'number'}`);
    return value;
  }

  /// The options of the active data source and of training.
  function options() {
    const count = { integer: true, positive: true };
    const cifar = source === sources.cifar;
    const percent = cifar ? 20 : number('finetune-test-percent', 'The share held out for testing', { positive: true });
    if (percent >= 100) throw new Error('The share held out for testing must be below 100%');
    return {
      trainCount: cifar ? number('finetune-samples', 'The number of training images', count) : 0,
      testCount: cifar ? number('finetune-test-samples', 'The number of test images', count) : 0,
      testFraction: percent / 100,
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
    const hint = !isModelLoaded() ? 'Load a model first.' : source.hint();
    $('finetune-start').disabled = running || Boolean(hint);
    $('finetune-hint').textContent = running ? '' : hint;
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
    run = { phases: {}, losses: [], epochs: [], steps: 0 };
    $('epoch-log').tBodies[0].replaceChildren();
    // Charts appear with the first run: empty axes before it would say nothing.
    $('finetune-charts').hidden = false;
    drawLoss();
    drawAccuracy();
    const trainedOn = source;
    trainedOn.lock?.(true);
    try {
      const started = performance.now();
      const prepared = await source.prepare(o, model);
      featuresStored();
      if (!prepared) {
        showProgress(null);
        $('finetune-summary').textContent = 'Cancelled. The features computed so far are kept: the next run starts from there.';
        return;
      }
      const computed = Object.values(prepared).reduce((n, p) => n + p.computed, 0);
      const trainRows = prepared.train.rows + (prepared.mirrored?.rows ?? 0);
      run.steps = o.train.epochs * Math.ceil(trainRows / o.train.batchSize);
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
        `Features: ${trainRows} training and ${prepared.test.rows} test images; ` +
        (computed ? `${computed} computed in ${seconds(featureTime)} (${(computed / featureTime).toFixed(1)} images/s), the rest from the cache. ` : 'all from the cache. ') +
        `Training: ${o.train.epochs} epochs in ${seconds(trainTime)} (${seconds(trainTime / o.train.epochs)} per epoch), seed ${o.train.seed}.`;
      showResults(result);
      setTrainedHead(`trained here on ${trainedOn.trainedOn(result.classNames)}`, trainedOn.headFile);
    } catch (e) {
      showProgress(null);
      runError(e.message);
      if (e.code === Code.crashed) await recover('The model worker crashed while fine-tuning');
    } finally {
      trainedOn.lock?.(false);
      running = false;
      $('finetune-cancel').hidden = true;
      updateStart();
    }
  }

  function showResults({ confusion, classNames, misclassified, misclassifiedRgba, misclassifiedSide }) {
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
        fig.append(rgbaCanvas(misclassifiedRgba, i, misclassifiedSide, m.name), caption);
        return fig;
      }),
    );
    $('misclassified-none').hidden = misclassified.length > 0;
  }

  // ---- heads -------------------------------------------------------------------------------------

  let headFile = 'head.safetensors';
  /// A head trained or imported (`how`, for the menu), exported as `file`.
  function setTrainedHead(how, file) {
    headFile = file;
    const option = $('head-select').querySelector('[value=trained]');
    option.disabled = false;
    option.textContent = `the head ${how}`;
    $('head-select').value = 'trained';
    $('head-export').disabled = false;
  }

  /// No trained head yet. A backbone made for fine-tuning has no head of its own either.
  function resetHeads() {
    const own = model?.ownHead ?? true;
    const option = $('head-select').querySelector('[value=trained]');
    option.disabled = true;
    option.textContent = 'a trained head (train or import one below)';
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
      a.download = headFile;
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
      setTrainedHead(`from ${file.name} (${labels.length} classes: ${labels.slice(0, 6).join(', ')}${labels.length > 6 ? ', …' : ''})`, file.name);
    } catch (err) {
      headError(err.message);
    }
  });

  // ---- wiring ------------------------------------------------------------------------------------

  for (const id of Object.keys(sources)) $(`source-${id}`).addEventListener('click', () => choose(id));
  $('finetune-start').addEventListener('click', () => start().catch((e) => runError(e.message)));
  $('finetune-cancel').addEventListener('click', cancel);
  for (const id of ['finetune-samples', 'finetune-test-samples']) $(id).addEventListener('input', () => ($(id).dataset.edited = 'yes'));
  resetHeads();
  choose('pictures');

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
    /// A fresh worker knows no data and no head: the data are sent again.
    async workerRestarted() {
      resetHeads();
      for (const s of Object.values(sources)) await s.workerRestarted();
    },
  };
}

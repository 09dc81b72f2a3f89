// The fine-tuning panel: the data to train on (the person's own pictures, pictures_source.js, or
// CIFAR-10, cifar_source.js), feature extraction with progress and cancel, head training with
// live charts, the results, and choosing, exporting and importing the head. The work itself
// happens in the worker (worker.js).
import { lineChart } from './chart.js';
import { setupCifar } from './cifar_source.js';
import { setupPictures } from './pictures_source.js';
import { Code, WorkerError } from './protocol.js';
import { rgbaCanvas } from './rgba.js';
import { errorText } from './status.js';

/** @typedef {import('./protocol.js').ModelInfo} ModelInfo */
/** @typedef {import('./protocol.js').TrainResult} TrainResult */
/** @typedef {import('./protocol.js').EpochReport} EpochReport */
/**
 * The form's options: the data source's (`counts` for CIFAR-10) and training's, as numbers (the
 * library checks them).
 * @typedef {{ counts: import('./protocol.js').ImageCounts | null, testFraction: number, flip: boolean, train: import('./protocol.js').TrainNumbers }} Options
 */
/**
 * A source of training data (pictures_source.js, cifar_source.js).
 * @typedef {{
 *   id: string, headFile: string, trainedOn: (classNames: string[]) => string, hint: () => string,
 *   prepare: (o: Options, serial: number) => Promise<import('./protocol.js').Prepared | null>,
 *   workerRestarted: () => Promise<void>, lock?: (on: boolean) => void
 * }} Source
 */

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
// A forward pass of ViT-B/16 takes around half a second on a CPU and milliseconds on a GPU.
const DEFAULT_SAMPLES = { cpu: [300, 100], gpu: [2000, 500] };
const SERIES = { loss: '#3056d3', train: '#3056d3', test: '#d3303a' };


/**
 * @param {{
 *   client: import('./client.js').ModelClient, isModelLoaded: () => boolean,
 *   recover: (reason: string) => Promise<void>, featuresStored: () => void
 * }} page `recover(reason)`: replaces a crashed worker; `featuresStored()`: features were added
 *   to the browser's storage.
 */
export function setupFinetune({ client, isModelLoaded, recover, featuresStored }) {
  /** Whether the model has a head of its own. @type {{ ownHead: boolean } | null} */
  let model = null;
  let running = false;
  /** The page's runs, numbered: a cancel names the one it stops. */
  let serial = 0;
  /**
   * The live state of the run in progress.
   * @type {{ phases: Record<string, { start: number, from: number, cached: number, done?: number, total?: number }>, losses: [number, number][], epochs: EpochReport[], steps: number, redraw?: number | null } | null}
   */
  let run = null;

  // ---- the data: the person's pictures or CIFAR-10, one at a time --------------------------------

  const changed = () => updateStart();
  /** @type {{ pictures: Source, cifar: Source }} */
  const sources = {
    pictures: setupPictures({ client, recover, changed, chosen: () => choose('pictures'), isModelLoaded }),
    cifar: setupCifar({ client, recover, changed, chosen: () => choose('cifar') }),
  };
  let source = sources.pictures;

  /** @param {'pictures' | 'cifar'} id */
  function choose(id) {
    source = sources[id];
    for (const [other, s] of Object.entries(sources)) {
      $(`source-${other}`).setAttribute('aria-selected', String(s === source));
      $(`${other}-source`).hidden = s !== source;
    }
    for (const el of document.querySelectorAll('.for-cifar')) /** @type {HTMLElement} */ (el).hidden = id !== 'cifar';
    for (const el of document.querySelectorAll('.for-pictures')) /** @type {HTMLElement} */ (el).hidden = id !== 'pictures';
    updateStart();
  }

  /**
   * @param {string} id
   * @param {string | null} text
   */
  function showError(id, text) {
    $(id).hidden = !text;
    $(id).textContent = text ?? '';
  }
  /** @param {string | null} text */
  const runError = (text) => showError('finetune-error', text);
  /** @param {string | null} text */
  const headError = (text) => showError('head-error', text);

  // ---- options ---------------------------------------------------------------------------------

  /**
   * A field's number (NaN where it holds none: the library says what it must be).
   * @param {string} id
   */
  const number = (id) => (input(id).value.trim() === '' ? NaN : Number(input(id).value));

  /** @returns {Options} The options of the active data source and of training. */
  function options() {
    const cifar = source === sources.cifar;
    return {
      counts: cifar ? { train: number('finetune-samples'), test: number('finetune-test-samples') } : null,
      testFraction: cifar ? 0.2 : number('finetune-test-percent') / 100,
      flip: input('finetune-flip').checked,
      train: {
        epochs: number('finetune-epochs'),
        batchSize: number('finetune-batch-size'),
        learningRate: number('finetune-lr'),
        weightDecay: number('finetune-weight-decay'),
        seed: number('finetune-seed'),
      },
    };
  }

  function updateStart() {
    const hint = !isModelLoaded() ? 'Load a model first.' : source.hint();
    /** @type {HTMLButtonElement} */ ($('finetune-start')).disabled = running || Boolean(hint);
    $('finetune-hint').textContent = running ? '' : hint;
  }

  // ---- progress and charts -----------------------------------------------------------------------

  const PHASES = { train: 'training images', mirrored: 'mirrored training images', test: 'test images' };

  /**
   * @param {number | null} fraction
   * @param {string} [text]
   */
  function showProgress(fraction, text = '') {
    const el = $('finetune-progress');
    el.hidden = fraction === null;
    if (fraction === null) return;
    el.dataset.fraction = String(fraction);
    /** @type {HTMLElement} */ (el.querySelector('.bar')).style.width = `${(fraction * 100).toFixed(1)}%`;
    /** @type {HTMLElement} */ (el.querySelector('span')).textContent = text;
  }

  /** @param {number} s */
  const seconds = (s) => (s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(s < 10 ? 1 : 0)} s`);

  client.on('progress', ({ name, done, total, cached }) => {
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

  client.on('step', ({ step, loss }) => {
    if (!run) return;
    run.losses.push([step + 1, loss]);
    showProgress((step + 1) / run.steps, `training: step ${step + 1} of ${run.steps}, loss ${loss.toFixed(4)}`);
    const current = run;
    current.redraw ??= requestAnimationFrame(() => {
      current.redraw = null;
      drawLoss();
    });
  });

  client.on('epoch', ({ report }) => {
    if (!run) return;
    run.epochs.push(report);
    drawAccuracy();
    const row = document.createElement('tr');
    for (const v of [String(report.epoch), report.meanLoss.toFixed(4), pct(report.trainAccuracy), pct(report.testAccuracy)]) row.insertCell().textContent = v;
    /** @type {HTMLTableElement} */ ($('epoch-log')).tBodies[0].append(row);
  });

  /** @param {number} x */
  const pct = (x) => `${(x * 100).toFixed(1)}%`;

  function drawLoss() {
    lineChart(/** @type {HTMLCanvasElement} */ ($('loss-chart')), [{ label: 'loss', color: SERIES.loss, points: run?.losses ?? [] }], { xLabel: 'step' });
  }

  function drawAccuracy() {
    const epochs = run?.epochs ?? [];
    lineChart(
      /** @type {HTMLCanvasElement} */ ($('accuracy-chart')),
      [
        { label: 'train', color: SERIES.train, points: epochs.map((r) => [r.epoch, r.trainAccuracy]) },
        { label: 'test', color: SERIES.test, points: epochs.map((r) => [r.epoch, r.testAccuracy]) },
      ],
      { yMax: 1, xLabel: 'epoch', yFormat: (y) => `${Math.round(y * 100)}%` },
    );
  }

  // ---- a run -------------------------------------------------------------------------------------

  async function start() {
    if (running) return;
    // Numbered at once: a cancel clicked from here on stops this run, even before it starts.
    const thisRun = ++serial;
    const o = options();
    const trainedOn = source;
    running = true;
    updateStart();
    try {
      // Before the panel changes, and before any image goes through the model.
      await client.checkOptions(o.train, o.counts);
    } catch (e) {
      runError(errorText(e));
      running = false;
      updateStart();
      return;
    }
    runError(null);
    $('finetune-cancel').hidden = false;
    $('finetune-results').hidden = true;
    $('finetune-accuracy').textContent = '';
    delete $('finetune-accuracy').dataset.value;
    const current = { phases: {}, losses: [], epochs: [], steps: 0 };
    run = current;
    /** @type {HTMLTableElement} */ ($('epoch-log')).tBodies[0].replaceChildren();
    // Charts appear with the first run: empty axes before it would say nothing.
    $('finetune-charts').hidden = false;
    drawLoss();
    drawAccuracy();
    trainedOn.lock?.(true);
    try {
      const started = performance.now();
      const prepared = await trainedOn.prepare(o, thisRun);
      featuresStored();
      if (!prepared) {
        showProgress(null);
        $('finetune-summary').textContent = 'Cancelled. The features computed so far are kept: the next run starts from there.';
        return;
      }
      const computed = Object.values(prepared).reduce((n, p) => n + p.computed, 0);
      const trainRows = (prepared.train?.rows ?? 0) + (prepared.mirrored?.rows ?? 0);
      current.steps = o.train.epochs * Math.ceil(trainRows / o.train.batchSize);
      const featureTime = (performance.now() - started) / 1000;
      $('finetune-cancel').hidden = true;
      const trainStart = performance.now();
      const result = await client.trainHead(o.train);
      const trainTime = (performance.now() - trainStart) / 1000;
      showProgress(null);
      const last = /** @type {EpochReport} */ (result.reports.at(-1));
      $('finetune-accuracy').textContent = (last.testAccuracy * 100).toFixed(1);
      $('finetune-accuracy').dataset.value = String(last.testAccuracy * 100);
      Object.assign($('finetune-summary').dataset, { computed, featureSeconds: featureTime, trainSeconds: trainTime, steps: current.steps });
      $('finetune-summary').textContent =
        `Features: ${trainRows} training and ${prepared.test?.rows ?? 0} test images; ` +
        (computed ? `${computed} computed in ${seconds(featureTime)} (${(computed / featureTime).toFixed(1)} images/s), the rest from the cache. ` : 'all from the cache. ') +
        `Training: ${o.train.epochs} epochs in ${seconds(trainTime)} (${seconds(trainTime / o.train.epochs)} per epoch), seed ${o.train.seed}.`;
      showResults(result);
      setTrainedHead(`trained here on ${trainedOn.trainedOn(result.classNames)}`, trainedOn.headFile);
    } catch (e) {
      showProgress(null);
      runError(errorText(e));
      if (e instanceof WorkerError && e.code === Code.crashed) await recover('The model worker crashed while fine-tuning');
    } finally {
      trainedOn.lock?.(false);
      running = false;
      $('finetune-cancel').hidden = true;
      updateStart();
    }
  }

  /** @param {TrainResult} result */
  function showResults({ confusion, classNames, misclassified, misclassifiedRgba, misclassifiedSide }) {
    $('finetune-results').hidden = false;
    const table = /** @type {HTMLTableElement} */ ($('confusion'));
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
        cell.textContent = String(n);
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
  const headSelect = /** @type {HTMLSelectElement} */ ($('head-select'));
  const headExport = /** @type {HTMLButtonElement} */ ($('head-export'));
  /** @param {string} value */
  const headOption = (value) => /** @type {HTMLOptionElement} */ (headSelect.querySelector(`[value=${value}]`));

  /**
   * A head trained or imported (`how`, for the menu), exported as `file`.
   * @param {string} how
   * @param {string} file
   */
  function setTrainedHead(how, file) {
    headFile = file;
    const option = headOption('trained');
    option.disabled = false;
    option.textContent = `the head ${how}`;
    headSelect.value = 'trained';
    headExport.disabled = false;
  }

  /** No trained head yet. A backbone made for fine-tuning has no head of its own either. */
  function resetHeads() {
    const own = model?.ownHead ?? true;
    const option = headOption('trained');
    option.disabled = true;
    option.textContent = 'a trained head (train or import one below)';
    const original = headOption('original');
    original.disabled = !own;
    original.textContent = own ? 'the model’s own head' : 'the model’s own head (it has none: train or import one)';
    headSelect.value = 'original';
    headExport.disabled = true;
  }

  headSelect.addEventListener('change', async () => {
    headError(null);
    try {
      await client.useHead(/** @type {import('./protocol.js').HeadChoice} */ (headSelect.value));
    } catch (err) {
      headError(errorText(err));
      headSelect.value = 'original';
    }
  });

  headExport.addEventListener('click', async () => {
    headError(null);
    try {
      const bytes = await client.exportHead();
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (bytes)], { type: 'application/octet-stream' }));
      a.download = headFile;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    } catch (e) {
      headError(errorText(e));
    }
  });

  input('head-import').addEventListener('change', async () => {
    const file = input('head-import').files?.[0];
    input('head-import').value = '';
    if (!file) return;
    headError(null);
    try {
      if (!isModelLoaded()) throw new Error(`${file.name}: load a model first; a head belongs to its backbone`);
      const labels = await client.importHead(file.name, await file.arrayBuffer());
      setTrainedHead(`from ${file.name} (${labels.length} classes: ${labels.slice(0, 6).join(', ')}${labels.length > 6 ? ', …' : ''})`, file.name);
    } catch (err) {
      headError(errorText(err));
    }
  });

  // ---- wiring ------------------------------------------------------------------------------------

  for (const id of /** @type {const} */ (['pictures', 'cifar'])) $(`source-${id}`).addEventListener('click', () => choose(id));
  $('finetune-start').addEventListener('click', () => start().catch((e) => runError(errorText(e))));
  $('finetune-cancel').addEventListener('click', () => client.cancel(serial));
  for (const id of ['finetune-samples', 'finetune-test-samples']) $(id).addEventListener('input', () => ($(id).dataset.edited = 'yes'));
  resetHeads();
  choose('pictures');

  return {
    /**
     * A new model (or the model at another size): its heads are gone.
     * @param {ModelInfo} info
     */
    modelLoaded(info) {
      model = { ownHead: info.numLabels > 0 };
      resetHeads();
      updateStart();
    },
    /**
     * Sample sizes suited to the backend, unless the person has set their own.
     * @param {boolean} fast
     */
    backendChanged(fast) {
      const [train, test] = fast ? DEFAULT_SAMPLES.gpu : DEFAULT_SAMPLES.cpu;
      /** @type {[string, number][]} */
      const fields = [['finetune-samples', train], ['finetune-test-samples', test]];
      for (const [id, n] of fields) {
        if (!input(id).dataset.edited) input(id).value = String(n);
      }
    },
    /** A fresh worker knows no data and no head: the data are sent again. */
    async workerRestarted() {
      resetHeads();
      for (const s of Object.values(sources)) await s.workerRestarted();
    },
  };
}

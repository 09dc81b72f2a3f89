// The person's own pictures as fine-tuning data: class cards filled from a dropped or chosen
// folder, an archive, files, or the webcam (hold a card's record button); the held-out split
// said as it changes; and live classification from the webcam. The pictures live in the worker
// (PictureData in src/wasm/pictures.rs).
import { setupCamera } from './camera.js';
import { dropTarget, pathOf } from './drop.js';
import { Code, WorkerError } from './protocol.js';
import { rgbaCanvas } from './rgba.js';
import { errorText } from './status.js';
import { topKItems } from './top_k.js';

/** @typedef {import('./protocol.js').PictureSummary} PictureSummary */
/** @typedef {import('./protocol.js').ClassSummary} ClassSummary */
/** @typedef {import('./protocol.js').Role} Role */
/** @typedef {import('./client.js').ModelClient} ModelClient */

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
const THUMB = 48; // thumbnail side, in pixels
const RECORD_EVERY_MS = 100;
const LIVE_EVERY_MS = 200;
/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * @param {{
 *   client: ModelClient, recover: (reason: string) => Promise<void>, changed: () => void,
 *   chosen: () => void, isModelLoaded: () => boolean
 * }} page `recover(reason)`: replaces a crashed worker; `changed()`: the classes changed;
 *   `chosen()`: pictures were added, so these are the data to train on.
 * @returns {import('./finetune.js').Source}
 */
export function setupPictures({ client, recover, changed, chosen, isModelLoaded }) {
  /** @type {PictureSummary} */
  let summary = { classes: [], pictures: 0, notes: [] };
  /** The pictures to train and test on, or why there are none. @type {{ train: Uint32Array, test: Uint32Array } | { error: string } | null} */
  let split = null;
  // Every change made, to make again in a fresh worker (files are kept as File or Blob handles,
  // which cost no memory here).
  /** @type {((client: ModelClient) => Promise<PictureSummary>)[]} */
  const history = [];
  let drawn = 0;
  /** The label being recorded into. @type {number | null} */
  let recording = null;
  let frames = 0;
  const camera = setupCamera(/** @type {HTMLVideoElement} */ ($('camera-video')));

  /** @param {string | null} message */
  function error(message) {
    $('pictures-error').hidden = !message;
    $('pictures-error').textContent = message ?? '';
  }

  /** @param {string[]} list */
  function notes(list) {
    $('pictures-notes').hidden = !list.length;
    $('pictures-notes').textContent = list.length ? `Skipped:\n${list.join('\n')}` : '';
  }

  const fraction = () => Number(input('finetune-test-percent').value) / 100;
  const seed = () => Number(input('finetune-seed').value) || 0;

  /**
   * Runs a change in the worker (and keeps it for a fresh one); shows what the pictures are after
   * it. Refused while a head trains on the pictures (its results point at them); an edit by index
   * is ignored while another is on its way (a second click on a card not yet redrawn would hit
   * another picture or class).
   */
  let locked = false;
  /** @type {Promise<unknown> | null} */
  let editing = null;
  /**
   * @param {(client: ModelClient) => Promise<PictureSummary>} op
   * @param {{ edit?: boolean }} [how]
   * @returns {Promise<PictureSummary | null>}
   */
  async function change(op, { edit = false } = {}) {
    if (locked) {
      error('The pictures cannot change while a head trains on them: wait for the run to end, or cancel it.');
      describe();
      return null;
    }
    if (edit && editing) return null;
    const run = (async () => {
      try {
        const next = await op(client);
        history.push(op);
        error(null);
        await show(next);
        return next;
      } catch (e) {
        error(/** @type {Error} */ (e).message);
        describe();
        if (e instanceof WorkerError && e.code === Code.crashed) await recover('The model worker crashed reading the pictures');
        return null;
      }
    })();
    if (edit) editing = run.finally(() => (editing = null));
    return run;
  }

  /**
   * Adds `files` (Files or Blobs, read in the worker) as `role`, by their folders' names, or into
   * class `label` when one is given.
   * @param {{ role?: Role, label?: number | null, files: Blob[], paths?: string[] }} add
   */
  async function add({ role = 'train', label = null, files, paths = files.map((f) => pathOf(/** @type {File} */ (f))) }) {
    if (!files.length) return;
    error(null);
    chosen();
    $('pictures-info').textContent = `reading ${files.length === 1 ? paths[0] : `${files.length} files`}…`;
    const result = await change((c) => c.addPictures({ role, label, paths, files }));
    if (result) notes(result.notes);
  }

  /** @param {PictureSummary} next */
  async function show(next) {
    summary = next;
    const draw = ++drawn;
    try {
      split = await client.splitPictures(fraction(), seed());
    } catch (e) {
      split = { error: errorText(e) };
    }
    if (draw !== drawn) return;
    // The cards are drawn anew: the control that had the focus gets it back.
    const focused = /** @type {HTMLElement | null} */ (document.activeElement?.closest?.('.class-card') ? document.activeElement : null);
    const where = focused && /** @type {const} */ ([[...$('classes').children].indexOf(/** @type {Element} */ (focused.closest('.class-card'))), focused.dataset.testid]);
    $('classes').replaceChildren(...summary.classes.map(card));
    if (where) /** @type {HTMLElement | null | undefined} */ ($('classes').children[where[0]]?.querySelector(`[data-testid=${where[1]}]`))?.focus();
    describe();
    changed();
    const shown = summary.classes.flatMap((c) => c.shown);
    if (!shown.length) return;
    const rgba = await client.pictureThumbnails(Uint32Array.from(shown), THUMB);
    if (draw !== drawn) return;
    let i = 0;
    for (const [label, c] of summary.classes.entries()) {
      const thumbs = /** @type {HTMLElement} */ ($('classes').children[label].querySelector('.thumbs'));
      thumbs.replaceChildren(...c.shown.map((index) => thumb(rgba, i++, index)));
    }
  }

  /**
   * @param {number} n
   * @param {string} one
   * @param {string} many
   */
  const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;

  function describe() {
    const classes = summary.classes.length;
    const what = `${count(summary.pictures, 'picture', 'pictures')} in ${count(classes, 'class', 'classes')}`;
    $('pictures-info').textContent = !classes
      ? 'No classes yet.'
      : !split || 'error' in split
        ? `${what}.`
        : `${what}: ${split.train.length} to train on, ${split.test.length} to test on (` +
          (summary.classes.some((c) => c.test) ? 'the test folder’s' : `${Math.round(fraction() * 100)}% of each class held out, chosen by seed ${seed()}`) +
          ').';
  }

  /**
   * @param {Uint8Array} rgba
   * @param {number} i its place in `rgba`
   * @param {number} index the picture's
   */
  function thumb(rgba, i, index) {
    const fig = document.createElement('figure');
    fig.className = 'thumb-small';
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'remove';
    remove.dataset.testid = 'remove-picture';
    remove.title = 'Remove this picture';
    remove.setAttribute('aria-label', 'Remove this picture');
    remove.textContent = '×';
    remove.addEventListener('click', () => change((c) => c.removePicture(index), { edit: true }));
    fig.append(rgbaCanvas(rgba, i, THUMB), remove);
    return fig;
  }

  /**
   * @param {ClassSummary} c
   * @param {number} label
   */
  function card(c, label) {
    const el = document.createElement('article');
    el.className = 'class-card';
    el.dataset.testid = 'class-card';
    el.innerHTML = `<div class="class-head"><input class="class-name" data-testid="class-name" aria-label="Class name"><span class="count" data-testid="class-count"></span></div>
      <div class="thumbs" data-testid="thumbs"></div>
      <div class="class-actions">
        <button type="button" class="button record" data-testid="record" title="Hold to record webcam frames into this class">Hold to record</button>
        <label class="button">Add pictures…<input type="file" data-testid="class-files" multiple accept="image/*" hidden></label>
        <button type="button" class="link" data-testid="class-clear">Empty</button>
        <button type="button" class="link" data-testid="class-remove">Remove</button>
      </div>`;
    const name = /** @type {HTMLInputElement} */ (el.querySelector('.class-name'));
    name.value = c.name;
    name.addEventListener('change', async () => {
      const to = name.value;
      if (!(await change((client) => client.renameClass(label, to), { edit: true }))) name.value = c.name;
    });
    /** @type {HTMLElement} */ (el.querySelector('.count')).textContent = `${count(c.train, 'picture', 'pictures')}${c.test ? `, ${c.test} to test on` : ''}`;
    const picker = /** @type {HTMLInputElement} */ (el.querySelector('[data-testid=class-files]'));
    picker.addEventListener('change', () => {
      const files = [...(picker.files ?? [])];
      picker.value = '';
      add({ label, files, paths: files.map((f) => f.name) });
    });
    /** @param {string} testid */
    const button$ = (testid) => /** @type {HTMLElement} */ (el.querySelector(`[data-testid=${testid}]`));
    button$('class-clear').addEventListener('click', () => change((client) => client.clearClass(label), { edit: true }));
    button$('class-remove').addEventListener('click', () => change((client) => client.removeClass(label), { edit: true }));
    // Held with the pointer or the keyboard; let go anywhere (the card is redrawn as frames come
    // in), it stops.
    const button = /** @type {HTMLElement} */ (el.querySelector('.record'));
    if (recording === label) button.classList.add('recording');
    button.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      record(label);
    });
    button.addEventListener('keydown', (e) => {
      if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) record(label);
    });
    return el;
  }

  /**
   * Takes a webcam frame into class `label` every RECORD_EVERY_MS while its button is held.
   * @param {number} label
   */
  async function record(label) {
    if (recording !== null) return;
    recording = label;
    if (!camera.on && !(await startCamera())) {
      recording = null;
      return;
    }
    chosen();
    while (recording === label) {
      const started = performance.now();
      const frame = await camera.frame();
      if (frame) {
        frames++;
        const add = { role: /** @type {Role} */ ('train'), label, paths: [`webcam frame ${frames}.jpg`], files: [frame] };
        await change((c) => c.addPictures(add));
      }
      await sleep(Math.max(0, RECORD_EVERY_MS - (performance.now() - started)));
    }
    await show(summary);
  }

  // ---- the webcam --------------------------------------------------------------------------------

  /** @param {string} text */
  function cameraStatus(text) {
    $('camera-status').textContent = text;
  }

  async function startCamera() {
    try {
      await camera.start();
      $('camera-toggle').textContent = 'Stop the webcam';
      const several = (await camera.count()) > 1;
      $('camera-switch').hidden = !camera.on || !several;
      $('camera-live-label').hidden = false;
      cameraStatus('Hold a class’s record button to add what the webcam sees to it.');
      return true;
    } catch (e) {
      cameraStatus(/** @type {Error} */ (e).message);
      $('camera-status').classList.add('error');
      return false;
    }
  }

  function stopCamera() {
    camera.stop();
    recording = null;
    input('camera-live').checked = false;
    $('camera-live-label').hidden = true;
    $('camera-switch').hidden = true;
    $('camera-toggle').textContent = 'Start the webcam';
    $('live-labels').replaceChildren();
  }

  /**
   * Classifies the webcam's frames with the chosen head while the box is ticked: one frame at a
   * time, the next taken when the last is answered, so that frames are dropped, never queued.
   */
  let liveRun = 0;
  async function live() {
    const me = ++liveRun;
    let updates = 0;
    while (me === liveRun && input('camera-live').checked && camera.on) {
      const started = performance.now();
      if (!isModelLoaded()) {
        cameraStatus('Load a model first.');
        input('camera-live').checked = false;
        break;
      }
      const frame = await camera.frame();
      if (frame) {
        try {
          const [result] = await client.classify([{ name: 'webcam frame', bytes: await frame.arrayBuffer() }]);
          if ('error' in result) throw new Error(result.error);
          showLive(result.topK, ++updates);
        } catch (e) {
          cameraStatus(/** @type {Error} */ (e).message);
          input('camera-live').checked = false;
          break;
        }
      }
      await sleep(Math.max(0, LIVE_EVERY_MS - (performance.now() - started)));
    }
  }

  /**
   * @param {import('./protocol.js').Prediction[]} topK
   * @param {number} updates
   */
  function showLive(topK, updates) {
    $('live-labels').dataset.updates = String(updates);
    $('live-labels').replaceChildren(...topKItems(topK));
  }

  // ---- wiring --------------------------------------------------------------------------------------

  for (const type of ['pointerup', 'pointercancel', 'keyup', 'blur']) window.addEventListener(type, () => (recording = null));
  $('camera-toggle').addEventListener('click', async () => {
    $('camera-status').classList.remove('error');
    if (camera.on) stopCamera();
    else await startCamera();
  });
  $('camera-switch').addEventListener('click', async () => {
    $('camera-status').classList.remove('error');
    // The camera is off for a moment: neither button means anything until the other is on.
    const buttons = [$('camera-switch'), $('camera-toggle')].map((b) => /** @type {HTMLButtonElement} */ (b));
    for (const b of buttons) b.disabled = true;
    try {
      await camera.next();
      if (input('camera-live').checked) live();
    } catch (e) {
      stopCamera();
      cameraStatus(/** @type {Error} */ (e).message);
      $('camera-status').classList.add('error');
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  });
  $('camera-live').addEventListener('change', () => {
    if (input('camera-live').checked) live();
  });
  $('add-class').addEventListener('click', () => {
    const names = new Set(summary.classes.map((c) => c.name));
    let n = summary.classes.length + 1;
    while (names.has(`Class ${n}`)) n++;
    chosen();
    const name = `Class ${n}`;
    change((c) => c.addClass(name));
  });
  /** @type {[string, Role][]} */
  const pickers = [['pictures-folder', 'train'], ['pictures-files', 'train'], ['pictures-test-folder', 'test']];
  for (const [id, role] of pickers) {
    input(id).addEventListener('change', () => {
      const files = [...(input(id).files ?? [])];
      input(id).value = '';
      add({ role, files });
    });
  }
  dropTarget($('pictures-drop'), (files) => add({ files }));
  for (const id of ['finetune-test-percent', 'finetune-seed']) $(id).addEventListener('change', () => summary.classes.length && show(summary));

  return {
    id: 'pictures',
    headFile: 'pictures-head.safetensors',
    trainedOn: (classNames) => `your ${classNames.length} classes: ${classNames.join(', ')}`,
    hint() {
      if (!summary.classes.length) return 'Add pictures: a folder of class folders, an archive of one, or classes filled from files or the webcam.';
      return split && 'error' in split ? split.error : '';
    },
    prepare(o, serial) {
      return client.preparePictures({ serial, fraction: o.testFraction, seed: o.train.seed, flip: o.flip });
    },
    /** A fresh worker has no pictures: every change is made again. */
    async workerRestarted() {
      if (!history.length) return;
      /** @type {string[]} */
      const failed = [];
      for (const op of [...history]) await op(client).catch((e) => failed.push(e.message));
      await show(await client.pictureSummary());
      if (failed.length) error(`Not all pictures came back into the new worker:\n${failed.join('\n')}`);
    },
    /**
     * Whether a run is using the pictures: they cannot change meanwhile.
     * @param {boolean} on
     */
    lock(on) {
      locked = on;
    },
  };
}

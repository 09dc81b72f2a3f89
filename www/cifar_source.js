// CIFAR-10 as fine-tuning data: the uploads, what they hold and a preview of each class. The
// images live in the worker (CifarData in src/wasm/data.rs).
import { Code, WorkerError } from './protocol.js';
import { rgbaCanvas } from './rgba.js';

/** @typedef {import('./protocol.js').SplitName} SplitName */
/** @typedef {import('./protocol.js').CifarSet} CifarSet */
/** @typedef {import('./protocol.js').CifarSummary} CifarSummary */

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const PREVIEW_PER_CLASS = 8;
/** @type {SplitName[]} */
const SPLITS = ['train', 'test'];

/**
 * @param {{
 *   client: import('./client.js').ModelClient, recover: (reason: string) => Promise<void>,
 *   changed: () => void, chosen: () => void
 * }} page `recover(reason)`: replaces a crashed worker; `changed()`: what the data holds
 *   changed; `chosen()`: a file was chosen, so this is the data to train on.
 * @returns {import('./finetune.js').Source}
 */
export function setupCifar({ client, recover, changed, chosen }) {
  /** What the splits hold. @type {CifarSummary | null} */
  let data = null;
  /** @type {Record<SplitName, File[]>} */
  const files = { train: [], test: [] };

  /** @param {string | null} message */
  function dataError(message) {
    $('cifar-error').hidden = !message;
    $('cifar-error').textContent = message ?? '';
  }

  /**
   * @param {CifarSet} set
   * @param {string[]} classNames
   */
  function describe(set, classNames) {
    if (!set.images) return 'none yet';
    const counts = set.perClass.map((n, i) => `${classNames[i]} ${n}`).join(', ');
    return `${set.images.toLocaleString('en')} images from ${set.files.join(', ')} (${counts})`;
  }

  /** @param {CifarSummary} summary */
  function showData(summary) {
    data = summary;
    for (const split of SPLITS) {
      $(`${split}-info`).textContent = describe(summary[split], summary.classNames);
      const input = /** @type {HTMLInputElement} */ ($(split === 'train' ? 'finetune-samples' : 'finetune-test-samples'));
      input.max = summary[split].images ? String(summary[split].images) : '';
    }
    changed();
  }

  /**
   * Replaces a split's files with `list`; each bad file gets its own error, the good ones stay.
   * @param {SplitName} split
   * @param {File[]} list
   */
  async function addFiles(split, list) {
    files[split] = list;
    dataError(null);
    /** @type {string[]} */
    const errors = [];
    let summary = await client.clearCifar(split);
    for (const file of list) {
      $(`${split}-info`).textContent = `reading ${file.name}…`;
      try {
        summary = await client.addCifar(split, file.name, await file.arrayBuffer());
      } catch (e) {
        errors.push(/** @type {Error} */ (e).message);
        if (e instanceof WorkerError && e.code === Code.crashed) {
          // The file that killed the worker is not sent to the next one; the others are.
          files[split] = list.filter((f) => f !== file);
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
    const split = data?.train.images ? 'train' : data?.test.images ? 'test' : null;
    grid.replaceChildren();
    grid.hidden = !split;
    if (!data || !split) return;
    const { classNames } = data;
    const { labels, rgba } = await client.previewCifar(split, PREVIEW_PER_CLASS);
    /** @type {Map<number, HTMLElement>} */
    const rows = new Map();
    labels.forEach((label, i) => {
      let row = rows.get(label);
      if (!row) {
        row = document.createElement('div');
        row.className = 'preview-row';
        row.innerHTML = '<span class="class-name"></span>';
        /** @type {HTMLElement} */ (row.firstChild).textContent = classNames[label];
        rows.set(label, row);
        grid.append(row);
      }
      row.append(rgbaCanvas(rgba, i, 32));
    });
  }

  for (const split of SPLITS) {
    const input = /** @type {HTMLInputElement} */ ($(`cifar-${split}-input`));
    input.addEventListener('change', () => {
      chosen();
      addFiles(split, [...(input.files ?? [])]).catch((err) => dataError(err.message));
      input.value = '';
    });
  }

  return {
    id: 'cifar',
    headFile: 'cifar10-head.safetensors',
    trainedOn: () => 'CIFAR-10',
    /** What is missing before training can start, or ''. */
    hint() {
      if (!data?.train.images) return 'Choose CIFAR-10 training data.';
      if (!data.test.images) return 'Choose CIFAR-10 test data (test_batch).';
      return '';
    },
    /** Features for run `serial`: a fixed sample of each split, as many as `o` says. */
    prepare(o, serial) {
      return client.prepareCifar({ serial, counts: /** @type {import('./protocol.js').ImageCounts} */ (o.counts), flip: o.flip });
    },
    /** A fresh worker knows no data: the files are sent again. */
    async workerRestarted() {
      for (const split of SPLITS) if (files[split].length) await addFiles(split, files[split]);
    },
  };
}

// CIFAR-10 as fine-tuning data: the uploads, what they hold and a preview of each class. The
// images live in the worker (`data.*`, CifarData in src/wasm/data.rs).
import { Code } from './protocol.js';
import { rgbaCanvas } from './rgba.js';

const $ = (id) => document.getElementById(id);
const PREVIEW_PER_CLASS = 8;

/// call: the worker RPC; recover(reason): replaces a crashed worker; changed(): what the data
/// holds changed; chosen(): a file was chosen, so this is the data to train on.
export function setupCifar({ call, recover, changed, chosen }) {
  const data = { train: null, test: null, classNames: [] };
  const files = { train: [], test: [] };

  function dataError(message) {
    $('cifar-error').hidden = !message;
    $('cifar-error').textContent = message ?? '';
  }

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
    changed();
  }

  /// Replaces a split's files with `list`; each bad file gets its own error, the good ones stay.
  async function addFiles(split, list) {
    files[split] = list;
    dataError(null);
    const errors = [];
    let summary = await call('data.clear', [split]);
    for (const file of list) {
      $(`${split}-info`).textContent = `reading ${file.name}…`;
      try {
        const bytes = await file.arrayBuffer();
        summary = await call('data.add', [split, file.name, new Uint8Array(bytes)], [bytes]);
      } catch (e) {
        errors.push(e.message);
        if (e.code === Code.crashed) {
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
      rows.get(label).append(rgbaCanvas(rgba, i, 32));
    });
  }

  for (const split of ['train', 'test']) {
    $(`cifar-${split}-input`).addEventListener('change', (e) => {
      chosen();
      addFiles(split, [...e.target.files]).catch((err) => dataError(err.message));
      e.target.value = '';
    });
  }

  return {
    id: 'cifar',
    headFile: 'cifar10-head.safetensors',
    trainedOn: () => 'CIFAR-10',
    /// What is missing before training can start, or ''.
    hint() {
      if (!data.train?.images) return 'Choose CIFAR-10 training data.';
      if (!data.test?.images) return 'Choose CIFAR-10 test data (test_batch).';
      return '';
    },
    /// Features for a run (`o` as finetune.js reads its options; `model` the loaded one's
    /// { fingerprint }): a fixed sample of each split, keyed by the model and the data.
    prepare(o, model) {
      const key = (split, flip) => `${model.fingerprint}/${data[split].fingerprint}/${flip ? 'mirrored' : 'plain'}`;
      const trainCount = Math.min(o.trainCount, data.train.images);
      const testCount = Math.min(o.testCount, data.test.images);
      const sets = [{ name: 'train', split: 'train', count: trainCount, flip: false, key: key('train', false) }];
      if (o.flip) sets.push({ name: 'mirrored', split: 'train', count: trainCount, flip: true, key: key('train', true) });
      sets.push({ name: 'test', split: 'test', count: testCount, flip: false, key: key('test', false) });
      return call('prepareFeatures', [sets]);
    },
    /// A fresh worker knows no data: the files are sent again.
    async workerRestarted() {
      for (const split of ['train', 'test']) if (files[split].length) await addFiles(split, files[split]);
    },
  };
}

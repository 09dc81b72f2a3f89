// Runs the model off the main thread: dispatch for the protocol in protocol.js. Requests run
// one at a time, in order; a cancel message is heard between batches of images.
import * as featureStore from './feature_store.js';
import { Code } from './protocol.js';

// Which build this worker runs (app.js picks): 'threads' or 'threads-relaxed', flex on a pool of
// Web Workers (one per core unless capped) for a cross-origin-isolated page; 'single' or
// 'single-relaxed', every backend, one thread. And which CPU matmul kernel ('auto': time them).
const params = new URL(self.location.href).searchParams;
const build = params.get('build');
let vit;
const post = (event, detail) => self.postMessage({ event, ...detail });
const ready = (async () => {
  const module = await import(`./${{ single: 'pkg', 'single-relaxed': 'pkg-relaxed' }[build] ?? `pkg-${build}`}/vit_wasm.js`);
  await module.default();
  if (build.startsWith('threads')) await module.initThreadPool(Number(params.get('threads')));
  // Before any model loads: the weights are laid out for the kernel.
  post('kernel', module.chooseCpuKernel(params.get('kernel')));
  vit = module;
  data = new module.CifarData();
})();
let queue = Promise.resolve();
let cancelled = false;

let backend = null;
let upload = null;
let model = null;
let data = null;

// Features by key (model, data, mirrored or not): the rows of a fixed sample order, so a prefix
// serves a smaller request and a larger one computes only the rows it lacks.
const inMemory = new Map();
let prepared = null;

async function features({ name, split, count, flip, key }) {
  const empty = { values: new Float32Array(), labels: new Uint8Array(), indices: new Uint32Array() };
  let have = inMemory.get(key) ?? (await featureStore.get(key)) ?? empty;
  const cached = Math.min(have.labels.length, count);
  if (have.labels.length < count) {
    const from = have.labels.length;
    post('progress', { name, done: from, total: count, cached });
    const more = await model.extractFeatures(data, split, from, count, flip, async (done, total) => {
      post('progress', { name, done: from + done, total: from + total, cached });
      // A macrotask, so that a cancel message can arrive.
      await new Promise((resolve) => setTimeout(resolve));
      return !cancelled;
    });
    // Kept even when cancelled: the next run starts where this one stopped.
    have = { values: concat(have.values, more.values), labels: concat(have.labels, more.labels), indices: concat(have.indices, more.indices) };
    inMemory.set(key, have);
    await featureStore.put(key, have);
    if (!more.complete) return null;
  } else {
    post('progress', { name, done: count, total: count, cached });
    inMemory.set(key, have);
  }
  const hidden = have.values.length / have.labels.length;
  return { values: have.values.subarray(0, count * hidden), labels: have.labels.subarray(0, count), indices: have.indices.subarray(0, count), computed: count - cached };
}

function concat(a, b) {
  const out = new a.constructor(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const fail = (code, message) => Object.assign(new Error(message), { code });

const ops = {
  // Replaced wasm objects are freed at once (a model holds hundreds of MB), not when the
  // garbage collector gets to their handles.
  async setBackend(name) {
    const next = await vit.Backend.start(name);
    model?.moveTo(next);
    backend?.free();
    backend = next;
    return backend.name;
  },
  beginWeights(name) {
    upload?.free();
    upload = new vit.WeightsUpload(name);
  },
  pushWeights(chunk) {
    if (!upload) throw fail('bad-request', 'no weights file is being received');
    try {
      upload.push(chunk);
    } catch (e) {
      upload.free();
      upload = null;
      throw e;
    }
  },
  dropWeights() {
    upload?.free();
    upload = null;
  },
  loadModel(config, preprocessor) {
    const weights = upload;
    upload = null;
    if (!weights) throw fail('bad-request', 'no weights file was received');
    // A bad file leaves the model there was; `finish` consumes the upload either way.
    const loaded = weights.finish(backend, config, preprocessor);
    model?.free();
    model = loaded;
    inMemory.clear();
    prepared = null;
    return model.info();
  },

  /// sets: [{ name, split, count, flip, key }]. Returns how many rows each set computed, or
  /// null when cancelled.
  async prepareFeatures(sets) {
    cancelled = false;
    prepared = null;
    const out = {};
    for (const set of sets) {
      out[set.name] = await features(set);
      if (!out[set.name]) return null;
    }
    // Only what this run uses stays in memory; the rest is in IndexedDB.
    for (const key of inMemory.keys()) if (!sets.some((s) => s.key === key)) inMemory.delete(key);
    prepared = out;
    return Object.fromEntries(sets.map((s) => [s.name, { rows: out[s.name].labels.length, computed: out[s.name].computed }]));
  },

  /// Trains a head on the prepared features (the mirrored ones added to the training set).
  async trainHead(options) {
    if (!prepared) throw fail('bad-request', 'no features are prepared');
    const { train, mirrored, test } = prepared;
    const trainSet = mirrored ? { values: concat(train.values, mirrored.values), labels: concat(train.labels, mirrored.labels) } : train;
    const result = await model.trainHead(trainSet, test, data.classNames(), options, ({ type, ...detail }) => post(type, detail));
    const wrong = [];
    result.testPredictions.forEach((predicted, i) => {
      if (predicted !== test.labels[i] && wrong.length < 12) wrong.push({ index: test.indices[i], label: test.labels[i], predicted });
    });
    const { testPredictions, ...rest } = result;
    return { ...rest, misclassified: wrong, misclassifiedRgba: data.rgba('test', Uint32Array.from(wrong, (w) => w.index)) };
  },
  forgetFeatures: () => featureStore.clear(),
};

/// `model.<method>` and `data.<method>`: a call on that object.
function forward(op, args) {
  const [name, method] = op.split('.');
  const target = { model, data }[name];
  if (!target) throw fail(name === 'model' ? 'no-model' : 'bad-request', name === 'model' ? 'load a model first' : `unknown op ${op}`);
  return target[method](...args);
}

self.onmessage = ({ data: message }) => {
  if (message.cancel) {
    cancelled = true;
    return;
  }
  const { id, op, args } = message;
  queue = queue.then(async () => {
    try {
      await ready;
    } catch (e) {
      // This build cannot run here (an old browser, a missing file): the page tries another.
      self.postMessage({ id, ok: false, error: `the ${build} build did not start: ${e?.message ?? e}`, code: Code.startFailed });
      return;
    }
    try {
      self.postMessage({ id, ok: true, value: await (ops[op] ? ops[op](...args) : forward(op, args)) });
    } catch (e) {
      // A trap leaves the wasm instance unusable: the page replaces this worker.
      const code = e instanceof WebAssembly.RuntimeError ? Code.crashed : (e?.code ?? 'internal');
      self.postMessage({ id, ok: false, error: String(e?.message ?? e), code });
    }
  });
};

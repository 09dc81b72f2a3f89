// Runs the model off the main thread. Requests run one at a time, in order; a cancel message
// is heard between batches of images. Events ({ event, ... }) report progress as work goes on.
import * as featureStore from './feature_store.js';

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
  // Before any model loads: the weights are packed for the kernel.
  post('kernel', module.chooseCpuKernel(params.get('kernel')));
  vit = module;
})();
let queue = Promise.resolve();
let cancelled = false;

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
    const more = await vit.extractFeatures(split, from, count, flip, async (done, total) => {
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

const ops = {
  setBackend: (name) => vit.setBackend(name),
  beginWeights: (name) => vit.beginWeights(name),
  pushWeights: (chunk) => vit.pushWeights(new Uint8Array(chunk)),
  loadModel(config, preprocessor) {
    inMemory.clear();
    prepared = null;
    return vit.loadModel(config && new Uint8Array(config), preprocessor && new Uint8Array(preprocessor));
  },
  warmUp: () => vit.warmUp(),
  classify: (names, files, topK) => vit.classify(names, files.map((bytes) => new Uint8Array(bytes)), topK),

  cifarAdd: (split, name, bytes) => vit.cifarAdd(split, name, new Uint8Array(bytes)),
  cifarClear: (split) => vit.cifarClear(split),
  cifarPreview: (split, perClass) => vit.cifarPreview(split, perClass),

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
    if (!prepared) throw new Error('no features are prepared');
    const { train, mirrored, test } = prepared;
    const result = await vit.trainHead(
      mirrored ? concat(train.values, mirrored.values) : train.values,
      mirrored ? concat(train.labels, mirrored.labels) : train.labels,
      test.values,
      test.labels,
      options,
      (step, loss) => post('step', { step, loss }),
      (report) => post('epoch', { report }),
    );
    const wrong = [];
    result.testPredictions.forEach((predicted, i) => {
      if (predicted !== test.labels[i] && wrong.length < 12) wrong.push({ index: test.indices[i], label: test.labels[i], predicted });
    });
    const { testPredictions, ...rest } = result;
    return { ...rest, misclassified: wrong, misclassifiedRgba: vit.cifarImages('test', Uint32Array.from(wrong, (w) => w.index)) };
  },
  exportHead: () => vit.exportHead(),
  importHead: (name, bytes) => vit.importHead(name, new Uint8Array(bytes)),
  useHead: (which) => vit.useHead(which),
  forgetFeatures: () => featureStore.clear(),
};

self.onmessage = ({ data }) => {
  if (data.cancel) {
    cancelled = true;
    return;
  }
  const { id, op, args } = data;
  queue = queue.then(async () => {
    try {
      await ready;
    } catch (e) {
      // This build cannot run here (an old browser, a missing file): the page tries another.
      self.postMessage({ id, ok: false, error: `the ${build} build did not start: ${e?.message ?? e}`, startFailed: true });
      return;
    }
    try {
      self.postMessage({ id, ok: true, value: await ops[op](...args) });
    } catch (e) {
      // A trap leaves the wasm instance unusable: the page replaces this worker.
      self.postMessage({ id, ok: false, error: String(e?.message ?? e), fatal: e instanceof WebAssembly.RuntimeError });
    }
  });
};

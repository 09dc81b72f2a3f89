// Runs the model off the main thread: dispatch for the protocol in protocol.js. Requests run
// one at a time, in order; a cancel message is heard between batches of images.
import * as featureStore from './feature_store.js';
import * as modelStore from './model_store.js';
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
  pictures = new module.PictureData();
})();
let queue = Promise.resolve();
let cancelled = false;

let backend = null;
let model = null;
let data = null;
let pictures = null;
// Where the loaded model came from ({ files } of a drop), so that it can be kept afterwards.
let loadedFrom = null;
// A download still being written to storage after its model is ready: the next model waits for it.
let storing = Promise.resolve();

// Features by key. CIFAR's (model, data, mirrored or not): the rows of a fixed sample order, so a
// prefix serves a smaller request and a larger one computes only the rows it lacks. The
// pictures' (model, mirrored or not): a row per picture, by the hash of its bytes.
const inMemory = new Map();
// The features of the run about to train: { sets: { train, mirrored?, test }, classNames, and
// of the test images thumbnails(indices) (side x side) and names(indices) }.
let prepared = null;
// The most picture bytes read at once: they are held in wasm memory, with the model.
const MAX_PICTURE_BYTES = 1 << 30;

/// Yields to the event loop (a macrotask), so that a cancel message can arrive.
const tick = () => new Promise((resolve) => setTimeout(resolve));

async function features({ name, split, count, flip, key }) {
  const empty = { values: new Float32Array(), labels: new Uint8Array(), indices: new Uint32Array() };
  let have = inMemory.get(key) ?? (await featureStore.get(key)) ?? empty;
  const cached = Math.min(have.labels.length, count);
  if (have.labels.length < count) {
    const from = have.labels.length;
    post('progress', { name, done: from, total: count, cached });
    const more = await model.extractFeatures(data, split, from, count, flip, async (done, total) => {
      post('progress', { name, done: from + done, total: from + total, cached });
      await tick();
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

/// Features of pictures `indices` (mirrored when `flip`) as `features` gives them: each picture's
/// row from the cache under `key` by its hash, the missing ones computed (once per distinct
/// picture).
async function pictureFeatures({ name, indices, flip, key }) {
  let have = inMemory.get(key) ?? (await featureStore.get(key)) ?? { hashes: [], values: new Float32Array() };
  const hashes = pictures.fingerprints(indices);
  let row = new Map(have.hashes.map((h, i) => [h, i]));
  const missing = new Map();
  hashes.forEach((h, k) => row.has(h) || missing.has(h) || missing.set(h, indices[k]));
  const cached = hashes.filter((h) => row.has(h)).length;
  post('progress', { name, done: cached, total: indices.length, cached });
  if (missing.size) {
    const more = await model.pictureFeatures(pictures, Uint32Array.from(missing.values()), flip, async (done) => {
      post('progress', { name, done: Math.min(cached + done, indices.length), total: indices.length, cached });
      await tick();
      return !cancelled;
    });
    // Kept even when cancelled: the next run starts where this one stopped. The rows computed
    // are the first of the missing pictures, in order.
    have = { hashes: [...have.hashes, ...[...missing.keys()].slice(0, more.labels.length)], values: concat(have.values, more.values) };
    inMemory.set(key, have);
    await featureStore.put(key, have);
    if (!more.complete) return null;
    row = new Map(have.hashes.map((h, i) => [h, i]));
  } else {
    inMemory.set(key, have);
  }
  post('progress', { name, done: indices.length, total: indices.length, cached });
  const hidden = model.info().hiddenSize;
  const values = new Float32Array(indices.length * hidden);
  hashes.forEach((h, k) => values.set(have.values.subarray(row.get(h) * hidden, (row.get(h) + 1) * hidden), k * hidden));
  return { values, labels: Uint8Array.from(pictures.labels(indices)), indices, computed: missing.size };
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
  /// Loads a model from `source` (see protocol.js), streaming the weights into wasm memory as
  /// they arrive; a download to keep is written to storage as it streams in, and its `kept` event
  /// follows once the disk has it. A bad file leaves the model there was. Returns { info, from,
  /// label }.
  async loadModel(source) {
    await storing;
    const parts = await modelParts(source);
    const keep = source.keepAs ? await keeper(source.keepAs) : null;
    try {
      if (keep) await keepConfigs(keep, parts);
      await keep?.add(parts.weights.name, parts.weights.size);
      const upload = new vit.WeightsUpload(parts.weights.name);
      try {
        const reader = parts.weights.stream.getReader();
        const total = parts.weights.size;
        const started = performance.now();
        let loaded = 0;
        let reported = 0;
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            upload.push(value);
            await keep?.write(parts.weights.name, value);
            loaded += value.byteLength;
            if (loaded - reported >= 1 << 22 || loaded === total) {
              reported = loaded;
              post('load', { name: parts.weights.name, from: parts.from, loaded, total, seconds: (performance.now() - started) / 1000 });
            }
          }
        } catch (e) {
          reader.cancel().catch(() => {});
          throw e;
        }
      } catch (e) {
        upload.free();
        throw e;
      }
      // `finish` consumes the upload, loaded or not.
      const loaded = upload.finish(backend, parts.config, parts.preprocessor);
      model?.free();
      model = loaded;
      inMemory.clear();
      prepared = null;
      loadedFrom = source.files ? source : null;
      const info = model.info();
      await parts.used?.();
      if (keep) {
        const manifest = { label: parts.label, weights: parts.weights.name, fingerprint: info.fingerprint, version: parts.version };
        storing = keep.commit(manifest).then(async (kept) => {
          // The copy this one replaced (an older version on the server): its features go with it.
          const old = keep.replaced()?.fingerprint;
          if (kept.id && old && old !== info.fingerprint) await featureStore.removeModel(old);
          post('kept', kept);
        });
      }
      return { info, from: parts.from, label: parts.label };
    } catch (e) {
      await keep?.abort();
      throw e;
    }
  },

  /// Keeps the dropped model loaded last as `id` (replacing an earlier one), so that a later
  /// visit starts with it.
  async keepModel(id) {
    if (!loadedFrom) throw fail('bad-request', 'no dropped model is loaded');
    await storing;
    const parts = await modelParts(loadedFrom);
    const store = await modelStore.create(id);
    try {
      await keepConfigs(store, parts);
      await store.add(parts.weights.name, parts.weights.size);
      for await (const chunk of parts.weights.stream) await store.write(parts.weights.name, chunk);
      await store.commit({ label: `${parts.label} (kept in this browser)`, weights: parts.weights.name, fingerprint: model.info().fingerprint });
    } catch (e) {
      await store.abort();
      throw e;
    }
  },

  /// sets: [{ name, split, count, flip, key }]. Returns how many rows each set computed, or
  /// null when cancelled.
  async prepareFeatures(sets) {
    return prepare(
      sets.map((set) => ({ ...set, get: () => features(set) })),
      { classNames: data.classNames(), thumbnails: (indices) => data.rgba('test', indices), side: 32, names: (indices) => Array.from(indices, (i) => `test image ${i}`) },
    );
  },

  /// Reads picture files (Files or Blobs) into the pictures as `role`, by their `paths`' folders,
  /// or into class `label`. Returns what the pictures are, with notes on what was skipped.
  async addPictures({ role, label, paths, files }) {
    const bytes = files.reduce((n, f) => n + f.size, 0);
    if (bytes > MAX_PICTURE_BYTES) {
      const what = files.length === 1 ? paths[0] : `${paths[0]} and ${files.length - 1} more`;
      throw fail('bad-pictures', `${what}: ${(bytes / 2 ** 20).toFixed(0)} MB of pictures at once; at most ${MAX_PICTURE_BYTES / 2 ** 20} MB`);
    }
    const read = [];
    for (const file of files) read.push(new Uint8Array(await file.arrayBuffer()));
    return label === null ? pictures.addFiles(role, paths, read) : pictures.addToClass(label, paths, read);
  },

  /// Features of the person's pictures, split as `fraction` and `seed` say (or by the test
  /// folder). Returns rows per set as prepareFeatures does, or null when cancelled.
  async preparePictures({ fraction, seed, flip }) {
    const split = pictures.split(fraction, seed);
    const { fingerprint } = model.info();
    const key = (mirrored) => `${fingerprint}/pictures/${mirrored ? 'mirrored' : 'plain'}`;
    const sets = [{ name: 'train', indices: split.train, flip: false, key: key(false) }];
    if (flip) sets.push({ name: 'mirrored', indices: split.train, flip: true, key: key(true) });
    sets.push({ name: 'test', indices: split.test, flip: false, key: key(false) });
    return prepare(sets.map((set) => ({ ...set, get: () => pictureFeatures(set) })), { classNames: pictures.classNames(), thumbnails: (indices) => pictures.thumbnails(indices, 64), side: 64, names: (indices) => pictures.names(indices) });
  },

  /// Trains a head on the prepared features (the mirrored ones added to the training set).
  async trainHead(options) {
    if (!prepared) throw fail('bad-request', 'no features are prepared');
    const { train, mirrored, test } = prepared.sets;
    const trainSet = mirrored ? { values: concat(train.values, mirrored.values), labels: concat(train.labels, mirrored.labels) } : train;
    const result = await model.trainHead(trainSet, test, prepared.classNames, options, ({ type, ...detail }) => post(type, detail));
    const wrong = [];
    result.testPredictions.forEach((predicted, i) => {
      if (predicted !== test.labels[i] && wrong.length < 12) wrong.push({ index: test.indices[i], label: test.labels[i], predicted });
    });
    const { testPredictions, ...rest } = result;
    const indices = Uint32Array.from(wrong, (w) => w.index);
    const names = prepared.names(indices);
    wrong.forEach((w, i) => (w.name = names[i]));
    return { ...rest, misclassified: wrong, misclassifiedRgba: prepared.thumbnails(indices), misclassifiedSide: prepared.side };
  },
};

// A model's optional config files, by the part of it they are.
const CONFIGS = { config: 'config.json', preprocessor: 'preprocessor_config.json' };

/// The configs a model has: { config, preprocessor }, each a Uint8Array or null, read with
/// `open(name)` (a File, a Response, or null where there is none).
async function readConfigs(open) {
  const out = {};
  for (const [part, name] of Object.entries(CONFIGS)) {
    const file = await open(name);
    out[part] = file && new Uint8Array(await file.arrayBuffer());
  }
  return out;
}

/// Writes the configs a model has to `store` (a model_store writer, or a keeper).
async function keepConfigs(store, parts) {
  for (const [part, name] of Object.entries(CONFIGS)) {
    if (!parts[part]) continue;
    await store.add(name, parts[part].byteLength);
    await store.write(name, parts[part]);
  }
}

/// Keeps a download as `id` as it streams, where it can: a failure (over quota, no storage,
/// another tab writing it) only means it is not kept. `commit` resolves to { id } or { error }.
async function keeper(id) {
  let store = null;
  let failed = null;
  try {
    store = await modelStore.create(id);
  } catch (e) {
    failed = e;
  }
  const attempt = async (step) => {
    try {
      if (store) await step(store);
    } catch (e) {
      failed = e;
      store = null;
    }
  };
  return {
    add: (name, bytes) => attempt((s) => s.add(name, bytes)),
    write: (name, chunk) => attempt((s) => s.write(name, chunk)),
    abort: () => store?.abort(),
    replaced: () => store?.replaced,
    commit: async (manifest) => {
      await attempt((s) => s.commit(manifest));
      return failed ? { error: failed.message } : { id };
    },
  };
}

/// The parts of a model: { label, from, weights: { name, size, stream }, config, preprocessor,
/// version?, used? } (configs as Uint8Array or null; `version` of a download, `used` of a kept
/// copy), from `source` (see protocol.js).
async function modelParts(source) {
  if (source.stored) {
    const { manifest, file, used } = await modelStore.open(source.stored);
    const weights = await file(manifest.weights);
    return {
      label: manifest.label,
      from: 'storage',
      used,
      weights: { name: manifest.weights, size: weights.size, stream: weights.stream() },
      ...(await readConfigs(file)),
    };
  }
  if (source.files) {
    const byName = (n) => source.files.find((f) => f.name === n);
    const weights = byName('model.safetensors') ?? source.files.find((f) => f.name.endsWith('.safetensors'));
    if (!weights) throw fail('bad-request', `no .safetensors file among ${source.files.map((f) => f.name).join(', ') || 'the dropped files'}`);
    return {
      label: weights.name,
      from: 'file',
      weights: { name: weights.name, size: weights.size, stream: weights.stream() },
      ...(await readConfigs(async (name) => byName(name) ?? null)),
    };
  }
  const url = (name) => new URL(name, source.server);
  const get = async (name) => {
    const response = await fetch(url(name));
    if (!response.ok && response.status !== 404) throw fail('bad-request', `${url(name)}: HTTP ${response.status}`);
    return response.ok ? response : null;
  };
  const weights = await get('model.safetensors');
  if (!weights) throw fail('bad-request', `${url('model.safetensors')}: HTTP 404`);
  return {
    label: `${url('model.safetensors').pathname.slice(1)} (from this server)`,
    from: 'network',
    weights: { name: 'model.safetensors', size: Number(weights.headers.get('Content-Length')) || 0, stream: weights.body },
    version: modelStore.version(weights),
    ...(await readConfigs(get)),
  };
}

/// Computes each of `sets` ([{ name, key, get }]: `get` gives its features, or null when
/// cancelled; `key` is where they are cached) for the run about to train, `about` the rest it
/// needs. Returns how many rows each set has and computed, or null when cancelled.
async function prepare(sets, about) {
  cancelled = false;
  prepared = null;
  const out = {};
  for (const set of sets) {
    out[set.name] = await set.get();
    if (!out[set.name]) return null;
  }
  // Only what this run uses stays in memory; the rest is in IndexedDB.
  for (const key of inMemory.keys()) if (!sets.some((s) => s.key === key)) inMemory.delete(key);
  prepared = { sets: out, ...about };
  return Object.fromEntries(sets.map((s) => [s.name, { rows: out[s.name].labels.length, computed: out[s.name].computed }]));
}

/// `model.<method>`, `data.<method>` and `pictures.<method>`: a call on that object.
function forward(op, args) {
  const [name, method] = op.split('.');
  const target = { model, data, pictures }[name];
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
      // (A DOMException's `code` is a number: not one of ours.)
      const code = e instanceof WebAssembly.RuntimeError ? Code.crashed : typeof e?.code === 'string' ? e.code : 'internal';
      self.postMessage({ id, ok: false, error: String(e?.message ?? e), code });
    }
  });
};

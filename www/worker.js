// The model worker: starts its wasm build, then runs protocol.js's operations, each from the
// table below (nothing else is reachable), one at a time and in order. A cancel message is heard
// between batches of images. Features live in feature_cache.js, models come through
// model_source.js.
import { FeatureCache } from './feature_cache.js';
import { ModelSources } from './model_source.js';
import { Code, WorkerError } from './protocol.js';

/** @typedef {import('./protocol.js').Ops} Ops */
/** @typedef {import('./protocol.js').Op} Op */
/** @typedef {import('./protocol.js').WorkerEvent} WorkerEvent */
/** @typedef {import('./protocol.js').BuildName} BuildName */
/**
 * The wasm module: every build exports the same API (www/pkg/vit_wasm.d.ts declares it), the
 * threaded ones with their pool's start besides.
 * @typedef {typeof import('./pkg/vit_wasm.js')} Vit
 */
/** @typedef {Vit & { initThreadPool: (threads: number) => Promise<unknown> }} ThreadedVit */
/** @typedef {import('./pkg/vit_wasm.js').Model} Model */

const scope = /** @type {DedicatedWorkerGlobalScope} */ (/** @type {unknown} */ (self));

// Which build this worker runs (client.js picks): 'threads' or 'threads-relaxed', flex on a pool
// of Web Workers (one per core unless capped) for a cross-origin-isolated page; 'single' or
// 'single-relaxed', every backend, one thread. And which CPU matmul kernel ('auto': time them).
const params = new URL(scope.location.href).searchParams;
const build = /** @type {BuildName} */ (params.get('build'));
const PACKAGES = { single: 'pkg', 'single-relaxed': 'pkg-relaxed', threads: 'pkg-threads', 'threads-relaxed': 'pkg-threads-relaxed' };

/** @param {WorkerEvent} event */
const post = (event) => scope.postMessage(event);

/**
 * What the worker holds once its build has started.
 * @typedef {{
 *   vit: Vit, data: import('./pkg/vit_wasm.js').CifarData, pictures: import('./pkg/vit_wasm.js').PictureData,
 *   sources: ModelSources, backend: import('./pkg/vit_wasm.js').Backend | null, model: Model | null
 * }} State
 */

/** @type {Promise<State>} */
const started = (async () => {
  const vit = /** @type {Vit} */ (await import(`./${PACKAGES[build]}/vit_wasm.js`));
  await vit.default();
  if (build.startsWith('threads')) {
    const threads = Number(params.get('threads'));
    post({ event: 'pool', threads });
    await /** @type {ThreadedVit} */ (vit).initThreadPool(threads);
  }
  // Before any model loads: the weights are laid out for the kernel.
  post({ event: 'kernel', ...vit.chooseCpuKernel(params.get('kernel') ?? undefined) });
  return { vit, data: new vit.CifarData(), pictures: new vit.PictureData(), sources: new ModelSources(vit, post), backend: null, model: null };
})();

const features = new FeatureCache(post);

/** @param {State} state */
function loaded({ model }) {
  if (!model) throw new WorkerError('load a model first', Code.noModel);
  return model;
}

/**
 * Every operation, as protocol.js's `Ops` declares it.
 * @param {State} s
 * @returns {{ [K in Op]: (...args: Ops[K]['args']) => Promise<Ops[K]['value']> | Ops[K]['value'] }}
 */
const operations = (s) => ({
  // Replaced wasm objects are freed at once (a model holds hundreds of MB), not when the garbage
  // collector gets to their handles.
  async setBackend(name) {
    const next = await s.vit.Backend.start(name);
    try {
      s.model?.moveTo(next);
    } catch (e) {
      next.free();
      throw e;
    }
    s.backend?.free();
    s.backend = next;
    return next.name;
  },
  async loadModel(source) {
    if (!s.backend) throw new WorkerError('no backend is started', Code.badRequest);
    const { model, from, label } = await s.sources.load(source, s.backend, (model) => {
      s.model?.free();
      s.model = model;
      features.clear();
    });
    return { info: model.info(), from, label };
  },
  keepModel: (id) => s.sources.keep(id, loaded(s).info().fingerprint),
  serverModelVersion: (server) => s.sources.serverVersion(server),
  atImageSize: (size) => loaded(s).atImageSize(size),
  warmUp: () => loaded(s).warmUp(),
  classify: (names, files) => loaded(s).classify(names, files),
  useHead: (which) => loaded(s).useHead(which),
  exportHead: () => loaded(s).exportHead(),
  importHead: (name, bytes) => loaded(s).importHead(name, bytes),
  /** The run's options, and a CIFAR-10 run's image counts: checked before anything starts. */
  checkOptions(options, counts) {
    s.vit.checkTrainOptions(options);
    if (counts) for (const split of /** @type {const} */ (['train', 'test'])) s.vit.imageCount(split, counts[split]);
  },
  addCifar: (split, name, bytes) => s.data.add(split, name, bytes),
  clearCifar: (split) => s.data.clear(split),
  previewCifar: (split, perClass) => s.data.preview(split, perClass),
  /** Reads picture files (Files or Blobs) into the pictures, by folder or into class `label`. */
  async addPictures({ role, label, paths, files }) {
    const bytes = files.reduce((n, f) => n + f.size, 0);
    // Before reading them: the browser holds what it reads until wasm has it.
    s.pictures.checkRoom(files.length === 1 ? paths[0] : `${paths[0]} and ${files.length - 1} more`, bytes);
    const read = [];
    for (const file of files) read.push(new Uint8Array(await file.arrayBuffer()));
    return label === null ? s.pictures.addFiles(role, paths, read) : s.pictures.addToClass(label, paths, read);
  },
  pictureSummary: () => s.pictures.summary(),
  addClass: (name) => s.pictures.addClass(name),
  renameClass: (label, name) => s.pictures.renameClass(label, name),
  clearClass: (label) => s.pictures.clearClass(label),
  removeClass: (label) => s.pictures.removeClass(label),
  removePicture: (index) => s.pictures.removePicture(index),
  splitPictures: (fraction, seed) => s.pictures.split(fraction, seed),
  pictureThumbnails: (indices, side) => s.pictures.thumbnails(indices, side),
  prepareCifar: (run) => features.prepareCifar(s.vit, loaded(s), s.data, run),
  preparePictures: (run) => features.preparePictures(loaded(s), s.pictures, run),
  /** Trains a head on the prepared features; the result with some misclassified test images. */
  async trainHead(options) {
    const run = features.prepared;
    if (!run?.sets.train || !run.sets.test) throw new WorkerError('no features are prepared', Code.badRequest);
    const { train, mirrored, test } = run.sets;
    const result = await loaded(s).trainHead({ train, mirrored, test }, run.classNames, options, post);
    /** @type {import('./protocol.js').Misclassified[]} */
    const wrong = [];
    result.testPredictions.forEach((predicted, i) => {
      if (predicted !== test.labels[i] && wrong.length < 12) wrong.push({ index: test.indices[i], label: test.labels[i], predicted, name: '' });
    });
    const { testPredictions, ...rest } = result;
    const indices = Uint32Array.from(wrong, (w) => w.index);
    const names = run.names(indices);
    wrong.forEach((w, i) => (w.name = names[i]));
    return { ...rest, misclassified: wrong, misclassifiedRgba: run.thumbnails(indices), misclassifiedSide: run.side };
  },
});

/** The table, once the build has started. */
const ready = started.then((state) => operations(state));

/** @param {import('./protocol.js').Reply} reply */
const answer = (reply) => scope.postMessage(reply);

/** @type {Promise<void>} */
let queue = Promise.resolve();

scope.onmessage = ({ data }) => {
  const message = /** @type {import('./protocol.js').Request | import('./protocol.js').Cancel} */ (data);
  if ('cancel' in message) {
    features.cancel(message.cancel);
    return;
  }
  const { id, op, args } = message;
  queue = queue.then(async () => {
    let ops;
    try {
      ops = await ready;
    } catch (e) {
      // This build cannot run here (an old browser, a missing file): the page tries another.
      answer({ id, ok: false, error: `the ${build} build did not start: ${e instanceof Error ? e.message : e}`, code: Code.startFailed });
      return;
    }
    try {
      if (!Object.hasOwn(ops, op)) throw new WorkerError(`unknown operation ${op}`, Code.badRequest);
      const run = /** @type {(...args: unknown[]) => unknown} */ (ops[op]);
      answer({ id, ok: true, value: await run(...args) });
    } catch (e) {
      // A trap leaves the wasm instance unusable: the page replaces this worker. (A
      // DOMException's `code` is a number: not one of ours.)
      const error = /** @type {{ message?: string, code?: unknown }} */ (e);
      const code = e instanceof WebAssembly.RuntimeError ? Code.crashed : typeof error?.code === 'string' ? /** @type {import('./protocol.js').ErrorCode} */ (error.code) : Code.internal;
      answer({ id, ok: false, error: String(error?.message ?? e), code });
    }
  });
};

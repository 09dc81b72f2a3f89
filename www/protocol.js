// The page ↔ worker protocol, declared once. The page posts requests and a cancel; the worker
// answers each request once, in order, and posts events as work goes on. Bytes travel as
// Uint8Array (their buffers transferred).

/**
 * A request. `op` is a worker op (below) or `model.<method>` / `data.<method>` /
 * `pictures.<method>`: a call on the loaded model (`Model` in src/wasm/model.rs), on the uploaded
 * CIFAR-10 images (`CifarData` in src/wasm/data.rs) or on the person's pictures (`PictureData`
 * in src/wasm/pictures.rs), `args` passed as they are.
 *
 * Worker ops: `setBackend(name)` → the backend's name; `loadModel(source)` → { info, from,
 * label } (the model's info; 'network', 'storage' or 'file'; a label for the page), a download
 * to keep followed by a `kept` event; `keepModel(id)` keeps the
 * dropped model loaded last; `addPictures({ role, label, paths, files })` reads picture files
 * (Files or Blobs) into the pictures, by folder or into class `label` → what they are;
 * `prepareFeatures(sets)` (CIFAR-10) and `preparePictures({ fraction, seed, flip })` → rows per
 * set, or null when cancelled; `trainHead(options)` → the result with the misclassified test
 * images.
 * @typedef {{ id: number, op: string, args: unknown[] }} Request
 * @typedef {{ cancel: true }} Cancel
 */

/**
 * Where a model comes from: this server's folder (`server`: its URL, ending in '/'; kept as it
 * downloads under `keepAs`), files the person dropped or chose, or a copy this browser keeps
 * (model_store.js). The worker reads each itself.
 * @typedef {{ server: string, keepAs?: string } | { files: File[] } | { stored: string }} ModelSource
 */

/**
 * The answer to request `id`: its value, or why it failed.
 * @typedef {{ id: number, ok: true, value: unknown }
 *   | { id: number, ok: false, error: string, code: ErrorCode }} Reply
 */

/**
 * Progress, posted as it happens:
 * `kernel`: { kernel, measured: [{ kernel, gmacs }] | null }, the CPU matmul kernel chosen at start;
 * `load`: { name, from, loaded, total }, the weights streaming in (total 0 when unknown);
 * `kept`: { id } once a download is in the browser's storage, or { error } when it could not be;
 * `progress`: { name, done, total, cached }, feature extraction;
 * `step`: { step, loss } and `epoch`: { report }, head training.
 * @typedef {{ event: 'kernel' | 'load' | 'kept' | 'progress' | 'step' | 'epoch' } & Record<string, unknown>} Event
 */

/**
 * Why a request failed. The library's codes (`VitError::code` in src/error.rs), and the
 * worker's own: `start-failed` (this wasm build does not run here: try another),
 * `crashed` (a trap: the wasm instance is unusable, replace the worker), `no-model`.
 * @typedef {'bad-weights' | 'bad-config' | 'bad-image' | 'bad-cifar' | 'bad-pictures' | 'bad-head'
 *   | 'bad-training' | 'bad-request' | 'not-finite' | 'no-head' | 'backend-failed' | 'start-failed'
 *   | 'crashed' | 'no-model' | 'internal'} ErrorCode
 */

/** The codes the page branches on. */
export const Code = Object.freeze({
  backendFailed: 'backend-failed',
  startFailed: 'start-failed',
  crashed: 'crashed',
});

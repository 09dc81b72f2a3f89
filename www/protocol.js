// The page ↔ worker interface, declared once: the values the wasm module returns, the worker's
// operations (a closed table: `Ops`), the events it posts, and the errors. The page calls the
// operations through client.js, whose methods mirror `Ops`; worker.js implements every one of
// them and nothing else. Bytes travel as Uint8Array, their buffers transferred. The wasm module's
// own declarations (www/pkg*/vit_wasm.d.ts) name these types for what it returns.

// ---- values --------------------------------------------------------------------------------------

/** @typedef {'wgpu' | 'flex' | 'ndarray'} BackendName */
/** @typedef {'train' | 'test'} SplitName */
/** @typedef {'train' | 'test'} Role */
/** @typedef {'original' | 'trained'} HeadChoice */

/**
 * A wasm build of the model (www/build.sh): one thread with every backend, or flex on a pool of
 * Web Workers; each with relaxed SIMD's fused multiply-add or without.
 * @typedef {'single' | 'single-relaxed' | 'threads' | 'threads-relaxed'} BuildName
 */

/**
 * The loaded model (`session::ModelInfo` in src/session.rs, and the wasm memory).
 * @typedef {{
 *   imageSize: number, nativeImageSize: number, maxImageSize: number, patchSize: number,
 *   hiddenSize: number, numLayers: number, numHeads: number, numLabels: number,
 *   parameters: number, backend: BackendName, batch: number, fingerprint: string,
 *   wasmMemoryBytes: number
 * }} ModelInfo
 */

/** @typedef {{ index: number, label: string, probability: number }} Prediction */

/**
 * One image's answer (`session::Classification`): the attention rollout is `grid` x `grid`.
 * @typedef {{
 *   topK: Prediction[], milliseconds: number, batch: number, backend: BackendName,
 *   attention: number[], grid: number
 * }} Classification
 */
/** @typedef {{ error: string, code: ErrorCode }} ClassifyFailure */
/** @typedef {Classification | ClassifyFailure} Classified */

/** @typedef {{ kernel: string, gmacs: number }} KernelTiming */
/**
 * The CPU matmul kernel in use; `measured` (the chosen one first) when it was timed at start.
 * @typedef {{ kernel: string, measured: KernelTiming[] | null }} KernelChoice
 */

/** @typedef {{ weights: string, config: string, preprocessor: string }} ModelFileNames */

/** @typedef {{ values: Float32Array, labels: Uint8Array }} FeatureRows */
/**
 * Features of some images, and which ones; `complete` is false when a cancel stopped it.
 * @typedef {FeatureRows & { indices: Uint32Array, complete: boolean }} Extracted
 */
/** @typedef {(done: number, total: number) => boolean | Promise<boolean>} FeatureProgress */
/** @typedef {{ train: FeatureRows, mirrored?: FeatureRows, test: FeatureRows }} FeatureSets */
/** @typedef {{ train: number, test: number }} ImageCounts How many of each CIFAR-10 split a run uses. */

/**
 * Training options as the form has them: numbers, checked by the library (`train::options`).
 * @typedef {{ epochs: number, batchSize: number, learningRate: number, weightDecay: number, seed: number }} TrainNumbers
 */
/** @typedef {{ epoch: number, meanLoss: number, trainAccuracy: number, testAccuracy: number }} EpochReport */
/**
 * A trained head's scores: `confusion[true][predicted]` on the test rows.
 * @typedef {{ reports: EpochReport[], confusion: number[][], testPredictions: number[], classNames: string[] }} Trained
 */
/** @typedef {StepEvent | EpochEvent} TrainEvent */

/** @typedef {{ images: number, files: string[], perClass: number[], fingerprint: string }} CifarSet */
/** @typedef {{ train: CifarSet, test: CifarSet, classNames: string[] }} CifarSummary */
/** @typedef {{ labels: Uint8Array, rgba: Uint8Array }} CifarPreview */

/** @typedef {{ name: string, train: number, test: number, shown: number[] }} ClassSummary */
/**
 * The person's pictures after a change; `notes` say what it skipped, and why.
 * @typedef {{ classes: ClassSummary[], pictures: number, notes: string[] }} PictureSummary
 */
/** @typedef {{ train: Uint32Array, test: Uint32Array }} PictureSplit */

// ---- requests ------------------------------------------------------------------------------------

/**
 * A model on the Hugging Face hub (hub.js): its id (ORG/NAME), a revision, and the hub's address.
 * @typedef {{ id: string, revision: string, endpoint: string }} HubModel
 */
/**
 * Where a model comes from: this server's folder (`server`: its URL, ending in '/'), the
 * Hugging Face hub (each kept as it downloads under `keepAs`), files the person dropped or
 * chose, or a copy this browser keeps (model_store.js). The worker reads each itself.
 * @typedef {{ server: string, keepAs?: string } | { hub: HubModel, keepAs?: string } | { files: File[] } | { stored: string }} ModelSource
 */
/** @typedef {'network' | 'storage' | 'file'} LoadedFrom */
/** @typedef {{ info: ModelInfo, from: LoadedFrom, label: string }} Loaded */

/**
 * Picture files (Files or Blobs) to add as `role`, by their `paths`' folders, or into class
 * `label` when it is not null.
 * @typedef {{ role: Role, label: number | null, paths: string[], files: Blob[] }} AddPictures
 */

/** @typedef {'train' | 'mirrored' | 'test'} SetName */
/**
 * A CIFAR-10 run's features: the first `counts` of each split's fixed sample, and the training
 * images mirrored too when `flip`. `serial` numbers the page's runs, for `Cancel`.
 * @typedef {{ serial: number, counts: ImageCounts, flip: boolean }} CifarRun
 */
/**
 * A run on the person's pictures: split by `fraction` and `seed` (or by the test folder).
 * @typedef {{ serial: number, fraction: number, seed: number, flip: boolean }} PicturesRun
 */
/**
 * How many rows each set of a prepared run has, and how many were computed (not cached).
 * @typedef {Partial<Record<SetName, { rows: number, computed: number }>>} Prepared
 */
/** @typedef {{ index: number, label: number, predicted: number, name: string }} Misclassified */
/**
 * A trained head's scores and some misclassified test images (`side` x `side` RGBA thumbnails).
 * @typedef {Omit<Trained, 'testPredictions'> & { misclassified: Misclassified[], misclassifiedRgba: Uint8Array, misclassifiedSide: number }} TrainResult
 */

/**
 * The worker's operations: each one's arguments and what it resolves to. Requests run one at a
 * time, in order; a `Cancel` stops a run's feature extraction between batches.
 * @typedef {{
 *   setBackend: { args: [name: BackendName], value: BackendName },
 *   loadModel: { args: [source: ModelSource], value: Loaded },
 *   keepModel: { args: [id: string], value: void },
 *   serverModelVersion: { args: [server: string], value: string | null },
 *   atImageSize: { args: [size: number], value: ModelInfo },
 *   warmUp: { args: [], value: number },
 *   classify: { args: [names: string[], files: Uint8Array[]], value: Classified[] },
 *   useHead: { args: [which: HeadChoice], value: void },
 *   exportHead: { args: [], value: Uint8Array },
 *   importHead: { args: [name: string, bytes: Uint8Array], value: string[] },
 *   checkOptions: { args: [options: TrainNumbers, counts: ImageCounts | null], value: void },
 *   addCifar: { args: [split: SplitName, name: string, bytes: Uint8Array], value: CifarSummary },
 *   clearCifar: { args: [split: SplitName], value: CifarSummary },
 *   previewCifar: { args: [split: SplitName, perClass: number], value: CifarPreview },
 *   addPictures: { args: [add: AddPictures], value: PictureSummary },
 *   pictureSummary: { args: [], value: PictureSummary },
 *   addClass: { args: [name: string], value: PictureSummary },
 *   renameClass: { args: [label: number, name: string], value: PictureSummary },
 *   clearClass: { args: [label: number], value: PictureSummary },
 *   removeClass: { args: [label: number], value: PictureSummary },
 *   removePicture: { args: [index: number], value: PictureSummary },
 *   splitPictures: { args: [fraction: number, seed: number], value: PictureSplit },
 *   pictureThumbnails: { args: [indices: Uint32Array, side: number], value: Uint8Array },
 *   prepareCifar: { args: [run: CifarRun], value: Prepared | null },
 *   preparePictures: { args: [run: PicturesRun], value: Prepared | null },
 *   trainHead: { args: [options: TrainNumbers], value: TrainResult },
 * }} Ops
 */
/** @typedef {keyof Ops} Op */
/**
 * A request: operation `op` with its arguments.
 * @typedef {{ [K in Op]: { id: number, op: K, args: Ops[K]['args'] } }[Op]} Request
 */
/**
 * Cancels the feature extraction of run `cancel` (a `serial`), whether it runs now or has not
 * started yet: a cancel sent right after a run's request is heard by that run.
 * @typedef {{ cancel: number }} Cancel
 */
/**
 * The answer to request `id`: its value, or why it failed.
 * @typedef {{ id: number, ok: true, value: unknown } | { id: number, ok: false, error: string, code: ErrorCode }} Reply
 */

// ---- events --------------------------------------------------------------------------------------

/** @typedef {{ event: 'pool', threads: number }} PoolEvent A threaded build's pool starting (the kernel event follows once it has). */
/** @typedef {{ event: 'kernel' } & KernelChoice} KernelEvent The CPU matmul kernel chosen at start. */
/**
 * The weights streaming in: `seconds` since the first byte; `total` 0 when unknown.
 * @typedef {{ event: 'load', name: string, from: LoadedFrom, loaded: number, total: number, seconds: number }} LoadEvent
 */
/**
 * A download kept in the browser's storage (`id`), or why it could not be (`error`).
 * @typedef {{ event: 'kept', id?: string, error?: string }} KeptEvent
 */
/**
 * Feature extraction of one set: `cached` of its rows came from the cache.
 * @typedef {{ event: 'progress', name: SetName, done: number, total: number, cached: number }} ProgressEvent
 */
/** @typedef {{ event: 'step', step: number, loss: number }} StepEvent A training step's loss. */
/** @typedef {{ event: 'epoch', report: EpochReport }} EpochEvent An epoch's scores. */
/** @typedef {PoolEvent | KernelEvent | LoadEvent | KeptEvent | ProgressEvent | StepEvent | EpochEvent} WorkerEvent */
/**
 * Each event by its name.
 * @typedef {{ [E in WorkerEvent as E['event']]: E }} Events
 */

// ---- errors --------------------------------------------------------------------------------------

/**
 * Why a request failed. The library's codes (`VitError::code` in src/error.rs), and the
 * worker's and the client's own: `start-failed` (this wasm build does not run here: try
 * another), `crashed` (a trap: the wasm instance is unusable, replace the worker), `replaced`
 * (the worker was replaced while the request waited), `no-model`, `internal`; and the hub's
 * (hub.js): `hub-gated`, `hub-not-found` (no such repository or revision, or a private one),
 * `hub-no-safetensors` (none to read, or only pickles), `hub-unavailable` (not reached).
 * @typedef {'bad-weights' | 'bad-config' | 'bad-image' | 'bad-cifar' | 'bad-pictures' | 'bad-head'
 *   | 'bad-training' | 'bad-option' | 'bad-request' | 'not-finite' | 'no-head' | 'backend-failed'
 *   | 'start-failed' | 'crashed' | 'replaced' | 'no-model' | 'internal'
 *   | 'hub-gated' | 'hub-not-found' | 'hub-no-safetensors' | 'hub-unavailable'} ErrorCode
 */

/** An error a request failed with, its code beside its message. */
export class WorkerError extends Error {
  /**
   * @param {string} message
   * @param {ErrorCode} code
   */
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/** The codes the page branches on. */
export const Code = Object.freeze({
  backendFailed: /** @type {ErrorCode} */ ('backend-failed'),
  badOption: /** @type {ErrorCode} */ ('bad-option'),
  badRequest: /** @type {ErrorCode} */ ('bad-request'),
  noModel: /** @type {ErrorCode} */ ('no-model'),
  startFailed: /** @type {ErrorCode} */ ('start-failed'),
  crashed: /** @type {ErrorCode} */ ('crashed'),
  replaced: /** @type {ErrorCode} */ ('replaced'),
  internal: /** @type {ErrorCode} */ ('internal'),
  hubGated: /** @type {ErrorCode} */ ('hub-gated'),
  hubNotFound: /** @type {ErrorCode} */ ('hub-not-found'),
  hubNoSafetensors: /** @type {ErrorCode} */ ('hub-no-safetensors'),
  hubUnavailable: /** @type {ErrorCode} */ ('hub-unavailable'),
});

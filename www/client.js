// The page's side of the model worker: which wasm build to run (and the next one when a build
// does not start here), the worker's life (started, replaced, a dead one reported), and one
// method per operation of protocol.js's `Ops`, as web-llm's client mirrors its engine.
import { Code, WorkerError } from './protocol.js';

/** @typedef {import('./protocol.js').Ops} Ops */
/** @typedef {import('./protocol.js').Op} Op */
/** @typedef {import('./protocol.js').Events} Events */
/** @typedef {import('./protocol.js').BuildName} BuildName */
/** @typedef {import('./protocol.js').BackendName} BackendName */

// A module whose one function is an f32x4.relaxed_madd: valid only where relaxed SIMD is.
const RELAXED_SIMD_PROBE = [0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11];

/**
 * The builds to try for each kind of backend, best first: with relaxed SIMD where the browser
 * validates it (unless `relaxed` is false); threaded for the CPU where the page is
 * cross-origin isolated and more than one thread is allowed.
 * @param {{ threads: number, relaxed: boolean }} options
 * @returns {{ cpu: BuildName[], gpu: BuildName[] }}
 */
function buildLists({ threads, relaxed }) {
  const fused = relaxed && WebAssembly.validate(new Uint8Array(RELAXED_SIMD_PROBE));
  /** @param {('single' | 'threads')[]} builds */
  const withRelaxed = (builds) => builds.flatMap((b) => /** @type {BuildName[]} */ (fused ? [`${b}-relaxed`, b] : [b]));
  return {
    cpu: withRelaxed(self.crossOriginIsolated && threads > 1 ? ['threads', 'single'] : ['single']),
    gpu: withRelaxed(['single']),
  };
}

/**
 * How long a thread pool may take to start. Firefox can freeze a worker that starts its pool
 * (its own timers stop with it), so the page keeps the time.
 */
const POOL_START_S = 10;

/** @param {BuildName} build */
export const threaded = (build) => build.startsWith('threads');

/**
 * @typedef {{ resolve: (value: any) => void, reject: (error: Error) => void }} Pending
 */

export class ModelClient {
  /** @type {Worker | null} */
  #worker = null;
  #nextId = 0;
  /** @type {Map<number, Pending>} */
  #pending = new Map();
  /** @type {{ [K in keyof Events]?: (event: Events[K]) => void }} */
  #listeners = {};
  #builds;
  #threads;
  #kernel;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #poolWatch;
  /** The build the worker runs. @type {BuildName} */
  build;
  /** The backend the worker has started. @type {BackendName | null} */
  backend = null;
  /** Why the threaded builds did not start here; null where none failed. @type {string | null} */
  threadsFailed = null;

  /**
   * @param {{ threads: number, relaxed: boolean, kernel: (build: BuildName) => string }} options
   *   `threads`: the most CPU threads; `relaxed`: whether relaxed SIMD builds may be used;
   *   `kernel(build)`: the CPU matmul kernel a worker of `build` uses ('auto': time them).
   */
  constructor({ threads, relaxed, kernel }) {
    this.#builds = buildLists({ threads, relaxed });
    this.#threads = threads;
    this.#kernel = kernel;
    this.build = this.#buildFor('flex');
  }

  /** @param {BackendName} backend */
  #buildFor(backend) {
    return this.#builds[backend === 'wgpu' ? 'gpu' : 'cpu'][0];
  }

  /** The threads the CPU backends use in this worker. */
  get threads() {
    return threaded(this.build) ? this.#threads : 1;
  }

  /**
   * Hears `name` events from every worker this client starts (one handler per event).
   * @template {keyof Events} K
   * @param {K} name
   * @param {(event: Events[K]) => void} handler
   */
  on(name, handler) {
    /** @type {any} */ (this.#listeners)[name] = handler;
  }

  /**
   * Stops run `serial`'s feature extraction in the worker between two batches.
   * @param {number} serial
   */
  cancel(serial) {
    /** @type {import('./protocol.js').Cancel} */
    const message = { cancel: serial };
    this.#worker?.postMessage(message);
  }

  /**
   * Starts `backend`: in this worker if its build has it, else in a fresh worker of a build that
   * does (see `restart`). Whether the worker was replaced.
   * @param {BackendName} backend
   */
  async useBackend(backend) {
    if (this.#worker && this.#buildFor(backend) === this.build) {
      await this.setBackend(backend);
      return false;
    }
    await this.restart(backend);
    return true;
  }

  /**
   * Replaces the worker (or starts the first) by a fresh one of the build `backend` needs, with
   * that backend started; calls still waiting on the old one fail. A build that cannot start
   * here (an old browser, a missing build) gives way to the next; a backend that fails in a
   * working build (no WebGPU here) is the caller's to handle.
   * @param {BackendName} backend
   */
  async restart(backend) {
    this.#stop(new WorkerError('the model worker was replaced', Code.replaced));
    this.backend = null;
    this.build = this.#buildFor(backend);
    const url = new URL(`./worker.js?build=${this.build}&threads=${this.#threads}&kernel=${encodeURIComponent(this.#kernel(this.build))}`, import.meta.url);
    const worker = new Worker(url, { type: 'module' });
    this.#worker = worker;
    worker.onmessage = ({ data }) => {
      // A replaced worker's last messages are not this one's.
      if (this.#worker !== worker) return;
      if ('event' in data) {
        if (data.event === 'pool') this.#watchPool(worker, data.threads);
        if (data.event === 'kernel') clearTimeout(this.#poolWatch);
        return /** @type {any} */ (this.#listeners)[data.event]?.(data);
      }
      const reply = /** @type {import('./protocol.js').Reply} */ (data);
      const pending = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (reply.ok) pending?.resolve(reply.value);
      else pending?.reject(new WorkerError(reply.error, reply.code));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      this.#rejectAll(new WorkerError(e.message || 'the model worker stopped', Code.crashed));
    };
    try {
      await this.setBackend(backend);
    } catch (e) {
      const failed = this.build;
      if (!(e instanceof WorkerError) || e.code !== Code.startFailed) throw e;
      if (threaded(failed)) this.threadsFailed = e.message;
      for (const list of Object.values(this.#builds)) {
        const i = list.indexOf(failed);
        if (i >= 0 && list.length > 1) list.splice(i, 1);
      }
      if (this.#buildFor(backend) === failed) throw e;
      console.warn(`${e.message}; trying ${this.#buildFor(backend)}`);
      await this.restart(backend);
    }
  }

  /**
   * Fails the calls waiting on `worker` (a start-failed error: the next build is tried) when its
   * pool of `threads` has not started within POOL_START_S.
   * @param {Worker} worker
   * @param {number} threads
   */
  #watchPool(worker, threads) {
    clearTimeout(this.#poolWatch);
    this.#poolWatch = setTimeout(() => {
      const late = `the ${this.build} build did not start: its ${threads} threads did not start within ${POOL_START_S} s`;
      if (this.#worker === worker) this.#rejectAll(new WorkerError(late, Code.startFailed));
    }, POOL_START_S * 1000);
  }

  /** @param {Error} error */
  #stop(error) {
    clearTimeout(this.#poolWatch);
    this.#worker?.terminate();
    this.#worker = null;
    this.#rejectAll(error);
  }

  /** @param {Error} error */
  #rejectAll(error) {
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
  }

  /**
   * @template {Op} K
   * @param {K} op
   * @param {Ops[K]['args']} args
   * @param {Transferable[]} [transfer]
   * @returns {Promise<Ops[K]['value']>}
   */
  #call(op, args, transfer = []) {
    const worker = this.#worker;
    if (!worker) return Promise.reject(new WorkerError('the model worker has not started', Code.internal));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      /** @type {import('./protocol.js').Request} */
      const request = /** @type {any} */ ({ id, op, args });
      worker.postMessage(request, transfer);
    });
  }

  // ---- one method per operation (protocol.js's `Ops`) --------------------------------------------

  /** @param {BackendName} name */
  async setBackend(name) {
    this.backend = await this.#call('setBackend', [name]);
    return this.backend;
  }
  /** @param {import('./protocol.js').ModelSource} source */
  loadModel(source) {
    return this.#call('loadModel', [source]);
  }
  /** @param {string} id */
  keepModel(id) {
    return this.#call('keepModel', [id]);
  }
  /** @param {string} server */
  serverModelVersion(server) {
    return this.#call('serverModelVersion', [server]);
  }
  /** @param {number} size */
  atImageSize(size) {
    return this.#call('atImageSize', [size]);
  }
  warmUp() {
    return this.#call('warmUp', []);
  }
  /**
   * Classifies files, one forward pass for every eight (their buffers are transferred).
   * @param {{ name: string, bytes: ArrayBuffer }[]} files
   */
  classify(files) {
    const args = /** @type {Ops['classify']['args']} */ ([files.map((f) => f.name), files.map((f) => new Uint8Array(f.bytes))]);
    return this.#call('classify', args, files.map((f) => f.bytes));
  }
  /** @param {import('./protocol.js').HeadChoice} which */
  useHead(which) {
    return this.#call('useHead', [which]);
  }
  exportHead() {
    return this.#call('exportHead', []);
  }
  /**
   * @param {string} name
   * @param {ArrayBuffer} bytes (transferred)
   */
  importHead(name, bytes) {
    return this.#call('importHead', [name, new Uint8Array(bytes)], [bytes]);
  }
  /**
   * @param {import('./protocol.js').TrainNumbers} options
   * @param {import('./protocol.js').ImageCounts | null} counts
   */
  checkOptions(options, counts) {
    return this.#call('checkOptions', [options, counts]);
  }
  /**
   * @param {import('./protocol.js').SplitName} split
   * @param {string} name
   * @param {ArrayBuffer} bytes (transferred)
   */
  addCifar(split, name, bytes) {
    return this.#call('addCifar', [split, name, new Uint8Array(bytes)], [bytes]);
  }
  /** @param {import('./protocol.js').SplitName} split */
  clearCifar(split) {
    return this.#call('clearCifar', [split]);
  }
  /**
   * @param {import('./protocol.js').SplitName} split
   * @param {number} perClass
   */
  previewCifar(split, perClass) {
    return this.#call('previewCifar', [split, perClass]);
  }
  /** @param {import('./protocol.js').AddPictures} add */
  addPictures(add) {
    return this.#call('addPictures', [add]);
  }
  pictureSummary() {
    return this.#call('pictureSummary', []);
  }
  /** @param {string} name */
  addClass(name) {
    return this.#call('addClass', [name]);
  }
  /**
   * @param {number} label
   * @param {string} name
   */
  renameClass(label, name) {
    return this.#call('renameClass', [label, name]);
  }
  /** @param {number} label */
  clearClass(label) {
    return this.#call('clearClass', [label]);
  }
  /** @param {number} label */
  removeClass(label) {
    return this.#call('removeClass', [label]);
  }
  /** @param {number} index */
  removePicture(index) {
    return this.#call('removePicture', [index]);
  }
  /**
   * @param {number} fraction
   * @param {number} seed
   */
  splitPictures(fraction, seed) {
    return this.#call('splitPictures', [fraction, seed]);
  }
  /**
   * @param {Uint32Array} indices
   * @param {number} side
   */
  pictureThumbnails(indices, side) {
    return this.#call('pictureThumbnails', [indices, side]);
  }
  /** @param {import('./protocol.js').CifarRun} run */
  prepareCifar(run) {
    return this.#call('prepareCifar', [run]);
  }
  /** @param {import('./protocol.js').PicturesRun} run */
  preparePictures(run) {
    return this.#call('preparePictures', [run]);
  }
  /** @param {import('./protocol.js').TrainNumbers} options */
  trainHead(options) {
    return this.#call('trainHead', [options]);
  }
}

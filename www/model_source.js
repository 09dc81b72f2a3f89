// Where the worker's models come from, and keeping them: this server's folder or the Hugging
// Face hub (downloaded, and kept in the browser's storage as they stream in), files the person
// dropped, or a copy the browser keeps (model_store.js). The weights stream into wasm memory
// chunk by chunk.
import * as featureStore from './feature_store.js';
import { hubFile, hubLabel, hubWeights } from './hub.js';
import * as modelStore from './model_store.js';
import { Code, WorkerError } from './protocol.js';

/** @typedef {typeof import('./pkg/vit_wasm.js')} Vit */
/** @typedef {import('./pkg/vit_wasm.js').Backend} Backend */
/** @typedef {import('./pkg/vit_wasm.js').Model} Model */
/** @typedef {import('./protocol.js').ModelSource} ModelSource */
/** @typedef {import('./protocol.js').LoadedFrom} LoadedFrom */
/** @typedef {import('./protocol.js').ModelFileNames} ModelFileNames */
/**
 * A model's parts: the weights as a stream, the configs as bytes (null where there is none);
 * `version` of a download, `used()` of a kept copy.
 * @typedef {{
 *   label: string, from: LoadedFrom, weights: { name: string, size: number, stream: ReadableStream<Uint8Array> },
 *   config: Uint8Array | null, preprocessor: Uint8Array | null, version?: string, used?: () => Promise<void>
 * }} Parts
 */
/** @typedef {{ add: (name: string, bytes: number) => Promise<void>, write: (name: string, chunk: Uint8Array) => Promise<void> }} Writer */

/**
 * The configs a model has, read with `open(name)` (a File, a Response, or null where there is
 * none).
 * @param {ModelFileNames} names
 * @param {(name: string) => Promise<Blob | Response | null>} open
 */
async function readConfigs(names, open) {
  /** @param {string} name */
  const read = async (name) => {
    const file = await open(name);
    return file && new Uint8Array(await file.arrayBuffer());
  };
  return { config: await read(names.config), preprocessor: await read(names.preprocessor) };
}

/**
 * The parts of a download: the weights' response (its body not read yet), the configs from
 * `get(name)` (a failure there lets the weights' connection go).
 * @param {string} label
 * @param {ModelFileNames} names
 * @param {Response} weights
 * @param {(name: string) => Promise<Response | null>} get
 * @returns {Promise<Parts>}
 */
async function download(label, names, weights, get) {
  const stream = /** @type {ReadableStream<Uint8Array>} */ (weights.body);
  try {
    return {
      label,
      from: 'network',
      weights: { name: names.weights, size: Number(weights.headers.get('Content-Length')) || 0, stream },
      version: modelStore.version(weights),
      ...(await readConfigs(names, get)),
    };
  } catch (e) {
    stream.cancel().catch(() => {});
    throw e;
  }
}

/**
 * Keeps a download as `id` as it streams, where it can: a failure (over quota, no storage,
 * another tab writing it) only means it is not kept. `commit` resolves to { id } or { error }.
 * @param {string} id
 */
async function keeper(id) {
  /** @type {Awaited<ReturnType<typeof modelStore.create>> | null} */
  let store = null;
  /** @type {Error | null} */
  let failed = null;
  try {
    store = await modelStore.create(id);
  } catch (e) {
    failed = /** @type {Error} */ (e);
  }
  /** @param {(s: NonNullable<typeof store>) => Promise<void>} step */
  const attempt = async (step) => {
    try {
      if (store) await step(store);
    } catch (e) {
      failed = /** @type {Error} */ (e);
      store = null;
    }
  };
  return {
    /** @param {string} name @param {number} bytes */
    add: (name, bytes) => attempt((s) => s.add(name, bytes)),
    /** @param {string} name @param {Uint8Array} chunk */
    write: (name, chunk) => attempt((s) => s.write(name, chunk)),
    abort: async () => store?.abort(),
    replaced: () => store?.replaced,
    /**
     * @param {Omit<modelStore.Manifest, 'files' | 'usedAt'>} manifest
     * @returns {Promise<{ id?: string, error?: string }>}
     */
    commit: async (manifest) => {
      await attempt((s) => s.commit(manifest));
      return failed ? { error: failed.message } : { id };
    },
  };
}

/**
 * Error `e` of loading hub model `id`, with the id in front (a trap stays a trap).
 * @param {string} id
 * @param {unknown} e
 */
function named(id, e) {
  const error = /** @type {{ message?: string, code?: unknown }} */ (e);
  if (e instanceof WebAssembly.RuntimeError || typeof error?.code !== 'string' || String(error.message).startsWith(id)) return e;
  return new WorkerError(`${id}: ${error.message}`, /** @type {import('./protocol.js').ErrorCode} */ (error.code));
}

export class ModelSources {
  #vit;
  #names;
  #post;
  /** A download still being written to storage after its model is ready: the next load waits. */
  #storing = Promise.resolve();
  /** The dropped files the loaded model came from, so that it can be kept afterwards. @type {File[] | null} */
  #dropped = null;

  /**
   * @param {Vit} vit the wasm module
   * @param {(event: import('./protocol.js').LoadEvent | import('./protocol.js').KeptEvent) => void} post
   */
  constructor(vit, post) {
    this.#vit = vit;
    this.#names = vit.modelFileNames();
    this.#post = post;
  }

  /**
   * The version of the model this server has in the folder `server`, or null.
   * @param {string} server
   */
  async serverVersion(server) {
    const response = await fetch(new URL(this.#names.weights, server), { method: 'HEAD' }).catch(() => null);
    return response?.ok ? modelStore.version(response) : null;
  }

  /**
   * Loads a model from `source` onto `backend`, streaming the weights into wasm memory as they
   * arrive; a download to keep is written to storage as it streams in, and its `kept` event
   * follows once the disk has it. `replace(model)` makes it the model in use, once it loaded.
   * @param {ModelSource} source
   * @param {Backend} backend
   * @param {(model: Model) => void} replace
   * @returns {Promise<{ model: Model, from: LoadedFrom, label: string }>}
   */
  async load(source, backend, replace) {
    await this.#storing;
    const parts = await this.#parts(source);
    const keep = 'keepAs' in source && source.keepAs ? await keeper(source.keepAs) : null;
    try {
      if (keep) await this.#keepConfigs(keep, parts);
      await keep?.add(parts.weights.name, parts.weights.size);
      const upload = new this.#vit.WeightsUpload(parts.weights.name);
      try {
        await this.#stream(parts, (chunk) => {
          upload.push(chunk);
          return keep?.write(parts.weights.name, chunk);
        });
      } catch (e) {
        upload.free();
        throw e;
      }
      // `finish` consumes the upload, loaded or not.
      const model = upload.finish(backend, parts.config, parts.preprocessor);
      replace(model);
      this.#dropped = 'files' in source ? source.files : null;
      const { fingerprint } = model.info();
      await parts.used?.();
      if (keep) {
        const manifest = { label: parts.label, weights: parts.weights.name, fingerprint, version: parts.version };
        this.#storing = keep.commit(manifest).then(async (kept) => {
          // The copy this one replaced (an older version on the server): its features go with it.
          const old = keep.replaced()?.fingerprint;
          if (kept.id && old && old !== fingerprint) await featureStore.removeModel(old);
          this.#post({ event: 'kept', ...kept });
        });
      }
      return { model, from: parts.from, label: parts.label };
    } catch (e) {
      await keep?.abort();
      throw 'hub' in source ? named(source.hub.id, e) : e;
    }
  }

  /**
   * Keeps the dropped model loaded last (its `fingerprint`) as `id`, replacing an earlier one, so
   * that a later visit starts with it.
   * @param {string} id
   * @param {string} fingerprint
   */
  async keep(id, fingerprint) {
    if (!this.#dropped) throw new WorkerError('no dropped model is loaded', Code.badRequest);
    await this.#storing;
    const parts = await this.#parts({ files: this.#dropped });
    const store = await modelStore.create(id);
    try {
      await this.#keepConfigs(store, parts);
      await store.add(parts.weights.name, parts.weights.size);
      await this.#stream(parts, (chunk) => store.write(parts.weights.name, chunk), false);
      await store.commit({ label: `${parts.label} (kept in this browser)`, weights: parts.weights.name, fingerprint });
    } catch (e) {
      await store.abort();
      throw e;
    }
  }

  /**
   * Hands the weights' chunks to `use` as they arrive, with a `load` event every 4 MB when
   * `report`.
   * @param {Parts} parts
   * @param {(chunk: Uint8Array) => Promise<void> | void} use
   * @param {boolean} [report]
   */
  async #stream(parts, use, report = true) {
    const reader = parts.weights.stream.getReader();
    const { name, size: total } = parts.weights;
    const started = performance.now();
    let loaded = 0;
    let reported = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await use(value);
        loaded += value.byteLength;
        if (report && (loaded - reported >= 1 << 22 || loaded === total)) {
          reported = loaded;
          this.#post({ event: 'load', name, from: parts.from, loaded, total, seconds: (performance.now() - started) / 1000 });
        }
      }
    } catch (e) {
      reader.cancel().catch(() => {});
      throw e;
    }
  }

  /**
   * Writes the configs a model has to `store` (a model_store writer, or a keeper).
   * @param {Writer} store
   * @param {Parts} parts
   */
  async #keepConfigs(store, parts) {
    /** @type {[string, Uint8Array | null][]} */
    const configs = [
      [this.#names.config, parts.config],
      [this.#names.preprocessor, parts.preprocessor],
    ];
    for (const [name, bytes] of configs) {
      if (!bytes) continue;
      await store.add(name, bytes.byteLength);
      await store.write(name, bytes);
    }
  }

  /**
   * The parts of the model `source` names.
   * @param {ModelSource} source
   * @returns {Promise<Parts>}
   */
  async #parts(source) {
    const names = this.#names;
    if ('stored' in source) {
      const { manifest, file, used } = await modelStore.open(source.stored);
      const weights = /** @type {File} */ (await file(manifest.weights));
      return {
        label: manifest.label,
        from: 'storage',
        used,
        weights: { name: manifest.weights, size: weights.size, stream: weights.stream() },
        ...(await readConfigs(names, file)),
      };
    }
    if ('files' in source) {
      /** @param {string} n */
      const byName = (n) => source.files.find((f) => f.name === n);
      const weights = byName(names.weights) ?? source.files.find((f) => f.name.endsWith('.safetensors'));
      if (!weights) throw new WorkerError(`no .safetensors file among ${source.files.map((f) => f.name).join(', ') || 'the dropped files'}`, Code.badRequest);
      return {
        label: weights.name,
        from: 'file',
        weights: { name: weights.name, size: weights.size, stream: weights.stream() },
        ...(await readConfigs(names, async (name) => byName(name) ?? null)),
      };
    }
    if ('hub' in source) {
      const { hub } = source;
      return download(hubLabel(hub), names, await hubWeights(hub), (name) => hubFile(hub, name));
    }
    /** @param {string} name */
    const url = (name) => new URL(name, source.server);
    /** @param {string} name */
    const get = async (name) => {
      const response = await fetch(url(name));
      if (!response.ok && response.status !== 404) throw new WorkerError(`${url(name)}: HTTP ${response.status}`, Code.badRequest);
      return response.ok ? response : null;
    };
    const weights = await get(names.weights);
    if (!weights?.body) throw new WorkerError(`${url(names.weights)}: HTTP 404`, Code.badRequest);
    return download(`${url(names.weights).pathname.slice(1)} (from this server)`, names, weights, get);
  }
}

// The features of a fine-tuning run, in the worker: each set's rows from memory, from IndexedDB
// (feature_store.js, which makes the keys) or computed by the model, only the missing ones; and
// the run prepared for training. CIFAR-10's sets are rows of a fixed sample order, so a prefix
// serves a smaller request and a larger one computes only the rows it lacks; the pictures' are a
// row per picture, by the hash of its bytes. A cancel is heard between batches of images.
import * as store from './feature_store.js';

/** @typedef {import('./protocol.js').SetName} SetName */
/** @typedef {import('./protocol.js').FeatureRows} FeatureRows */
/** @typedef {import('./protocol.js').Prepared} Prepared */
/** @typedef {import('./protocol.js').ProgressEvent} ProgressEvent */
/** @typedef {import('./pkg/vit_wasm.js').Model} Model */
/** @typedef {import('./pkg/vit_wasm.js').CifarData} CifarData */
/** @typedef {import('./pkg/vit_wasm.js').PictureData} PictureData */
/**
 * A set's rows for training: which images they are of, and how many were computed now.
 * @typedef {FeatureRows & { indices: Uint32Array, computed: number }} SetRows
 */
/**
 * What training needs besides the rows: the class names, and of test images `indices` their
 * names and `side` x `side` RGBA thumbnails (for the misclassified ones).
 * @typedef {{ classNames: string[], names: (indices: Uint32Array) => string[], thumbnails: (indices: Uint32Array) => Uint8Array, side: number }} About
 */
/** @typedef {{ sets: Partial<Record<SetName, SetRows>> } & About} PreparedRun */

/** Yields to the event loop (a macrotask), so that a cancel message can arrive. */
const tick = () => new Promise((resolve) => setTimeout(resolve));

/**
 * @template {Float32Array | Uint8Array | Uint32Array} T
 * @param {T} a
 * @param {T} b
 * @returns {T}
 */
function concat(a, b) {
  const out = /** @type {T} */ (new /** @type {any} */ (a.constructor)(a.length + b.length));
  out.set(a);
  out.set(b, a.length);
  return out;
}

export class FeatureCache {
  /** Features by key (feature_store.js), of the run in use. @type {Map<string, store.Stored>} */
  #memory = new Map();
  /** The last run cancelled (runs are numbered in order: every run up to it is). */
  #cancelled = -1;
  /** The run about to train. @type {PreparedRun | null} */
  prepared = null;
  #post;

  /** @param {(event: ProgressEvent) => void} post hears each set's progress. */
  constructor(post) {
    this.#post = post;
  }

  /**
   * Stops run `serial`'s extraction after its current batch, or before it starts.
   * @param {number} serial
   */
  cancel(serial) {
    this.#cancelled = Math.max(this.#cancelled, serial);
  }

  /** A new model: nothing in memory is its. */
  clear() {
    this.#memory.clear();
    this.prepared = null;
  }

  /**
   * The features of a CIFAR-10 run, computed where they are missing.
   * @param {typeof import('./pkg/vit_wasm.js')} vit the wasm module, which checks the counts
   * @param {Model} model
   * @param {CifarData} data
   * @param {import('./protocol.js').CifarRun} run
   */
  prepareCifar(vit, model, data, run) {
    const counts = { train: vit.imageCount('train', run.counts.train), test: vit.imageCount('test', run.counts.test) };
    const info = model.info();
    const summary = data.summary();
    /**
     * @param {SetName} name
     * @param {'train' | 'test'} split
     * @param {boolean} flip
     */
    const set = (name, split, flip) => {
      const key = store.cifarKey(info, summary[split].fingerprint, flip);
      // A sample larger than the split takes all of it.
      const count = Math.min(counts[split], summary[split].images);
      return { name, key, get: () => this.#sample(model, data, { name, split, count, flip, key, serial: run.serial }) };
    };
    const sets = [set('train', 'train', false)];
    if (run.flip) sets.push(set('mirrored', 'train', true));
    sets.push(set('test', 'test', false));
    return this.#prepare(sets, {
      classNames: data.classNames(),
      thumbnails: (indices) => data.rgba('test', indices),
      side: 32,
      names: (indices) => Array.from(indices, (i) => `test image ${i}`),
    });
  }

  /**
   * The features of a run on the person's pictures, split as `run` says (or by the test folder).
   * @param {Model} model
   * @param {PictureData} pictures
   * @param {import('./protocol.js').PicturesRun} run
   */
  preparePictures(model, pictures, run) {
    const split = pictures.split(run.fraction, run.seed);
    const info = model.info();
    /**
     * @param {SetName} name
     * @param {Uint32Array} indices
     * @param {boolean} flip
     */
    const set = (name, indices, flip) => {
      const key = store.picturesKey(info, flip);
      return { name, key, get: () => this.#pictures(model, pictures, { name, indices, flip, key, serial: run.serial }) };
    };
    const sets = [set('train', split.train, false)];
    if (run.flip) sets.push(set('mirrored', split.train, true));
    sets.push(set('test', split.test, false));
    return this.#prepare(sets, {
      classNames: pictures.classNames(),
      thumbnails: (indices) => pictures.thumbnails(indices, 64),
      side: 64,
      names: (indices) => pictures.names(indices),
    });
  }

  /**
   * Computes each of `sets` (`get` gives its rows, or null when cancelled) for the run about to
   * train. How many rows each set has and computed, or null when cancelled.
   * @param {{ name: SetName, key: string, get: () => Promise<SetRows | null> }[]} sets
   * @param {About} about
   * @returns {Promise<Prepared | null>}
   */
  async #prepare(sets, about) {
    this.prepared = null;
    /** @type {Partial<Record<SetName, SetRows>>} */
    const out = {};
    for (const set of sets) {
      const rows = await set.get();
      if (!rows) return null;
      out[set.name] = rows;
    }
    // Only what this run uses stays in memory; the rest is in IndexedDB.
    for (const key of this.#memory.keys()) if (!sets.some((s) => s.key === key)) this.#memory.delete(key);
    this.prepared = { sets: out, ...about };
    return Object.fromEntries(Object.entries(out).map(([name, rows]) => [name, { rows: rows.labels.length, computed: rows.computed }]));
  }

  /**
   * @param {string} key
   * @returns {Promise<store.Stored | undefined>}
   */
  async #have(key) {
    return this.#memory.get(key) ?? (await store.get(key));
  }

  /**
   * The first `count` rows of the CIFAR sample of `split`.
   * @param {Model} model
   * @param {CifarData} data
   * @param {{ name: SetName, split: 'train' | 'test', count: number, flip: boolean, key: string, serial: number }} set
   * @returns {Promise<SetRows | null>}
   */
  async #sample(model, data, { name, split, count, flip, key, serial }) {
    const empty = { values: new Float32Array(), labels: new Uint8Array(), indices: new Uint32Array() };
    let have = /** @type {store.SampleRows} */ ((await this.#have(key)) ?? empty);
    const cached = Math.min(have.labels.length, count);
    if (have.labels.length < count) {
      const from = have.labels.length;
      this.#post({ event: 'progress', name, done: from, total: count, cached });
      const more = await model.extractFeatures(data, split, from, count, flip, async (done, total) => {
        this.#post({ event: 'progress', name, done: from + done, total: from + total, cached });
        await tick();
        return serial > this.#cancelled;
      });
      // Kept even when cancelled: the next run starts where this one stopped.
      have = { values: concat(have.values, more.values), labels: concat(have.labels, more.labels), indices: concat(have.indices, more.indices) };
      this.#memory.set(key, have);
      await store.put(key, have);
      if (!more.complete) return null;
    } else {
      this.#post({ event: 'progress', name, done: count, total: count, cached });
      this.#memory.set(key, have);
    }
    const hidden = have.values.length / have.labels.length;
    return { values: have.values.subarray(0, count * hidden), labels: have.labels.subarray(0, count), indices: have.indices.subarray(0, count), computed: count - cached };
  }

  /**
   * Features of pictures `indices`: each picture's row from the cache by its hash, the missing
   * ones computed (once per distinct picture).
   * @param {Model} model
   * @param {PictureData} pictures
   * @param {{ name: SetName, indices: Uint32Array, flip: boolean, key: string, serial: number }} set
   * @returns {Promise<SetRows | null>}
   */
  async #pictures(model, pictures, { name, indices, flip, key, serial }) {
    let have = /** @type {store.PictureRows} */ ((await this.#have(key)) ?? { hashes: [], values: new Float32Array() });
    const hashes = pictures.fingerprints(indices);
    let row = new Map(have.hashes.map((h, i) => [h, i]));
    /** @type {Map<string, number>} */
    const missing = new Map();
    hashes.forEach((h, k) => row.has(h) || missing.has(h) || missing.set(h, indices[k]));
    const cached = hashes.filter((h) => row.has(h)).length;
    this.#post({ event: 'progress', name, done: cached, total: indices.length, cached });
    if (missing.size) {
      const more = await model.pictureFeatures(pictures, Uint32Array.from(missing.values()), flip, async (done) => {
        this.#post({ event: 'progress', name, done: Math.min(cached + done, indices.length), total: indices.length, cached });
        await tick();
        return serial > this.#cancelled;
      });
      // Kept even when cancelled: the next run starts where this one stopped. The rows computed
      // are the first of the missing pictures, in order.
      have = { hashes: [...have.hashes, ...[...missing.keys()].slice(0, more.labels.length)], values: concat(have.values, more.values) };
      this.#memory.set(key, have);
      await store.put(key, have);
      if (!more.complete) return null;
      row = new Map(have.hashes.map((h, i) => [h, i]));
    } else {
      this.#memory.set(key, have);
    }
    this.#post({ event: 'progress', name, done: indices.length, total: indices.length, cached });
    const hidden = model.info().hiddenSize;
    const values = new Float32Array(indices.length * hidden);
    hashes.forEach((h, k) => {
      const at = /** @type {number} */ (row.get(h)) * hidden;
      values.set(have.values.subarray(at, at + hidden), k * hidden);
    });
    return { values, labels: Uint8Array.from(pictures.labels(indices)), indices, computed: missing.size };
  }
}

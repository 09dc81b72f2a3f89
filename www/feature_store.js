// Class-token features kept in IndexedDB across visits, and the one place their keys are made:
// `<model>/<data fingerprint>/<plain|mirrored>` for CIFAR-10 and `<model>/pictures/<plain|mirrored>`
// for the person's pictures (a row per picture, by the hash of its bytes), where `<model>` is the
// model's fingerprint, with `@<size>` when it runs at another input size than its own. Each set's
// size is kept beside it, so that the storage panel need not read the features to list them.
// Best effort: without IndexedDB, or over quota, features are only computed again.

/** @typedef {import('./protocol.js').ModelInfo} ModelInfo */
/**
 * CIFAR-10's rows, in the fixed sample's order.
 * @typedef {{ values: Float32Array, labels: Uint8Array, indices: Uint32Array }} SampleRows
 */
/**
 * The pictures' rows, each by the hash of its picture's bytes.
 * @typedef {{ hashes: string[], values: Float32Array }} PictureRows
 */
/** @typedef {SampleRows | PictureRows} Stored */

const DB = 'vit-wasm-features';
const STORE = 'features';
const SIZES = 'sizes';

/** @param {Pick<ModelInfo, 'fingerprint' | 'imageSize' | 'nativeImageSize'>} model */
const modelPart = (model) => (model.imageSize === model.nativeImageSize ? model.fingerprint : `${model.fingerprint}@${model.imageSize}`);
/** @param {boolean} mirrored */
const flipPart = (mirrored) => (mirrored ? 'mirrored' : 'plain');

/**
 * The key of a CIFAR-10 set's features.
 * @param {ModelInfo} model
 * @param {string} data the set's fingerprint
 * @param {boolean} mirrored
 */
export const cifarKey = (model, data, mirrored) => `${modelPart(model)}/${data}/${flipPart(mirrored)}`;

/**
 * The key of the person's pictures' features.
 * @param {ModelInfo} model
 * @param {boolean} mirrored
 */
export const picturesKey = (model, mirrored) => `${modelPart(model)}/pictures/${flipPart(mirrored)}`;

/**
 * Whether `key` holds features of the model with `fingerprint`, at any input size.
 * @param {string} key
 * @param {string} fingerprint
 */
const ofModel = (key, fingerprint) => key.startsWith(`${fingerprint}/`) || key.startsWith(`${fingerprint}@`);

/** @type {Promise<IDBDatabase | null> | undefined} */
let opened;
function db() {
  opened ??= new Promise((resolve) => {
    if (!self.indexedDB) return resolve(null);
    const request = indexedDB.open(DB, 2);
    request.onupgradeneeded = () => {
      // Version 1 had no sizes: its features are dropped rather than read to measure them.
      for (const name of request.result.objectStoreNames) request.result.deleteObjectStore(name);
      request.result.createObjectStore(STORE);
      request.result.createObjectStore(SIZES);
    };
    request.onsuccess = () => {
      // A newer version of the page in another tab must not wait for this one to close.
      request.result.onversionchange = () => request.result.close();
      resolve(request.result);
    };
    request.onerror = () => resolve(null);
    // An older version of the page in another tab holds the database open: no cache here.
    request.onblocked = () => resolve(null);
  });
  return opened;
}

/**
 * Runs `use` on the two stores in one transaction; the result of the request it returns, or
 * undefined where there is no database or the transaction fails.
 * @template T
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore, sizes: IDBObjectStore) => IDBRequest<T>} use
 * @returns {Promise<T | undefined>}
 */
async function run(mode, use) {
  const d = await db();
  if (!d) return undefined;
  return new Promise((resolve) => {
    try {
      const tx = d.transaction([STORE, SIZES], mode);
      const request = use(tx.objectStore(STORE), tx.objectStore(SIZES));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = tx.onabort = () => resolve(undefined);
    } catch {
      resolve(undefined);
    }
  });
}

/**
 * Typed arrays by their bytes; the pictures' hashes (32 hex digits each) as strings.
 * @param {Stored} value
 */
const bytes = (value) => Object.values(value).reduce((n, v) => n + (ArrayBuffer.isView(v) ? v.byteLength : Array.isArray(v) ? v.length * 32 : 0), 0);

/** @param {string} key @returns {Promise<Stored | undefined>} */
export const get = (key) => run('readonly', (s) => s.get(key));
/** @param {string} key @param {Stored} value */
export const put = (key, value) => run('readwrite', (s, sizes) => (sizes.put(bytes(value), key), s.put(value, key)));
/** @param {string} key */
export const remove = (key) => run('readwrite', (s, sizes) => (sizes.delete(key), s.delete(key)));
export const clear = () => run('readwrite', (s, sizes) => (sizes.clear(), s.clear()));

/**
 * Removes the features of the model with `fingerprint` (one that is no longer kept), at every
 * input size.
 * @param {string} fingerprint
 */
export async function removeModel(fingerprint) {
  for (const { key } of await entries()) if (ofModel(key, fingerprint)) await remove(key);
}

/**
 * Every stored set.
 * @returns {Promise<{ key: string, bytes: number }[]>}
 */
export async function entries() {
  /** @type {{ key: string, bytes: number }[]} */
  const found = [];
  await run('readonly', (_, sizes) => {
    const request = sizes.openCursor();
    request.onsuccess = () => {
      const cursor = request.result;
      if (!cursor) return;
      found.push({ key: String(cursor.key), bytes: cursor.value });
      cursor.continue();
    };
    return request;
  });
  return found;
}

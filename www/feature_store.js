// Class-token features kept in IndexedDB across visits, keyed by `<model fingerprint>/<data
// fingerprint>/<plain|mirrored>` for CIFAR-10 and `<model fingerprint>/pictures/<plain|mirrored>`
// for the person's pictures (a row per picture, by the hash of its bytes), each with its size
// beside it (so that the storage panel need not read the features to list them). Best effort:
// without IndexedDB, or over quota, features are only computed again.

const DB = 'vit-wasm-features';
const STORE = 'features';
const SIZES = 'sizes';

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

// Typed arrays by their bytes; the pictures' hashes (32 hex digits each) as strings.
const bytes = (value) => Object.values(value).reduce((n, v) => n + (ArrayBuffer.isView(v) ? v.byteLength : Array.isArray(v) ? v.length * 32 : 0), 0);

export const get = (key) => run('readonly', (s) => s.get(key));
export const put = (key, value) => run('readwrite', (s, sizes) => (sizes.put(bytes(value), key), s.put(value, key)));
export const remove = (key) => run('readwrite', (s, sizes) => (sizes.delete(key), s.delete(key)));
export const clear = () => run('readwrite', (s, sizes) => (sizes.clear(), s.clear()));

/// Removes the features of the model with `fingerprint` (one that is no longer kept).
export async function removeModel(fingerprint) {
  for (const { key } of await entries()) if (key.startsWith(`${fingerprint}/`)) await remove(key);
}

/// Every stored set: [{ key, bytes }].
export async function entries() {
  const found = [];
  await run('readonly', (_, sizes) => {
    const request = sizes.openCursor();
    request.onsuccess = () => {
      const cursor = request.result;
      if (!cursor) return;
      found.push({ key: cursor.key, bytes: cursor.value });
      cursor.continue();
    };
    return request;
  });
  return found;
}

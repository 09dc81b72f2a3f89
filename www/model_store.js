// Models kept in this browser's Origin Private File System, so that a later visit starts without
// downloading: models/<id>/ holds the model's files and, written last, manifest.json. A folder
// without its manifest, or with a file shorter than the manifest says, is a write that did not
// finish (the tab closed, the quota ran out): it is removed, never read. The worker writes;
// the page lists and removes.

const FOLDER = 'models';

/**
 * What a kept model is: `files` by name with their sizes; `fingerprint` the model's (its
 * features are kept under it); `version` the server's, for a download; `usedAt` when it was last
 * loaded.
 * @typedef {{ label: string, weights: string, files: Record<string, number>, fingerprint: string, version?: string, usedAt: number }} Manifest
 */
/** @typedef {{ id: string, manifest: Manifest, bytes: number }} Kept */

/**
 * The models' folder, or null where this browser cannot keep files for pages (no OPFS, or no
 * writable streams: Safari before 2025).
 */
async function folder() {
  if (!navigator.storage?.getDirectory || !self.FileSystemFileHandle?.prototype.createWritable) return null;
  return (await navigator.storage.getDirectory()).getDirectoryHandle(FOLDER, { create: true });
}

/** @param {Record<string, number>} files */
const total = (files) => Object.values(files).reduce((n, bytes) => n + bytes, 0);

/**
 * The manifest of a complete copy, else null.
 * @param {FileSystemDirectoryHandle} dir
 * @returns {Promise<Manifest | null>}
 */
async function manifestOf(dir) {
  try {
    const manifest = JSON.parse(await (await (await dir.getFileHandle('manifest.json')).getFile()).text());
    for (const [name, bytes] of Object.entries(manifest.files)) {
      if ((await (await dir.getFileHandle(name)).getFile()).size !== bytes) return null;
    }
    return manifest;
  } catch {
    return null;
  }
}

// A model being written holds its lock (Web Locks: across this page's worker and the page, and
// across tabs), so that an unfinished copy is only removed once nobody is writing it.
/** @param {string} id */
const lockName = (id) => `vit-wasm-model:${id}`;

/**
 * Runs `use` while holding model `id`'s lock, unless a writer holds it (then returns undefined).
 * @param {string} id
 * @param {() => Promise<void>} use
 */
async function unlessWritten(id, use) {
  if (!navigator.locks) return use();
  return navigator.locks.request(lockName(id), { ifAvailable: true }, (lock) => lock && use());
}

/**
 * The complete models, the one used last first. Unfinished ones that nobody is writing are
 * removed.
 * @returns {Promise<Kept[]>}
 */
export async function list() {
  const dir = await folder().catch(() => null);
  if (!dir) return [];
  /** @type {Kept[]} */
  const models = [];
  for await (const [id, handle] of dir.entries()) {
    const manifest = handle.kind === 'directory' && (await manifestOf(handle));
    if (manifest) {
      models.push({ id, manifest, bytes: total(manifest.files) });
      continue;
    }
    // Looked at again under the lock: a writer may have finished in between.
    await unlessWritten(id, async () => {
      if (handle.kind === 'directory' && (await manifestOf(handle))) return;
      await dir.removeEntry(id, { recursive: true }).catch(() => {});
    });
  }
  return models.sort((a, b) => b.manifest.usedAt - a.manifest.usedAt);
}

/**
 * Removes a kept model; returns its manifest (null when there was none).
 * @param {string} id
 */
export async function remove(id) {
  const dir = await folder();
  const model = await dir?.getDirectoryHandle(id).catch(() => null);
  if (!model) return null;
  const manifest = await manifestOf(model);
  // The manifest first: whatever stays behind is then an unfinished copy, never a complete one.
  await model.removeEntry('manifest.json').catch(() => {});
  await dir?.removeEntry(id, { recursive: true }).catch(() => {});
  return manifest;
}

/**
 * A complete model's files: `file(name)` (null where it has none), and `used()`, which marks it
 * as the one to start with next time, once it has loaded.
 * @param {string} id
 */
export async function open(id) {
  const models = await folder();
  if (!models) throw new StoreError('this browser cannot keep files for pages');
  const dir = await models.getDirectoryHandle(id);
  const manifest = await manifestOf(dir);
  if (!manifest) throw new Error(`the kept model ${id} is incomplete`);
  /** @param {string} name @returns {Promise<File | null>} */
  const file = async (name) => (name in manifest.files ? (await dir.getFileHandle(name)).getFile() : null);
  const used = () => writeManifest(dir, { ...manifest, usedAt: Date.now() }).catch(() => {});
  return { manifest, file, used };
}

/**
 * @param {FileSystemDirectoryHandle} dir
 * @param {Manifest} manifest
 */
async function writeManifest(dir, manifest) {
  const writable = await (await dir.getFileHandle('manifest.json', { create: true })).createWritable();
  await writable.write(JSON.stringify(manifest));
  await writable.close();
}

/** Why a model could not be kept: the file that did not fit and the space there was. */
export class StoreError extends Error {}

// At most this much waits for the disk; beyond it, `write` waits for the disk to catch up. The
// disk is slower than the download and the model's conversion here (about 150 MB/s against 400),
// so a model of this size never waits for it: the download is written on after the model is ready.
const BACKLOG = 512 << 20;

/**
 * Starts keeping a model as `id`, replacing an earlier copy; `replaced` is that copy's manifest.
 * Bytes are written as they arrive, by the browser off this thread: `add(name, bytes)`, then
 * `write(name, chunk)`s, which return at once unless 512 MB are already waiting;
 * `commit(manifest)` once the model has loaded waits for the disk and makes the copy complete;
 * `abort()` removes it. A write that fails (over quota) removes the partial copy, and the next
 * `add`, `write` or the `commit` throws a StoreError. Another tab writing the same model is not
 * waited for: this one is then not kept.
 * @param {string} id
 */
export async function create(id) {
  const dir = await folder();
  if (!dir) throw new StoreError('this browser cannot keep files for pages');
  /** @type {() => void} */
  let release = () => {};
  if (navigator.locks) {
    /** @type {(() => void) | null} */
    const held = await new Promise((give) => {
      navigator.locks.request(lockName(id), { ifAvailable: true }, (lock) => (lock ? new Promise((done) => give(() => done(undefined))) : give(null)));
    });
    if (!held) throw new StoreError('another tab is keeping this model right now');
    release = held;
  }
  try {
    const replaced = await remove(id);
    const model = await dir.getDirectoryHandle(id, { create: true });
    return writer(dir, id, model, replaced, release);
  } catch (e) {
    release();
    throw e instanceof StoreError ? e : new StoreError(`${/** @type {Error} */ (e).name}: ${/** @type {Error} */ (e).message}`);
  }
}

/**
 * A file being written: its size (expected; 0 when unknown), the bytes written and waiting, the
 * writes in turn, and the first failure.
 * @typedef {{ writable?: FileSystemWritableFileStream, bytes: number, written: number, queued: number, done: Promise<void>, error: Error | null }} Writing
 */

/**
 * @param {FileSystemDirectoryHandle} dir the models' folder
 * @param {string} id
 * @param {FileSystemDirectoryHandle} model its folder
 * @param {Manifest | null} replaced
 * @param {() => void} release its lock
 */
function writer(dir, id, model, replaced, release) {
  /** @type {Map<string, Writing>} */
  const files = new Map();
  const abort = async () => {
    for (const { writable } of files.values()) await writable?.abort().catch(() => {});
    files.clear();
    // An aborted stream may hold its file a moment longer; what stays has no manifest, and the
    // next listing removes it.
    for (let tries = 0; tries < 5; tries++) {
      if (await dir.removeEntry(id, { recursive: true }).then(() => true, () => false)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    release();
  };
  /**
   * @param {string} name
   * @param {Writing} file
   */
  const failed = async (name, file) => {
    await abort();
    const { quota = 0, usage = 0 } = (await navigator.storage.estimate?.()) ?? {};
    const whole = file.bytes ? ` (${size(file.bytes)})` : '';
    const error = file.error?.name ?? 'Error';
    const what = error === 'QuotaExceededError' ? 'did not fit in' : 'could not be written to';
    return new StoreError(
      `${name}${whole} ${what} this browser's storage (${error} after ${size(file.written)}; the browser reports ${size(Math.max(0, quota - usage))} free)`,
    );
  };
  return {
    replaced,
    /**
     * @param {string} name
     * @param {number} bytes
     */
    async add(name, bytes) {
      /** @type {Writing} */
      const file = { bytes, written: 0, queued: 0, done: Promise.resolve(), error: null };
      try {
        file.writable = await (await model.getFileHandle(name, { create: true })).createWritable();
      } catch (e) {
        file.error = /** @type {Error} */ (e);
        throw await failed(name, file);
      }
      files.set(name, file);
    },
    /**
     * @param {string} name
     * @param {Uint8Array} chunk
     */
    async write(name, chunk) {
      const file = files.get(name);
      if (!file) throw new StoreError(`${name} was not kept`);
      file.queued += chunk.byteLength;
      file.done = file.done.then(async () => {
        try {
          if (file.error) return;
          await file.writable?.write(/** @type {Uint8Array<ArrayBuffer>} */ (chunk));
          file.written += chunk.byteLength;
        } catch (e) {
          file.error = /** @type {Error} */ (e);
        } finally {
          file.queued -= chunk.byteLength;
        }
      });
      if (file.queued > BACKLOG) await file.done;
      if (file.error) throw await failed(name, file);
    },
    /** @param {Omit<Manifest, 'files' | 'usedAt'>} manifest */
    async commit(manifest) {
      for (const [name, file] of files) {
        await file.done;
        if (file.error) throw await failed(name, file);
      }
      try {
        // Closing makes each file's bytes visible at once (until then they are in a swap file).
        for (const { writable } of files.values()) await writable?.close();
        const sizes = Object.fromEntries([...files].map(([name, file]) => [name, file.written]));
        await writeManifest(model, { ...manifest, files: sizes, usedAt: Date.now() });
      } catch (e) {
        await abort();
        const error = /** @type {Error} */ (e);
        throw new StoreError(`the copy could not be completed (${error.name}: ${error.message})`);
      }
      release();
    },
    abort,
  };
}

/**
 * Which version of a file the server has (a HEAD and a GET of it agree): a kept copy of an
 * older one is not used.
 * @param {Response} response
 */
export const version = (response) => ['Content-Length', 'Last-Modified', 'ETag'].map((h) => response.headers.get(h) ?? '').join(' ');

/**
 * A size for people: 12 kB, 3.4 MB, 346 MB, 10.7 GB.
 * @param {number} bytes
 */
export function size(bytes) {
  if (bytes < 1e6) return `${Math.ceil(bytes / 1e3)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
  return `${(bytes / 1e9).toFixed(1)} GB`;
}

// Models kept in this browser's Origin Private File System, so that a later visit starts without
// downloading: models/<id>/ holds the model's files and, written last, manifest.json. A folder
// without its manifest, or with a file shorter than the manifest says, is a write that did not
// finish (the tab closed, the quota ran out): it is removed, never read. The worker writes;
// the page lists and removes.

const FOLDER = 'models';

/// The models' folder, or null where this browser has no OPFS.
async function folder() {
  if (!navigator.storage?.getDirectory) return null;
  return (await navigator.storage.getDirectory()).getDirectoryHandle(FOLDER, { create: true });
}

const total = (files) => Object.values(files).reduce((n, bytes) => n + bytes, 0);

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
const lockName = (id) => `vit-wasm-model:${id}`;

/// Runs `use` unless a writer holds model `id`'s lock.
async function unlessWritten(id, use) {
  if (!navigator.locks) return use();
  return navigator.locks.request(lockName(id), { ifAvailable: true }, (lock) => lock && use());
}

/// The complete models, the one used last first: [{ id, manifest, bytes }], where manifest is
/// { label, weights, files: { name: bytes }, fingerprint, usedAt }. Unfinished ones that nobody is
/// writing are removed.
export async function list() {
  const dir = await folder().catch(() => null);
  if (!dir) return [];
  const models = [];
  for await (const [id, handle] of dir.entries()) {
    const manifest = handle.kind === 'directory' && (await manifestOf(handle));
    if (manifest) models.push({ id, manifest, bytes: total(manifest.files) });
    else await unlessWritten(id, () => dir.removeEntry(id, { recursive: true }).catch(() => {}));
  }
  return models.sort((a, b) => b.manifest.usedAt - a.manifest.usedAt);
}

export async function remove(id) {
  await (await folder())?.removeEntry(id, { recursive: true }).catch(() => {});
}

/// A complete model's files: { manifest, file(name) → File | null }; marks it used now.
export async function open(id) {
  const dir = await (await folder()).getDirectoryHandle(id);
  const manifest = await manifestOf(dir);
  if (!manifest) throw new Error(`the stored model ${id} is incomplete`);
  await writeManifest(dir, { ...manifest, usedAt: Date.now() });
  const file = async (name) => (name in manifest.files ? (await dir.getFileHandle(name)).getFile() : null);
  return { manifest, file };
}

async function writeManifest(dir, manifest) {
  const writable = await (await dir.getFileHandle('manifest.json', { create: true })).createWritable();
  await writable.write(JSON.stringify(manifest));
  await writable.close();
}

/// Why a model could not be kept: the file that did not fit and the space there was.
export class StoreError extends Error {}

// At most this much waits for the disk; beyond it, `write` waits for the disk to catch up. The
// disk is slower than the download and the model's conversion here (about 150 MB/s against 400),
// so a model of this size never waits for it: the download is written on after the model is ready.
const BACKLOG = 512 << 20;

/// Starts keeping a model as `id`, replacing an earlier copy. Bytes are written as they arrive,
/// by the browser off this thread: `add(name, bytes)`, then `write(name, chunk)`s, which return at
/// once unless 512 MB are already waiting; `commit(manifest)` once the model has loaded waits for
/// the disk and makes the copy complete; `abort()` removes it. A write that fails (over quota)
/// removes the partial copy, and the next `write` or the `commit` throws a StoreError.
export async function create(id) {
  const dir = await folder();
  if (!dir) throw new StoreError('this browser has no file storage for pages (OPFS)');
  // Held until the copy is complete or removed.
  const release = navigator.locks
    ? await new Promise((held) => navigator.locks.request(lockName(id), () => new Promise((done) => held(done))))
    : () => {};
  await dir.removeEntry(id, { recursive: true }).catch(() => {});
  const model = await dir.getDirectoryHandle(id, { create: true });
  const files = new Map(); // name -> { writable, bytes (expected; 0 when unknown), written, queued, done, error }
  const abort = async () => {
    for (const { writable } of files.values()) await writable.abort().catch(() => {});
    files.clear();
    await dir.removeEntry(id, { recursive: true }).catch(() => {});
    release();
  };
  const failed = async (name, file) => {
    await abort();
    const { quota = 0, usage = 0 } = (await navigator.storage.estimate?.()) ?? {};
    const whole = file.bytes ? ` (${size(file.bytes)})` : '';
    return new StoreError(
      `${name}${whole} did not fit in this browser's storage (${file.error.name} after ${size(file.written)}; the browser reports ${size(Math.max(0, quota - usage))} free)`,
    );
  };
  return {
    async add(name, bytes) {
      const writable = await (await model.getFileHandle(name, { create: true })).createWritable();
      files.set(name, { writable, bytes, written: 0, queued: 0, done: Promise.resolve(), error: null });
    },
    async write(name, chunk) {
      const file = files.get(name);
      if (!file) throw new StoreError(`${name} was not kept`);
      file.queued += chunk.byteLength;
      file.done = file.done.then(async () => {
        try {
          if (!file.error) await file.writable.write(chunk);
          file.written += chunk.byteLength;
        } catch (e) {
          file.error = e;
        } finally {
          file.queued -= chunk.byteLength;
        }
      });
      if (file.queued > BACKLOG) await file.done;
      if (file.error) throw await failed(name, file);
    },
    async commit(manifest) {
      for (const [name, file] of files) {
        await file.done;
        if (file.error) throw await failed(name, file);
      }
      try {
        // Closing makes each file's bytes visible at once (until then they are in a swap file).
        for (const { writable } of files.values()) await writable.close();
        const sizes = Object.fromEntries([...files].map(([name, file]) => [name, file.written]));
        await writeManifest(model, { ...manifest, files: sizes, usedAt: Date.now() });
      } catch (e) {
        await abort();
        throw new StoreError(`the copy could not be completed (${e.name}: ${e.message})`);
      }
      release();
    },
    abort,
  };
}

/// A size for people: 12 kB, 3.4 MB, 346 MB, 10.7 GB.
export function size(bytes) {
  if (bytes < 1e6) return `${Math.ceil(bytes / 1e3)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
  return `${(bytes / 1e9).toFixed(1)} GB`;
}

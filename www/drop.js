// Files dropped on the page or chosen in a picker, folders included, with their paths.

// The path of each file that came out of a dropped folder (a File from a directory entry has no
// webkitRelativePath).
/** @type {WeakMap<File, string>} */
const paths = new WeakMap();

/** The path of `file` from the dropped or chosen folder down (`data/cat/1.jpg`), else its name. */
export const pathOf = (/** @type {File} */ file) => paths.get(file) ?? (file.webkitRelativePath || file.name);

/**
 * Files from a drop, descending into folders.
 * @param {DataTransfer} dataTransfer
 */
async function droppedFiles(dataTransfer) {
  const entries = [...dataTransfer.items].map((i) => i.webkitGetAsEntry?.()).filter((e) => e !== null && e !== undefined);
  if (!entries.length) return [...dataTransfer.files];
  /** @type {File[]} */
  const files = [];
  /** @param {FileSystemEntry} entry @returns {Promise<void>} */
  const walk = async (entry) => {
    if (entry.isFile) {
      /** @type {File} */
      const file = await new Promise((ok, fail) => /** @type {FileSystemFileEntry} */ (entry).file(ok, fail));
      paths.set(file, entry.fullPath.replace(/^\//, ''));
      files.push(file);
    } else {
      const reader = /** @type {FileSystemDirectoryEntry} */ (entry).createReader();
      /** @type {() => Promise<FileSystemEntry[]>} */
      const next = () => new Promise((ok, fail) => reader.readEntries(ok, fail));
      for (let batch; (batch = await next()).length; ) await Promise.all(batch.map(walk));
    }
  };
  await Promise.all(entries.map(walk));
  return files;
}

/**
 * Calls `onFiles(files)` with what is dropped on `el`.
 * @param {HTMLElement} el
 * @param {(files: File[]) => unknown} onFiles
 */
export function dropTarget(el, onFiles) {
  el.addEventListener('dragover', (e) => {
    e.preventDefault();
    el.classList.add('over');
  });
  el.addEventListener('dragleave', () => el.classList.remove('over'));
  el.addEventListener('drop', async (e) => {
    e.preventDefault();
    e.stopPropagation();
    el.classList.remove('over');
    if (e.dataTransfer) onFiles(await droppedFiles(e.dataTransfer));
  });
}

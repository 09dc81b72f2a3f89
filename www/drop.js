// Files dropped on the page or chosen in a picker, folders included, with their paths.

// The path of each file that came out of a dropped folder (a File from a directory entry has no
// webkitRelativePath).
const paths = new WeakMap();

/// The path of `file` from the dropped or chosen folder down (`data/cat/1.jpg`), else its name.
export const pathOf = (file) => paths.get(file) ?? (file.webkitRelativePath || file.name);

/// Files from a drop, descending into folders.
async function droppedFiles(dataTransfer) {
  const entries = [...dataTransfer.items].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (!entries.length) return [...dataTransfer.files];
  const files = [];
  const walk = async (entry) => {
    if (entry.isFile) {
      const file = await new Promise((ok, fail) => entry.file(ok, fail));
      paths.set(file, entry.fullPath.replace(/^\//, ''));
      files.push(file);
    } else {
      const reader = entry.createReader();
      for (let batch; (batch = await new Promise((ok, fail) => reader.readEntries(ok, fail))).length; ) await Promise.all(batch.map(walk));
    }
  };
  await Promise.all(entries.map(walk));
  return files;
}

/// Calls `onFiles(files)` with what is dropped on `el`.
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
    onFiles(await droppedFiles(e.dataTransfer));
  });
}

// The storage panel: what this page keeps in the browser (models in OPFS, fine-tuning features
// in IndexedDB) with their sizes and a button to remove each, the space left, and whether the
// browser may evict them. A kept model's features go with it when it is removed or replaced.
import * as featureStore from './feature_store.js';
import * as modelStore from './model_store.js';

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const { size } = modelStore;

/**
 * @param {{
 *   use: (id: string) => Promise<unknown>, removed: (id: string) => void,
 *   files: { bytes: () => Promise<number | null>, forget: () => Promise<unknown> }
 * }} page
 *   `use(id)`: loads a kept model; `removed(id)`: a kept model was removed; `files`: the page's
 *   own files its service worker keeps for offline use (site.js).
 */
export function setupStorage({ use, removed, files }) {
  /** The loaded model's fingerprint. @type {string | null} */
  let current = null;
  /** Whether the browser keeps this page's storage under pressure. @type {boolean | null} */
  let persisted = null;

  /** @param {string | null} message */
  function error(message) {
    $('storage-error').hidden = !message;
    $('storage-error').textContent = message ?? '';
  }

  /**
   * Asks once for persistent storage. Firefox asks the person, so the answer may come much
   * later (or never, headless): the panel shows it when it comes.
   */
  let asked = false;
  async function persist() {
    if (asked || !navigator.storage?.persist) return;
    asked = true;
    persisted = (await navigator.storage.persisted()) || (await navigator.storage.persist());
    await refresh();
  }

  /**
   * @param {string} testid
   * @param {string} text
   * @param {[string, () => Promise<unknown>][]} buttons
   */
  function row(testid, text, buttons) {
    const li = document.createElement('li');
    li.dataset.testid = testid;
    const span = document.createElement('span');
    span.textContent = text;
    li.append(span);
    for (const [label, action] of buttons) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'link';
      button.textContent = label;
      button.addEventListener('click', async () => {
        button.disabled = true;
        await action();
        await refresh();
      });
      li.append(button);
    }
    return li;
  }

  /** Redraws the panel; one at a time, so that an older listing never overwrites a newer one. */
  let drawing = Promise.resolve();
  function refresh() {
    drawing = drawing.then(draw, draw);
    return drawing;
  }

  async function draw() {
    const models = await modelStore.list();
    const features = await featureStore.entries();
    const { usage, quota } = (await navigator.storage?.estimate?.()) ?? {};
    persisted ??= (await navigator.storage?.persisted?.()) ?? false;
    const rows = models.map(({ id, manifest, bytes }) => {
      const inUse = manifest.fingerprint === current;
      /** @type {[string, () => Promise<unknown>][]} */
      const buttons = inUse ? [] : [['Use', () => use(id)]];
      buttons.push([
        'Remove',
        async () => {
          // Its features go with it: nothing could use them again.
          const removedModel = await modelStore.remove(id);
          if (removedModel?.fingerprint) await featureStore.removeModel(removedModel.fingerprint);
          removed(id);
        },
      ]);
      const li = row('stored-model', `${manifest.label}: ${size(bytes)}${inUse ? ' (in use)' : ''}`, buttons);
      li.dataset.id = id;
      return li;
    });
    const siteBytes = await files.bytes();
    if (siteBytes) rows.push(row('stored-site', `This page's files, for offline use: ${size(siteBytes)}`, [['Remove', files.forget]]));
    if (features.length) {
      const bytes = features.reduce((n, f) => n + f.bytes, 0);
      const sets = features.length === 1 ? '1 set' : `${features.length} sets`;
      rows.push(row('stored-features', `Fine-tuning features: ${sets}, ${size(bytes)}`, [['Remove', () => featureStore.clear()]]));
    }
    const kept = models.length || features.length || siteBytes;
    const allows = quota ? `, which allows it ${size(quota)}` : '';
    const eviction = persisted ? 'Persistent storage is granted: the browser keeps it until you remove it.' : 'Persistent storage was not granted: the browser may remove it when space runs low.';
    $('storage-list').replaceChildren(...rows);
    $('storage-summary').textContent = kept ? `This page keeps ${size(usage ?? 0)} in this browser${allows}. ${eviction}` : 'Nothing is kept in this browser.';
  }

  return {
    /** The kept models, the one used last first. */
    models: () => modelStore.list(),
    /**
     * A model loaded (the panel marks it in use).
     * @param {string} fingerprint
     */
    async modelLoaded(fingerprint) {
      current = fingerprint;
      await refresh();
    },
    /**
     * A download kept (`id`) or not (`error`).
     * @param {{ id?: string, error?: string }} kept
     */
    async kept({ id, error: reason }) {
      error(reason ? `The model is not kept in this browser (${reason}); the next visit downloads it again.` : null);
      await refresh();
      if (id) persist();
    },
    /**
     * Runs `store` (which keeps the loaded model) and says how it went; whether it was kept.
     * @param {() => Promise<void>} store
     */
    async keep(store) {
      let kept = false;
      try {
        await store();
        error(null);
        persist();
        kept = true;
      } catch (e) {
        error(`The model is not kept in this browser (${/** @type {Error} */ (e).message}).`);
      }
      await refresh();
      return kept;
    },
    refresh,
  };
}

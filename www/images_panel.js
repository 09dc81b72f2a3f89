// The images panel: a card per image dropped, chosen or pasted, classified a batch at a time in
// the order they came, with its top labels and the attention map over it.
import { Code, WorkerError } from './protocol.js';
import { topKItems } from './top_k.js';

/** @typedef {import('./protocol.js').Classification} Classification */
/** @typedef {HTMLElement & { result?: Classification }} Card */

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * @param {{
 *   client: import('./client.js').ModelClient,
 *   status: import('./status.js').Status,
 *   batch: () => number,
 *   toCpu: (reason: string) => Promise<void>,
 *   recover: (reason: string) => Promise<void>,
 * }} page `batch()`: images per forward pass; `toCpu(reason)`: switches a failing WebGPU to the
 *   CPU; `recover(reason)`: replaces a crashed worker.
 */
export function setupImages({ client, status, batch, toCpu, recover }) {
  const show = { attention: false, grid: false };
  /** @type {Promise<void>} */
  let queue = Promise.resolve();

  /** @param {File} file */
  function card(file) {
    const el = /** @type {Card} */ (document.createElement('article'));
    el.className = 'card pending';
    el.dataset.testid = 'result';
    el.dataset.file = file.name;
    el.innerHTML = `<div class="thumb"><img alt=""><canvas></canvas></div>
      <div class="body"><h3></h3><ol class="labels"></ol><p class="meta">waiting…</p></div>`;
    /** @type {HTMLElement} */ (el.querySelector('h3')).textContent = file.name;
    const img = /** @type {HTMLImageElement} */ (el.querySelector('img'));
    img.src = URL.createObjectURL(file);
    img.onerror = () => img.remove();
    $('results').prepend(el);
    return el;
  }

  /** @param {Card} el */
  const meta = (el) => /** @type {HTMLElement} */ (el.querySelector('.meta'));

  /** @param {Card} el */
  function drawOverlay(el) {
    const canvas = /** @type {HTMLCanvasElement} */ (el.querySelector('canvas'));
    const result = el.result;
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    const size = (canvas.width = canvas.height = 224);
    ctx.clearRect(0, 0, size, size);
    if (!result) return;
    const n = result.grid;
    const cell = size / n;
    if (show.attention) {
      const max = Math.max(...result.attention);
      result.attention.forEach((v, i) => {
        ctx.fillStyle = `rgba(255, 80, 0, ${(0.75 * v) / max})`;
        ctx.fillRect((i % n) * cell, Math.floor(i / n) * cell, cell, cell);
      });
    }
    if (show.grid) {
      ctx.strokeStyle = 'rgba(255,255,255,0.7)';
      ctx.lineWidth = 1;
      for (let i = 1; i < n; i++) {
        ctx.beginPath();
        ctx.moveTo(i * cell, 0);
        ctx.lineTo(i * cell, size);
        ctx.moveTo(0, i * cell);
        ctx.lineTo(size, i * cell);
        ctx.stroke();
      }
    }
  }

  /**
   * @param {Card} el
   * @param {Classification} result
   */
  function showResult(el, result) {
    el.classList.remove('pending');
    el.result = result;
    /** @type {HTMLElement} */ (el.querySelector('.labels')).replaceChildren(...topKItems(result.topK));
    const onThreads = result.backend !== 'wgpu' && client.threads > 1 ? `, ${client.threads} threads` : '';
    const { milliseconds: ms, batch } = result;
    const pass = batch > 1 ? ` (${batch} images in one ${ms.toFixed(0)} ms pass)` : '';
    meta(el).textContent = `${(ms / batch).toFixed(1)} ms on ${result.backend}${onThreads}${pass}`;
    drawOverlay(el);
  }

  /**
   * @param {Card} el
   * @param {string} message
   */
  function showError(el, message) {
    el.classList.remove('pending');
    el.classList.add('failed');
    meta(el).textContent = '';
    const p = document.createElement('p');
    p.className = 'error';
    p.dataset.testid = 'error';
    p.textContent = message;
    /** @type {HTMLElement} */ (el.querySelector('.body')).append(p);
  }

  /**
   * Classifies one group of cards; a file that cannot be read fails on its own card, the others
   * go through.
   * @param {{ file: File, el: Card }[]} group
   */
  async function classify(group) {
    const reads = await Promise.allSettled(group.map(({ file }) => file.arrayBuffer()));
    const read = group.flatMap(({ file }, j) => {
      const r = reads[j];
      return r.status === 'fulfilled' ? [{ name: file.name, bytes: r.value }] : [];
    });
    const results = read.length ? await client.classify(read) : [];
    // The results come in the order of the files read.
    return reads.map((r, j) => (r.status === 'fulfilled' ? results.shift() : { error: `${group[j].file.name}: could not be read (${r.reason?.message ?? r.reason})` }));
  }

  /**
   * Classifies `files` in the order they came, a forward pass per group.
   * @param {File[]} files
   */
  function classifyFiles(files) {
    for (let i = 0; i < files.length; i += batch()) {
      const group = files.slice(i, i + batch()).map((file) => ({ file, el: card(file) }));
      const text = group.length === 1 ? `classifying ${group[0].file.name}…` : `classifying ${group.length} images…`;
      const waited = queue;
      queue = status.during(null, async () => {
        // A group that failed (its cards say why) does not hold up the next.
        await waited.catch(() => {});
        status.say(text);
        for (const { el } of group) meta(el).textContent = 'classifying…';
        try {
          let results;
          try {
            results = await classify(group);
          } catch (e) {
            // A lost or failing GPU: carry on on the CPU rather than failing every image after it.
            if (!(e instanceof WorkerError) || e.code !== Code.backendFailed || client.backend !== 'wgpu') throw e;
            await toCpu(`WebGPU failed (${e.message}). Switched to the CPU backend.`);
            results = await classify(group);
          }
          results.forEach((r, j) => (!r || 'error' in r ? showError(group[j].el, r?.error ?? 'no answer') : showResult(group[j].el, r)));
        } catch (e) {
          for (const { el } of group) showError(el, /** @type {Error} */ (e).message);
          if (e instanceof WorkerError && e.code === Code.crashed) await recover('The model worker crashed');
        }
      });
    }
  }

  for (const key of /** @type {const} */ (['attention', 'grid'])) {
    $(`show-${key}`).addEventListener('change', (e) => {
      show[key] = /** @type {HTMLInputElement} */ (e.target).checked;
      document.querySelectorAll('.card').forEach((el) => drawOverlay(/** @type {Card} */ (el)));
    });
  }

  return { classifyFiles };
}

// The page's status line (what runs now, else whether a model is ready), its progress bar and
// its error line.
import { Code, WorkerError } from './protocol.js';

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

export class Status {
  #busy = 0;
  /** Whether a model is loaded: what the line says when nothing runs. */
  modelLoaded = false;

  /**
   * Runs `work` while the line says `text` (or what `work` says, when null); the line goes back
   * to idle after it, unless other work still runs.
   * @template T
   * @param {string | null} text
   * @param {() => Promise<T>} work
   * @returns {Promise<T>}
   */
  async during(text, work) {
    this.#busy++;
    if (text !== null) this.say(text);
    try {
      return await work();
    } finally {
      this.#busy--;
      this.idle();
    }
  }

  /** @param {string} text */
  say(text) {
    $('status').textContent = text;
  }

  idle() {
    if (this.#busy === 0) this.say(this.modelLoaded ? 'ready' : 'no model loaded');
  }

  /**
   * The progress bar at `fraction` with `text`, or hidden (null).
   * @param {number | null} fraction
   * @param {string} [text]
   */
  progress(fraction, text = '') {
    $('progress').hidden = fraction === null;
    if (fraction !== null) {
      $('progress-bar').style.width = `${(fraction * 100).toFixed(1)}%`;
      $('progress-text').textContent = text;
    }
  }

  /** @param {string | null} message */
  error(message) {
    $('page-error').hidden = !message;
    $('page-error').textContent = message ?? '';
  }
}

/**
 * An error's message as the page shows it: the library's option errors are clauses ("the
 * learning rate must be …"), shown as sentences.
 * @param {unknown} e
 */
export function errorText(e) {
  const text = e instanceof Error ? e.message : String(e);
  return e instanceof WorkerError && e.code === Code.badOption ? text.charAt(0).toUpperCase() + text.slice(1) : text;
}

/** @param {number} bytes */
export const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
/** @param {number} seconds */
export const duration = (seconds) => (seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`);
